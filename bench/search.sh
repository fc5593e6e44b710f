#!/usr/bin/env bash
# baton's `search` tool against ripgrep (`rg`, Debian's package) on one
# large generated tree, same patterns, same options, same matches.
#
# The tree (>= 100k files, >= 1 GB of text-like lines, a .gitignore'd
# vendor/ dir, a hidden dir and a few binary files, all holding matches that
# both tools must skip) is generated once and cached under bench/.data/. It
# is its own git repository, so rg honours its .gitignore as baton does.
# Every case runs each tool once to warm the page cache and to check that
# both print exactly the same `path:line:text` lines (sorted), then RUNS
# timed runs alternating between the two (wall time, and user + system CPU
# time, which other load on a shared machine disturbs less). Output goes to a
# file on tmpfs for both tools.
#
# Usage: bench/search.sh          (first run: ~2 minutes to generate the tree)
# Env:   RUNS=10  FILES=120000  RESULTS=FILE (default bench/results/search-<date>.json)
# Output: bench/results/search-<date>.json and a Markdown table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh

RUNS=${RUNS:-10}
FILES=${FILES:-120000}
DATA=bench/.data
TREE=$DATA/search-tree-$FILES
BIN=target/release/examples/search
# The issue's target: baton's median wall time at most this many times rg's; slower is warned about.
TARGET_RATIO=1.2

if ! command -v rg >/dev/null; then
    echo "rg is not installed: apt-get install -y ripgrep" >&2
    exit 1
fi

echo "building the search example (release)" >&2
cargo build --release -p baton-tools --example search >&2

if [ ! -f "$TREE.done" ]; then
    echo "generating $TREE ($FILES files, about 1.2 GB)" >&2
    rm -rf "$TREE"
    mkdir -p "$TREE"
    python3 - "$TREE" "$FILES" <<'PY'
import os, random, sys

root, n_files = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261123)
letters = "abcdefghijklmnopqrstuvwxyz"
words = ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(5000)]
words += ["self", "return", "match", "struct", "impl", "error", "value", "config"]

def plain_line():
    indent = " " * (4 * rng.randint(0, 3))
    kind = rng.random()
    body = " ".join(rng.choices(words, k=rng.randint(4, 11)))
    if kind < 0.2:
        return f"{indent}// {body}"
    if kind < 0.5:
        a, b = rng.choice(words), rng.choice(words)
        return f"{indent}let {a} = {b}({body.replace(' ', ', ')});"
    return f"{indent}{body}"

pool = [plain_line() for _ in range(20000)]
# The rare literal (~1 line in 5000), the handler regex (~1 in 1000) and a
# mixed-case word for the case-insensitive search (~1 in 700).
for i in range(4):
    pool[i] = f"    return Err(ERROR_CODE_4711); // {rng.choice(words)}"
for i in range(4, 24):
    pool[i] = f"fn {rng.choice(words)}_handler(req: Request) -> Response {{"
for i in range(24, 54):
    pool[i] = f"    // {rng.choice(['Timeout', 'TIMEOUT', 'timeout'])} after {rng.randint(1, 99)} s"

def text_file(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(rng.choices(pool, k=lines)))
        f.write("\n")

per_dir = 100
for i in range(n_files):
    d = os.path.join(root, "src", f"p{i // (per_dir * 10):04d}", f"q{(i // per_dir) % 10}")
    if i % per_dir == 0:
        os.makedirs(d, exist_ok=True)
    text_file(os.path.join(d, f"m{i % per_dir:03d}.rs"), rng.randint(50, 280))

# What both tools must skip: a .gitignore'd dir, ignored logs, a hidden
# dir, and binary files (a NUL before the match).
for sub, count in (("vendor/lib", 2000), (".cache", 200)):
    os.makedirs(os.path.join(root, sub), exist_ok=True)
    for i in range(count):
        with open(os.path.join(root, sub, f"f{i}.rs"), "w") as f:
            f.write("ERROR_CODE_4711\nfn skipped_handler(\nTimeout\n" * 20)
for i in range(20):
    with open(os.path.join(root, f"run{i}.log"), "w") as f:
        f.write("ERROR_CODE_4711\n" * 50)
os.makedirs(os.path.join(root, "assets"), exist_ok=True)
for i in range(30):
    with open(os.path.join(root, "assets", f"blob{i}.bin"), "wb") as f:
        f.write(b"\x7fELF\x00\x01" + os.urandom(4096) + b"\nERROR_CODE_4711\nfn x_handler(\n" * 10)
with open(os.path.join(root, ".gitignore"), "w") as f:
    f.write("vendor/\n*.log\n")
PY
    git init -q "$TREE"
    touch "$TREE.done"
fi

file_count=$(find "$TREE" -path "$TREE/.git" -prune -o -type f -print | wc -l)
tree_bytes=$(du -sb --exclude=.git "$TREE" | cut -f1)
echo "tree: $file_count files, $tree_bytes bytes" >&2
if [ "$file_count" -lt 100000 ] || [ "$tree_bytes" -lt 1000000000 ]; then
    echo "the tree is smaller than 100k files / 1 GB; delete $TREE.done and rerun" >&2
    exit 1
fi

WORK=$(mktemp -d /dev/shm/baton-search-bench.XXXXXX 2>/dev/null || mktemp -d)
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
BIN_ABS=$(realpath "$BIN")

