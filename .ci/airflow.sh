#!/usr/bin/env bash
# Installs a pinned Apache Airflow, with this project, in its own virtual environment
# (Airflow pins many packages of its own, so it never shares the project's .venv) and
# prints the path of its `airflow` executable. Idempotent: reuses a complete install.
# asyncpg: Airflow's async engine on a PostgreSQL metadata database (the LocalExecutor
# deployment in tests/integrations/test_airflow.py) needs it; the project's extra brings psycopg2.
# Usage: export COVEO_UA_AIRFLOW="$(bash .ci/airflow.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${COVEO_UA_AIRFLOW_VENV:-$PWD/.airflow-venv}"
stamp="$venv/.installed-stamp"
if [ ! -f "$stamp" ] || [ .ci/airflow-constraints.txt -nt "$stamp" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade "pip>=24" >&2
    "$venv/bin/python" -m pip install --quiet -c .ci/airflow-constraints.txt \
        "apache-airflow==3.3.2" asyncpg -e ".[postgres]" >&2
    touch "$stamp"
fi
echo "$venv/bin/airflow"
