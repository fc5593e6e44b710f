#!/usr/bin/env bash
# baton's workflow engine beside LangGraph, in one run, on the same shapes:
# a 40-step chain and a root + N leaves + join fan-out (N = 10, 100, 1000),
# with no-op tasks and 50 ms tasks, durable on SQLite and on PostgreSQL.
#
#   baton:     target/release/baton-workflow-bench (the real engine and a
#              worker in one process, an SQLite file with synchronous=FULL,
#              or PostgreSQL)
#   LangGraph: bench/workflow/langgraph_bench.py (async graph, its
#              AsyncSqliteSaver / AsyncPostgresSaver, durability "sync": each
#              step saved before the next starts)
#
# PostgreSQL is a cluster of its own with PostgreSQL's durable defaults
# (fsync on), started here under bench/.data/pg-durable and stopped at exit;
# the test cluster runs with fsync off and would flatter both engines.
# Then claim throughput: 4 workers (each its own pool) drain 10 fan-outs of
# 1,000 no-op tasks on PostgreSQL, each worker running 16 (the engine's
# default), 64, 128 and 256 tasks at once: more at once make bigger
# completion batches.
#
# Usage: bench/workflow.sh
# Env:   REPEATS=7  SHAPES=chain40,fan10,fan100,fan1000  SLEEPS=0,50
#        CLAIM_CONCURRENCY="16 64 128 256"
#        RESULTS=FILE (default bench/results/workflow-<date>.json)
# Output: the JSON records of every case and a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEATS=${REPEATS:-7}
SHAPES=${SHAPES:-chain40,fan10,fan100,fan1000}
SLEEPS=${SLEEPS:-0,50}
CLAIM_CONCURRENCY=${CLAIM_CONCURRENCY:-16 64 128 256}
RESULTS=${RESULTS:-bench/results/workflow-$(date +%F).json}
PY=.venv/bin/python
WORK=$(mktemp -d)
export BATON_TEST_PG_DIR="$PWD/bench/.data/pg-durable"

cleanup() {
    BATON_TEST_PG_DURABLE=1 bash scripts/test-postgres.sh stop >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

[ -x "$PY" ] || bash scripts/python-env.sh >&2
echo "building baton-workflow-bench (release)" >&2
cargo build --release -q -p baton-bench --bin baton-workflow-bench >&2
BIN=target/release/baton-workflow-bench

mkdir -p bench/.data
eval "$(BATON_TEST_PG_DURABLE=1 bash scripts/test-postgres.sh start)"
PG=$BATON_TEST_DATABASE_URL

run_baton() { # BACKEND URL
    local out="$WORK/baton-$1.json"
    "$BIN" --database "$2" --shapes "$SHAPES" --sleep-ms "$SLEEPS" --repeats "$REPEATS" \
        --json "$out" >&2
}
run_langgraph() { # CHECKPOINTER ARGS...
    local saver=$1
    shift
    "$PY" bench/workflow/langgraph_bench.py --checkpointer "$saver" --shapes "$SHAPES" \
        --sleep-ms "$SLEEPS" --repeats "$REPEATS" --json "$WORK/langgraph-$saver.json" "$@" >&2
}

echo "== baton, SQLite" >&2
run_baton sqlite "sqlite:$WORK/baton.db"
echo "== LangGraph, SQLite" >&2
run_langgraph sqlite --sqlite-path "$WORK/langgraph.db"
echo "== baton, PostgreSQL" >&2
run_baton postgres "$PG"
echo "== LangGraph, PostgreSQL" >&2
run_langgraph postgres --postgres-url "$PG"
for concurrency in $CLAIM_CONCURRENCY; do
    echo "== claim throughput, 4 workers x $concurrency tasks at once, PostgreSQL" >&2
    "$BIN" --database "$PG" --mode claim --workers 4 --runs 10 --leaves 1000 \
        --concurrency "$concurrency" --json "$WORK/claim-$concurrency.json" >&2
done

mkdir -p "$(dirname "$RESULTS")"
"$PY" - "$RESULTS" "$WORK"/baton-*.json "$WORK"/langgraph-*.json "$WORK"/claim-*.json <<'EOF'
import json, platform, sys
out, *files = sys.argv[1:]
records = [r for f in files for r in (lambda d: d if isinstance(d, list) else [d])(json.load(open(f)))]
json.dump({"machine": platform.platform(), "records": records}, open(out, "w"), indent=2)
rows = {}
for r in records:
    if r.get("mode") == "claim":
        continue
    rows.setdefault((r["checkpointer"], r["shape"], r["sleep_ms"]), {})[r["engine"]] = r
print("| store | shape | task | baton median ms | baton overhead / task ms | LangGraph median ms | LangGraph overhead / task ms | baton tasks/s | LangGraph tasks/s |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for (store, shape, sleep), pair in sorted(rows.items()):
    b, l = pair.get("baton"), pair.get("langgraph")
    cell = lambda r, k, f: (f % r[k]) if r else "–"
    print(f"| {store} | {shape} | {'no-op' if sleep == 0 else f'{sleep} ms'} | "
          f"{cell(b, 'median_ms', '%.1f')} | {cell(b, 'per_task_overhead_ms', '%.3f')} | "
          f"{cell(l, 'median_ms', '%.1f')} | {cell(l, 'per_task_overhead_ms', '%.3f')} | "
          f"{cell(b, 'tasks_per_s', '%.0f')} | {cell(l, 'tasks_per_s', '%.0f')} |")
claims = sorted((r for r in records if r.get("mode") == "claim"), key=lambda r: r["concurrency"])
for r in claims:
    print(f"\nclaim throughput, {r['workers']} workers x {r['concurrency']} tasks at once on "
          f"PostgreSQL: {r['tasks_per_s']:.0f} tasks/s ({r['tasks']} tasks in {r['seconds']:.2f} s)")
EOF
echo "results: $RESULTS" >&2
