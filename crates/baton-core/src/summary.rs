//! One-line summaries of free text (tool arguments, results, answers) for
//! traces, events and logs, where a stray newline or a megabyte of output
//! would break the layout.

/// `text` with every run of whitespace (newlines included) made one space,
/// cut to at most `max` characters with `…` marking the cut.
pub fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        format!("{}…", line.chars().take(max).collect::<String>())
    }
}

/// The first `max` bytes of `text`, cut back to a character boundary: for
/// byte budgets (prompts, stored excerpts) where a split character would
/// make the text invalid.
pub fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_cuts_at_a_character_boundary() {
        assert_eq!(head("héllo", 2), "h");
        assert_eq!(head("héllo", 3), "hé");
        assert_eq!(head("hi", 10), "hi");
    }

    #[test]
    fn whitespace_folds_and_long_text_is_cut_on_a_character() {
        assert_eq!(one_line("  a\n\tb  c ", 10), "a b c");
        assert_eq!(one_line("héllo wörld", 5), "héllo…");
        assert_eq!(one_line("", 3), "");
    }
}
