//! The workflow transactions SQLite runs on the store's own write thread
//! ([`crate::sqlite_thread`]): a new run, a completion batch and a
//! heartbeat, the engine's hot path. Each is one closure, so it costs one
//! hand-off to the thread instead of a round trip per statement.
//! Statements that the sqlx paths run too are the same text, bound by name
//! (`$1` …).

use std::collections::{BTreeMap, HashSet};

use baton_core::WorkflowId;
use rusqlite::types::ToSql;
use rusqlite::{Row, Transaction};
use serde_json::{Value, json};

use super::{
    BUMP_RUN_EVENTS, CANCEL_UNFINISHED, CLAIMED_COLUMNS, ClaimNext, ClaimRequest, ClaimedRow,
    ClaimedTask, CompletedBatch, Completion, FAIL_UNREADABLE, Hold, INSERT_EVENT, MARK_RUN_FAILED,
    NewEvent, NewRunRows, Unreadable, WorkflowEvent, WorkflowStatus, fenced, json_column,
    json_text, readable, started_event, unreadable_error, without_runs_of,
};
use crate::error::StoreError;
use crate::rows::uuid_column;

/// The outputs of run `$1`'s sink tasks, which make its result.
const SINK_OUTPUTS: &str = "SELECT key, output FROM workflow_tasks WHERE run_id = $1 \
     AND key NOT IN (SELECT from_key FROM workflow_edges WHERE run_id = $1) ORDER BY position";

/// Marks run `$1` completed with result `$2` and sums its tasks' usage.
const FINISH_RUN: &str = "UPDATE workflow_runs SET status = 'completed', result = $2, \
     finished_at = $3, \
     prompt_tokens = (SELECT COALESCE(SUM(prompt_tokens), 0) FROM workflow_tasks WHERE run_id = $1), \
     completion_tokens = (SELECT COALESCE(SUM(completion_tokens), 0) FROM workflow_tasks WHERE run_id = $1), \
     cost_usd = (SELECT COALESCE(SUM(cost_usd), 0) FROM workflow_tasks WHERE run_id = $1) \
     WHERE id = $1";

/// What a claim sets: worker `$1`, lease until `$2`, now `$3`.
const CLAIM_SET: &str = "state = 'claimed', epoch = epoch + 1, \
     attempts = attempts + 1, worker_id = $1, lease_until = $2, \
     started_at = COALESCE(started_at, $3)";

/// The claim of up to `$4` ready tasks, most urgent first: of one limited
/// `queue` (bound as `$5`), or of the unlimited queues the worker serves
/// (the list as JSON in `$5` when it names some); of one run when it asks.
/// The run is a UUID and so is written in.
fn claim_sql(claim: &ClaimRequest<'_>, queue: Option<&str>) -> String {
    let queues = match (queue, claim.queues) {
        (Some(_), _) => "queue = $5",
        (None, None) => "queue NOT IN (SELECT name FROM workflow_queues)",
        (None, Some(_)) => {
            "queue NOT IN (SELECT name FROM workflow_queues) \
             AND queue IN (SELECT value FROM json_each($5))"
        }
    };
    let run = claim
        .run
        .map(|run| format!(" AND run_id = '{run}'"))
        .unwrap_or_default();
    format!(
        "UPDATE workflow_tasks SET {CLAIM_SET} \
         WHERE (run_id, key) IN (SELECT run_id, key FROM workflow_tasks \
         WHERE state = 'ready' AND ready_at <= $3 AND {queues}{run} \
         ORDER BY priority DESC, ready_at LIMIT $4) \
         RETURNING {CLAIMED_COLUMNS}"
    )
}

/// Inserts a new run with last event 1, its `workflow_started`.
const INSERT_RUN: &str = "INSERT INTO workflow_runs (id, name, request, plan, workspace, \
     device_id, status, total_tasks, last_event, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'running', $7, 1, $8, $8)";

/// Inserts one task of run `$1`, ready when it has no dependency.
const INSERT_TASK: &str = "INSERT INTO workflow_tasks (run_id, key, position, kind, spec, \
     queue, priority, state, pending, max_attempts, timeout_ms, ready_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8 = 0 THEN 'ready' ELSE 'blocked' END, \
     $8, $9, $10, $11)";

