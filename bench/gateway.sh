#!/usr/bin/env bash
# baton's gateway overhead, side by side with LiteLLM, on this machine.
#
# One scripted model server (instant answers) is measured three ways: called
# directly, through `baton serve`, and through the LiteLLM proxy, at each
# rate in RATES, whole and streamed. The direct figures are the floor; what
# baton and LiteLLM add on top is their own cost. Everything (the three
# servers and the load generator) shares this machine's cores, as it would
# on a small box running all of it.
#
# Usage: bench/gateway.sh          (about 8 minutes; more on the first run,
#                                   which installs LiteLLM into a venv)
# Env:   RATES="100 1000"  WARMUP=3  DURATION=15  TARGETS="direct baton litellm"
#        RESULTS=FILE (default bench/results/gateway-<date>.json)
# Output: bench/results/gateway-<date>.json and a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

# The newest LiteLLM whose dependencies this machine's package index can
# satisfy (1.103 and later need certifi>=2026.10.19, not published there).
LITELLM_VERSION=1.102.4
RATES=${RATES:-"100 1000"}
WARMUP=${WARMUP:-3}
DURATION=${DURATION:-15}
TARGETS=${TARGETS:-"direct baton litellm"}
# Sixteen words in sixteen stream chunks: a short but realistic answer.
REPLY="The quick brown fox jumps over the lazy dog while seven wizards quietly judge every box"
CHUNKS=16
# Longest wait, between runs, for the servers to go idle again.
SETTLE_MAX_SECS=90
VENV=bench/.venv-litellm
BIN=target/release

echo "building release binaries" >&2
cargo build --release -p baton-cli -p baton-testkit -p baton-bench >&2

wants() { [[ " $TARGETS " == *" $1 "* ]]; }

if wants litellm; then
    installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true)
    if [ "$installed" != "$LITELLM_VERSION" ]; then
        echo "installing litellm[proxy]==$LITELLM_VERSION into $VENV" >&2
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION" >&2
    fi
fi

WORK=$(mktemp -d /tmp/baton-gateway-bench.XXXXXX)
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# A clean environment for the servers: no provider keys, proxies or BATON_*
# settings from the caller's shell change what is measured.
CLEAN_ENV=(env -i "PATH=$PATH" "HOME=$WORK/home" "LANG=C.UTF-8")
mkdir -p "$WORK/home"

start_bg "$WORK/model-server.log" "${CLEAN_ENV[@]}" "$BIN/baton-model-server" \
    --no-record --port-file "$WORK/model.port" --reply-text "$REPLY" --chunks "$CHUNKS"
SCRIPTED_SID=$BG_PID
for _ in $(seq 100); do [ -s "$WORK/model.port" ] && break; sleep 0.1; done
MODEL_PORT=$(cat "$WORK/model.port")
wait_http "http://127.0.0.1:$MODEL_PORT/v1/models" 10 "$SCRIPTED_SID" "$WORK/model-server.log"
echo "scripted model server on $MODEL_PORT" >&2

BATON_SID=""
if wants baton; then
    BATON_PORT=$(free_port)
    write_baton_config "$WORK/baton.toml" "$MODEL_PORT"
    start_bg "$WORK/baton.log" "${CLEAN_ENV[@]}" "BATON_DATA_DIR=$WORK/baton-data" \
        "$BIN/baton" --config "$WORK/baton.toml" serve --addr "127.0.0.1:$BATON_PORT"
    BATON_SID=$BG_PID
    wait_http "http://127.0.0.1:$BATON_PORT/health" 30 "$BATON_SID" "$WORK/baton.log"
    echo "baton on $BATON_PORT" >&2
fi

LITELLM_SID=""
if wants litellm; then
    LITELLM_PORT=$(free_port)
    cat >"$WORK/litellm.yaml" <<YAML
model_list:
  - model_name: scripted-small
    litellm_params:
      model: openai/scripted-small
      api_base: http://127.0.0.1:$MODEL_PORT/v1
      api_key: dummy
litellm_settings:
  telemetry: false
  turn_off_message_logging: true
YAML
    # No DATABASE_URL (so no Prisma, no spend logs), no telemetry, the
    # bundled model-cost map instead of a download, errors-only logging.
    start_bg "$WORK/litellm.log" "${CLEAN_ENV[@]}" \
        LITELLM_LOG=ERROR LITELLM_LOCAL_MODEL_COST_MAP=True LITELLM_TELEMETRY=False \
        DISABLE_ADMIN_UI=True NO_DOCS=True \
        "$VENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 \
        --port "$LITELLM_PORT" --num_workers 1 --telemetry False
    LITELLM_SID=$BG_PID
    wait_http "http://127.0.0.1:$LITELLM_PORT/health/liveliness" 180 "$LITELLM_SID" "$WORK/litellm.log"
    echo "litellm on $LITELLM_PORT" >&2
fi

