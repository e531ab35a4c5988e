#!/usr/bin/env bash
# Sets up what the tests need and runs the whole suite: lint, then pytest on SQLite, PostgreSQL and Azurite.
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
exec .venv/bin/python -m pytest "$@"
