-- Memories (issue 5): what baton remembers for a workspace, from
-- conversations, session-log entries, documents and explicit notes.
-- Retrieval is hybrid: full text here (FTS5 over `content`, porter
-- stemming) and vectors in baton's in-process index, which catches up by
-- `seq`. `seq` is the FTS rowid and moves forward whenever a memory's
-- vector changes, so an index that has seen up to N knows what is new.
-- A memory is unique per workspace by the SHA-256 of its content.

CREATE TABLE memories (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    workspace       TEXT NOT NULL,
    source          TEXT NOT NULL,
    source_ref      TEXT,
    content         TEXT NOT NULL,
    hash            TEXT NOT NULL,
    embedding       BLOB,
    embedding_model TEXT,
    device_id       TEXT NOT NULL,
    hlc             INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    UNIQUE (workspace, hash)
) STRICT;

CREATE INDEX memories_by_vector ON memories (workspace, embedding_model, seq);

CREATE VIRTUAL TABLE memories_fts USING fts5(
    content,
    content = 'memories',
    content_rowid = 'seq',
    tokenize = 'porter unicode61'
);

CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content) VALUES (new.seq, new.content);
END;

CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;

CREATE TRIGGER memories_fts_update AFTER UPDATE OF seq, content ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    INSERT INTO memories_fts (rowid, content) VALUES (new.seq, new.content);
END;
