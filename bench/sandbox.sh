#!/usr/bin/env bash
# What baton's sandbox adds to starting a command: spawn and wait for
# `/bin/true` and `sh -c true`, plain (tokio, same pipes, empty environment)
# and through `Sandbox::run` with full isolation (Landlock, rlimits, a pids
# cgroup where one is writable), interleaved, ITERATIONS times each.
# Target (issue 4): at most 5 ms over the plain spawn.
#
# Usage: bench/sandbox.sh          (about a minute; more on the first run,
#                                   which builds the bench in release mode)
# Env:   ITERATIONS=2000  RESULTS=FILE (default bench/results/sandbox-<date>.json)
# Output: bench/results/sandbox-<date>.json and a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

ITERATIONS=${ITERATIONS:-2000}

WORK=$(mktemp -d /tmp/baton-sandbox-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

echo "building and running the spawn_overhead bench ($ITERATIONS iterations)" >&2
# A clean environment: nothing from the caller's shell reaches the children.
env -i "PATH=$PATH" "HOME=$HOME" "LANG=C.UTF-8" \
    cargo bench -q -p baton-sandbox --bench spawn_overhead -- "$ITERATIONS" >"$WORK/report.json"

mkdir -p bench/results
OUT=${RESULTS:-"bench/results/sandbox-$(date -u +%Y-%m-%d).json"}
jq --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson machine "$(machine_json)" \
    --arg load "$(cut -d' ' -f1-3 /proc/loadavg)" \
    '{date: $date, machine: $machine, load_average: $load, report: .}' "$WORK/report.json" >"$OUT"
echo "raw results: $OUT" >&2

jq -r '
  def ms: . / 1000 | . * 100 | round / 100 | tostring + " ms";
  "isolation: \(.report.isolation); \(.report.process_cap)",
  "load average during the run: \(.load_average)",
  "",
  "| command | plain p50 | sandboxed p50 | overhead p50 | overhead mean | overhead p99 |",
  "|---|---|---|---|---|---|",
  (.report.cases[] |
    "| `\(.command)` | \(.plain.p50_us | ms) | \(.sandboxed.p50_us | ms) | \(.overhead.p50_us | ms) | \(.overhead.mean_us | ms) | \(.overhead.p99_us | ms) |")
' "$OUT"
