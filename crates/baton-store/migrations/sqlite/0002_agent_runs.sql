-- Agent runs (issue 4): a run, each tool call it made (stored as an intent
-- before it runs and as a result after, so a restarted run never repeats a
-- finished call), the questions it asked people, and the "always" answers.
-- These tables use portable column types (TEXT ids and JSON, integer times
-- and flags) so that one SQL text serves SQLite and PostgreSQL alike.

CREATE TABLE agent_runs (
    id                TEXT PRIMARY KEY NOT NULL,
    parent_id         TEXT REFERENCES agent_runs (id),
    session_id        TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    goal              TEXT NOT NULL,
    workspace         TEXT NOT NULL,
    model             TEXT NOT NULL,
    spec              TEXT NOT NULL,
    status            TEXT NOT NULL,
    reason            TEXT,
    steps             INTEGER NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    finished_at       INTEGER
) STRICT;

CREATE INDEX agent_runs_status ON agent_runs (status, updated_at);

CREATE TABLE tool_calls (
    id          TEXT PRIMARY KEY NOT NULL,
    run_id      TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    call_id     TEXT NOT NULL,
    step        INTEGER NOT NULL,
    tool        TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    side_effect INTEGER NOT NULL,
    state       TEXT NOT NULL,
    output      TEXT,
    summary     TEXT,
    truncated   INTEGER NOT NULL DEFAULT 0,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
) STRICT;

-- A model's call id runs at most once per run.
CREATE UNIQUE INDEX tool_calls_run_call ON tool_calls (run_id, call_id);

CREATE TABLE approvals (
    id          TEXT PRIMARY KEY NOT NULL,
    run_id      TEXT NOT NULL REFERENCES agent_runs (id) ON DELETE CASCADE,
    call_id     TEXT NOT NULL,
    tool        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    arguments   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    status      TEXT NOT NULL,
    scope       TEXT,
    decided_by  TEXT,
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER
) STRICT;

CREATE INDEX approvals_status ON approvals (status, created_at);

-- "Allow always" answers, as exact policy rules for one workspace.
CREATE TABLE approval_grants (
    workspace   TEXT NOT NULL,
    rule        TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (workspace, rule)
) STRICT;