/// Inserts one edge of run `$1`.
const INSERT_EDGE: &str =
    "INSERT INTO workflow_edges (run_id, from_key, to_key) VALUES ($1, $2, $3)";

/// A batch item as the thread needs it: which task, how it must be held,
/// and the data of its `task_completed` event.
pub(super) struct Held {
    pub run: String,
    pub key: String,
    pub hold: Hold,
    pub event: Value,
}

/// Who claims, and from which queues and run: a [`ClaimNext`] or a
/// [`ClaimRequest`] without its limit and time, owned so it can cross to
/// the thread.
pub(super) struct Claimant {
    worker: String,
    queues: Option<Vec<String>>,
    run: Option<WorkflowId>,
    lease_ms: i64,
}

impl Claimant {
    pub fn of_next(next: &ClaimNext<'_>) -> Claimant {
        Claimant {
            worker: next.worker.to_owned(),
            queues: next.queues.map(<[String]>::to_vec),
            run: next.run,
            lease_ms: next.lease_ms,
        }
    }

    pub fn of_claim(claim: &ClaimRequest<'_>) -> Claimant {
        Claimant {
            worker: claim.worker.to_owned(),
            queues: claim.queues.map(<[String]>::to_vec),
            run: claim.run,
            lease_ms: claim.lease_ms,
        }
    }

    /// The claim of `limit` tasks for this worker.
    pub fn request(&self, limit: usize, now_ms: i64) -> ClaimRequest<'_> {
        ClaimRequest {
            worker: &self.worker,
            queues: self.queues.as_deref(),
            run: self.run,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            lease_ms: self.lease_ms,
            now_ms,
        }
    }
}

/// A new run: its row, tasks, edges and first event, in one transaction
/// of statements prepared once per connection.
pub(super) fn create_workflow(tx: &Transaction<'_>, run: &NewRunRows) -> Result<(), StoreError> {
    let total = run.keys.len() as i64;
    tx.prepare_cached(INSERT_RUN)?.execute(
        &[
            ("$1", &run.id as &dyn ToSql),
            ("$2", &run.name),
            ("$3", &run.request),
            ("$4", &run.plan),
            ("$5", &run.workspace),
            ("$6", &run.device_id),
            ("$7", &total),
            ("$8", &run.now_ms),
        ][..],
    )?;
    let mut task = tx.prepare_cached(INSERT_TASK)?;
    for at in 0..run.keys.len() {
        let position = at as i64;
        task.execute(
            &[
                ("$1", &run.id as &dyn ToSql),
                ("$2", &run.keys[at]),
                ("$3", &position),
                ("$4", &run.kinds[at]),
                ("$5", &run.specs[at]),
                ("$6", &run.queues[at]),
                ("$7", &run.priorities[at]),
                ("$8", &run.pending[at]),
                ("$9", &run.max_attempts[at]),
                ("$10", &run.timeouts_ms[at]),
                ("$11", &run.now_ms),
            ][..],
        )?;
    }
    let mut edge = tx.prepare_cached(INSERT_EDGE)?;
    for (from, to) in run.edges_from.iter().zip(&run.edges_to) {
        edge.execute(&[("$1", &run.id as &dyn ToSql), ("$2", from), ("$3", to)][..])?;
    }
    tx.prepare_cached(INSERT_EVENT)?.execute(
        &[
            ("$1", &run.id as &dyn ToSql),
            ("$2", &1i64),
            ("$3", &"workflow_started"),
            ("$4", &None::<String>),
            ("$5", &run.started),
            ("$6", &run.now_ms),
        ][..],
    )?;
    Ok(())
}

