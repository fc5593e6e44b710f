//! Groups tokens into pipelines of simple commands. Control structures are
//! flattened: the commands inside `if`, `while`, `for`, `case`, subshells
//! and braces are checked like any other command, and the headers that only
//! hold values (`for x in …`, `case … in`) are dropped.

use super::ShellError;
use super::lexer::{Op, RedirectKind, Token, Word, tokenize};

/// A redirection of a simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Redirect {
    pub kind: RedirectKind,
    /// The operator as written (`>`, `2>>`), for display and exact rules.
    pub operator: String,
    pub target: Word,
    /// The text fed to the command: a here-document's body or a
    /// here-string's word.
    pub body: Option<String>,
}

/// One simple command: its words and redirections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Command {
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// Commands joined by `|`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pipeline {
    pub commands: Vec<Command>,
}

/// A parsed command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Script {
    pub pipelines: Vec<Pipeline>,
    /// Names of shell functions the script defines.
    pub functions: Vec<String>,
    /// Substitutions outside any command: here-document bodies and the
    /// values of `for`/`case` headers.
    pub loose_substitutions: Vec<String>,
    /// Why parts of the script cannot be checked statically.
    pub unresolved: Vec<&'static str>,
}

/// Reserved words that start a command without being one.
const PREFIX_KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "[[",
];
/// Reserved words that close a construct.
const END_KEYWORDS: &[&str] = &["fi", "done", "esac", "}", "]]"];
/// Reserved words whose command holds only values, never a program.
const HEADER_KEYWORDS: &[&str] = &["for", "case", "select", "in"];

/// Parses a command line.
pub(crate) fn parse(input: &str) -> Result<Script, ShellError> {
    let mut script = Script::default();
    let mut pipeline = Pipeline::default();
    let mut command = Command::default();
    let mut header = false;
    let mut tokens = tokenize(input)?.into_iter().peekable();
    while let Some(token) = tokens.next() {
        match token {
            Token::Word(word) => {
                if command.words.is_empty() && !word.quoted && !header {
                    let text = word.text.as_str();
                    if PREFIX_KEYWORDS.contains(&text) || END_KEYWORDS.contains(&text) {
                        continue;
                    }
                    if HEADER_KEYWORDS.contains(&text) {
                        header = true;
                        continue;
                    }
                    if text == "function" {
                        if let Some(Token::Word(name)) = tokens.next() {
                            script.functions.push(name.text);
                        }
                        header = true;
                        continue;
                    }
                }
                if header {
                    script.loose_substitutions.extend(word.substitutions);
                    script.unresolved.extend(word.unresolved);
                } else {
                    command.words.push(word);
                }
            }
            Token::Op(Op::Redirect(kind, operator)) => match tokens.next() {
                Some(Token::Word(target)) => command.redirects.push(Redirect {
                    body: (operator == "<<<").then(|| target.text.clone()),
                    kind,
                    operator,
                    target,
                }),
                _ => {
                    return Err(ShellError::Syntax(format!(
                        "redirection `{operator}` has no target"
                    )));
                }
            },
            Token::Op(Op::Pipe) => {
                header = false;
                finish_command(&mut pipeline, &mut command);
            }
            Token::Op(Op::Separator) => {
                header = false;
                finish_command(&mut pipeline, &mut command);
                finish_pipeline(&mut script, &mut pipeline);
            }
            Token::Op(Op::Open) => {
                if command.words.len() == 1 && command.redirects.is_empty() && !header {
                    if tokens.next() != Some(Token::Op(Op::Close)) {
                        return Err(ShellError::Syntax(format!(
                            "`{}(` must be a function definition `name()`",
                            command.words[0].text
                        )));
                    }
                    script.functions.push(command.words.remove(0).text);
                } else if !command.words.is_empty() && !header {
                    return Err(ShellError::Syntax(
                        "unexpected `(` inside a command".to_owned(),
                    ));
                }
            }
            Token::Op(Op::Close) => {
                header = false;
                finish_command(&mut pipeline, &mut command);
            }
            Token::HereDocBody {
                text,
                substitutions,
            } => {
                script.loose_substitutions.extend(substitutions);
                let waiting = script
                    .pipelines
                    .iter_mut()
                    .flat_map(|p| p.commands.iter_mut())
                    .flat_map(|c| c.redirects.iter_mut())
                    .find(|r| r.kind == RedirectKind::HereDoc && r.body.is_none());
                if let Some(redirect) = waiting {
                    redirect.body = Some(text);
                }
            }
        }
    }
    finish_command(&mut pipeline, &mut command);
    finish_pipeline(&mut script, &mut pipeline);
    Ok(script)
}

fn finish_command(pipeline: &mut Pipeline, command: &mut Command) {
    let command = std::mem::take(command);
    if !command.words.is_empty() || !command.redirects.is_empty() {
        pipeline.commands.push(command);
    }
}

fn finish_pipeline(script: &mut Script, pipeline: &mut Pipeline) {
    let pipeline = std::mem::take(pipeline);
    if !pipeline.commands.is_empty() {
        script.pipelines.push(pipeline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(input: &str) -> Vec<Vec<String>> {
        parse(input)
            .unwrap()
            .pipelines
            .into_iter()
            .map(|p| {
                p.commands
                    .into_iter()
                    .map(|c| c.words.first().map(|w| w.text.clone()).unwrap_or_default())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn splits_lists_and_pipelines() {
        assert_eq!(
            programs("git status && rm -rf ~ ; curl x | sh & ls"),
            [vec!["git"], vec!["rm"], vec!["curl", "sh"], vec!["ls"]]
        );
    }

    #[test]
    fn flattens_control_structures() {
        assert_eq!(
            programs("if true; then rm -rf /; fi"),
            [vec!["true"], vec!["rm"]]
        );
        assert_eq!(programs("for f in *; do rm $f; done"), [vec!["rm"]]);
        assert_eq!(
            programs("(cd / && rm x) | cat"),
            [vec!["cd"], vec!["rm", "cat"]]
        );
    }

    #[test]
    fn records_function_definitions() {
        let script = parse(":(){ :|:& };:").unwrap();
        assert_eq!(script.functions, [":"]);
        let script = parse("function boom { boom | boom & }; boom").unwrap();
        assert_eq!(script.functions, ["boom"]);
    }

    #[test]
    fn keeps_redirections() {
        let script = parse("echo hi > out.txt 2>&1").unwrap();
        let command = &script.pipelines[0].commands[0];
        assert_eq!(command.words.len(), 2);
        assert_eq!(command.redirects.len(), 2);
        assert_eq!(command.redirects[0].target.text, "out.txt");
        assert_eq!(command.redirects[0].kind, RedirectKind::Write);
    }

    #[test]
    fn here_document_bodies_belong_to_their_commands() {
        let script = parse("cat <<A; bash <<'B'\none\nA\nrm -rf /\nB\nls <<< 'x y'").unwrap();
        let body = |p: usize| script.pipelines[p].commands[0].redirects[0].body.clone();
        assert_eq!(body(0).as_deref(), Some("one\n"));
        assert_eq!(body(1).as_deref(), Some("rm -rf /\n"));
        assert_eq!(body(2).as_deref(), Some("x y"));
    }

    #[test]
    fn redirection_without_target_is_an_error() {
        assert!(parse("echo >").is_err());
        assert!(parse("echo ( x").is_err());
    }
}
