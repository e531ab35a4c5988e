#!/usr/bin/env bash
# The main job on the embedded default (SQLite + a local folder under .data/): sets up, generates
# sample data, ingests it (refused rows are logged, never lost) and prints the reports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
rowgate=.venv/bin/rowgate
sample=.data/sample

$rowgate init
$rowgate generate hr --rows 50000 --seed 1 --out "$sample/hr" --dirty-rate 0.02
$rowgate generate courses --rows 5000 --seed 1 --out "$sample/courses" --dirty-rate 0.02
$rowgate ingest "$sample"/hr/* "$sample"/courses/*
echo
echo "== Hires per quarter, 2021 (first 15 lines) =="
$rowgate report hires-by-quarter --year 2021 | sed -n '1,15p'  # sed reads it all: no SIGPIPE under pipefail
echo
echo "== Departments that hired more than the mean, 2021 =="
$rowgate report departments-above-mean --year 2021
echo
echo "== Recent courses =="
$rowgate report recent-courses --limit 5
echo
echo "Refused rows are in the rowgate_rejections table and in .data/storage/rejected/."
