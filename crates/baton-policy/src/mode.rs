//! The four modes, from no tools at all to everything no rule stops.

use serde::{Deserialize, Serialize};

/// How much an agent may do when no rule decides. Ordered by
/// permissiveness: `Chat < Plan < Ask < Auto`, so "stricter" is `min`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No tools at all.
    Chat,
    /// Only calls whose effect is `Read`, whatever the rules say.
    Plan,
    /// Reads are allowed; anything else no rule allows is asked.
    #[default]
    Ask,
    /// Anything no deny or ask rule stops is allowed.
    Auto,
}

impl Mode {
    /// Parses a mode name (`chat`, `plan`, `ask`, `auto`).
    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "chat" => Some(Mode::Chat),
            "plan" => Some(Mode::Plan),
            "ask" => Some(Mode::Ask),
            "auto" => Some(Mode::Auto),
            _ => None,
        }
    }

    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Chat => "chat",
            Mode::Plan => "plan",
            Mode::Ask => "ask",
            Mode::Auto => "auto",
        }
    }

    /// The stricter of two modes.
    pub fn stricter(self, other: Mode) -> Mode {
        self.min(other)
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissiveness_order() {
        assert!(Mode::Chat < Mode::Plan && Mode::Plan < Mode::Ask && Mode::Ask < Mode::Auto);
        assert_eq!(Mode::Auto.stricter(Mode::Plan), Mode::Plan);
        assert_eq!(Mode::Chat.stricter(Mode::Auto), Mode::Chat);
    }

    #[test]
    fn names_round_trip() {
        for mode in [Mode::Chat, Mode::Plan, Mode::Ask, Mode::Auto] {
            assert_eq!(Mode::from_name(mode.name()), Some(mode));
        }
        assert_eq!(Mode::from_name("yolo"), None);
    }
}