/// A completion batch, set-based: one statement completes every item still
/// held as it says, one counts down all their successors, one claims newly
/// ready tasks for the worker (one per completed item, most urgent first),
/// one more fills the slots no successor took with other ready tasks it
/// serves, then each run's events and, for a run whose last task this was,
/// its end. A batch costs the same handful of statements (and one `fsync`)
/// whether it holds one task or a hundred. `payload` is
/// [`super::items_json`] of the same items.
pub(super) fn complete(
    tx: &Transaction<'_>,
    items: &[Held],
    payload: &str,
    next: Option<&Claimant>,
    now_ms: i64,
) -> Result<CompletedBatch, StoreError> {
    let mut log = Vec::new();
    let done: Vec<(String, String)> = tx
        .prepare_cached(
            "UPDATE workflow_tasks AS t SET state = 'completed', output = j.output, \
             model = j.model, prompt_tokens = t.prompt_tokens + j.prompt_tokens, \
             completion_tokens = t.completion_tokens + j.completion_tokens, \
             cost_usd = t.cost_usd + j.cost_usd, worker_id = NULL, lease_until = NULL, \
             finished_at = $2, error = NULL \
             FROM (SELECT value ->> 'run' AS j_run, value ->> 'key' AS j_key, \
             value ->> 'state' AS state, value ->> 'epoch' AS epoch, \
             value ->> 'output' AS output, value ->> 'model' AS model, \
             value ->> 'prompt_tokens' AS prompt_tokens, \
             value ->> 'completion_tokens' AS completion_tokens, \
             value ->> 'cost_usd' AS cost_usd FROM json_each($1)) AS j \
             WHERE t.run_id = j.j_run AND t.key = j.j_key AND t.state = j.state \
             AND (j.epoch < 0 OR t.epoch = j.epoch) \
             RETURNING run_id, key",
        )?
        .query_map(
            &[("$1", &payload as &dyn ToSql), ("$2", &now_ms)][..],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?
        .collect::<Result<_, _>>()?;
    let completed: HashSet<(&str, &str)> = done
        .iter()
        .map(|(run, key)| (run.as_str(), key.as_str()))
        .collect();
    let is_done = |item: &Held| completed.contains(&(item.run.as_str(), item.key.as_str()));
    let done_json = Value::Array(
        done.iter()
            .map(|(run, key)| json!({ "run": run, "key": key }))
            .collect(),
    )
    .to_string();
    let mut ready: Vec<(String, String, i64, String, i64, i64)> = tx
        .prepare_cached(
            "UPDATE workflow_tasks AS t SET pending = t.pending - c.n, \
             state = CASE WHEN t.pending = c.n THEN 'ready' ELSE t.state END, ready_at = $2 \
             FROM (SELECT e.run_id AS c_run, e.to_key AS c_key, COUNT(*) AS n \
             FROM json_each($1) AS d JOIN workflow_edges AS e \
             ON e.run_id = d.value ->> 'run' AND e.from_key = d.value ->> 'key' \
             GROUP BY e.run_id, e.to_key) AS c \
             WHERE t.run_id = c.c_run AND t.key = c.c_key AND t.state = 'blocked' \
             RETURNING run_id, key, pending, queue, priority, position",
        )?
        .query_map(
            &[("$1", &done_json as &dyn ToSql), ("$2", &now_ms)][..],
            |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                ))
            },
        )?
        .collect::<Result<_, _>>()?;
    ready.retain(|(_, _, pending, ..)| *pending == 0);
    ready.sort_by(|a, b| b.4.cmp(&a.4).then(a.5.cmp(&b.5)).then(a.1.cmp(&b.1)));
    // Newly ready tasks handed to this worker, one per completed item.
    let mut handed: Vec<ClaimedTask> = Vec::new();
    let mut unreadable: Vec<Unreadable> = Vec::new();
    if let Some(next) = next {
        let wanted: Vec<Value> = ready
            .iter()
            .filter(|(.., queue, _, _)| next.queues.as_ref().is_none_or(|q| q.contains(queue)))
            .take(done.len())
            .map(|(run, key, ..)| json!({ "run": run, "key": key }))
            .collect();
        if !wanted.is_empty() {
            let wanted = Value::Array(wanted).to_string();
            let lease_until = now_ms + next.lease_ms;
            let rows: Vec<ClaimedRow> = tx
                .prepare_cached(&format!(
                    "UPDATE workflow_tasks SET {CLAIM_SET} \
                     WHERE state = 'ready' AND queue NOT IN (SELECT name FROM workflow_queues) \
                     AND (run_id, key) IN \
                     (SELECT value ->> 'run', value ->> 'key' FROM json_each($4)) \
                     RETURNING {CLAIMED_COLUMNS}"
                ))?
                .query_map(
                    &[
                        ("$1", &next.worker as &dyn ToSql),
                        ("$2", &lease_until),
                        ("$3", &now_ms),
                        ("$4", &wanted),
                    ][..],
                    claimed_row,
                )?
                .collect::<Result<_, _>>()?;
            let (tasks, bad) = readable(rows);
            handed = tasks;
            unreadable = bad;
        }
        // Slots no successor took get the most urgent ready task the worker
        // serves, so a fan-out's leaves flow through them without claims.
        let free = done.len().saturating_sub(handed.len());
        if free > 0 {
            let (tasks, bad) = readable(claim_rows(
                tx,
                &next.request(free, now_ms),
                None,
                free as i64,
            )?);
            handed.extend(tasks);
            unreadable.extend(bad);
        }
        without_runs_of(&mut handed, &unreadable);
    }
    let handed_runs: Vec<String> = handed.iter().map(|t| t.run_id.to_string()).collect();
    // Who continues with which handed task: completed items in order.
    let mut handed = handed.into_iter();
    let mut hand_over: Vec<Option<ClaimedTask>> = items
        .iter()
        .map(|item| if is_done(item) { handed.next() } else { None })
        .collect();
    let mut by_run: BTreeMap<&str, (Vec<NewEvent<'_>>, i64)> = BTreeMap::new();
    for item in items.iter().filter(|item| is_done(item)) {
        let (events, count) = by_run.entry(item.run.as_str()).or_default();
        *count += 1;
        events.push(NewEvent {
            kind: "task_completed",
            task: Some(&item.key),
            data: item.event.clone(),
        });
    }
    // A handed task starts after every completion of the batch, the ones
    // that made it ready included.
    if let Some(next) = next {
        for (handed, run) in hand_over.iter().flatten().zip(&handed_runs) {
            by_run
                .entry(run.as_str())
                .or_default()
                .0
                .push(started_event(handed, &next.worker));
        }
    }
    let mut ended: Vec<&str> = Vec::new();
    for (run, (events, count)) in &by_run {
        let (_, completed_tasks, total) = append_events(tx, run, events, *count, now_ms, &mut log)?;
        if completed_tasks == total {
            finish_run(tx, run, now_ms, &mut log)?;
            ended.push(*run);
        }
    }
    for (run, key, why) in &unreadable {
        fail_unreadable(tx, run, key, why, now_ms, &mut log)?;
    }
    // Each run's newly ready tasks that nobody took are counted on its
    // first completed item; a run's end on its last.
    let mut released: BTreeMap<&str, usize> = BTreeMap::new();
    for (run, key, ..) in &ready {
        let taken = hand_over
            .iter()
            .flatten()
            .any(|t| t.run_id.to_string() == *run && t.key == *key);
        if !taken {
            *released.entry(run.as_str()).or_default() += 1;
        }
    }
    let last: BTreeMap<&str, usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| is_done(item))
        .map(|(at, item)| (item.run.as_str(), at))
        .collect();
    let mut results = Vec::with_capacity(items.len());
    for (at, item) in items.iter().enumerate() {
        if !is_done(item) {
            results.push(Err(fenced(&item.run, &item.key, item.hold)));
            continue;
        }
        results.push(Ok(Completion {
            next: hand_over[at].take(),
            released: released.remove(item.run.as_str()).unwrap_or(0),
            finished: (ended.contains(&item.run.as_str()) && last[item.run.as_str()] == at)
                .then_some(WorkflowStatus::Completed),
        }));
    }
    Ok(CompletedBatch {
        results,
        events: log,
    })
}

