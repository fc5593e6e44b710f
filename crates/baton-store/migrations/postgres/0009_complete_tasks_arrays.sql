-- A leaner baton_complete_tasks (issue 6): the same transaction as 0007's,
-- with arrays in, rows out and fewer statements.
--
-- Measured on 0007's function, one chain step per call from psql: 0.40 ms
-- of server time, where the same statements written for one task without
-- JSON took 0.17 ms. The difference was plumbing: the batch arrived as
-- JSON and every intermediate set (completed items, ready successors,
-- handed tasks, events) was built into JSON by one statement and taken
-- apart again by the next. Here the batch arrives as one array per field,
-- intermediate sets are arrays of keys or of task rows, the countdown
-- claims the successors the worker takes in the same UPDATE that makes
-- them ready, the run counters and the events are one statement that also
-- sends the notifications, and the answer is a row per item that the
-- driver decodes without JSON.
--
-- What it does, in order (the lock order of every workflow transaction:
-- task rows, then run rows in id order):
-- 1. completes every item still held as it says (`state`, and `epoch`
--    unless it is -1), fenced items are left alone;
-- 2. counts down the successors of the completed tasks (locked in (run,
--    key) order, so two workers counting down the same joins never
--    deadlock); of those that become ready, the worker takes one per
--    completed item, most urgent first, of the queues it serves and without
--    a concurrency limit, in the same UPDATE;
-- 3. fills the slots no successor took with the most urgent ready tasks it
--    serves (rows another transaction holds are skipped, never waited on);
-- 4. bumps each touched run's event counter and done count and appends its
--    events (its completions in item order, then the handed tasks' starts),
--    and tells each touched run's watchers: "<run> upto:<its last event>",
--    plus " ready" when tasks became ready that nobody took, so idle
--    workers look (a watcher that has read that far skips the read);
-- 5. ends each run whose last task completed.
--
-- Returns one row per item, in item order: `ok` false when it was fenced;
-- otherwise `released` (the run's tasks made ready and left for others,
-- counted on the run's first completed item), the task handed to the
-- worker in its slot (`next_*`, NULL when none) and `run_finished` (the
-- item's run ended in this call).
--
-- Plans: every statement looks rows up by key or takes the first few of an
-- ordered index, so the function keeps 0008's ban on sequential scans and
-- hash or merge joins, and also bans bitmap scans: with statistics from a
-- smaller table the slot refill read every ready row through a bitmap and
-- sorted them all to take a few (3,600 to 6,500 rows read for 23 to 63
-- taken, 3 to 8 ms a batch with four workers), where the ready index hands
-- them over in order. Plans are generic: the custom plans PostgreSQL would
-- otherwise make for every call (the batch arrays make a generic plan look
-- dearer) cost more to plan (0.56 ms a call) than to run.
DROP FUNCTION baton_complete_tasks(jsonb, text, bigint, text[], text, boolean, bigint);

CREATE FUNCTION baton_complete_tasks(
    p_runs text[],
    p_keys text[],
    p_states text[],
    p_epochs bigint[],
    p_outputs text[],
    p_models text[],
    p_prompt_tokens bigint[],
    p_completion_tokens bigint[],
    p_costs double precision[],
    p_worker text,
    p_lease bigint,
    p_queues text[],
    p_run text,
    p_claim boolean,
    p_now bigint
) RETURNS TABLE (
    ok boolean,
    released bigint,
    run_finished boolean,
    next_run text,
    next_key text,
    next_kind text,
    next_spec text,
    next_queue text,
    next_epoch bigint,
    next_attempts bigint,
    next_max_attempts bigint,
    next_timeout_ms bigint,
    next_checkpoint text
)
LANGUAGE plpgsql
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off
SET enable_bitmapscan = off
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
    v_done_ord bigint[];
    v_done_run text[];
    v_done_key text[];
    v_handed workflow_tasks[];
    v_left_run text[];
    v_left_key text[];
    v_slots bigint;
    v_finished text[];
    v_run text;
    v_result jsonb;
    v_last bigint;
BEGIN
    -- 1. The fenced completion. Two workers never hold the same task, so
    -- the rows this locks are this batch's alone.
    WITH done AS (
        UPDATE workflow_tasks t SET state = 'completed', output = i.output,
            model = i.model, prompt_tokens = t.prompt_tokens + i.prompt_tokens,
            completion_tokens = t.completion_tokens + i.completion_tokens,
            cost_usd = t.cost_usd + i.cost_usd, worker_id = NULL, lease_until = NULL,
            finished_at = p_now, error = NULL
        FROM unnest(p_runs, p_keys, p_states, p_epochs, p_outputs, p_models,
                p_prompt_tokens, p_completion_tokens, p_costs) WITH ORDINALITY
            AS i(run, key, state, epoch, output, model, prompt_tokens, completion_tokens,
                cost_usd, ord)
        WHERE t.run_id = i.run AND t.key = i.key AND t.state = i.state
            AND (i.epoch < 0 OR t.epoch = i.epoch)
        RETURNING i.ord, t.run_id, t.key
    )
    SELECT array_agg(ord ORDER BY ord), array_agg(run_id ORDER BY ord),
        array_agg(key ORDER BY ord)
    INTO v_done_ord, v_done_run, v_done_key FROM done;
    IF v_done_ord IS NULL THEN
        RETURN QUERY SELECT false, 0::bigint, false, NULL::text, NULL::text, NULL::text,
            NULL::text, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint,
            NULL::text
            FROM generate_series(1, cardinality(p_runs));
        RETURN;
    END IF;

    -- 2. The countdown of every successor of the completed tasks, each once
    -- by how many of its dependencies completed here, taking the worker's
    -- share of those that become ready.
    WITH succ AS (
        SELECT e.run_id, e.to_key, count(*) AS n
        FROM unnest(v_done_run, v_done_key) AS d(run, key)
        JOIN workflow_edges e ON e.run_id = d.run AND e.from_key = d.key
        GROUP BY e.run_id, e.to_key
    ), locked AS MATERIALIZED (
        SELECT t.run_id, t.key, s.n, t.pending = s.n AS now_ready, t.queue, t.priority,
            t.position
        FROM workflow_tasks t JOIN succ s ON t.run_id = s.run_id AND t.key = s.to_key
        WHERE t.state = 'blocked'
        ORDER BY t.run_id, t.key
        FOR UPDATE OF t
    ), taken AS MATERIALIZED (
        SELECT l.run_id, l.key
        FROM locked l
        WHERE p_claim AND l.now_ready
            AND (p_queues IS NULL OR l.queue = ANY (p_queues))
            AND l.queue NOT IN (SELECT name FROM workflow_queues)
        ORDER BY l.priority DESC, l.position, l.key
        LIMIT cardinality(v_done_ord)
    ), counted AS (
        UPDATE workflow_tasks t SET pending = t.pending - l.n, ready_at = p_now,
            state = CASE WHEN k.key IS NOT NULL THEN 'claimed'
                WHEN l.now_ready THEN 'ready' ELSE t.state END,
            epoch = t.epoch + (k.key IS NOT NULL)::int,
            attempts = t.attempts + (k.key IS NOT NULL)::int,
            worker_id = CASE WHEN k.key IS NOT NULL THEN p_worker ELSE t.worker_id END,
            lease_until = CASE WHEN k.key IS NOT NULL THEN p_now + p_lease
                ELSE t.lease_until END,
            started_at = CASE WHEN k.key IS NOT NULL THEN COALESCE(t.started_at, p_now)
                ELSE t.started_at END
        FROM locked l LEFT JOIN taken k ON k.run_id = l.run_id AND k.key = l.key
        WHERE t.run_id = l.run_id AND t.key = l.key
        RETURNING t AS task
    )
    SELECT array_agg(c.task ORDER BY (c.task).priority DESC, (c.task).position, (c.task).key)
            FILTER (WHERE (c.task).state = 'claimed'),
        array_agg((c.task).run_id) FILTER (WHERE (c.task).state = 'ready'),
        array_agg((c.task).key) FILTER (WHERE (c.task).state = 'ready')
    INTO v_handed, v_left_run, v_left_key
    FROM counted c;
    v_handed := COALESCE(v_handed, '{}');

    -- 3. Slots no successor took.
    v_slots := cardinality(v_done_ord) - cardinality(v_handed);
    IF p_claim AND v_slots > 0 THEN
        WITH picked AS (
            SELECT run_id, key FROM workflow_tasks
            WHERE state = 'ready' AND ready_at <= p_now
                AND queue NOT IN (SELECT name FROM workflow_queues)
                AND (p_queues IS NULL OR queue = ANY (p_queues))
                AND (p_run IS NULL OR run_id = p_run)
            ORDER BY priority DESC, ready_at
            LIMIT v_slots
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE workflow_tasks t SET state = 'claimed', epoch = t.epoch + 1,
                attempts = t.attempts + 1, worker_id = p_worker,
                lease_until = p_now + p_lease, started_at = COALESCE(t.started_at, p_now)
            FROM picked WHERE t.run_id = picked.run_id AND t.key = picked.key
            RETURNING t AS task
        )
        SELECT v_handed || COALESCE(array_agg(task), '{}') INTO v_handed FROM claimed;
        -- A task made ready in step 2 and picked here is not left for others.
        IF v_left_key IS NOT NULL THEN
            SELECT array_agg(l.run), array_agg(l.key) INTO v_left_run, v_left_key
            FROM unnest(v_left_run, v_left_key) AS l(run, key)
            WHERE NOT EXISTS (SELECT 1 FROM unnest(v_handed) AS h
                WHERE h.run_id = l.run AND h.key = l.key);
        END IF;
    END IF;

    -- 4. The events, numbered within each run: completions, then starts.
    WITH ev AS (
        SELECT d.run, 0 AS grp, d.ord, 'task_completed' AS kind, d.key AS task,
            jsonb_build_object('model', p_models[d.ord], 'prompt_tokens',
                p_prompt_tokens[d.ord], 'completion_tokens', p_completion_tokens[d.ord],
                'cost_usd', p_costs[d.ord])::text AS data
        FROM unnest(v_done_ord, v_done_run, v_done_key) AS d(ord, run, key)
        UNION ALL
        SELECT h.run_id, 1, h.ordinality, 'task_started', h.key,
            jsonb_build_object('attempt', h.attempts, 'worker', p_worker,
                'epoch', h.epoch)::text
        FROM unnest(v_handed) WITH ORDINALITY AS h
    ), counts AS (
        SELECT run, count(*) AS n, count(*) FILTER (WHERE grp = 0) AS completed
        FROM ev GROUP BY run
    ), locked AS MATERIALIZED (
        SELECT r.id FROM workflow_runs r WHERE r.id IN (SELECT run FROM counts)
        ORDER BY r.id FOR UPDATE
    ), bumped AS (
        UPDATE workflow_runs r SET last_event = r.last_event + c.n,
            done_tasks = r.done_tasks + c.completed, updated_at = p_now
        FROM counts c JOIN locked l ON l.id = c.run
        WHERE r.id = c.run
        RETURNING r.id, r.last_event - c.n AS before,
            r.done_tasks = r.total_tasks AS ended,
            -- A run that ends gets its workflow_completed in step 5.
            r.last_event + (r.done_tasks = r.total_tasks)::int AS upto
    ), inserted AS (
        INSERT INTO workflow_events (run_id, seq, kind, task_key, data, created_at)
        SELECT e.run, b.before + row_number() OVER (PARTITION BY e.run ORDER BY e.grp, e.ord),
            e.kind, e.task, e.data, p_now
        FROM ev e JOIN bumped b ON b.id = e.run
    )
    SELECT array_agg(b.id ORDER BY b.id) FILTER (WHERE b.ended),
        count(pg_notify('baton_workflow', b.id || ' upto:' || b.upto
            || CASE WHEN b.id = ANY (v_left_run) THEN ' ready' ELSE '' END))
    INTO v_finished, v_last
    FROM bumped b;

    -- 5. Runs whose last task completed end with the outputs of their
    -- final tasks (those nothing depends on) as the result.
    FOREACH v_run IN ARRAY COALESCE(v_finished, '{}') LOOP
        SELECT COALESCE(jsonb_object_agg(key, COALESCE(output::jsonb, 'null'::jsonb)),
            '{}'::jsonb)
        INTO v_result
        FROM workflow_tasks WHERE run_id = v_run AND key NOT IN
            (SELECT from_key FROM workflow_edges WHERE run_id = v_run);
        UPDATE workflow_runs SET status = 'completed', result = v_result::text,
            finished_at = p_now, last_event = last_event + 1,
            prompt_tokens = (SELECT COALESCE(SUM(prompt_tokens), 0)
                FROM workflow_tasks WHERE run_id = v_run),
            completion_tokens = (SELECT COALESCE(SUM(completion_tokens), 0)
                FROM workflow_tasks WHERE run_id = v_run),
            cost_usd = (SELECT COALESCE(SUM(cost_usd), 0)
                FROM workflow_tasks WHERE run_id = v_run)
        WHERE id = v_run
        RETURNING last_event INTO v_last;
        INSERT INTO workflow_events (run_id, seq, kind, task_key, data, created_at)
        VALUES (v_run, v_last, 'workflow_completed', NULL,
            jsonb_build_object('result', v_result)::text, p_now);
    END LOOP;

    -- One row per item: the k-th completed item (in item order) takes the
    -- k-th handed task (a slot per item). Positions are looked up in the
    -- arrays rather than joined: a join of the items to the completed ones
    -- and to the handed tasks, by nested loops, cost 16 µs per item.
    RETURN QUERY
    SELECT p.k IS NOT NULL,
        CASE WHEN v_left_run IS NOT NULL
                AND array_position(v_done_run, v_done_run[p.k]) = p.k THEN
            (SELECT count(*) FROM unnest(v_left_run) AS l(run) WHERE l.run = v_done_run[p.k])
        ELSE 0 END,
        COALESCE(v_done_run[p.k] = ANY (v_finished), false),
        (h.task).run_id, (h.task).key, (h.task).kind, (h.task).spec, (h.task).queue,
        (h.task).epoch, (h.task).attempts, (h.task).max_attempts, (h.task).timeout_ms,
        (h.task).checkpoint
    FROM generate_series(1::bigint, cardinality(p_runs)) AS i(ord),
        LATERAL (SELECT array_position(v_done_ord, i.ord)) AS p(k),
        LATERAL (SELECT v_handed[p.k] OFFSET 0) AS h(task)
    ORDER BY i.ord;
END;
$$;
