#!/usr/bin/env bash
# Installs a pinned Dagster with dagster-dlt, and this project, in its own virtual
# environment (Dagster pins packages of its own, so it never shares the project's .venv)
# and prints the path of its `dagster` executable. Idempotent: reuses a complete install.
# Usage: export COVEO_UA_DAGSTER="$(bash .ci/dagster.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${COVEO_UA_DAGSTER_VENV:-$PWD/.dagster-venv}"
stamp="$venv/.installed-stamp"
if [ ! -f "$stamp" ] || [ .ci/dagster-constraints.txt -nt "$stamp" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade "pip>=24" >&2
    "$venv/bin/python" -m pip install --quiet -c .ci/dagster-constraints.txt \
        "dagster==1.13.27" "dagster-dlt==0.29.27" -e ".[postgres]" >&2
    touch "$stamp"
fi
echo "$venv/bin/dagster"
