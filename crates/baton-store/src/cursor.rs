//! The history cursor: the position of the last message of a page, so the
//! next page starts strictly after it (keyset pagination). Unlike an offset
//! it neither skips nor repeats messages when new ones arrive in between.
//!
//! Callers treat the text as opaque; it is `<created_ms>.<id in hex>`.

use baton_core::MessageId;
use uuid::Uuid;

use crate::error::StoreError;

/// A position in a device's newest-first history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HistoryCursor {
    pub created_ms: i64,
    pub id: MessageId,
}

impl HistoryCursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.created_ms, self.id.0.simple())
    }

    pub fn decode(text: &str) -> Result<HistoryCursor, StoreError> {
        let bad = || StoreError::InvalidInput(format!("bad history cursor {:?}", truncated(text)));
        let (millis, id) = text.split_once('.').ok_or_else(bad)?;
        let created_ms = millis.parse().map_err(|_| bad())?;
        if id.len() != 32 {
            return Err(bad());
        }
        let id = Uuid::try_parse(id).map_err(|_| bad())?;
        Ok(HistoryCursor {
            created_ms,
            id: MessageId(id),
        })
    }
}

/// Enough of a bad cursor to recognise it, not enough to flood a log.
fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = HistoryCursor {
            created_ms: -5,
            id: MessageId::new(),
        };
        assert_eq!(HistoryCursor::decode(&c.encode()).unwrap(), c);
    }

    #[test]
    fn refuses_garbage() {
        let id = MessageId::new().0.simple().to_string();
        for bad in [
            "",
            "nope",
            "12",
            "x.00000000000000000000000000000000",
            &format!("1.{id}x"),
            &format!("1.{}", MessageId::new()),
        ] {
            assert!(
                matches!(HistoryCursor::decode(bad), Err(StoreError::InvalidInput(_))),
                "{bad:?}"
            );
        }
    }
}
