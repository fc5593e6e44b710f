//! Reading a model directory's files with errors that name the file, so a
//! missing or unreadable file is reported as such rather than as a bare
//! "No such file or directory".

use std::io::ErrorKind;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::EmbedError;

/// The bytes of `path`, or [`EmbedError::MissingFile`] when it is absent.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, EmbedError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        ErrorKind::NotFound => EmbedError::MissingFile {
            path: path.to_owned(),
        },
        _ => EmbedError::Io {
            path: path.to_owned(),
            source,
        },
    })
}

/// `path` parsed as JSON into `T`, or `None` when the file is absent (for the
/// optional sentence-transformers files).
pub(crate) fn optional_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, EmbedError> {
    if !path.exists() {
        return Ok(None);
    }
    json(path).map(Some)
}

/// `path` parsed as JSON into `T`; a file that does not parse is
/// [`EmbedError::MalformedConfig`].
pub(crate) fn json<T: DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    serde_json::from_slice(&read(path)?).map_err(|e| EmbedError::MalformedConfig {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}
