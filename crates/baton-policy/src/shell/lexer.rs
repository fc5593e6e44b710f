//! Splits a command line into words and operators the way a POSIX shell
//! (and bash, for its common extensions) would, so that quoting tricks such
//! as `'rm'`, `r\m` or `$'\x72m'` read as the program they really run.
//!
//! Expansions are not performed; a word that contains one is marked
//! `dynamic`, and the text of every command substitution (`$(…)`, backticks,
//! `<(…)`, `>(…)`, and those inside unquoted here-documents) is kept so the
//! analyser can check it as a command of its own.

use super::ShellError;

/// A shell word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Word {
    /// The text with quotes and escapes removed; expansions keep their
    /// source text (`$HOME`, `$(date)`).
    pub text: String,
    /// Whether any quoting or escaping was used: a quoted `*` is literal.
    pub quoted: bool,
    /// Whether the word's value is only known at run time.
    pub dynamic: bool,
    /// Scripts run by command or process substitutions inside the word.
    pub substitutions: Vec<String>,
    /// Set when the word hides something that cannot be checked statically.
    pub unresolved: Option<&'static str>,
    /// Unquoted glob (`*`, `?`, `[…]`) or brace (`{a,b}`, `{1..3}`)
    /// characters: the shell turns the word into other words at run time.
    pub expands: bool,
}

/// What a redirection does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectKind {
    /// `<`, `<<<`: reads.
    Input,
    /// `<<`, `<<-`: a here-document; the target is the delimiter.
    HereDoc,
    /// `>`, `>|`, `&>`, `<>`: creates or truncates the target.
    Write,
    /// `>>`, `&>>`: appends to the target.
    Append,
    /// `>&`, `<&`: duplicates a descriptor (or, with a path, writes it).
    Duplicate,
}

/// A shell operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// `;`, `&`, `&&`, `||`, `;;`, `;&`, a newline: ends a pipeline.
    Separator,
    /// `|`, `|&`: joins two commands into a pipeline.
    Pipe,
    /// `(`.
    Open,
    /// `)`.
    Close,
    /// A redirection operator, with its text (`2>`) for display.
    Redirect(RedirectKind, String),
}

/// One lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    Word(Word),
    Op(Op),
    /// A here-document's body (after the line that opened it) and, when
    /// its delimiter is unquoted, the command substitutions inside it.
    HereDocBody {
        text: String,
        substitutions: Vec<String>,
    },
}

struct PendingHereDoc {
    delimiter: String,
    strip_tabs: bool,
    quoted: bool,
}

/// Splits `input` into tokens.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, ShellError> {
    let mut lexer = Lexer {
        chars: input.chars().collect(),
        pos: 0,
        tokens: Vec::new(),
        pending: Vec::new(),
        expect_delimiter: None,
    };
    lexer.run()?;
    if let Some(doc) = lexer.pending.first() {
        return Err(ShellError::Syntax(format!(
            "here-document `{}` has no body",
            doc.delimiter
        )));
    }
    Ok(lexer.tokens)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    tokens: Vec<Token>,
    pending: Vec<PendingHereDoc>,
    expect_delimiter: Option<bool>,
}

