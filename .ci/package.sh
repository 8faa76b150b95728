#!/usr/bin/env bash
# Packaging check. Builds the sdist and the wheel; checks that the sdist carries LICENSE,
# CHANGELOG, docs, the tests and the cassettes they read, and that the wheel carries
# py.typed and the templates of `coveo-ua init` (the repository's, file for file). Then,
# once beside the newest dlt (constraints.txt) and once beside the oldest supported one
# (.ci/constraints-dlt-oldest.txt), it installs the wheel into a clean virtual
# environment and, away from the source tree, does what a new user does: `coveo-ua init`
# in an empty folder, the config pointed at the simulator, the written pipeline script
# run, and every table compared with the simulator's ground truth.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
simulator_pid=""
cleanup() {
    if [[ -n "$simulator_pid" ]]; then kill "$simulator_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package check: $*" >&2; exit 1; }

"$repo/.venv/bin/python" -m build --outdir "$work/dist" "$repo" >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; fail "the build failed"; }
sdist="$(ls "$work"/dist/*.tar.gz)"
wheel="$(ls "$work"/dist/*.whl)"

tar -tzf "$sdist" >"$work/sdist.txt"  # listed to a file: `grep -q` in a pipe fails pipefail
for file in LICENSE CHANGELOG.md README.md docs/coveo-exports-api.md tests/conftest.py \
    cassettes/test_client/test_get_export.yaml coveo_ua_source/py.typed; do
    grep -q "^[^/]*/$file\$" "$work/sdist.txt" || fail "the sdist lacks $file"
done
unzip -l "$wheel" >"$work/wheel.txt"
for file in dist-info/licenses/LICENSE coveo_ua_source/py.typed; do
    grep -q "$file" "$work/wheel.txt" || fail "the wheel lacks $file"
done
unzip -q "$wheel" "coveo_ua_source/templates/*" -d "$work/wheel"
diff -r --exclude=__pycache__ "$repo/coveo_ua_source/templates" \
    "$work/wheel/coveo_ua_source/templates" || fail "the wheel's templates differ"

# Both installs at once: mostly waiting on the network.
install() {  # name, constraints file
    python3 -m venv "$work/$1"
    "$work/$1/bin/python" -m pip install --quiet -c "$2" "$wheel" >"$work/$1.log" 2>&1
}
install newest "$repo/constraints.txt" &
newest=$!
install oldest "$repo/.ci/constraints-dlt-oldest.txt" &
oldest=$!
wait "$newest" || { cat "$work/newest.log" >&2; fail "installing beside the newest dlt"; }
wait "$oldest" || { cat "$work/oldest.log" >&2; fail "installing beside the oldest dlt"; }

cd "$work"  # the installed package runs, not the checkout
export RUNTIME__DLTHUB_TELEMETRY=false
"$work/newest/bin/coveo-ua-simulator" --port 0 --token ci-token >"$work/simulator.log" 2>&1 &
simulator_pid=$!
for _ in $(seq 100); do
    grep -q "^api_root:" "$work/simulator.log" && break
    sleep 0.1
done
api_root="$(sed -n 's/^api_root: //p' "$work/simulator.log")"
[[ -n "$api_root" ]] || { cat "$work/simulator.log" >&2; fail "the simulator did not start"; }

load_from_init() {  # name of the environment, dlt version it must hold
    local venv="$work/$1" project="$work/$1-project"
    local dlt_version
    dlt_version="$("$venv/bin/python" -c 'from importlib.metadata import version as v; print(v("dlt"))')"
    [[ "$dlt_version" == "$2" ]] || fail "$1: dlt $dlt_version installed, not $2"
    "$venv/bin/coveo-ua" --help >/dev/null
    mkdir "$project" && cd "$project"
    "$venv/bin/coveo-ua" init --all >"$work/$1-init.log"
    grep -q "python coveo_ua_pipeline.py" "$work/$1-init.log" || fail "$1: init's next command"
    for script in coveo_ua_pipeline.py backfill.py dags/coveo_ua_daily.py coveo_ua_dagster.py; do
        cmp -s "$script" "$repo/coveo_ua_source/templates/project/$script" \
            || fail "$1: init wrote $script unlike the repository's"
    done
    # What a user edits after init, with the simulator as the organization.
    "$venv/bin/python" - "$api_root" <<'PY'
import re
import sys
from pathlib import Path

def set_option(path: str, name: str, value: str) -> None:
    text = Path(path).read_text("utf-8")
    edited, count = re.subn(rf"^(# )?{name} = .*$", f"{name} = {value}", text, flags=re.M)
    assert count == 1, (path, name)
    Path(path).write_text(edited, "utf-8")

set_option(".dlt/config.toml", "base_url", f'"{sys.argv[1]}"')
set_option(".dlt/config.toml", "start_date", '"2024-04-01"')
set_option(".dlt/config.toml", "end_date", '"2024-04-03"')
set_option(".dlt/config.toml", "poll_interval", "0.05")
set_option(".dlt/secrets.toml", "access_token", '"ci-token"')
PY
    DLT_DATA_DIR="$project/dlt" "$venv/bin/python" coveo_ua_pipeline.py >"$work/$1-load.log" \
        2>&1 || { cat "$work/$1-load.log" >&2; fail "$1: coveo_ua_pipeline.py failed"; }
    "$venv/bin/python" - coveo_ua.duckdb "$1" <<'PY'
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
        print(f"{sys.argv[2]}: {table}: {loaded} rows, as the simulator's ground truth")
PY
    cd "$work"
}
load_from_init newest "$(sed -n 's/^dlt==//p' "$repo/constraints.txt")"
load_from_init oldest "$(sed -n 's/^dlt==//p' "$repo/.ci/constraints-dlt-oldest.txt")"
echo "package check passed: $(basename "$wheel"), with dlt $(sed -n 's/^dlt==//p' \
    "$repo/constraints.txt") and $(sed -n 's/^dlt==//p' "$repo/.ci/constraints-dlt-oldest.txt")"
