#!/usr/bin/env bash
# Installs PostgreSQL from Debian's packages (if missing), starts a cluster and creates the
# test role (allowed to create databases) and database. Idempotent: safe to run on a
# machine that already has it.
set -euo pipefail

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

version=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^${version} main$"; then
    pg_createcluster "$version" main >/dev/null
fi
pg_ctlcluster "$version" main start 2>/dev/null || true

for _ in $(seq 1 30); do
    if su postgres -c "pg_isready -q -h 127.0.0.1 -p 5432"; then break; fi
    sleep 1
done
su postgres -c "pg_isready -h 127.0.0.1 -p 5432"

su postgres -c "psql -q -v ON_ERROR_STOP=1" <<'SQL'
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'coveo') THEN
        CREATE ROLE coveo LOGIN PASSWORD 'coveo';
    END IF;
END $$;
-- tests/integrations/test_airflow.py creates (and drops) a metadata database for each Airflow it serves
ALTER ROLE coveo CREATEDB;
SQL
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname = 'coveo_ua_test'\"" | grep -q 1; then
    su postgres -c "createdb -O coveo coveo_ua_test"
fi
echo "PostgreSQL $version is running on 127.0.0.1:5432 (database coveo_ua_test, role coveo)"