const METACHARS: &[char] = &[' ', '\t', '\n', ';', '&', '|', '<', '>', '(', ')'];

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn run(&mut self) -> Result<(), ShellError> {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => self.pos += 1,
                '\\' if self.peek_at(1) == Some('\n') => self.pos += 2,
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                '\n' => {
                    self.pos += 1;
                    self.tokens.push(Token::Op(Op::Separator));
                    self.read_here_docs()?;
                }
                _ => self.operator_or_word()?,
            }
        }
        Ok(())
    }

    fn operator_or_word(&mut self) -> Result<(), ShellError> {
        const OPERATORS: &[(&str, Option<RedirectKind>, bool)] = &[
            ("&>>", Some(RedirectKind::Append), false),
            ("&>", Some(RedirectKind::Write), false),
            ("&&", None, false),
            ("||", None, false),
            ("|&", None, true),
            (";;&", None, false),
            (";;", None, false),
            (";&", None, false),
            ("<<<", Some(RedirectKind::Input), false),
            ("<<-", Some(RedirectKind::HereDoc), false),
            ("<<", Some(RedirectKind::HereDoc), false),
            ("<&", Some(RedirectKind::Duplicate), false),
            ("<>", Some(RedirectKind::Write), false),
            ("<", Some(RedirectKind::Input), false),
            (">>", Some(RedirectKind::Append), false),
            (">&", Some(RedirectKind::Duplicate), false),
            (">|", Some(RedirectKind::Write), false),
            (">", Some(RedirectKind::Write), false),
            ("&", None, false),
            ("|", None, true),
            (";", None, false),
        ];
        if self.starts_with("<(") || self.starts_with(">(") {
            let word = self.read_word()?;
            self.push_word(word);
            return Ok(());
        }
        match self.peek() {
            Some('(') => {
                self.pos += 1;
                self.tokens.push(Token::Op(Op::Open));
                return Ok(());
            }
            Some(')') => {
                self.pos += 1;
                self.tokens.push(Token::Op(Op::Close));
                return Ok(());
            }
            _ => {}
        }
        for (text, redirect, pipe) in OPERATORS {
            if self.starts_with(text) {
                self.pos += text.chars().count();
                let op = match (redirect, pipe) {
                    (Some(kind), _) => {
                        if *text == "<<" || *text == "<<-" {
                            self.expect_delimiter = Some(*text == "<<-");
                        }
                        Op::Redirect(*kind, (*text).to_owned())
                    }
                    (None, true) => Op::Pipe,
                    (None, false) => Op::Separator,
                };
                self.tokens.push(Token::Op(op));
                return Ok(());
            }
        }
        let word = self.read_word()?;
        let is_fd = !word.quoted
            && !word.text.is_empty()
            && word.text.chars().all(|c| c.is_ascii_digit())
            && matches!(self.peek(), Some('<' | '>'))
            && !self.starts_with("<(")
            && !self.starts_with(">(");
        if is_fd {
            let fd = word.text;
            self.operator_or_word()?;
            if let Some(Token::Op(Op::Redirect(_, text))) = self.tokens.last_mut() {
                text.insert_str(0, &fd);
            }
            return Ok(());
        }
        self.push_word(word);
        Ok(())
    }

    fn push_word(&mut self, word: Word) {
        if let Some(strip_tabs) = self.expect_delimiter.take() {
            self.pending.push(PendingHereDoc {
                delimiter: word.text.clone(),
                strip_tabs,
                quoted: word.quoted,
            });
        }
        self.tokens.push(Token::Word(word));
    }

    fn read_here_docs(&mut self) -> Result<(), ShellError> {
        for doc in std::mem::take(&mut self.pending) {
            let mut body = String::new();
            let mut closed = false;
            while self.pos < self.chars.len() {
                let start = self.pos;
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                let line: String = self.chars[start..self.pos].iter().collect();
                if self.peek() == Some('\n') {
                    self.pos += 1;
                }
                let compared = if doc.strip_tabs {
                    line.trim_start_matches('\t')
                } else {
                    line.as_str()
                };
                if compared == doc.delimiter {
                    closed = true;
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if !closed {
                return Err(ShellError::Syntax(format!(
                    "here-document `{}` is not terminated",
                    doc.delimiter
                )));
            }
            let mut substitutions = Vec::new();
            if !doc.quoted {
                let mut inner = Lexer {
                    chars: body.chars().collect(),
                    pos: 0,
                    tokens: Vec::new(),
                    pending: Vec::new(),
                    expect_delimiter: None,
                };
                let mut word = Word::default();
                inner.read_double_quoted(&mut word, false)?;
                substitutions = word.substitutions;
            }
            self.tokens.push(Token::HereDocBody {
                text: body,
                substitutions,
            });
        }
        Ok(())
    }

    fn read_word(&mut self) -> Result<Word, ShellError> {
        let mut word = Word::default();
        let mut bare = String::new();
        while let Some(c) = self.peek() {
            match c {
                '<' | '>' if self.peek_at(1) == Some('(') => {
                    self.pos += 2;
                    let inner = self.read_balanced(')')?;
                    word.text.push(c);
                    word.text.push('(');
                    word.text.push_str(&inner);
                    word.text.push(')');
                    word.dynamic = true;
                    word.substitutions.push(inner);
                }
                c if METACHARS.contains(&c) => break,
                '\\' => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(next) => {
                            self.pos += 1;
                            word.text.push(next);
                            word.quoted = true;
                        }
                        None => word.text.push('\\'),
                    }
                }
                '\'' => {
                    self.pos += 1;
                    word.quoted = true;
                    loop {
                        match self.peek() {
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(c) => {
                                word.text.push(c);
                                self.pos += 1;
                            }
                            None => {
                                return Err(ShellError::Syntax(
                                    "a single quote is not closed".to_owned(),
                                ));
                            }
                        }
                    }
                }
                '"' => {
                    self.pos += 1;
                    word.quoted = true;
                    self.read_double_quoted(&mut word, true)?;
                }
                '$' if self.peek_at(1) == Some('\'') => {
                    self.pos += 2;
                    word.quoted = true;
                    self.read_ansi_c(&mut word)?;
                }
                '$' if self.peek_at(1) == Some('"') => {
                    self.pos += 2;
                    word.quoted = true;
                    self.read_double_quoted(&mut word, true)?;
                }
                '$' => self.read_dollar(&mut word)?,
                '`' => self.read_backtick(&mut word)?,
                _ => {
                    word.text.push(c);
                    bare.push(c);
                    self.pos += 1;
                }
            }
        }
        word.expands = expands(&bare, &word.text);
        Ok(word)
    }

    /// Reads the inside of `"…"` (or a here-document body when
    /// `until_quote` is false), stopping after the closing quote.
    fn read_double_quoted(&mut self, word: &mut Word, until_quote: bool) -> Result<(), ShellError> {
        loop {
            match self.peek() {
                Some('"') if until_quote => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') => self.pos += 1,
                        Some(c @ ('$' | '`' | '"' | '\\')) => {
                            word.text.push(c);
                            self.pos += 1;
                        }
                        _ => word.text.push('\\'),
                    }
                }
                Some('$') => self.read_dollar(word)?,
                Some('`') => self.read_backtick(word)?,
                Some(c) => {
                    word.text.push(c);
                    self.pos += 1;
                }
                None if until_quote => {
                    return Err(ShellError::Syntax(
                        "a double quote is not closed".to_owned(),
                    ));
                }
                None => return Ok(()),
            }
        }
    }

    fn read_ansi_c(&mut self, word: &mut Word) -> Result<(), ShellError> {
        loop {
            let Some(c) = self.peek() else {
                return Err(ShellError::Syntax("a `$'` quote is not closed".to_owned()));
            };
            self.pos += 1;
            match c {
                '\'' => return Ok(()),
                '\\' => {
                    let Some(e) = self.peek() else { continue };
                    self.pos += 1;
                    let decoded = match e {
                        'n' => Some('\n'),
                        't' => Some('\t'),
                        'r' => Some('\r'),
                        'a' => Some('\x07'),
                        'b' => Some('\x08'),
                        'e' | 'E' => Some('\x1b'),
                        'f' => Some('\x0c'),
                        'v' => Some('\x0b'),
                        '\\' | '\'' | '"' | '?' => Some(e),
                        'x' => self.read_radix(16, 2),
                        'u' => self.read_radix(16, 4),
                        'U' => self.read_radix(16, 8),
                        '0'..='7' => {
                            self.pos -= 1;
                            self.read_radix(8, 3)
                        }
                        _ => {
                            word.text.push('\\');
                            Some(e)
                        }
                    };
                    if let Some(d) = decoded {
                        word.text.push(d);
                    }
                }
                _ => word.text.push(c),
            }
        }
    }

    fn read_radix(&mut self, radix: u32, max_digits: usize) -> Option<char> {
        let mut value = 0u32;
        let mut digits = 0;
        while digits < max_digits {
            match self.peek().and_then(|c| c.to_digit(radix)) {
                Some(d) => {
                    value = value * radix + d;
                    digits += 1;
                    self.pos += 1;
                }
                None => break,
            }
        }
        if digits == 0 {
            None
        } else {
            char::from_u32(value)
        }
    }

    fn read_dollar(&mut self, word: &mut Word) -> Result<(), ShellError> {
        self.pos += 1;
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                self.pos += 2;
                let inner = self.read_balanced(')')?;
                if self.peek() != Some(')') {
                    return Err(ShellError::Syntax(
                        "an arithmetic expansion `$((` is not closed".to_owned(),
                    ));
                }
                self.pos += 1;
                word.text.push_str("$((");
                word.text.push_str(&inner);
                word.text.push_str("))");
                word.dynamic = true;
                if inner.contains("$(") || inner.contains('`') {
                    word.unresolved = Some("a command runs inside an arithmetic expansion");
                }
            }
            Some('(') => {
                self.pos += 1;
                let inner = self.read_balanced(')')?;
                word.text.push_str("$(");
                word.text.push_str(&inner);
                word.text.push(')');
                word.dynamic = true;
                word.substitutions.push(inner);
            }
            Some('{') => {
                self.pos += 1;
                let inner = self.read_balanced('}')?;
                word.text.push_str("${");
                word.text.push_str(&inner);
                word.text.push('}');
                word.dynamic = true;
                if inner.contains("$(") || inner.contains('`') {
                    word.unresolved = Some("a command runs inside a parameter expansion");
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                word.text.push('$');
                while let Some(c) = self
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    word.text.push(c);
                    self.pos += 1;
                }
                word.dynamic = true;
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                word.text.push('$');
                word.text.push(c);
                self.pos += 1;
                word.dynamic = true;
            }
            _ => word.text.push('$'),
        }
        Ok(())
    }

    fn read_backtick(&mut self, word: &mut Word) -> Result<(), ShellError> {
        self.pos += 1;
        let mut inner = String::new();
        loop {
            match self.peek() {
                Some('`') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') if matches!(self.peek_at(1), Some('`' | '\\' | '$')) => {
                    inner.push(self.peek_at(1).unwrap_or('\\'));
                    self.pos += 2;
                }
                Some(c) => {
                    inner.push(c);
                    self.pos += 1;
                }
                None => {
                    return Err(ShellError::Syntax(
                        "a backtick substitution is not closed".to_owned(),
                    ));
                }
            }
        }
        word.text.push('`');
        word.text.push_str(&inner);
        word.text.push('`');
        word.dynamic = true;
        word.substitutions.push(inner);
        Ok(())
    }

    /// Reads up to the `close` that balances an already consumed opener,
    /// skipping quoted text, and returns what lies between.
    fn read_balanced(&mut self, close: char) -> Result<String, ShellError> {
        let open = if close == ')' { '(' } else { '{' };
        let start = self.pos;
        let mut depth = 0usize;
        loop {
            let Some(c) = self.peek() else {
                return Err(ShellError::Syntax(format!("a `{open}` is not closed")));
            };
            match c {
                '\\' => self.pos += 2,
                '\'' => {
                    self.pos += 1;
                    while self.peek().is_some_and(|c| c != '\'') {
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                '"' => {
                    self.pos += 1;
                    while let Some(c) = self.peek() {
                        if c == '"' {
                            break;
                        }
                        self.pos += if c == '\\' { 2 } else { 1 };
                    }
                    self.pos += 1;
                }
                c if c == open => {
                    depth += 1;
                    self.pos += 1;
                }
                c if c == close => {
                    if depth == 0 {
                        let end = self.pos.min(self.chars.len());
                        self.pos += 1;
                        return Ok(self.chars[start..end].iter().collect());
                    }
                    depth -= 1;
                    self.pos += 1;
                }
                _ => self.pos += 1,
            }
            if self.pos > self.chars.len() {
                return Err(ShellError::Syntax(format!("a `{open}` is not closed")));
            }
        }
    }
}

/// Whether unquoted characters `bare` of a word make the shell expand it
/// into file names or several words. `[` and `[[` alone are the test
/// commands, not patterns.
fn expands(bare: &str, text: &str) -> bool {
    let glob = bare.contains('*')
        || bare.contains('?')
        || (bare.contains('[') && bare.contains(']') && text != "[[" && text != "]]");
    let brace = bare
        .find('{')
        .and_then(|open| {
            bare[open..]
                .find('}')
                .map(|close| &bare[open..open + close])
        })
        .is_some_and(|inside| inside.contains(',') || inside.contains(".."));
    glob || brace
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(input: &str) -> Vec<String> {
        tokenize(input)
            .unwrap()
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.text),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn removes_quotes_and_escapes() {
        assert_eq!(words("'rm' -rf /"), ["rm", "-rf", "/"]);
        assert_eq!(words(r#"r''m "-r""f" \/"#), ["rm", "-rf", "/"]);
        assert_eq!(words(r"\rm   -rf    /"), ["rm", "-rf", "/"]);
        assert_eq!(words(r"$'\x72\155' x"), ["rm", "x"]);
        assert_eq!(words("echo \"a \\\"b\\\" c\""), ["echo", "a \"b\" c"]);
    }

    #[test]
    fn line_continuations_join_words() {
        assert_eq!(words("rm \\\n-rf /"), ["rm", "-rf", "/"]);
    }

    #[test]
    fn operators_split_commands() {
        let tokens = tokenize("a&&b||c;d|e&f\ng").unwrap();
        let ops = tokens.iter().filter(|t| matches!(t, Token::Op(_))).count();
        assert_eq!(ops, 6);
    }

    #[test]
    fn substitutions_are_kept() {
        let tokens = tokenize("echo $(rm -rf /) `id` <(curl x)").unwrap();
        let subs: Vec<String> = tokens
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.substitutions),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(subs, ["rm -rf /", "id", "curl x"]);
    }

    #[test]
    fn nested_substitution_with_quotes() {
        let tokens = tokenize("echo \"$(echo ')' \"$(id)\")\"").unwrap();
        let Token::Word(w) = &tokens[1] else { panic!() };
        assert_eq!(w.substitutions, ["echo ')' \"$(id)\""]);
    }

    #[test]
    fn fd_prefix_belongs_to_redirect() {
        let tokens = tokenize("cmd 2>err.log 2>&1").unwrap();
        assert_eq!(
            tokens[1],
            Token::Op(Op::Redirect(RedirectKind::Write, "2>".to_owned()))
        );
        assert_eq!(
            tokens[3],
            Token::Op(Op::Redirect(RedirectKind::Duplicate, "2>&".to_owned()))
        );
    }

    #[test]
    fn comments_are_skipped() {
        assert_eq!(words("ls # ; rm -rf /"), ["ls"]);
        assert_eq!(words("echo a#b"), ["echo", "a#b"]);
    }

    #[test]
    fn here_document_body_is_not_commands() {
        let tokens = tokenize("cat <<'EOF'\nrm -rf /\nEOF\nls").unwrap();
        let texts: Vec<String> = tokens
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.text),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["cat", "EOF", "ls"]);
    }

    #[test]
    fn unquoted_here_document_substitutions_are_found() {
        let tokens = tokenize("cat <<EOF\n$(rm -rf /)\nEOF\n").unwrap();
        assert!(tokens.contains(&Token::HereDocBody {
            text: "$(rm -rf /)\n".to_owned(),
            substitutions: vec!["rm -rf /".to_owned()]
        }));
    }

    #[test]
    fn expanding_words_are_marked() {
        let tokens = tokenize("/???/r? {rm,-rf} [ x ] '*' a{1..3} {} [[").unwrap();
        let flags: Vec<bool> = tokens
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w.expands),
                _ => None,
            })
            .collect();
        assert_eq!(
            flags,
            [true, true, false, false, false, false, true, false, false]
        );
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        assert!(tokenize("echo 'abc").is_err());
        assert!(tokenize("echo \"abc").is_err());
        assert!(tokenize("echo $(abc").is_err());
        assert!(tokenize("echo `abc").is_err());
        assert!(tokenize("cat <<EOF\nabc\n").is_err());
    }

    #[test]
    fn dynamic_words_are_marked() {
        let tokens = tokenize("$CMD ${X:-$(id)} $((1+2))").unwrap();
        let ws: Vec<Word> = tokens
            .into_iter()
            .filter_map(|t| match t {
                Token::Word(w) => Some(w),
                _ => None,
            })
            .collect();
        assert!(ws.iter().all(|w| w.dynamic));
        assert!(ws[1].unresolved.is_some());
        assert!(ws[2].unresolved.is_none());
    }
}
