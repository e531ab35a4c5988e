#!/usr/bin/env bash
# The main job on the embedded default (SQLite + a local folder under .data/): sets up, generates sample
# data into the landing folder, migrates it (parents' files first, as the migration plan orders them; every
# re-drive logged; a summary of each table's rows loaded and refused when done), then starts the dev host,
# which serves the API on http://127.0.0.1:$PORT/api (7071 by default) and ingests whatever lands next.
# Ctrl-C stops it; run it again and nothing changes (each file says it was loaded already, and what it holds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rowgate=.venv/bin/rowgate
landing=.data/storage/landing
sample=.data/sample
port="${PORT:-7071}"
api="http://127.0.0.1:$port/api"

$rowgate init
$rowgate generate hr --rows 50000 --seed 1 --out "$sample/hr" --dirty-rate 0.02 >/dev/null
$rowgate generate courses --rows 5000 --seed 1 --out "$sample/courses" --dirty-rate 0.02 >/dev/null
mkdir -p "$landing"
cp "$sample"/hr/* "$sample"/courses/* "$landing"/
$rowgate migrate landing/
cat <<TXT

The files landed in .data/storage/landing/ are loaded and archived. Serving the API; open the web console at
  $api/console
or the API:
  $api/reports/hires-by-quarter?year=2021
  $api/reports/departments-above-mean?year=2021
  $api/courses/recent?limit=5
  $api/rejections?limit=5
  $api/openapi.json
Fix a refused row: .venv/bin/rowgate rejections list, then .venv/bin/rowgate rejections fix ID FIELD=VALUE...
TXT
exec $rowgate serve --port "$port"
