-- A worker's claim in one round trip (issue 6): baton_claim_tasks, and
-- baton_claim_ready, which it calls for each kind of queue.
--
-- The claim was a transaction of six statements sent one by one (the
-- unlimited queues' claim, each limited queue's lock, count and claim, the
-- run counters, the events, the notification); on a durable cluster the
-- first task of a new run started 1.5 to 2.5 ms after its submission. The
-- same transaction runs here server-side:
-- 1. claims up to `p_limit` ready tasks of the queues without a
--    concurrency limit that the worker serves (all when `p_queues` is
--    NULL; of run `p_run` only, when given), most urgent first; rows
--    another transaction holds are skipped, never waited on;
-- 2. then, while the limit is not reached, each limited queue it serves,
--    in name order: locks the queue's row (claims on one limited queue take
--    turns), counts its claimed tasks and claims what still fits;
-- 3. appends a `task_started` event per claimed task, numbered within its
--    run in claim order, and tells each touched run's watchers "<run>
--    upto:<its last event>".
-- Lock order, as in every workflow transaction: task rows, then run rows in
-- id order (queue rows sit between, and are only ever taken here).
--
-- Returns the claimed rows, in claim order (most urgent first within each
-- step). A row that cannot be read (a spec that is not JSON, a run id that
-- is no UUID: written behind baton's back) comes back like the others; the
-- caller fails its run in a transaction of its own.
--
-- Plans as in the completion function: key lookups and the first rows of
-- the ordered ready index, generic plans.

-- Claims up to `p_limit` ready tasks for `p_worker`, most urgent first: of
-- queue `p_queue` when given, else of the queues without a limit in
-- `p_queues` (all when NULL); of run `p_run` only, when given. Rows another
-- transaction holds are skipped, never waited on.
CREATE FUNCTION baton_claim_ready(
    p_worker text,
    p_lease bigint,
    p_queues text[],
    p_queue text,
    p_run text,
    p_limit bigint,
    p_now bigint
) RETURNS workflow_tasks[]
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_bitmapscan = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_claimed workflow_tasks[];
BEGIN
    WITH picked AS (
        SELECT run_id, key FROM workflow_tasks
        WHERE state = 'ready' AND ready_at <= p_now
            AND CASE WHEN p_queue IS NULL THEN
                    queue NOT IN (SELECT name FROM workflow_queues)
                    AND (p_queues IS NULL OR queue = ANY (p_queues))
                ELSE queue = p_queue END
            AND (p_run IS NULL OR run_id = p_run)
        ORDER BY priority DESC, ready_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE workflow_tasks t SET state = 'claimed', epoch = t.epoch + 1,
            attempts = t.attempts + 1, worker_id = p_worker,
            lease_until = p_now + p_lease, started_at = COALESCE(t.started_at, p_now)
        FROM picked WHERE t.run_id = picked.run_id AND t.key = picked.key
        RETURNING t AS task
    )
    SELECT COALESCE(array_agg(task ORDER BY (task).priority DESC, (task).ready_at,
            (task).run_id, (task).position), '{}')
    INTO v_claimed FROM claimed;
    RETURN v_claimed;
END;
$$;

CREATE FUNCTION baton_claim_tasks(
    p_worker text,
    p_lease bigint,
    p_queues text[],
    p_run text,
    p_limit bigint,
    p_now bigint
) RETURNS SETOF workflow_tasks
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_bitmapscan = off
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    v_claimed workflow_tasks[];
    v_queue record;
    v_held bigint;
    v_room bigint;
    v_sent bigint;
BEGIN
    -- 1. Queues without a limit.
    v_claimed := baton_claim_ready(p_worker, p_lease, p_queues, NULL, p_run, p_limit, p_now);

    -- 2. Limited queues, what still fits in each.
    FOR v_queue IN
        SELECT name, concurrency FROM workflow_queues
        WHERE p_queues IS NULL OR name = ANY (p_queues)
        ORDER BY name
    LOOP
        EXIT WHEN cardinality(v_claimed) >= p_limit;
        PERFORM 1 FROM workflow_queues WHERE name = v_queue.name FOR UPDATE;
        SELECT count(*) INTO v_held FROM workflow_tasks
        WHERE queue = v_queue.name AND state = 'claimed';
        v_room := LEAST(v_queue.concurrency - v_held, p_limit - cardinality(v_claimed));
        CONTINUE WHEN v_room <= 0;
        v_claimed := v_claimed
            || baton_claim_ready(p_worker, p_lease, NULL, v_queue.name, p_run, v_room, p_now);
    END LOOP;
    IF cardinality(v_claimed) = 0 THEN
        RETURN;
    END IF;

    -- 3. The events, numbered within each run in claim order.
    WITH ev AS (
        SELECT h.run_id AS run, h.ordinality AS ord, h.key AS task,
            jsonb_build_object('attempt', h.attempts, 'worker', p_worker,
                'epoch', h.epoch)::text AS data
        FROM unnest(v_claimed) WITH ORDINALITY AS h
    ), counts AS (
        SELECT run, count(*) AS n FROM ev GROUP BY run
    ), locked AS MATERIALIZED (
        SELECT r.id FROM workflow_runs r WHERE r.id IN (SELECT run FROM counts)
        ORDER BY r.id FOR UPDATE
    ), bumped AS (
        UPDATE workflow_runs r SET last_event = r.last_event + c.n, updated_at = p_now
        FROM counts c JOIN locked l ON l.id = c.run
        WHERE r.id = c.run
        RETURNING r.id, r.last_event - c.n AS before, r.last_event AS upto
    ), inserted AS (
        INSERT INTO workflow_events (run_id, seq, kind, task_key, data, created_at)
        SELECT e.run, b.before + row_number() OVER (PARTITION BY e.run ORDER BY e.ord),
            'task_started', e.task, e.data, p_now
        FROM ev e JOIN bumped b ON b.id = e.run
    )
    SELECT count(pg_notify('baton_workflow', b.id || ' upto:' || b.upto))
    INTO v_sent FROM bumped b;

    RETURN QUERY SELECT * FROM unnest(v_claimed);
END;
$$;
