#!/usr/bin/env bash
# The race tests (marker `races`) once more, through a PgBouncer in transaction
# pooling mode in front of the machine's PostgreSQL, with the settings
# production runs with: DJANGO_ENV=production, persistent connections with
# health checks, no server-side cursors (as compose.yaml gives the apps), and
# Redis for the counters when one answers on 127.0.0.1:6379.
#
#   bash .ci/races-through-pgbouncer.sh [pytest arguments]
#
# Needs root (pgbouncer is installed when missing and runs as postgres), the
# project's .venv with requirements-dev.txt, and PostgreSQL on 127.0.0.1:5432.
# PgBouncer listens on a free port below the ephemeral range (6432 may be
# someone else's); it and the test database are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

port=$(python3 - <<'PY'
import random, socket
with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
    ephemeral_low = int(ranges.read().split()[0])
while True:
    port = random.randrange(10000, ephemeral_low)
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        continue
    print(port)
    break
PY
)
database="coupons_races_pgb_$$"
eval "$(PGBOUNCER_PORT=$port bash .ci/pgbouncer.sh)"

cleanup() {
    status=$?
    set +e
    # PgBouncer keeps idle server connections to the test database, and
    # PostgreSQL refuses to drop a database in use: close them first.
    psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d pgbouncer -c "KILL test_${database}" >/dev/null 2>&1
    kill "$PGBOUNCER_PID" 2>/dev/null
    psql -X -q -h 127.0.0.1 -p 5432 -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS test_${database} WITH (FORCE)" >/dev/null
    rm -rf "$PGBOUNCER_DIR"
    exit "$status"
}
trap cleanup EXIT

redis_url=""
if python3 -c 'import socket; socket.create_connection(("127.0.0.1", 6379), timeout=1).close()' 2>/dev/null; then
    redis_url="redis://127.0.0.1:6379/13"
fi

echo "== the race tests through PgBouncer (127.0.0.1:$port, transaction pooling), DJANGO_ENV=production${redis_url:+, Redis}"
# Production mode, as the container stack runs it, except what plain-http test
# clients need: the test client's host names, and no redirect to https (the
# container test does the same: TLS ends in front of the service).
# --reuse-db: pytest-django would drop its database while PgBouncer still
# holds connections to it; the trap above drops it.
env DJANGO_ENV=production \
    SECRET_KEY="races-through-pgbouncer-$(python3 -c 'import secrets; print(secrets.token_hex(32))')" \
    ALLOWED_HOSTS=testserver,127.0.0.1,localhost \
    SECURE_SSL_REDIRECT=false \
    DATABASE_URL="postgres://postgres@127.0.0.1:${port}/${database}?disable_server_side_cursors=True" \
    DATABASE_PREPARED_STATEMENTS=false \
    CONN_MAX_AGE=60 CONN_HEALTH_CHECKS=true \
    REDIS_URL="$redis_url" \
    .venv/bin/python -m pytest -q -p no:cacheprovider -p no:xdist --no-cov --reuse-db -m races "$@"

# PgBouncer's own count: the tests' transactions went through it.
carried=$(psql -X -h 127.0.0.1 -p "$port" -U postgres -d pgbouncer -tA -F ' ' -c 'SHOW STATS' |
    awk -v db="test_${database}" '$1 == db { print $2 }')
if ((${carried:-0} == 0)); then
    echo "PgBouncer carried no transaction to test_${database}" >&2
    exit 1
fi
echo "PgBouncer carried ${carried} transactions to test_${database}"
