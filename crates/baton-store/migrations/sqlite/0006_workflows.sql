-- Workflows (issue 6): a run of a plan, its tasks, the edges between them
-- and an append-only log of what happened, numbered per run so a watcher
-- resumes after the last event it saw without losing or repeating one.
--
-- A task is claimed under a lease carrying a fencing `epoch`: every claim
-- increments it, and a completion is accepted only with the epoch it was
-- claimed under, so a late result from a reaped worker changes nothing.
-- `pending` counts unfinished dependencies (the fan-in countdown); a task
-- becomes ready when it reaches zero. `checkpoint` keeps what a task
-- produced before it is used (a model's answer, an agent run's id), so a
-- new attempt after a crash never calls the model again.
-- Portable column types (TEXT ids and JSON, integer milliseconds) let one
-- SQL text serve SQLite and PostgreSQL.

CREATE TABLE workflow_runs (
    id                TEXT PRIMARY KEY NOT NULL,
    name              TEXT NOT NULL,
    request           TEXT NOT NULL,
    plan              TEXT NOT NULL,
    workspace         TEXT NOT NULL,
    device_id         TEXT NOT NULL,
    status            TEXT NOT NULL,
    reason            TEXT,
    total_tasks       INTEGER NOT NULL,
    done_tasks        INTEGER NOT NULL DEFAULT 0,
    last_event        INTEGER NOT NULL DEFAULT 0,
    result            TEXT,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    finished_at       INTEGER
) STRICT;

CREATE INDEX workflow_runs_created ON workflow_runs (created_at);
-- Retention: ended runs are deleted, oldest first, once they are older than
-- `[engine] retain_days`; their tasks, edges and events go with them (ON
-- DELETE CASCADE). A running run has no `finished_at`.
CREATE INDEX workflow_runs_finished ON workflow_runs (finished_at)
    WHERE finished_at IS NOT NULL;

CREATE TABLE workflow_tasks (
    run_id            TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    key               TEXT NOT NULL,
    position          INTEGER NOT NULL,
    kind              TEXT NOT NULL,
    spec              TEXT NOT NULL,
    queue             TEXT NOT NULL,
    priority          INTEGER NOT NULL,
    state             TEXT NOT NULL,
    pending           INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    epoch             INTEGER NOT NULL DEFAULT 0,
    worker_id         TEXT,
    lease_until       INTEGER,
    ready_at          INTEGER NOT NULL,
    checkpoint        TEXT,
    output            TEXT,
    error             TEXT,
    model             TEXT,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    started_at        INTEGER,
    finished_at       INTEGER,
    PRIMARY KEY (run_id, key)
) STRICT;

-- What a worker claims next: the most urgent ready task whose backoff is over.
CREATE INDEX workflow_tasks_ready ON workflow_tasks (priority DESC, ready_at)
    WHERE state = 'ready';
-- A worker's heartbeat renews every lease it holds in one statement.
CREATE INDEX workflow_tasks_held ON workflow_tasks (worker_id) WHERE state = 'claimed';
-- The reaper finds leases that ran out.
CREATE INDEX workflow_tasks_leases ON workflow_tasks (lease_until) WHERE state = 'claimed';

CREATE TABLE workflow_edges (
    run_id   TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    from_key TEXT NOT NULL,
    to_key   TEXT NOT NULL,
    PRIMARY KEY (run_id, from_key, to_key)
) STRICT;

CREATE TABLE workflow_events (
    run_id     TEXT NOT NULL REFERENCES workflow_runs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    task_key   TEXT,
    data       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT;

-- Queues with a concurrency limit: at most `concurrency` of their tasks are
-- claimed at once, across every worker. Queues not listed are unlimited.
CREATE TABLE workflow_queues (
    name        TEXT PRIMARY KEY NOT NULL,
    concurrency INTEGER NOT NULL
) STRICT;
