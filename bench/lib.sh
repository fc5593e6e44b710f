# Shared by the benchmark scripts: process bookkeeping, free ports, health
# waits and a description of the machine. Sourced, not run.

# Process-group ids of everything started with `start_bg`, stopped by
# `stop_all` (installed as an EXIT trap by the scripts).
BENCH_PGIDS=()

# start_bg LOGFILE CMD... : runs CMD in a new session (so its children can be
# stopped with it) and records its id in BENCH_PGIDS; the id is in $BG_PID.
start_bg() {
    local log=$1
    shift
    setsid "$@" >"$log" 2>&1 &
    BG_PID=$!
    BENCH_PGIDS+=("$BG_PID")
}

# Stops every process group this script started: SIGTERM, then SIGKILL for
# whatever is still there after 10 s.
stop_all() {
    local pgid i
    for pgid in "${BENCH_PGIDS[@]}"; do
        kill -TERM -- "-$pgid" 2>/dev/null || true
    done
    for i in $(seq 100); do
        local alive=0
        for pgid in "${BENCH_PGIDS[@]}"; do
            kill -0 -- "-$pgid" 2>/dev/null && alive=1
        done
        [ "$alive" = 0 ] && return 0
        sleep 0.1
    done
    for pgid in "${BENCH_PGIDS[@]}"; do
        kill -KILL -- "-$pgid" 2>/dev/null || true
    done
}

# A loopback port nobody holds right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS PID LOG: until URL answers 200, failing early if PID
# died (printing its log).
wait_http() {
    local url=$1 secs=$2 pid=$3 log=$4 i
    for i in $(seq $((secs * 10))); do
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "process $pid died before $url answered; its log:" >&2
            cat "$log" >&2
            return 1
        fi
        sleep 0.1
    done
    echo "$url not healthy after ${secs}s; log $log:" >&2
    tail -20 "$log" >&2
    return 1
}

# CPU time (user + system) in clock ticks of every process in session SID.
session_cpu_ticks() {
    local total=0 pid stat
    for pid in $(pgrep -s "$1"); do
        # Fields after the parenthesised command name; utime and stime are
        # fields 14 and 15 of the whole line, 12 and 13 after it.
        stat=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        total=$((total + $(echo "$stat" | awk '{print $12 + $13}')))
    done
    echo "$total"
}

# CPU ticks used by every process alive now plus the children they have
# reaped. Summed from per-process accounting rather than read from
# /proc/stat's "cpu" line, which on this VM's kernel misses most of the time
# of short-running bursts (4 ticks where the processes themselves report 100).
all_processes_cpu_ticks() {
    # A process that exits between the glob and the read makes cat fail;
    # that must not end a `set -o pipefail` script.
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed 's/^.*) //' |
        awk '{total += $12 + $13 + $14 + $15} END {print total}'
}

# The machine, as JSON, for the results files.
machine_json() {
    jq -n \
        --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
        --argjson nproc "$(nproc)" \
        --argjson mem_kib "$(awk '/MemTotal/ {print $2}' /proc/meminfo)" \
        --arg kernel "$(uname -r)" \
        --arg rustc "$(rustc --version)" \
        --arg commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
        '{cpu: $cpu, nproc: $nproc, mem_kib: $mem_kib, kernel: $kernel, rustc: $rustc, commit: $commit}'
}

# write_baton_config FILE MODEL_PORT: the configuration every benchmark runs
# baton with: quiet logs and one OpenAI-compatible provider, the scripted
# model server on MODEL_PORT, serving `scripted-small`.
write_baton_config() {
    cat >"$1" <<TOML
[log]
level = "warn"

[[providers]]
name = "scripted"
kind = "openai"
base_url = "http://127.0.0.1:$2/v1"
[[providers.models]]
name = "scripted-small"
TOML
}
