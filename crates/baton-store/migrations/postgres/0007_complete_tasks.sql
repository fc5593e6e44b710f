-- Completing workflow tasks in one round trip (issue 6). Each statement of
-- a completion is a round trip to the server; this function runs what
-- `complete_on_sqlite` in baton-store/src/workflows.rs does, with the same
-- set-based statements, server-side, so a worker's commit is one `SELECT`
-- in autocommit. Set-based rather than a loop over the items: a loop counts
-- a fan-in join down (and takes its row lock) once per finished leaf and
-- cost about 170 µs of server time per task. One statement completes every
-- item still held as it says, one counts down all their successors at once
-- (locked in (run, key) order first, so two workers counting down the same
-- joins never deadlock), one claims newly ready tasks for the worker (one
-- per completed item, most urgent first; slots no successor took get other
-- ready tasks the worker serves), then the runs' rows (locked in id order
-- when there are several, after every task row: the lock order of every
-- workflow transaction) take the event counts, the events go in with one
-- INSERT, and a run whose last task completed ends. Events of a run: its
-- completions in item order, then the handed tasks' starts.
--
-- p_items: [{"run","key","state","epoch","output" (JSON text),"model",
--            "prompt_tokens","completion_tokens","cost_usd"}]: each task must
--            be in `state` (claimed, or waiting for an approval) under
--            `epoch` (-1: any).
-- p_queues: the queues the worker serves (NULL: all); p_run: the only run
-- it serves (NULL: all); p_claim: whether the worker takes tasks on.
-- Returns {"results": [{"ok": false} | {"ok": true, "released": n,
-- "next": claimed task or null}], "finished": [run ids that completed]}:
-- a run's tasks made ready and left for others are counted on its first
-- completed item.
CREATE FUNCTION baton_complete_tasks(
    p_items jsonb,
    p_worker text,
    p_lease bigint,
    p_queues text[],
    p_run text,
    p_claim boolean,
    p_now bigint
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_done jsonb;
    v_ready jsonb;
    v_handed jsonb := '[]'::jsonb;
    v_taken bigint;
    v_events jsonb;
    v_runs bigint;
    v_bumped jsonb;
    v_run text;
    v_last bigint;
    v_result jsonb;
    v_finished jsonb := '[]'::jsonb;
    v_results jsonb;
BEGIN
    -- The fenced completion. Two workers never hold the same task, so the
    -- rows this locks are this batch's alone.
    WITH items AS (
        SELECT e.ord, e.value->>'run' AS run, e.value->>'key' AS key,
            e.value->>'state' AS state, (e.value->>'epoch')::bigint AS epoch,
            e.value->>'output' AS output, e.value->>'model' AS model,
            (e.value->>'prompt_tokens')::bigint AS prompt_tokens,
            (e.value->>'completion_tokens')::bigint AS completion_tokens,
            (e.value->>'cost_usd')::double precision AS cost_usd
        FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(value, ord)
    ), done AS (
        UPDATE workflow_tasks t SET state = 'completed', output = i.output,
            model = i.model, prompt_tokens = t.prompt_tokens + i.prompt_tokens,
            completion_tokens = t.completion_tokens + i.completion_tokens,
            cost_usd = t.cost_usd + i.cost_usd, worker_id = NULL, lease_until = NULL,
            finished_at = p_now, error = NULL
        FROM items i
        WHERE t.run_id = i.run AND t.key = i.key AND t.state = i.state
            AND (i.epoch < 0 OR t.epoch = i.epoch)
        RETURNING i.ord, t.run_id, t.key
    )
    SELECT COALESCE(jsonb_agg(jsonb_build_object('ord', ord, 'run', run_id, 'key', key)
        ORDER BY ord), '[]'::jsonb)
    INTO v_done FROM done;

    -- The countdown of every successor of the completed tasks, each once
    -- by how many of its dependencies completed here.
    WITH succ AS (
        SELECT e.run_id, e.to_key, count(*) AS n
        FROM jsonb_to_recordset(v_done) AS d(run text, key text)
        JOIN workflow_edges e ON e.run_id = d.run AND e.from_key = d.key
        GROUP BY e.run_id, e.to_key
    ), locked AS MATERIALIZED (
        SELECT t.run_id, t.key, s.n
        FROM workflow_tasks t JOIN succ s ON t.run_id = s.run_id AND t.key = s.to_key
        WHERE t.state = 'blocked'
        ORDER BY t.run_id, t.key
        FOR UPDATE OF t
    ), counted AS (
        UPDATE workflow_tasks t SET pending = t.pending - l.n,
            state = CASE WHEN t.pending = l.n THEN 'ready' ELSE t.state END, ready_at = p_now
        FROM locked l
        WHERE t.run_id = l.run_id AND t.key = l.key
        RETURNING t.run_id, t.key, t.pending, t.queue, t.priority, t.position
    )
    SELECT COALESCE(jsonb_agg(jsonb_build_object('run', run_id, 'key', key, 'queue', queue,
        'priority', priority, 'position', position)), '[]'::jsonb)
    INTO v_ready FROM counted WHERE pending = 0;

    -- Newly ready tasks the worker takes on: one per completed item, most
    -- urgent first, of the queues it serves and without a limit.
    IF p_claim AND jsonb_array_length(v_ready) > 0 THEN
        WITH wanted AS (
            SELECT r.run, r.key
            FROM jsonb_to_recordset(v_ready)
                AS r(run text, key text, queue text, priority bigint, position bigint)
            WHERE (p_queues IS NULL OR r.queue = ANY (p_queues))
                AND r.queue NOT IN (SELECT name FROM workflow_queues)
            ORDER BY r.priority DESC, r.position, r.key
            LIMIT jsonb_array_length(v_done)
        ), claimed AS (
            UPDATE workflow_tasks t SET state = 'claimed', epoch = t.epoch + 1,
                attempts = t.attempts + 1, worker_id = p_worker,
                lease_until = p_now + p_lease, started_at = COALESCE(t.started_at, p_now)
            FROM wanted w
            WHERE t.run_id = w.run AND t.key = w.key AND t.state = 'ready'
            RETURNING jsonb_build_object('run_id', t.run_id, 'key', t.key, 'kind', t.kind,
                'spec', t.spec, 'queue', t.queue, 'epoch', t.epoch, 'attempts', t.attempts,
                'max_attempts', t.max_attempts, 'timeout_ms', t.timeout_ms,
                'checkpoint', t.checkpoint) AS task
        )
        SELECT COALESCE(jsonb_agg(task), '[]'::jsonb) INTO v_handed FROM claimed;
    END IF;
    v_taken := jsonb_array_length(v_handed);
    -- Slots no successor took get the most urgent ready tasks the worker
    -- serves (rows another transaction holds are skipped, never waited on).
    IF p_claim AND jsonb_array_length(v_handed) < jsonb_array_length(v_done) THEN
        WITH picked AS (
            SELECT run_id, key FROM workflow_tasks
            WHERE state = 'ready' AND ready_at <= p_now
                AND queue NOT IN (SELECT name FROM workflow_queues)
                AND (p_queues IS NULL OR queue = ANY (p_queues))
                AND (p_run IS NULL OR run_id = p_run)
            ORDER BY priority DESC, ready_at
            LIMIT jsonb_array_length(v_done) - jsonb_array_length(v_handed)
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE workflow_tasks t SET state = 'claimed', epoch = t.epoch + 1,
                attempts = t.attempts + 1, worker_id = p_worker,
                lease_until = p_now + p_lease, started_at = COALESCE(t.started_at, p_now)
            FROM picked WHERE t.run_id = picked.run_id AND t.key = picked.key
            RETURNING jsonb_build_object('run_id', t.run_id, 'key', t.key, 'kind', t.kind,
                'spec', t.spec, 'queue', t.queue, 'epoch', t.epoch, 'attempts', t.attempts,
                'max_attempts', t.max_attempts, 'timeout_ms', t.timeout_ms,
                'checkpoint', t.checkpoint) AS task
        )
        SELECT v_handed || COALESCE(jsonb_agg(task), '[]'::jsonb) INTO v_handed FROM claimed;
    END IF;

    -- The events, numbered within each run: completions, then starts.
    SELECT COALESCE(jsonb_agg(ev ORDER BY ev->>'run', (ev->>'grp')::int, (ev->>'ord')::bigint),
        '[]'::jsonb), count(DISTINCT ev->>'run')
    INTO v_events, v_runs
    FROM (
        SELECT jsonb_build_object('run', d.run, 'grp', 0, 'ord', d.ord,
            'kind', 'task_completed', 'task', d.key,
            'data', jsonb_build_object('model', i.value->'model',
                'prompt_tokens', i.value->'prompt_tokens',
                'completion_tokens', i.value->'completion_tokens',
                'cost_usd', i.value->'cost_usd')) AS ev
        FROM jsonb_to_recordset(v_done) AS d(ord bigint, run text, key text)
        JOIN jsonb_array_elements(p_items) WITH ORDINALITY AS i(value, ord) ON i.ord = d.ord
        UNION ALL
        SELECT jsonb_build_object('run', h.task->>'run_id', 'grp', 1, 'ord', h.ord,
            'kind', 'task_started', 'task', h.task->>'key',
            'data', jsonb_build_object('attempt', h.task->'attempts', 'worker', p_worker,
                'epoch', h.task->'epoch'))
        FROM jsonb_array_elements(v_handed) WITH ORDINALITY AS h(task, ord)
    ) AS all_events;

    IF v_runs > 1 THEN
        PERFORM 1 FROM workflow_runs
        WHERE id IN (SELECT DISTINCT ev->>'run' FROM jsonb_array_elements(v_events) AS ev)
        ORDER BY id FOR UPDATE;
    END IF;
    IF v_runs > 0 THEN
        WITH counts AS (
            SELECT ev->>'run' AS run, count(*) AS n,
                count(*) FILTER (WHERE ev->>'kind' = 'task_completed') AS completed
            FROM jsonb_array_elements(v_events) AS ev GROUP BY 1
        ), bumped AS (
            UPDATE workflow_runs r SET last_event = r.last_event + c.n,
                done_tasks = r.done_tasks + c.completed, updated_at = p_now
            FROM counts c WHERE r.id = c.run
            RETURNING r.id, r.last_event - c.n AS before, r.done_tasks, r.total_tasks
        ), inserted AS (
            INSERT INTO workflow_events (run_id, seq, kind, task_key, data, created_at)
            SELECT e.run, b.before + e.nth, e.kind, e.task, e.data, p_now
            FROM (
                SELECT ev->>'run' AS run, ev->>'kind' AS kind, ev->>'task' AS task,
                    (ev->'data')::text AS data,
                    row_number() OVER (PARTITION BY ev->>'run'
                        ORDER BY (ev->>'grp')::int, (ev->>'ord')::bigint) AS nth
                FROM jsonb_array_elements(v_events) AS ev
            ) AS e JOIN bumped b ON b.id = e.run
        )
        SELECT COALESCE(jsonb_agg(id ORDER BY id) FILTER (WHERE done_tasks = total_tasks),
            '[]'::jsonb)
        INTO v_bumped FROM bumped;

        FOR v_run IN SELECT jsonb_array_elements_text(v_bumped) LOOP
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
            v_finished := v_finished || to_jsonb(v_run);
        END LOOP;

        -- Each changed run is told; " ready" when tasks became ready that
        -- nobody took, so idle workers look.
        PERFORM pg_notify('baton_workflow', r.run || CASE WHEN EXISTS (
                SELECT 1 FROM jsonb_array_elements(v_ready) AS t
                WHERE t->>'run' = r.run AND NOT EXISTS (
                    SELECT 1 FROM jsonb_array_elements(v_handed) AS h
                    WHERE h->>'run_id' = r.run AND h->>'key' = t->>'key'))
            THEN ' ready' ELSE '' END)
        FROM (SELECT DISTINCT ev->>'run' AS run FROM jsonb_array_elements(v_events) AS ev
            ORDER BY 1) AS r;
    END IF;

    -- Per item: fenced, or completed with its handed task and, on a run's
    -- first completed item, the run's tasks left ready for others. One item
    -- (a chain's step) needs no query: whatever was made ready and not
    -- taken as its successor was left.
    IF jsonb_array_length(p_items) = 1 THEN
        RETURN jsonb_build_object('results', jsonb_build_array(
            CASE WHEN jsonb_array_length(v_done) = 0 THEN jsonb_build_object('ok', false)
            ELSE jsonb_build_object('ok', true,
                'released', jsonb_array_length(v_ready) - v_taken,
                'next', v_handed->0) END),
            'finished', v_finished);
    END IF;
    WITH done AS (
        SELECT d.ord, d.run, row_number() OVER (ORDER BY d.ord) AS nth,
            row_number() OVER (PARTITION BY d.run ORDER BY d.ord) AS in_run
        FROM jsonb_to_recordset(v_done) AS d(ord bigint, run text)
    ), left_ready AS (
        SELECT t->>'run' AS run, count(*) AS n
        FROM jsonb_array_elements(v_ready) AS t
        WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_handed) AS h
            WHERE h->>'run_id' = t->>'run' AND h->>'key' = t->>'key')
        GROUP BY 1
    )
    SELECT jsonb_agg(CASE WHEN d.ord IS NULL THEN jsonb_build_object('ok', false)
        ELSE jsonb_build_object('ok', true,
            'released', CASE WHEN d.in_run = 1 THEN COALESCE(l.n, 0) ELSE 0 END,
            'next', v_handed->(d.nth::int - 1)) END ORDER BY i.ord)
    INTO v_results
    FROM jsonb_array_elements(p_items) WITH ORDINALITY AS i(value, ord)
    LEFT JOIN done d ON d.ord = i.ord
    LEFT JOIN left_ready l ON l.run = d.run;

    RETURN jsonb_build_object('results', COALESCE(v_results, '[]'::jsonb),
        'finished', v_finished);
END;
$$;
