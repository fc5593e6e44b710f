#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs what the tests
# need (PostgreSQL, a Python virtual environment with the peer packages),
# starts a throwaway PostgreSQL, and runs every test on both store backends.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

# The suite builds the workspace once: incremental-compilation caches would
# only double the disk a clean build takes (a CI run once ran out of space).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

log() { printf '\n==> %s\n' "$*" >&2; }

# PostgreSQL for the second store backend.
log "starting a throwaway PostgreSQL"
eval "$(bash scripts/test-postgres.sh start)"
export BATON_REQUIRE_POSTGRES=1
trap 'bash "$root/scripts/test-postgres.sh" stop >/dev/null 2>&1 || true' EXIT

# Python peers (the official openai SDK drives baton's OpenAI-compatible API).
log "preparing the Python environment"
bash scripts/python-env.sh
export BATON_TEST_PYTHON="$root/.venv/bin/python"
export BATON_REQUIRE_PYTHON=1

log "checking formatting and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings

log "running the test suite"
cargo test --workspace --locked