/// A worker's claim (see [`crate::Store::claim_tasks`]): the unlimited
/// queues first, then each limited queue it serves, in name order, with
/// what still fits under its limit; then a `task_started` event per task.
/// The transaction begins `IMMEDIATE`, so SQLite runs no other write
/// beside it, in this process or another: counting a limited queue's
/// claimed tasks and claiming up to its limit cannot race another claim.
pub(super) fn claim(
    tx: &Transaction<'_>,
    claim: &ClaimRequest<'_>,
) -> Result<Vec<ClaimedTask>, StoreError> {
    let limit = i64::from(claim.limit.max(1));
    let limited: Vec<(String, i64)> = tx
        .prepare_cached("SELECT name, concurrency FROM workflow_queues ORDER BY name")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let (mut claimed, mut unreadable) = readable(claim_rows(tx, claim, None, limit)?);
    for (queue, concurrency) in &limited {
        let left = limit - claimed.len() as i64;
        if left <= 0 {
            break;
        }
        if claim.queues.is_some_and(|queues| !queues.contains(queue)) {
            continue;
        }
        let held: i64 = tx
            .prepare_cached(
                "SELECT COUNT(*) FROM workflow_tasks WHERE queue = $1 AND state = 'claimed'",
            )?
            .query_row(&[("$1", queue as &dyn ToSql)][..], |row| row.get(0))?;
        let room = (concurrency - held).min(left);
        if room > 0 {
            let (tasks, bad) = readable(claim_rows(tx, claim, Some(queue), room)?);
            claimed.extend(tasks);
            unreadable.extend(bad);
        }
    }
    without_runs_of(&mut claimed, &unreadable);
    let mut by_run: BTreeMap<String, Vec<NewEvent<'_>>> = BTreeMap::new();
    for task in &claimed {
        by_run
            .entry(task.run_id.to_string())
            .or_default()
            .push(started_event(task, claim.worker));
    }
    // Claims are not handed to watchers: they read them on their next wake.
    let mut log = Vec::new();
    for (run, events) in &by_run {
        append_events(tx, run, events, 0, claim.now_ms, &mut log)?;
    }
    for (run, key, why) in &unreadable {
        fail_unreadable(tx, run, key, why, claim.now_ms, &mut log)?;
    }
    Ok(claimed)
}

