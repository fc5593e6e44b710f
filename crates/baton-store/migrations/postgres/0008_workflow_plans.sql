-- Keeping the workflow engine's cost per step flat as tables grow (issue 6).
--
-- baton_complete_tasks joins a batch (a JSON array, which the planner
-- guesses at 100 rows) to workflow_tasks and workflow_edges. Measured on a
-- durable cluster: once the tables held a few thousand rows the planner
-- chose hash joins over sequential scans of both, and a chain step went
-- from 1.2 ms to 2.3 ms after 66 runs of 40 steps, and to 4-5 ms later;
-- with 30 days of retained runs it would be far worse. Every statement in
-- the function looks rows up by key (a batch holds at most a few hundred
-- items), so inside it index lookups are the only plan wanted. (0007's
-- comment names `complete_on_sqlite`: the SQLite twin is now `complete`
-- in baton-store/src/workflows/direct.rs.)
ALTER FUNCTION baton_complete_tasks(jsonb, text, bigint, text[], text, boolean, bigint)
    SET enable_seqscan = off
    SET enable_hashjoin = off
    SET enable_mergejoin = off;

-- The workflow tables churn like a queue: each task row is updated three
-- or four times within seconds of its insert (ready, claimed, completed)
-- and a run's row once per commit that touches the run. PostgreSQL's
-- default autovacuum waits until a fifth of a table is dead rows (the same
-- for re-analysing it): after those 66 runs workflow_tasks held 7,854 dead
-- rows beside 2,640 live ones and had been neither vacuumed nor analysed.
-- These tables are vacuumed and analysed after 1 % of churn (or a few
-- hundred rows), without the vacuum's cost pauses, and leave room in each
-- page so that an update that changes no indexed column stays on its page
-- (a HOT update: no new index entries).
ALTER TABLE workflow_tasks SET (
    fillfactor = 80,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 500,
    autovacuum_analyze_scale_factor = 0.01,
    autovacuum_analyze_threshold = 500,
    autovacuum_vacuum_cost_delay = 0
);

ALTER TABLE workflow_runs SET (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 200,
    autovacuum_analyze_scale_factor = 0.01,
    autovacuum_analyze_threshold = 200,
    autovacuum_vacuum_cost_delay = 0
);

ALTER TABLE workflow_events SET (
    autovacuum_analyze_scale_factor = 0.01,
    autovacuum_analyze_threshold = 1000
);
