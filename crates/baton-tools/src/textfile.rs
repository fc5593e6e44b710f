//! Reading and replacing text files inside the jail: size limits, binary
//! detection (a NUL byte in the first 8 KiB, as git and ripgrep decide), and
//! the atomic replace that `write` and `edit` share (temporary file in the
//! same directory, fsync, rename, fsync of the directory).

use std::ffi::{OsStr, OsString};
use std::fs::{File, Permissions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dirfd::DirFd;
use crate::error::ToolError;

/// How many leading bytes are looked at to decide a file is binary.
pub(crate) const BINARY_SNIFF_BYTES: usize = 8 * 1024;

/// Whether `bytes` look binary: a NUL among the first 8 KiB.
pub(crate) fn looks_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF_BYTES)].contains(&0)
}

/// Reads all of `file` (shown as `path`), refusing one over `limit` bytes
/// or one that looks binary.
pub(crate) fn read_text(mut file: File, path: &str, limit: u64) -> Result<Vec<u8>, ToolError> {
    let len = file.metadata().map_err(|e| ToolError::io(path, e))?.len();
    if len > limit {
        return Err(ToolError::TooLarge {
            what: format!("`{path}` ({len} bytes)"),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` guards against a file that grows while it is read.
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(ToolError::TooLarge {
            what: format!("`{path}`"),
            limit,
        });
    }
    if looks_binary(&bytes) {
        return Err(ToolError::Binary {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// The permissions a replaced file had, so a rewrite keeps an executable bit.
pub(crate) fn existing_permissions(dir: &DirFd, name: &OsStr) -> Option<Permissions> {
    let meta = dir.open_regular(name).ok()?.metadata().ok()?;
    Some(Permissions::from_mode(meta.permissions().mode() & 0o7777))
}

/// Replaces (or creates) `name` in `dir` with `content` so that a reader
/// sees either the old file or the whole new one, never a part, even after
/// a crash.
pub(crate) fn replace_atomically(
    dir: &DirFd,
    name: &OsStr,
    content: &[u8],
    permissions: Option<Permissions>,
    path: &str,
) -> Result<(), ToolError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let temp = OsString::from(format!(
        ".baton-tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
    let mut file = dir
        .open_file(&temp, flags, 0o666)
        .map_err(|e| ToolError::io(path, e))?;
    let written = (|| {
        file.write_all(content)?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.sync_all()?;
        dir.rename(&temp, name)?;
        dir.sync()
    })();
    if let Err(e) = written {
        // Best effort: the temporary file may already be gone after a failed rename.
        let _ = dir.unlink(&temp);
        return Err(ToolError::io(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_means_a_nul_in_the_first_8_kib() {
        assert!(!looks_binary(b"plain text\n"));
        assert!(looks_binary(b"ab\0cd"));
        let mut late = vec![b'a'; BINARY_SNIFF_BYTES];
        late.push(0);
        assert!(!looks_binary(&late));
    }

    #[test]
    fn replace_keeps_permissions_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.sh");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o755)).unwrap();
        let fd = DirFd::open(dir.path()).unwrap();
        let perms = existing_permissions(&fd, OsStr::new("run.sh"));
        replace_atomically(&fd, OsStr::new("run.sh"), b"new", perms, "run.sh").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn read_text_enforces_the_limit_and_refuses_binary() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big"), vec![b'a'; 100]).unwrap();
        std::fs::write(dir.path().join("bin"), b"\x7fELF\0\0").unwrap();
        let big = File::open(dir.path().join("big")).unwrap();
        assert!(matches!(
            read_text(big, "big", 99),
            Err(ToolError::TooLarge { limit: 99, .. })
        ));
        let bin = File::open(dir.path().join("bin")).unwrap();
        assert!(matches!(
            read_text(bin, "bin", 99),
            Err(ToolError::Binary { .. })
        ));
    }
}