# name|pattern|rg flags|baton flags
CASES=(
    "literal-rare|ERROR_CODE_4711|-F|--fixed-strings"
    "regex-handler|fn [a-z]+_handler\\(||"
    "ignore-case-word|timeout|-i|--ignore-case"
)

run_rg() { # PATTERN FLAGS OUT
    (cd "$TREE" && env -u RIPGREP_CONFIG_PATH rg -n --no-heading --color never $2 -- "$1" >"$3") || [ $? = 1 ]
}
run_baton() { # PATTERN FLAGS OUT
    "$BIN_ABS" "$TREE" "$1" $2 >"$3" 2>/dev/null
}
# timed FN ARGS... : runs FN and prints "wall cpu" in seconds (cpu = user + system).
timed() {
    local TIMEFORMAT='%R %U %S' t
    t=$( { time "$@" >/dev/null 2>&1; } 2>&1 )
    awk '{printf "%.3f %.3f", $1, $2 + $3}' <<<"$t"
}

CASE_FILES=()
for case in "${CASES[@]}"; do
    IFS='|' read -r name pattern rg_flags baton_flags <<<"$case"
    run_rg "$pattern" "$rg_flags" "$WORK/rg.out"
    run_baton "$pattern" "$baton_flags" "$WORK/baton.out"
    LC_ALL=C sort "$WORK/rg.out" >"$WORK/rg.sorted"
    grep -v '^no matches$' "$WORK/baton.out" | LC_ALL=C sort >"$WORK/baton.sorted" || true
    if ! cmp -s "$WORK/rg.sorted" "$WORK/baton.sorted"; then
        echo "$name: baton and rg printed different lines:" >&2
        diff "$WORK/rg.sorted" "$WORK/baton.sorted" | head -20 >&2
        exit 1
    fi
    matches=$(wc -l <"$WORK/rg.sorted")
    echo "$name: $matches matching lines, identical in both" >&2
    baton_wall=() baton_cpu=() rg_wall=() rg_cpu=()
    for _ in $(seq "$RUNS"); do
        read -r wall cpu <<<"$(timed run_baton "$pattern" "$baton_flags" "$WORK/baton.out")"
        baton_wall+=("$wall") baton_cpu+=("$cpu")
        read -r wall cpu <<<"$(timed run_rg "$pattern" "$rg_flags" "$WORK/rg.out")"
        rg_wall+=("$wall") rg_cpu+=("$cpu")
    done
    echo "$name: baton ${baton_wall[*]} s; rg ${rg_wall[*]} s" >&2
    list() { printf '%s\n' "$@" | jq -s .; }
    jq -n --arg name "$name" --arg pattern "$pattern" --arg rg_flags "$rg_flags" \
        --argjson matches "$matches" \
        --argjson bw "$(list "${baton_wall[@]}")" --argjson bc "$(list "${baton_cpu[@]}")" \
        --argjson rw "$(list "${rg_wall[@]}")" --argjson rc "$(list "${rg_cpu[@]}")" \
        'def median: sort | .[(length / 2 | floor)];
         def r3: . * 1000 | round / 1000;
         {name: $name, pattern: $pattern, options: $rg_flags, matching_lines: $matches,
          baton: {wall_s: $bw, cpu_s: $bc, wall_median_s: ($bw | median), wall_min_s: ($bw | min), cpu_median_s: ($bc | median)},
          rg: {wall_s: $rw, cpu_s: $rc, wall_median_s: ($rw | median), wall_min_s: ($rw | min), cpu_median_s: ($rc | median)},
          ratio_wall_median: (($bw | median) / ($rw | median) | r3),
          ratio_wall_min: (($bw | min) / ($rw | min) | r3),
          ratio_cpu_median: (($bc | median) / ($rc | median) | r3)}' >"$WORK/case-$name.json"
    CASE_FILES+=("$WORK/case-$name.json")
done

mkdir -p bench/results
OUT=${RESULTS:-"bench/results/search-$(date -u +%Y-%m-%d).json"}
jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --argjson machine "$(machine_json)" \
    --arg rg "$(rg --version | sed -n 1p)" --argjson files "$file_count" --argjson bytes "$tree_bytes" \
    --argjson runs "$RUNS" --argjson target "$TARGET_RATIO" \
    '{date: $date, machine: $machine, rg_version: $rg, tree: {files: $files, bytes: $bytes},
      runs_per_tool: $runs, target_ratio: $target, cases: .}' "${CASE_FILES[@]}" >"$OUT"
echo "raw results: $OUT" >&2

echo "| case | options | matching lines | baton wall median / min (s) | rg wall median / min (s) | baton / rg wall (median, min) | baton / rg CPU |"
echo "|---|---|---:|---:|---:|---:|---:|"
jq -r '.cases[] | "| \(.name) | `\(.pattern)` \(.options) | \(.matching_lines) | \(.baton.wall_median_s) / \(.baton.wall_min_s) | \(.rg.wall_median_s) / \(.rg.wall_min_s) | \(.ratio_wall_median), \(.ratio_wall_min) | \(.ratio_cpu_median) |"' "$OUT"
jq -e --argjson target "$TARGET_RATIO" 'all(.cases[]; .ratio_wall_median <= $target)' "$OUT" >/dev/null ||
    echo "warning: baton is slower than ${TARGET_RATIO}x rg in at least one case" >&2
