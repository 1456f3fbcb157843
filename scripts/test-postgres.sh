#!/usr/bin/env bash
# Makes sure a local PostgreSQL server (Debian's `postgresql` package) is
# running and has the test role, then prints the URL the tests connect to.
# The tests create one database per test under this role.
set -euo pipefail

if ! command -v pg_lsclusters >/dev/null; then
    echo "PostgreSQL is missing: apt-get install -y postgresql" >&2
    exit 1
fi
read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
if [ -z "${version:-}" ]; then
    echo "no PostgreSQL cluster: pg_createcluster --start 15 main" >&2
    exit 1
fi
if [ "$status" != "online" ]; then
    pg_ctlcluster "$version" "$cluster" start >&2
fi

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qtAc \"$1\""
    else
        sudo -u postgres psql -p "$port" -v ON_ERROR_STOP=1 -qtAc "$1"
    fi
}

exists=$(as_postgres "SELECT 1 FROM pg_roles WHERE rolname = 'strata_test'")
if [ "$exists" != "1" ]; then
    as_postgres "CREATE ROLE strata_test LOGIN CREATEDB PASSWORD 'strata_test'" >&2
fi
echo "postgres://strata_test:strata_test@127.0.0.1:$port/postgres"
