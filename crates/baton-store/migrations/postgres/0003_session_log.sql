-- The session log (issue 5): every SESSION_LOG.md entry of a workspace, in
-- order, hash-chained (an entry's hash covers its text and the previous
-- entry's hash), so an edited, reordered or deleted entry in the file, or in
-- this table, is found by position. Portable column types, as in 0002.

CREATE TABLE log_entries (
    id         TEXT PRIMARY KEY,
    workspace  TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    text       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    hlc        BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (workspace, seq)
);
