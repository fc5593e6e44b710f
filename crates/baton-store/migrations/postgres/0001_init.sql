-- baton's first schema, PostgreSQL flavour; the same tables as the SQLite
-- one with native types. Timestamps are unix milliseconds, HLC stamps are
-- HlcStamp::to_u64 values.

-- The seed's device_state, plus the HLC stamp that sync compares and
-- free-form metadata.
CREATE TABLE device_state (
    device_id       TEXT PRIMARY KEY,
    last_seen       BIGINT NOT NULL,
    status          TEXT NOT NULL,
    context_version BIGINT NOT NULL DEFAULT 0,
    updated_hlc     BIGINT NOT NULL DEFAULT 0,
    metadata        JSONB NOT NULL DEFAULT '{}'
);

-- A conversation. last_seq is the seq of its newest message: appenders lock
-- the row, read and advance it, so seq never repeats or skips.
CREATE TABLE sessions (
    id         UUID PRIMARY KEY,
    device_id  TEXT NOT NULL,
    title      TEXT,
    model      TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    hlc        BIGINT NOT NULL,
    last_seq   BIGINT NOT NULL DEFAULT 0
);

-- The seed's messages (device_id, role, content, model; its timestamp is
-- created_at), plus the whole message, usage, cost and latency. message is
-- JSON rather than JSONB because JSONB refuses \u0000, which tool output
-- (a binary file read by the shell tool) can contain; content, derived from
-- message for people, has NULs replaced.
CREATE TABLE messages (
    id                UUID PRIMARY KEY,
    session_id        UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq               BIGINT NOT NULL,
    device_id         TEXT NOT NULL,
    role              TEXT NOT NULL,
    content           TEXT NOT NULL,
    model             TEXT,
    message           JSON NOT NULL,
    prompt_tokens     BIGINT,
    completion_tokens BIGINT,
    cost_usd          DOUBLE PRECISION,
    latency_ms        BIGINT,
    hlc               BIGINT NOT NULL,
    created_at        BIGINT NOT NULL
);

-- A session's history in order.
CREATE UNIQUE INDEX messages_session_seq ON messages (session_id, seq);

-- A device's history, newest first, paged by (created_at, id) keyset.
CREATE INDEX messages_device_history ON messages (device_id, created_at DESC, id DESC);
