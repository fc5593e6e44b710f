-- Memories (issue 5): what baton remembers for a workspace, from
-- conversations, session-log entries, documents and explicit notes.
-- Retrieval is hybrid: full text here (a stored `tsvector`, English
-- stemming, GIN-indexed) and vectors in baton's in-process index, which
-- catches up by `seq`. `seq` moves forward whenever a memory's vector
-- changes, so an index that has seen up to N knows what is new. A memory
-- is unique per workspace by the SHA-256 of its content.

CREATE SEQUENCE memories_seq;

CREATE TABLE memories (
    id              TEXT PRIMARY KEY,
    seq             BIGINT NOT NULL UNIQUE DEFAULT nextval('memories_seq'),
    workspace       TEXT NOT NULL,
    source          TEXT NOT NULL,
    source_ref      TEXT,
    content         TEXT NOT NULL,
    hash            TEXT NOT NULL,
    embedding       BYTEA,
    embedding_model TEXT,
    device_id       TEXT NOT NULL,
    hlc             BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    content_tsv     TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    UNIQUE (workspace, hash)
);

ALTER SEQUENCE memories_seq OWNED BY memories.seq;

CREATE INDEX memories_by_vector ON memories (workspace, embedding_model, seq);
-- fastupdate off: a pending list would be scanned by every search until
-- vacuum merged it, which after a burst of memories costs more than the
-- slower inserts.
CREATE INDEX memories_text ON memories USING GIN (content_tsv) WITH (fastupdate = off);
