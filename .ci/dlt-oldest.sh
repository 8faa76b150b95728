#!/usr/bin/env bash
# The compatibility run on the oldest dlt in pyproject.toml's range: its own virtual
# environment (.venv-dlt-oldest) from .ci/constraints-dlt-oldest.txt (that dlt, and the
# versions of constraints.txt for everything else), the project with its dev extras, then
# the whole test suite with pyproject.toml's pytest options, except the Airflow and
# packaging tests (each installs its own versions of everything). The PostgreSQL tests
# need COVEO_UA_TEST_POSTGRES (.ci/run exports it). Idempotent: reuses a complete install.
# Arguments go to pytest (e.g. `bash .ci/dlt-oldest.sh -n 0 tests/loads`).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${COVEO_UA_DLT_OLDEST_VENV:-$PWD/.venv-dlt-oldest}"
stamp="$venv/.installed-stamp"
if [ ! -f "$stamp" ] || [ .ci/constraints-dlt-oldest.txt -nt "$stamp" ] \
    || [ pyproject.toml -nt "$stamp" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade "pip>=24"
    "$venv/bin/python" -m pip install --quiet -c .ci/constraints-dlt-oldest.txt -e ".[dev]"
    touch "$stamp"
fi
expected="$(sed -n 's/^dlt==//p' .ci/constraints-dlt-oldest.txt)"
installed="$("$venv/bin/python" -c 'from importlib.metadata import version; print(version("dlt"))')"
[[ "$installed" == "$expected" ]] || { echo "dlt $installed in $venv, not $expected" >&2; exit 1; }
echo "tests on dlt $installed"
"$venv/bin/pytest" --ignore=tests/integrations/test_airflow.py \
    --ignore=tests/integrations/test_package.py --ignore=tests/integrations/test_dagster.py "$@"
