#!/usr/bin/env bash
# The main job on the embedded default (SQLite + a local folder under .data/): sets up, generates
# sample data into the landing folder, and starts the dev host, which ingests the files and serves
# the API on http://127.0.0.1:$PORT/api (7071 by default). Ctrl-C stops it; run it again and nothing changes.
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
cat <<TXT
Files copied to .data/storage/landing/; the dev host ingests them (children refused for a missing
parent are loaded again as soon as the parent lands). Then open the web console at
  $api/console
or the API:
  $api/reports/hires-by-quarter?year=2021
  $api/reports/departments-above-mean?year=2021
  $api/courses/recent?limit=5
  $api/rejections?limit=5
  $api/openapi.json
TXT
exec $rowgate serve --port "$port"
