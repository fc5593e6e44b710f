-- Completing workflow tasks in one round trip (issue 6). Each statement of
-- a completion is a round trip to the server, and a chain step needs
-- seven; this function does them all server-side, so a worker's commit is
-- one `SELECT` in autocommit. It is the same transaction as
-- `complete_on_sqlite` in baton-store/src/workflows.rs (set-based there,
-- where statements cost no round trip): per item, the fenced completion,
-- the successors' countdown and the claim of one newly ready successor for
-- the worker; then per run (in id order, after every task row: the lock
-- order of every workflow transaction) the event counter, the events, the
-- run's end when its last task completed, and a notification (with
-- " ready" when tasks became ready that nobody took, to wake idle workers).
--
-- p_items: [{"run","key","state","epoch","output" (JSON text),"model",
--            "prompt_tokens","completion_tokens","cost_usd"}]: each task must
--            be in `state` (claimed, or waiting for an approval) under
--            `epoch` (-1: any).
-- p_queues: the queues the worker serves (NULL: all); p_claim: whether the
-- worker takes a successor.
-- Returns {"results": [{"ok": false} | {"ok": true, "released": n,
-- "next": claimed task or null}], "finished": [run ids that completed]}.
CREATE FUNCTION baton_complete_tasks(
    p_items jsonb,
    p_worker text,
    p_lease bigint,
    p_queues text[],
    p_claim boolean,
    p_now bigint
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_item jsonb;
    v_run text;
    v_key text;
    v_rows bigint;
    v_released bigint;
    v_next_key text;
    v_next jsonb;
    v_results jsonb := '[]'::jsonb;
    v_events jsonb := '{}'::jsonb;
    v_done jsonb := '{}'::jsonb;
    v_finished jsonb := '[]'::jsonb;
    v_ready jsonb := '{}'::jsonb;
    v_run_events jsonb;
    v_count bigint;
    v_last bigint;
    v_completed bigint;
    v_total bigint;
    v_result jsonb;
BEGIN
    FOR v_item IN SELECT * FROM jsonb_array_elements(p_items) LOOP
        v_run := v_item->>'run';
        v_key := v_item->>'key';
        UPDATE workflow_tasks SET state = 'completed', output = v_item->>'output',
            model = v_item->>'model',
            prompt_tokens = prompt_tokens + (v_item->>'prompt_tokens')::bigint,
            completion_tokens = completion_tokens + (v_item->>'completion_tokens')::bigint,
            cost_usd = cost_usd + (v_item->>'cost_usd')::double precision,
            worker_id = NULL, lease_until = NULL, finished_at = p_now, error = NULL
        WHERE run_id = v_run AND key = v_key AND state = v_item->>'state'
            AND ((v_item->>'epoch')::bigint < 0 OR epoch = (v_item->>'epoch')::bigint);
        GET DIAGNOSTICS v_rows = ROW_COUNT;
        IF v_rows = 0 THEN
            v_results := v_results || jsonb_build_array(jsonb_build_object('ok', false));
            CONTINUE;
        END IF;
        WITH counted AS (
            UPDATE workflow_tasks SET pending = pending - 1,
                state = CASE WHEN pending = 1 THEN 'ready' ELSE state END, ready_at = p_now
            WHERE run_id = v_run AND state = 'blocked' AND key IN
                (SELECT to_key FROM workflow_edges WHERE run_id = v_run AND from_key = v_key)
            RETURNING key, pending, queue, priority, position
        )
        SELECT count(*) FILTER (WHERE pending = 0),
            (array_agg(key ORDER BY priority DESC, position) FILTER (
                WHERE pending = 0 AND (p_queues IS NULL OR queue = ANY (p_queues))))[1]
        INTO v_released, v_next_key FROM counted;
        v_next := NULL;
        IF p_claim AND v_next_key IS NOT NULL THEN
            UPDATE workflow_tasks SET state = 'claimed', epoch = epoch + 1,
                attempts = attempts + 1, worker_id = p_worker, lease_until = p_now + p_lease,
                started_at = COALESCE(started_at, p_now)
            WHERE run_id = v_run AND key = v_next_key AND state = 'ready'
                AND queue NOT IN (SELECT name FROM workflow_queues)
            RETURNING jsonb_build_object('run_id', run_id, 'key', key, 'kind', kind,
                'spec', spec, 'queue', queue, 'epoch', epoch, 'attempts', attempts,
                'max_attempts', max_attempts, 'timeout_ms', timeout_ms,
                'checkpoint', checkpoint)
            INTO v_next;
            IF v_next IS NOT NULL THEN
                v_released := v_released - 1;
            END IF;
        END IF;
        v_run_events := COALESCE(v_events->v_run, '[]'::jsonb) || jsonb_build_array(
            jsonb_build_object('kind', 'task_completed', 'task', v_key, 'data',
                jsonb_build_object('model', v_item->'model',
                    'prompt_tokens', v_item->'prompt_tokens',
                    'completion_tokens', v_item->'completion_tokens',
                    'cost_usd', v_item->'cost_usd')));
        IF v_next IS NOT NULL THEN
            v_run_events := v_run_events || jsonb_build_array(
                jsonb_build_object('kind', 'task_started', 'task', v_next->>'key', 'data',
                    jsonb_build_object('attempt', v_next->'attempts', 'worker', p_worker,
                        'epoch', v_next->'epoch')));
        END IF;
        v_events := jsonb_set(v_events, ARRAY[v_run], v_run_events);
        v_done := jsonb_set(v_done, ARRAY[v_run],
            to_jsonb(COALESCE((v_done->>v_run)::bigint, 0) + 1));
        v_results := v_results || jsonb_build_array(jsonb_build_object(
            'ok', true, 'released', v_released, 'next', v_next));
        IF v_released > 0 THEN
            v_ready := jsonb_set(v_ready, ARRAY[v_run], 'true'::jsonb);
        END IF;
    END LOOP;

    FOR v_run IN SELECT k FROM jsonb_object_keys(v_events) AS k ORDER BY k LOOP
        v_run_events := v_events->v_run;
        v_count := jsonb_array_length(v_run_events);
        UPDATE workflow_runs SET last_event = last_event + v_count,
            done_tasks = done_tasks + (v_done->>v_run)::bigint, updated_at = p_now
        WHERE id = v_run
        RETURNING last_event, done_tasks, total_tasks INTO v_last, v_completed, v_total;
        INSERT INTO workflow_events (run_id, seq, kind, task_key, data, created_at)
        SELECT v_run, v_last - v_count + e.ord, e.value->>'kind', e.value->>'task',
            (e.value->'data')::text, p_now
        FROM jsonb_array_elements(v_run_events) WITH ORDINALITY AS e(value, ord);
        IF v_completed = v_total THEN
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
            v_finished := v_finished || jsonb_build_array(v_run);
        END IF;
        PERFORM pg_notify('baton_workflow',
            v_run || CASE WHEN v_ready ? v_run THEN ' ready' ELSE '' END);
    END LOOP;
    RETURN jsonb_build_object('results', v_results, 'finished', v_finished);
END;
$$;
