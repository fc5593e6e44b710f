-- Every version of the handoff documents (issue 5): whenever baton reads a
-- tier it is about to replace, or writes one, the content is kept here, so
-- a regenerated briefing never loses what a person wrote and documents can
-- be searched and synced. A version identical to the latest is not stored
-- again. Portable column types, as in 0002.

CREATE TABLE document_versions (
    id         TEXT PRIMARY KEY NOT NULL,
    workspace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    content    TEXT NOT NULL,
    hash       TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    hlc        INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (workspace, name, version)
) STRICT;
