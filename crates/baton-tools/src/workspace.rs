//! The jail: every path a tool receives is relative to one workspace
//! directory, and nothing a tool reads or writes may lie outside it. Paths
//! are checked by canonicalizing (which resolves every symlink), then opened
//! by walking descriptors from the root without following symlinks, so a
//! path changed between the check and the use cannot escape either.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::dirfd::DirFd;
use crate::error::ToolError;

/// The directory tools are confined to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

/// A write destination that passed the jail: its canonical path relative to
/// the root (existing directories resolved, missing ones plain names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteTarget {
    /// Relative to the workspace root; no symlinks, no `..`, never empty.
    pub relative: PathBuf,
    /// Whether a file is already there.
    pub exists: bool,
}

fn refuse(path: &str, reason: impl Into<String>) -> ToolError {
    ToolError::OutsideWorkspace {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn is_git_dir(name: &std::ffi::OsStr) -> bool {
    name.to_str()
        .is_some_and(|s| s.eq_ignore_ascii_case(".git"))
}

impl Workspace {
    /// Opens the workspace at `path`, which must be an existing directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Workspace, ToolError> {
        let path = path.as_ref();
        let shown = path.display().to_string();
        let root = path
            .canonicalize()
            .map_err(|e| ToolError::io(shown.clone(), e))?;
        if !root.is_dir() {
            return Err(ToolError::Failed(format!(
                "the workspace `{shown}` is not a directory"
            )));
        }
        Ok(Workspace { root })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` as the model should see it: relative to the root ("." for the root itself).
    pub fn relative(&self, path: &Path) -> String {
        match path.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
            Ok(rel) => rel.display().to_string(),
            Err(_) => path.display().to_string(),
        }
    }

    /// Checks the text of a tool's path argument without touching the disk:
    /// relative, no NUL, no `~`, and no `..` climbing above the root.
    fn check_syntax(&self, raw: &str) -> Result<PathBuf, ToolError> {
        if raw.is_empty() {
            return Err(refuse(
                raw,
                "the path is empty (use \".\" for the workspace root)",
            ));
        }
        if raw.contains('\0') {
            return Err(refuse(raw, "the path contains a NUL byte"));
        }
        if raw.starts_with('~') {
            return Err(refuse(
                raw,
                "`~` is not expanded: give a path relative to the workspace root",
            ));
        }
        let path = Path::new(raw);
        let mut depth = 0usize;
        for component in path.components() {
            match component {
                Component::Prefix(_) | Component::RootDir => {
                    return Err(refuse(
                        raw,
                        "absolute paths are not allowed: give a path relative to the workspace root",
                    ));
                }
                Component::CurDir => {}
                Component::ParentDir if depth == 0 => {
                    return Err(refuse(raw, "`..` leads out of the workspace"));
                }
                Component::ParentDir => depth -= 1,
                Component::Normal(_) => depth += 1,
            }
        }
        Ok(self.root.join(path))
    }

    /// Canonicalizes `full` (which exists) and checks it lies inside the root.
    fn canonical_inside(&self, raw: &str, full: &Path) -> Result<PathBuf, ToolError> {
        let canonical = match full.canonicalize() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let dangling = full
                    .symlink_metadata()
                    .is_ok_and(|m| m.file_type().is_symlink());
                return Err(if dangling {
                    refuse(raw, "it is a symlink whose target does not exist")
                } else {
                    ToolError::NotFound {
                        path: raw.to_owned(),
                    }
                });
            }
            Err(e) => return Err(ToolError::io(raw, e)),
        };
        if !canonical.starts_with(&self.root) {
            return Err(refuse(
                raw,
                format!(
                    "it resolves through a symlink to `{}`, outside the workspace",
                    canonical.display()
                ),
            ));
        }
        Ok(canonical)
    }

    /// Resolves an existing path for reading: the canonical absolute path,
    /// inside the root. Symlinks inside the workspace are followed when they
    /// stay inside.
    pub fn resolve_existing(&self, raw: &str) -> Result<PathBuf, ToolError> {
        let full = self.check_syntax(raw)?;
        self.canonical_inside(raw, &full)
    }

    /// Resolves a path to write: the deepest existing ancestor is
    /// canonicalized and checked, every missing component must be a plain
    /// name, and nothing may land inside a `.git` directory.
    pub fn resolve_for_write(&self, raw: &str) -> Result<WriteTarget, ToolError> {
        let full = self.check_syntax(raw)?;
        let mut existing = full.as_path();
        let mut missing = Vec::new();
        loop {
            match existing.symlink_metadata() {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    match existing.components().next_back() {
                        Some(Component::Normal(name)) => missing.push(name.to_owned()),
                        Some(Component::CurDir) => {}
                        _ => {
                            return Err(refuse(
                                raw,
                                "`..` follows a directory that does not exist",
                            ));
                        }
                    }
                    existing = existing.parent().unwrap_or(&self.root);
                }
                Err(e) => return Err(ToolError::io(raw, e)),
            }
        }
        let exists = missing.is_empty();
        let mut canonical = self.canonical_inside(raw, existing)?;
        canonical.extend(missing.iter().rev());
        let relative = canonical
            .strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if relative.as_os_str().is_empty() {
            return Err(refuse(raw, "it is the workspace root itself, not a file"));
        }
        if relative.iter().any(is_git_dir) {
            return Err(refuse(raw, "writes inside `.git/` are not allowed"));
        }
        Ok(WriteTarget { relative, exists })
    }

    /// Opens the directory that will hold `target`, creating missing parents,
    /// walking from the root by descriptor without following any symlink.
    pub(crate) fn open_parent(&self, target: &WriteTarget) -> Result<(DirFd, OsString), ToolError> {
        let shown = target.relative.display().to_string();
        let mut names: Vec<_> = target.relative.iter().collect();
        let file_name = names.pop().map(OsString::from).unwrap_or_default();
        let mut dir = DirFd::open(&self.root).map_err(|e| ToolError::io(".", e))?;
        for name in names {
            dir = dir
                .child_dir(name, true)
                .map_err(|e| self.walk_error(&shown, e))?;
        }
        Ok((dir, file_name))
    }

    /// Opens an existing file for reading: resolves it, then opens it by
    /// descriptor from the root without following symlinks. Returns the file
    /// and its canonical workspace-relative path.
    pub(crate) fn open_read(&self, raw: &str) -> Result<(File, String), ToolError> {
        let canonical = self.resolve_existing(raw)?;
        let relative = canonical.strip_prefix(&self.root).unwrap_or(Path::new(""));
        let shown = self.relative(&canonical);
        let mut names: Vec<_> = relative.iter().collect();
        let Some(file_name) = names.pop() else {
            return Err(ToolError::Failed(format!(
                "`{raw}` is a directory, not a file"
            )));
        };
        let mut dir = DirFd::open(&self.root).map_err(|e| ToolError::io(".", e))?;
        for name in names {
            dir = dir
                .child_dir(name, false)
                .map_err(|e| self.walk_error(&shown, e))?;
        }
        let file = dir
            .open_regular(file_name)
            .map_err(|e| self.walk_error(&shown, e))?;
        Ok((file, shown))
    }

    /// A symlink (or a file) where the check saw a directory means the tree
    /// changed after the check: refuse rather than follow it.
    fn walk_error(&self, shown: &str, e: io::Error) -> ToolError {
        if matches!(e.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) {
            refuse(
                shown,
                "a component changed into a symlink or a file while it was being opened",
            )
        } else {
            ToolError::io(shown, e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        outside: tempfile::TempDir,
        ws: Workspace,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}").unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        Fixture {
            _dir: dir,
            outside,
            ws,
        }
    }

    fn reason(err: ToolError) -> String {
        match err {
            ToolError::OutsideWorkspace { reason, .. } => reason,
            other => panic!("expected OutsideWorkspace, got {other:?}"),
        }
    }

    #[test]
    fn open_refuses_a_missing_dir_and_a_file() {
        let f = fixture();
        assert!(matches!(
            Workspace::open(f.ws.root().join("nope")),
            Err(ToolError::NotFound { .. })
        ));
        let err = Workspace::open(f.ws.root().join("src/main.rs")).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn plain_paths_resolve_inside() {
        let f = fixture();
        let p = f.ws.resolve_existing("src/main.rs").unwrap();
        assert_eq!(f.ws.relative(&p), "src/main.rs");
        let p = f.ws.resolve_existing("./src/deep/../main.rs").unwrap();
        assert_eq!(f.ws.relative(&p), "src/main.rs");
        assert_eq!(f.ws.relative(&f.ws.resolve_existing(".").unwrap()), ".");
    }

    #[test]
    fn traversal_is_refused() {
        let f = fixture();
        assert!(reason(f.ws.resolve_existing("a/../../x").unwrap_err()).contains("`..`"));
        assert!(reason(f.ws.resolve_existing("../x").unwrap_err()).contains("`..`"));
        assert!(reason(f.ws.resolve_for_write("src/../../x").unwrap_err()).contains("`..`"));
    }

    #[test]
    fn absolute_home_nul_and_empty_paths_are_refused() {
        let f = fixture();
        assert!(reason(f.ws.resolve_existing("/etc/passwd").unwrap_err()).contains("absolute"));
        assert!(reason(f.ws.resolve_for_write("/tmp/x").unwrap_err()).contains("absolute"));
        assert!(reason(f.ws.resolve_existing("~").unwrap_err()).contains("`~`"));
        assert!(reason(f.ws.resolve_existing("~/.ssh/id_rsa").unwrap_err()).contains("`~`"));
        assert!(reason(f.ws.resolve_existing("a\0b").unwrap_err()).contains("NUL"));
        assert!(reason(f.ws.resolve_existing("").unwrap_err()).contains("empty"));
    }

    #[test]
    fn symlink_pointing_inside_is_allowed() {
        let f = fixture();
        symlink("src/main.rs", f.ws.root().join("inner")).unwrap();
        let p = f.ws.resolve_existing("inner").unwrap();
        assert_eq!(f.ws.relative(&p), "src/main.rs");
        let t = f.ws.resolve_for_write("inner").unwrap();
        assert_eq!(t.relative, Path::new("src/main.rs"));
        assert!(t.exists);
    }

    #[test]
    fn symlink_pointing_out_is_refused() {
        let f = fixture();
        symlink(
            f.outside.path().join("secret.txt"),
            f.ws.root().join("leak"),
        )
        .unwrap();
        assert!(reason(f.ws.resolve_existing("leak").unwrap_err()).contains("outside"));
        assert!(reason(f.ws.resolve_for_write("leak").unwrap_err()).contains("outside"));
    }

    #[test]
    fn symlinked_parent_dir_pointing_out_is_refused() {
        let f = fixture();
        symlink(f.outside.path(), f.ws.root().join("out")).unwrap();
        assert!(reason(f.ws.resolve_existing("out/secret.txt").unwrap_err()).contains("outside"));
        assert!(reason(f.ws.resolve_for_write("out/new.txt").unwrap_err()).contains("outside"));
        assert!(reason(f.ws.resolve_for_write("out/a/b/new.txt").unwrap_err()).contains("outside"));
        // `..` after a symlink follows the link's target, as the kernel does.
        assert!(reason(f.ws.resolve_for_write("out/../x").unwrap_err()).contains("outside"));
    }

    #[test]
    fn dangling_symlink_is_refused() {
        let f = fixture();
        symlink(
            f.outside.path().join("missing"),
            f.ws.root().join("dangling"),
        )
        .unwrap();
        assert!(reason(f.ws.resolve_existing("dangling").unwrap_err()).contains("does not exist"));
        assert!(reason(f.ws.resolve_for_write("dangling").unwrap_err()).contains("does not exist"));
        assert!(
            reason(f.ws.resolve_for_write("dangling/x").unwrap_err()).contains("does not exist")
        );
    }

    #[test]
    fn missing_paths_are_not_found_for_reads_and_fine_for_writes() {
        let f = fixture();
        assert!(matches!(
            f.ws.resolve_existing("nope.txt"),
            Err(ToolError::NotFound { .. })
        ));
        let t = f.ws.resolve_for_write("new/dir/file.txt").unwrap();
        assert_eq!(t.relative, Path::new("new/dir/file.txt"));
        assert!(!t.exists);
        let t = f.ws.resolve_for_write("src/./x.rs").unwrap();
        assert_eq!(t.relative, Path::new("src/x.rs"));
    }

    #[test]
    fn writes_into_git_are_refused() {
        let f = fixture();
        std::fs::create_dir(f.ws.root().join(".git")).unwrap();
        assert!(reason(f.ws.resolve_for_write(".git/config").unwrap_err()).contains(".git"));
        assert!(
            reason(f.ws.resolve_for_write(".git/hooks/pre-commit").unwrap_err()).contains(".git")
        );
        assert!(reason(f.ws.resolve_for_write("sub/.GIT/x").unwrap_err()).contains(".git"));
        symlink(".git", f.ws.root().join("g")).unwrap();
        assert!(reason(f.ws.resolve_for_write("g/config").unwrap_err()).contains(".git"));
    }

    #[test]
    fn the_root_itself_is_not_a_write_target() {
        let f = fixture();
        assert!(reason(f.ws.resolve_for_write(".").unwrap_err()).contains("root"));
    }

    #[test]
    fn open_parent_creates_dirs_and_refuses_a_swapped_symlink() {
        let f = fixture();
        let t = f.ws.resolve_for_write("made/here/file.txt").unwrap();
        let (_dir, name) = f.ws.open_parent(&t).unwrap();
        assert_eq!(name, "file.txt");
        assert!(f.ws.root().join("made/here").is_dir());
        // The check passed, then `later` became a symlink pointing out.
        let t = f.ws.resolve_for_write("later/file.txt").unwrap();
        symlink(f.outside.path(), f.ws.root().join("later")).unwrap();
        assert!(reason(f.ws.open_parent(&t).unwrap_err()).contains("changed into a symlink"));
        assert!(!f.outside.path().join("file.txt").exists());
    }

    #[test]
    fn open_read_opens_files_and_refuses_dirs() {
        let f = fixture();
        let (_file, shown) = f.ws.open_read("src/main.rs").unwrap();
        assert_eq!(shown, "src/main.rs");
        let err = f.ws.open_read("src").unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
    }
}