target_url() {
    case $1 in
        direct) echo "http://127.0.0.1:$MODEL_PORT/v1/chat/completions" ;;
        baton) echo "http://127.0.0.1:$BATON_PORT/v1/chat/completions" ;;
        litellm) echo "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" ;;
    esac
}
target_model() {
    case $1 in
        baton) echo "scripted/scripted-small" ;;
        *) echo "scripted-small" ;;
    esac
}

# Each target must answer one request correctly before it is loaded.
for target in $TARGETS; do
    if ! curl -fsS --max-time 30 "$(target_url "$target")" -H 'content-type: application/json' \
        -d "{\"model\":\"$(target_model "$target")\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}" \
        | jq -e '.choices[0].message.content' >/dev/null; then
        echo "$target did not answer a chat completion; logs in $WORK (kept until exit)" >&2
        exit 1
    fi
done

cpu_of() { if [ -n "$1" ]; then session_cpu_ticks "$1"; else echo 0; fi; }

# Waits until the servers together use under 5 % of a core for a whole
# second, so a backlog an overloaded target is still working off (LiteLLM
# keeps processing requests the generator gave up on) does not leak into the
# next measurement.
settle() {
    local clk before after
    clk=$(getconf CLK_TCK)
    for _ in $(seq "$SETTLE_MAX_SECS"); do
        before=$(( $(cpu_of "$SCRIPTED_SID") + $(cpu_of "$BATON_SID") + $(cpu_of "$LITELLM_SID") ))
        sleep 1
        after=$(( $(cpu_of "$SCRIPTED_SID") + $(cpu_of "$BATON_SID") + $(cpu_of "$LITELLM_SID") ))
        [ $(( (after - before) * 20 )) -le "$clk" ] && return 0
    done
    echo "warning: the servers were still busy ${SETTLE_MAX_SECS}s after the run" >&2
}

settle
RUNS=()
for target in $TARGETS; do
    for rate in $RATES; do
        for mode in whole stream; do
            flag=()
            [ "$mode" = stream ] && flag=(--stream)
            before=("$(cpu_of "$SCRIPTED_SID")" "$(cpu_of "$BATON_SID")" "$(cpu_of "$LITELLM_SID")")
            everything_before=$(all_processes_cpu_ticks)
            started=$(date +%s.%N)
            result="$WORK/run-$target-$rate-$mode.json"
            "$BIN/baton-loadgen" rate --url "$(target_url "$target")" --model "$(target_model "$target")" \
                --rate "$rate" --warmup "$WARMUP" --duration "$DURATION" "${flag[@]}" --json >"$result.report"
            ended=$(date +%s.%N)
            everything_after=$(all_processes_cpu_ticks)
            after=("$(cpu_of "$SCRIPTED_SID")" "$(cpu_of "$BATON_SID")" "$(cpu_of "$LITELLM_SID")")
            # all_processes_cpu_s minus the servers' and the generator's CPU is
            # what anything else on the machine took during the run: a run
            # that shared the cores with, say, a compiler shows as such.
            jq --arg target "$target" --arg mode "$mode" --argjson rate "$rate" \
                --argjson clk "$(getconf CLK_TCK)" \
                --argjson sent "$(( rate * (WARMUP + DURATION) ))" \
                --argjson scripted "$(( after[0] - before[0] ))" \
                --argjson baton "$(( after[1] - before[1] ))" \
                --argjson litellm "$(( after[2] - before[2] ))" \
                --argjson everything "$(( everything_after - everything_before ))" \
                --argjson wall "$(awk -v a="$started" -v b="$ended" 'BEGIN {printf "%.3f", b - a}')" \
                '{target: $target, mode: $mode, rate: $rate,
                  requests_sent_incl_warmup: $sent,
                  wall_s: $wall,
                  server_cpu_s: {scripted: ($scripted / $clk), baton: ($baton / $clk), litellm: ($litellm / $clk)},
                  all_processes_cpu_s: ($everything / $clk),
                  report: .}' "$result.report" >"$result"
            RUNS+=("$result")
            jq -r '"\(.target) \(.mode) \(.rate) rps: \(.report.ok) ok, \(.report.error_count) errors, p50 \(.report.latency_us.p50 // "-") µs, p99 \(.report.latency_us.p99 // "-") µs"' "$result" >&2
            settle
        done
    done
done

mkdir -p bench/results
OUT=${RESULTS:-"bench/results/gateway-$(date -u +%Y-%m-%d).json"}
jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson machine "$(machine_json)" \
    --arg litellm "$LITELLM_VERSION" --arg reply "$REPLY" --argjson chunks "$CHUNKS" \
    '{date: $date, machine: $machine, litellm_version: $litellm, reply: $reply, stream_chunks: $chunks, runs: .}' \
    "${RUNS[@]}" >"$OUT"
echo "raw results: $OUT" >&2
python3 bench/report.py gateway "$OUT"
