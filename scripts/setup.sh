#!/usr/bin/env bash
# Sets up a development machine: a Python 3.11+ virtualenv with rowgate and its dev tools; with
# --for-tests also .venv-worker (Python 3.13, what the Function App runs on Azure, with exactly the
# deployed lock requirements.txt and pytest: the worker tests run there), checkov (in .tools/), Azurite
# (when Node.js is there), unixODBC with the PostgreSQL ODBC driver and Debian's chromium (when apt-get can
# be used), for the infra, storage, pyodbc and web console tests.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      python=$candidate
      break
    fi
  done
fi
[ -n "$python" ] || { echo "setup: rowgate needs Python 3.11 or newer" >&2; exit 1; }

[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=.venv/.installed
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt -e .
  touch "$stamp"
fi

if [ "${1:-}" = "--for-tests" ]; then
  worker_python=${WORKER_PYTHON:-}
  if [ -z "$worker_python" ]; then
    pyenv_root=$(pyenv root 2>/dev/null || true)
    for candidate in python3.13 "$pyenv_root"/versions/3.13*/bin/python3.13; do
      if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
        worker_python=$candidate
        break
      fi
    done
  fi
  if [ -n "$worker_python" ]; then
    [ -x .venv-worker/bin/python ] || "$worker_python" -m venv .venv-worker
    if [ ! -f .venv-worker/.installed ] || [ requirements.txt -nt .venv-worker/.installed ]; then
      .venv-worker/bin/python -m pip install --quiet -r requirements.txt 'pytest>=8'
      touch .venv-worker/.installed
    fi
  else
    echo "setup: Python 3.13 not found (WORKER_PYTHON=...): the Functions worker tests will not run" >&2
  fi
  # checkov in a venv of its own: its pins would fight the app's.
  if [ ! -x .tools/checkov/bin/checkov ]; then
    "$python" -m venv .tools/checkov
    .tools/checkov/bin/python -m pip install --quiet checkov
  fi
  if command -v npm >/dev/null; then
    [ -x node_modules/.bin/azurite-blob ] || npm ci --no-audit --no-fund --loglevel=error
  else
    echo "setup: Node.js/npm not found: the Azurite tests will be skipped" >&2
  fi
  packages=()
  odbcinst -q -d 2>/dev/null | grep -q "PostgreSQL Unicode" || packages+=(unixodbc odbc-postgresql)
  # Debian's Chromium for the web console's browser tests (Playwright drives it; it never downloads a browser).
  [ -x /usr/bin/chromium ] || packages+=(chromium)
  # The sqlite3 CLI and psql: bench/ingest.py's floors (.import and \copy into the same keyed tables).
  command -v sqlite3 >/dev/null || packages+=(sqlite3)
  command -v psql >/dev/null || packages+=(postgresql-client)
  if [ ${#packages[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
    else
      echo "setup: ${packages[*]} missing: the pyodbc and browser tests will be skipped, and the benchmarks lack their floors" >&2
    fi
  fi
fi
