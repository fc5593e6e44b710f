//! Hashes of the continuity records. In a workspace's session log each
//! entry's hash covers its exact text and the previous entry's hash, so
//! editing, reordering or removing any entry changes the hash of every entry
//! after it: the chain shows where a log was tampered with, by position.
//! Stored documents are compared by their content hash.

use sha2::{Digest, Sha256};

/// What the first entry of a log chains to.
pub const GENESIS: &str = "";

/// SHA-256 of `text`, lowercase hex: how stored documents are compared.
pub fn content_hash(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The hash of an entry whose text is `text` and whose predecessor's hash
/// is `prev` ([`GENESIS`] for the first): SHA-256, lowercase hex, over a
/// versioned prefix, `prev` and `text`, separated so that no two
/// (prev, text) pairs hash the same input.
pub fn entry_hash(prev: &str, text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"baton-session-log-v1\n");
    hasher.update(prev.as_bytes());
    hasher.update(b"\n");
    hasher.update(text.as_bytes());
    hex(&hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_text_and_predecessor() {
        let first = entry_hash(GENESIS, "## Session: one\n");
        assert_eq!(first.len(), 64);
        assert_eq!(first, entry_hash(GENESIS, "## Session: one\n"));
        assert_ne!(first, entry_hash(GENESIS, "## Session: one \n"));
        let second = entry_hash(&first, "## Session: two\n");
        assert_ne!(second, entry_hash(GENESIS, "## Session: two\n"));
    }
}
