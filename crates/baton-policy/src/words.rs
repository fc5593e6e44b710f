//! Word-wise patterns for shell commands, git subcommands and `run`.
//!
//! A pattern is split like a shell command. An unquoted `*` standing alone
//! is a wildcard: last, it matches any remaining words (none included);
//! elsewhere it matches exactly one word. Anything else, `'*'` and `*.rs`
//! included, matches only itself. A shell pattern may end with
//! redirections (`> out.txt`); they are matched literally and are the only
//! way a shell rule allows a redirection explicitly.

use crate::shell::{Op, RedirectKind, Token, tokenize};

/// One word of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PatternWord {
    /// `*`.
    Wildcard,
    /// A word that must be equal.
    Literal(String),
}

/// A parsed word pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WordPattern {
    pub words: Vec<PatternWord>,
    /// `(operator, target)` pairs, e.g. `(">", "out.txt")`.
    pub redirects: Vec<(String, String)>,
}

impl WordPattern {
    /// Parses a pattern; `allow_redirects` is true for shell rules.
    pub(crate) fn parse(text: &str, allow_redirects: bool) -> Result<WordPattern, String> {
        let tokens = tokenize(text).map_err(|e| e.to_string())?;
        let mut words = Vec::new();
        let mut redirects = Vec::new();
        let mut tokens = tokens.into_iter();
        while let Some(token) = tokens.next() {
            match token {
                Token::Word(word) if !redirects.is_empty() => {
                    return Err(format!(
                        "word `{}` comes after a redirection; put redirections last",
                        word.text
                    ));
                }
                Token::Word(word) if !word.quoted && word.text == "*" => {
                    words.push(PatternWord::Wildcard);
                }
                Token::Word(word) => words.push(PatternWord::Literal(word.text)),
                Token::Op(Op::Redirect(kind, operator)) if allow_redirects => {
                    if matches!(kind, RedirectKind::HereDoc) {
                        return Err("a here-document cannot be part of a rule".to_owned());
                    }
                    match tokens.next() {
                        Some(Token::Word(target)) => redirects.push((operator, target.text)),
                        _ => return Err(format!("redirection `{operator}` has no target")),
                    }
                }
                Token::Op(Op::Redirect(_, operator)) => {
                    return Err(format!(
                        "redirection `{operator}` is only allowed in shell rules"
                    ));
                }
                Token::Op(_) | Token::HereDocBody { .. } => {
                    return Err(
                        "a rule matches one simple command: `;`, `&&`, `||`, `|`, `&` and \
                         parentheses are not allowed (each part of a compound command is \
                         checked on its own)"
                            .to_owned(),
                    );
                }
            }
        }
        if words.is_empty() && redirects.is_empty() {
            return Err("the pattern has no words".to_owned());
        }
        Ok(WordPattern { words, redirects })
    }

    /// Whether `words` match.
    pub(crate) fn matches(&self, words: &[&str]) -> bool {
        let mut i = 0;
        for (p, pattern) in self.words.iter().enumerate() {
            match pattern {
                PatternWord::Wildcard if p + 1 == self.words.len() => return true,
                PatternWord::Wildcard => {
                    if i >= words.len() {
                        return false;
                    }
                }
                PatternWord::Literal(text) => {
                    if words.get(i) != Some(&text.as_str()) {
                        return false;
                    }
                }
            }
            i += 1;
        }
        i == words.len()
    }

    /// Whether the pattern has no wildcard: it names one exact command.
    pub(crate) fn is_exact(&self) -> bool {
        self.words
            .iter()
            .all(|w| matches!(w, PatternWord::Literal(_)))
    }
}

/// Quotes a word so the pattern parser reads it back as the same literal
/// word (never as a wildcard).
pub(crate) fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%^".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, command: &str) -> bool {
        let words: Vec<&str> = command.split_whitespace().collect();
        WordPattern::parse(pattern, true).unwrap().matches(&words)
    }

    #[test]
    fn trailing_wildcard_matches_any_rest() {
        assert!(matches("cargo test *", "cargo test"));
        assert!(matches("cargo test *", "cargo test --lib -q"));
        assert!(!matches("cargo test *", "cargo build"));
    }

    #[test]
    fn inner_wildcard_matches_one_word() {
        assert!(matches("git * --force", "git push --force"));
        assert!(!matches("git * --force", "git --force"));
        assert!(!matches("git * --force", "git push origin --force"));
    }

    #[test]
    fn literal_patterns_are_exact() {
        assert!(matches("git status", "git status"));
        assert!(!matches("git status", "git status -s"));
        assert!(!matches("git status", "git"));
        assert!(matches("ls '*'", "ls *"));
        assert!(!matches("ls '*'", "ls a"));
    }

    #[test]
    fn redirections_are_kept() {
        let p = WordPattern::parse("echo * > out.txt", true).unwrap();
        assert_eq!(p.redirects, [(">".to_owned(), "out.txt".to_owned())]);
        assert!(WordPattern::parse("echo > out.txt x", true).is_err());
        assert!(WordPattern::parse("commit > x", false).is_err());
    }

    #[test]
    fn compound_patterns_are_errors() {
        let err = WordPattern::parse("git status && ls", true).unwrap_err();
        assert!(err.contains("one simple command"), "{err}");
        assert!(WordPattern::parse("", true).is_err());
    }

    #[test]
    fn quoting_round_trips() {
        for word in ["plain", "*", "a b", "it's", "$(x)", "", "*.rs"] {
            let p = WordPattern::parse(&format!("echo {}", quote(word)), true).unwrap();
            assert_eq!(p.words[1], PatternWord::Literal(word.to_owned()), "{word}");
        }
    }
}