/// Fails an unreadable claimed task and its run (see [`super::readable`]).
fn fail_unreadable(
    tx: &Transaction<'_>,
    run: &str,
    key: &str,
    why: &str,
    now_ms: i64,
    log: &mut Vec<WorkflowEvent>,
) -> Result<(), StoreError> {
    let error = unreadable_error(why);
    tx.prepare_cached(FAIL_UNREADABLE)?.execute(
        &[
            ("$1", &run as &dyn ToSql),
            ("$2", &key),
            ("$3", &error),
            ("$4", &now_ms),
        ][..],
    )?;
    tx.prepare_cached(CANCEL_UNFINISHED)?
        .execute(&[("$1", &run as &dyn ToSql), ("$2", &now_ms)][..])?;
    let reason = format!("task {key} failed: {error}");
    tx.prepare_cached(MARK_RUN_FAILED)?
        .execute(&[("$1", &run as &dyn ToSql), ("$2", &reason), ("$3", &now_ms)][..])?;
    let events = [
        NewEvent {
            kind: "task_failed",
            task: Some(key),
            data: json!({ "error": error }),
        },
        NewEvent {
            kind: "workflow_failed",
            task: None,
            data: json!({ "reason": reason }),
        },
    ];
    append_events(tx, run, &events, 0, now_ms, log)?;
    Ok(())
}

/// Renews every lease `worker` holds, in one statement.
pub(super) fn heartbeat(
    tx: &Transaction<'_>,
    worker: &str,
    lease_until: i64,
) -> Result<u64, StoreError> {
    let renewed = tx
        .prepare_cached(
            "UPDATE workflow_tasks SET lease_until = $2 \
             WHERE worker_id = $1 AND state = 'claimed'",
        )?
        .execute(&[("$1", &worker as &dyn ToSql), ("$2", &lease_until)][..])?;
    Ok(renewed as u64)
}

