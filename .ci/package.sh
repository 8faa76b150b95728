#!/usr/bin/env bash
# Packaging check: build the sdist and wheel, check the sdist carries LICENSE, CHANGELOG and
# docs, install the wheel into a clean virtual environment, then run `coveo-ua --help` and a
# load against the simulator with the installed command, away from the source tree.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
simulator_pid=""
cleanup() {
    if [[ -n "$simulator_pid" ]]; then kill "$simulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$repo/.venv/bin/python" -m build --outdir "$work/dist" "$repo"
sdist="$(ls "$work"/dist/*.tar.gz)"
wheel="$(ls "$work"/dist/*.whl)"
tar -tzf "$sdist" >"$work/sdist.txt"  # listed to a file: `grep -q` in a pipe fails pipefail
for file in LICENSE CHANGELOG.md README.md docs/coveo-exports-api.md; do
    grep -q "^[^/]*/$file\$" "$work/sdist.txt" || { echo "sdist lacks $file" >&2; exit 1; }
done
unzip -l "$wheel" >"$work/wheel.txt"
grep -q "dist-info/licenses/LICENSE" "$work/wheel.txt" || { echo "wheel lacks LICENSE" >&2; exit 1; }

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet -c "$repo/constraints.txt" "$wheel"
cd "$work"  # the installed package runs, not the checkout
export RUNTIME__DLTHUB_TELEMETRY=false DLT_DATA_DIR="$work/dlt"
"$work/venv/bin/coveo-ua" --help >/dev/null
"$work/venv/bin/coveo-ua" load --help >/dev/null

"$work/venv/bin/coveo-ua-simulator" --port 0 --token ci-token >"$work/simulator.log" 2>&1 &
simulator_pid=$!
for _ in $(seq 100); do
    grep -q "^api_root:" "$work/simulator.log" && break
    sleep 0.1
done
api_root="$(sed -n 's/^api_root: //p' "$work/simulator.log")"
[[ -n "$api_root" ]] || { cat "$work/simulator.log" >&2; exit 1; }

COVEO_UA_ACCESS_TOKEN=ci-token SOURCES__COVEO_UA__POLL_INTERVAL=0.05 \
    "$work/venv/bin/coveo-ua" load --base-url "$api_root" --start-date 2024-04-01 \
    --end-date 2024-04-03 --duckdb-file "$work/ci.duckdb" --pipelines-dir "$work/pipelines" \
    --no-progress
"$work/venv/bin/python" - "$work/ci.duckdb" <<'PY'
import sys
from datetime import UTC, datetime

import duckdb

from coveo_ua_source.schema import TABLES
from coveo_ua_simulator import SimulatorConfig, ground_truth

start, end = datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 4, 3, tzinfo=UTC)
with duckdb.connect(sys.argv[1], read_only=True) as connection:
    for table in TABLES:
        loaded = connection.sql(f"SELECT count(*) FROM usage_analytics.{table}").fetchall()[0][0]
        expected = len(ground_truth(SimulatorConfig(token="ci-token"), table, start, end))
        assert loaded == expected, f"{table}: loaded {loaded}, the simulator has {expected}"
        print(f"{table}: {loaded} rows, as the simulator's ground truth")
PY
echo "package check passed: $(basename "$wheel")"
