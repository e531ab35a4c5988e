#!/usr/bin/env bash
# Refreshes the console's third-party files in console/vendor/ from their npm packages, as published:
# Chart.js (the UMD build) and @cfworker/json-schema (its ES modules). The files are committed, so a clone
# deploys without Node.js; run this after changing a version, then update console/vendor/LICENSES.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
CHART_JS=4.6.2
JSON_SCHEMA=4.1.6
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "chart.js@$CHART_JS" "@cfworker/json-schema@$JSON_SCHEMA" >/dev/null)
tar xzf "$work/chart.js-$CHART_JS.tgz" -C "$work" package/dist/chart.umd.min.js
cp "$work/package/dist/chart.umd.min.js" console/vendor/chart.umd.min.js
rm -rf "$work/package" console/vendor/json-schema
tar xzf "$work/cfworker-json-schema-$JSON_SCHEMA.tgz" -C "$work" package/dist/esm
mkdir -p console/vendor/json-schema
cp "$work"/package/dist/esm/*.js console/vendor/json-schema/
echo "console/vendor: Chart.js $CHART_JS, @cfworker/json-schema $JSON_SCHEMA"
