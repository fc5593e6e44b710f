//! Scrubbing a provider's secrets out of text that came back from it.
//!
//! Upstreams echo what they were sent surprisingly often ("invalid key
//! sk-…"), and transport errors can quote headers. Every string that leaves
//! a provider client passes through its [`Redactor`] first.

use std::fmt;
use std::sync::Arc;

/// The mask that replaces a secret.
const MASK: &str = "***";

/// Values shorter than this are not treated as secrets: masking every `a`
/// in a message would destroy it without protecting anything.
const MIN_SECRET_LEN: usize = 4;

/// The secrets of one provider (its API key and header values).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Arc<[String]>,
}

impl Redactor {
    pub(crate) fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so that a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets: secrets.into(),
        }
    }

    /// `text` with every occurrence of a secret replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |acc, secret| {
            acc.replace(secret.as_str(), MASK)
        })
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence() {
        let r = Redactor::new(["sk-secret-123", "hdr-value"]);
        assert_eq!(
            r.redact("bad key sk-secret-123 (sk-secret-123), header hdr-value"),
            "bad key *** (***), header ***"
        );
        assert_eq!(format!("{r:?}"), "Redactor(2 secrets)");
    }

    #[test]
    fn longer_secrets_win_and_short_values_are_ignored() {
        let r = Redactor::new(["abcd", "abcdefgh", "x"]);
        assert_eq!(r.redact("abcdefgh abcd x"), "*** *** x");
    }
}