/// Claims up to `limit` ready tasks: of one limited `queue`, or of the
/// unlimited queues `claim` serves (see [`claim_sql`]).
fn claim_rows(
    tx: &Transaction<'_>,
    claim: &ClaimRequest<'_>,
    queue: Option<&str>,
    limit: i64,
) -> Result<Vec<ClaimedRow>, StoreError> {
    let lease_until = claim.now_ms + claim.lease_ms;
    let queues = claim
        .queues
        .map(|queues| serde_json::to_string(queues).unwrap_or_default());
    let mut params: Vec<(&str, &dyn ToSql)> = vec![
        ("$1", &claim.worker),
        ("$2", &lease_until),
        ("$3", &claim.now_ms),
        ("$4", &limit),
    ];
    match (&queue, &queues) {
        (Some(queue), _) => params.push(("$5", queue)),
        (None, Some(queues)) => params.push(("$5", queues)),
        (None, None) => {}
    }
    let rows = tx
        .prepare_cached(&claim_sql(claim, queue))?
        .query_map(&params[..], claimed_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn claimed_row(row: &Row<'_>) -> rusqlite::Result<ClaimedRow> {
    Ok(ClaimedRow {
        run_id: row.get(0)?,
        key: row.get(1)?,
        kind: row.get(2)?,
        spec: row.get(3)?,
        queue: row.get(4)?,
        epoch: row.get(5)?,
        attempts: row.get(6)?,
        max_attempts: row.get(7)?,
        timeout_ms: row.get(8)?,
        checkpoint: row.get(9)?,
    })
}

/// [`super::append_events!`] on the thread; the appended events are also
/// added to `log`, for the committer to hand to watchers.
fn append_events(
    tx: &Transaction<'_>,
    run: &str,
    events: &[NewEvent<'_>],
    done: i64,
    now_ms: i64,
    log: &mut Vec<WorkflowEvent>,
) -> Result<(i64, i64, i64), StoreError> {
    let count = events.len() as i64;
    let (last, done, total): (i64, i64, i64) = tx.prepare_cached(BUMP_RUN_EVENTS)?.query_row(
        &[
            ("$1", &run as &dyn ToSql),
            ("$2", &count),
            ("$3", &done),
            ("$4", &now_ms),
        ][..],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    )?;
    // A run whose id is no UUID (a row written behind baton's back, being
    // failed here) has no watchers to hand its events to.
    let run_id = uuid_column(run).ok().map(WorkflowId);
    let mut insert = tx.prepare_cached(INSERT_EVENT)?;
    for (seq, event) in (last - count + 1..).zip(events) {
        let data = json_text(&event.data)?;
        insert.execute(
            &[
                ("$1", &run as &dyn ToSql),
                ("$2", &seq),
                ("$3", &event.kind),
                ("$4", &event.task),
                ("$5", &data),
                ("$6", &now_ms),
            ][..],
        )?;
        if let Some(run_id) = run_id {
            log.push(WorkflowEvent {
                run_id,
                seq,
                kind: event.kind.to_owned(),
                task: event.task.map(str::to_owned),
                data: event.data.clone(),
                created_ms: now_ms,
            });
        }
    }
    Ok((last, done, total))
}

/// Marks `run` completed with the outputs of its sink tasks as its result.
fn finish_run(
    tx: &Transaction<'_>,
    run: &str,
    now_ms: i64,
    log: &mut Vec<WorkflowEvent>,
) -> Result<(), StoreError> {
    let mut result = serde_json::Map::new();
    let mut sinks = tx.prepare_cached(SINK_OUTPUTS)?;
    let rows = sinks.query_map(&[("$1", &run as &dyn ToSql)][..], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
    })?;
    for row in rows {
        let (key, output) = row?;
        let output = output.as_deref().map(json_column).transpose()?;
        result.insert(key, output.unwrap_or(Value::Null));
    }
    let result = Value::Object(result);
    let text = json_text(&result)?;
    tx.prepare_cached(FINISH_RUN)?
        .execute(&[("$1", &run as &dyn ToSql), ("$2", &text), ("$3", &now_ms)][..])?;
    let completed = NewEvent {
        kind: "workflow_completed",
        task: None,
        data: json!({ "result": result }),
    };
    append_events(tx, run, &[completed], 0, now_ms, log)?;
    Ok(())
}
