#!/usr/bin/env bash
# How fast `baton serve` becomes healthy on an existing data directory, and
# how much memory it holds idle.
#
# Usage: bench/startup.sh           (RUNS=30 by default; about a minute)
# Output: bench/results/startup-<date>.json and a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

RUNS=${RUNS:-30}
BIN=target/release

echo "building release binaries" >&2
cargo build --release -p baton-cli -p baton-testkit -p baton-bench >&2

WORK=$(mktemp -d /tmp/baton-startup-bench.XXXXXX)
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# A configuration like a real one: SQLite in the data dir, quiet logs, and
# one provider that answers (the scripted model server), so each run also
# lists its models in the background after becoming healthy, as it would in
# use, and the idle figure includes that.
start_bg "$WORK/model-server.log" "$BIN/baton-model-server" --no-record --port-file "$WORK/model.port"
for _ in $(seq 100); do [ -s "$WORK/model.port" ] && break; sleep 0.1; done
MODEL_PORT=$(cat "$WORK/model.port")
wait_http "http://127.0.0.1:$MODEL_PORT/v1/models" 10 "$BG_PID" "$WORK/model-server.log"
write_baton_config "$WORK/baton.toml" "$MODEL_PORT"

# A clean environment: no provider keys or BATON_* settings from the shell.
# The generator exits non-zero when a run did not exit 0 on SIGTERM; the
# numbers are still written, and the script fails afterwards.
status=0
env -i "PATH=$PATH" "HOME=$WORK" "LANG=C.UTF-8" \
    "$BIN/baton-loadgen" startup --baton "$BIN/baton" --config "$WORK/baton.toml" \
    --data-dir "$WORK/data" --runs "$RUNS" --json >"$WORK/report.json" || status=$?
[ -s "$WORK/report.json" ] || exit "$status"

mkdir -p bench/results
OUT="bench/results/startup-$(date -u +%Y-%m-%d).json"
jq --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson machine "$(machine_json)" \
    '{date: $date, machine: $machine, report: .}' "$WORK/report.json" >"$OUT"
echo "raw results: $OUT" >&2
python3 bench/report.py startup "$OUT"
exit "$status"
