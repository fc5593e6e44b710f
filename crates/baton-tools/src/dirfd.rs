//! A directory held open by descriptor. Every step after the jail's check
//! names files relative to such a descriptor and never follows a symlink, so
//! a directory swapped for a symlink between the check and the use (TOCTOU)
//! makes the call fail instead of leading out of the workspace.

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// An open directory that files are named relative to.
#[derive(Debug)]
pub(crate) struct DirFd {
    fd: OwnedFd,
}

fn c_name(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::other("a file name contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl DirFd {
    /// Opens the directory at `path` (the workspace root, which is trusted).
    pub(crate) fn open(path: &Path) -> io::Result<DirFd> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(DirFd {
            fd: OwnedFd::from(file),
        })
    }

    /// Opens the child directory `name`, refusing a symlink; with `create`,
    /// makes it first when it does not exist.
    pub(crate) fn child_dir(&self, name: &OsStr, create: bool) -> io::Result<DirFd> {
        let c = c_name(name)?;
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `c` is a valid NUL-terminated string and `self.fd` an open descriptor.
        let mut ret = unsafe { libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags) };
        if ret < 0 && create && io::Error::last_os_error().kind() == io::ErrorKind::NotFound {
            // SAFETY: as above; mkdirat does not follow a symlink at `name`.
            let made = unsafe { libc::mkdirat(self.fd.as_raw_fd(), c.as_ptr(), 0o777) };
            if made < 0 && io::Error::last_os_error().kind() != io::ErrorKind::AlreadyExists {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: as above.
            ret = unsafe { libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags) };
        }
        let fd = check(ret)?;
        // SAFETY: `fd` was just returned by openat and is owned by nobody else.
        Ok(DirFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Opens the file `name` with `flags` (plus `O_NOFOLLOW | O_CLOEXEC`),
    /// creating it with `mode` when the flags say so.
    pub(crate) fn open_file(
        &self,
        name: &OsStr,
        flags: libc::c_int,
        mode: u32,
    ) -> io::Result<File> {
        let c = c_name(name)?;
        let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `c` is a valid NUL-terminated string and `self.fd` an open descriptor.
        let fd = check(unsafe {
            libc::openat(self.fd.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint)
        })?;
        // SAFETY: `fd` was just returned by openat and is owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Opens the regular file `name` for reading. `O_NONBLOCK` keeps a FIFO
    /// planted in the workspace from hanging the call; anything but a
    /// regular file is refused.
    pub(crate) fn open_regular(&self, name: &OsStr) -> io::Result<File> {
        let file = self.open_file(name, libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
        let kind = file.metadata()?.file_type();
        if kind.is_file() {
            Ok(file)
        } else if kind.is_dir() {
            Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory, not a file",
            ))
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is not a regular file (a FIFO, socket or device)",
            ))
        }
    }

    /// Renames `from` to `to` inside this directory, replacing `to` atomically.
    pub(crate) fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let (from, to) = (c_name(from)?, c_name(to)?);
        let fd = self.fd.as_raw_fd();
        // SAFETY: valid strings and descriptor; renameat never follows a final symlink.
        check(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) })?;
        Ok(())
    }

    /// Removes the file `name` (a temporary file left by a failed write).
    pub(crate) fn unlink(&self, name: &OsStr) -> io::Result<()> {
        let c = c_name(name)?;
        // SAFETY: valid string and descriptor.
        check(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) })?;
        Ok(())
    }

    /// Flushes the directory's entries to disk, so a rename survives a crash.
    pub(crate) fn sync(&self) -> io::Result<()> {
        // SAFETY: valid descriptor.
        check(unsafe { libc::fsync(self.fd.as_raw_fd()) })?;
        Ok(())
    }
}
