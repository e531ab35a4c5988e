#!/usr/bin/env bash
# Sets up what the tests need and runs the whole suite: lint, then pytest on SQLite, PostgreSQL and Azurite,
# then (with no arguments) the Functions worker tests in .venv-worker: Python 3.13, the deployed lock.
# PostgreSQL: ROWGATE_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
# In CI (CI=true) a missing PostgreSQL or Node.js fails the run instead of skipping those tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --for-tests

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  # The machine's own cluster may simply be stopped; starting it is harmless when we may.
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start 2>/dev/null || true
fi

if [ "${CI:-}" = "true" ]; then
  export ROWGATE_REQUIRE_SERVICES=1
fi

.venv/bin/ruff check .
.venv/bin/ruff format --check .
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ $# -eq 0 ]; then
  if [ -x .venv-worker/bin/python ]; then
    .venv-worker/bin/python -m pytest -q tests/test_worker.py tests/test_packaging.py || status=$?
  elif [ "${CI:-}" = "true" ]; then
    echo "test: .venv-worker (Python 3.13) is missing, so the Functions worker tests cannot run" >&2
    status=1
  fi
fi
exit $status
