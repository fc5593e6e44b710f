//! Lexical normalisation of path subjects, so `src/../.git/config` is
//! judged as `.git/config` and cannot slip past a rule.

/// A path subject after normalisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathSubject {
    /// The normalised path: no `.` components, `..` resolved, no leading
    /// `./`, no doubled or trailing `/`.
    pub text: String,
    /// Absolute, under `~`, or climbing above the workspace with `..`.
    pub outside: bool,
}

/// Normalises a workspace-relative path without touching the file system;
/// `$HOME` and `${HOME}` at the start read as `~`.
pub(crate) fn normalise(subject: &str) -> PathSubject {
    let expanded = ["${HOME}", "$HOME"].iter().find_map(|home| {
        subject
            .strip_prefix(home)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .map(|rest| format!("~{rest}"))
    });
    let subject = expanded.as_deref().unwrap_or(subject);
    let (prefix, rest, mut outside) = if let Some(rest) = subject.strip_prefix('/') {
        ("/", rest, true)
    } else if subject == "~" || subject.starts_with("~/") {
        ("~/", subject.trim_start_matches('~'), true)
    } else if subject.starts_with('~') {
        ("", subject, true)
    } else {
        ("", subject, false)
    };
    let mut parts: Vec<&str> = Vec::new();
    for component in rest.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if prefix != "/" {
                    outside = true;
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    let text = match prefix {
        "/" => format!("/{joined}"),
        "~/" if joined.is_empty() => "~".to_owned(),
        "~/" => format!("~/{joined}"),
        _ => joined,
    };
    PathSubject { text, outside }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_dots() {
        assert_eq!(normalise("./src//a.rs").text, "src/a.rs");
        assert_eq!(normalise("src/../.git/config").text, ".git/config");
        assert!(!normalise("src/../.git/config").outside);
        assert_eq!(normalise(".").text, "");
    }

    #[test]
    fn marks_paths_outside() {
        assert!(normalise("../x").outside);
        assert!(normalise("src/../../x").outside);
        assert_eq!(normalise("src/../../x").text, "../x");
        assert!(normalise("/etc/passwd").outside);
        assert_eq!(normalise("/a/../../etc").text, "/etc");
        assert!(normalise("~/.ssh/id_rsa").outside);
        assert_eq!(normalise("~/.ssh/../.ssh/id_rsa").text, "~/.ssh/id_rsa");
        assert!(normalise("~root/x").outside);
        assert_eq!(normalise("$HOME/.ssh/x").text, "~/.ssh/x");
        assert_eq!(normalise("${HOME}").text, "~");
        assert!(!normalise("$HOMEDIR/x").outside);
    }
}
