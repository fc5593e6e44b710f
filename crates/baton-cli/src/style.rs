//! Terminal output. `anstream` drops the colour codes when `NO_COLOR` is set
//! or the output is not a terminal.

use anstyle::{AnsiColor, Style};
use std::io::Write;

pub const DIM: Style = Style::new().dimmed();
pub const BOLD: Style = Style::new().bold();
pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const ACCENT: Style = AnsiColor::Cyan.on_default();

/// Prints an error to stderr as `error: …`.
pub fn error(message: &str) {
    let mut err = anstream::stderr();
    let _ = writeln!(err, "{ERROR}error:{ERROR:#} {message}");
}
