-- baton's first schema, SQLite flavour. Timestamps are unix milliseconds,
-- HLC stamps are HlcStamp::to_u64 values, ids are UUIDv7 in hyphenated
-- lowercase text (which sorts in creation order). STRICT tables make SQLite
-- enforce the declared column types as PostgreSQL does.

-- The seed's device_state, plus the HLC stamp that sync compares and
-- free-form metadata (JSON text).
CREATE TABLE device_state (
    device_id       TEXT PRIMARY KEY NOT NULL,
    last_seen       INTEGER NOT NULL,
    status          TEXT NOT NULL,
    context_version INTEGER NOT NULL DEFAULT 0,
    updated_hlc     INTEGER NOT NULL DEFAULT 0,
    metadata        TEXT NOT NULL DEFAULT '{}'
) STRICT;

-- A conversation. last_seq is the seq of its newest message: appenders
-- read and advance it inside their transaction, so seq never repeats or skips.
CREATE TABLE sessions (
    id         TEXT PRIMARY KEY NOT NULL,
    device_id  TEXT NOT NULL,
    title      TEXT,
    model      TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    hlc        INTEGER NOT NULL,
    last_seq   INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The seed's messages (device_id, role, content, model; its timestamp is
-- created_at), plus the whole message as JSON (tool calls included), usage,
-- cost and latency. role and content are derived from message for people who
-- read the table with sqlite3; message is what baton reads back.
CREATE TABLE messages (
    id                TEXT PRIMARY KEY NOT NULL,
    session_id        TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    device_id         TEXT NOT NULL,
    role              TEXT NOT NULL,
    content           TEXT NOT NULL,
    model             TEXT,
    message           TEXT NOT NULL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost_usd          REAL,
    latency_ms        INTEGER,
    hlc               INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
) STRICT;

-- A session's history in order.
CREATE UNIQUE INDEX messages_session_seq ON messages (session_id, seq);

-- A device's history, newest first, paged by (created_at, id) keyset.
CREATE INDEX messages_device_history ON messages (device_id, created_at DESC, id DESC);
