//! Reading a shell command line well enough to judge it: lexing, parsing
//! into pipelines, and unwrapping the commands that run other commands.

mod analyse;
mod lexer;
mod parse;

pub(crate) use analyse::{DOWNLOADERS, Part, analyse, writes_file};
pub(crate) use lexer::{Op, RedirectKind, Token, Word, tokenize};
pub(crate) use parse::Redirect;

/// The longest command line the policy will read.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// How deep `sh -c`, `eval` and command substitutions may nest.
pub const MAX_NESTING: usize = 8;
/// How many simple commands one command line may contain.
pub const MAX_COMMANDS: usize = 512;

/// Why a command line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// The text is not valid shell syntax.
    #[error("the command cannot be parsed: {0}")]
    Syntax(String),
    /// The text is longer than [`MAX_COMMAND_BYTES`].
    #[error("the command is {len} bytes, over the {MAX_COMMAND_BYTES}-byte limit")]
    TooLong { len: usize },
    /// Nested shells and substitutions go deeper than [`MAX_NESTING`].
    #[error("the command nests shells or substitutions more than {MAX_NESTING} deep")]
    TooDeep,
    /// More than [`MAX_COMMANDS`] simple commands.
    #[error("the command holds more than {MAX_COMMANDS} simple commands")]
    TooManyCommands,
}

impl ShellError {
    /// Whether the command was refused for its size rather than its shape:
    /// a size limit denies, an unreadable shape asks.
    pub(crate) fn is_limit(&self) -> bool {
        matches!(
            self,
            ShellError::TooLong { .. } | ShellError::TooManyCommands
        )
    }
}
