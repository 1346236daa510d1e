#!/usr/bin/env bash
# A PgBouncer in transaction pooling mode on this host, in front of the
# machine's PostgreSQL, so that tests can run through it as production does:
#
#   eval "$(bash .ci/pgbouncer.sh)"     # prints shell assignments, see the end
#   DATABASE_URL="postgres://postgres@127.0.0.1:6432/DB?disable_server_side_cursors=True" ...
#   kill "$(cat "$PGBOUNCER_DIR/pgbouncer.pid")"; rm -rf "$PGBOUNCER_DIR"
#
# Installs Debian's pgbouncer when missing (needs root), writes its
# configuration into a new temporary folder, starts it as a daemon, checks
# that a query and a transaction-scoped advisory lock go through, and prints
# the variables above. Settings (defaults): PGBOUNCER_PORT (6432),
# UPSTREAM_HOST (127.0.0.1), UPSTREAM_PORT (5432), PGBOUNCER_POOL_SIZE (50),
# PGBOUNCER_MAX_CLIENT_CONN (1000). Everything it says goes to stderr except
# the assignments.
set -euo pipefail
port=${PGBOUNCER_PORT:-6432}
upstream_host=${UPSTREAM_HOST:-127.0.0.1}
upstream_port=${UPSTREAM_PORT:-5432}
pool_size=${PGBOUNCER_POOL_SIZE:-50}
max_client_conn=${PGBOUNCER_MAX_CLIENT_CONN:-1000}
log() { echo "pgbouncer.sh: $*" >&2; }

if ! command -v pgbouncer >/dev/null; then
    log "installing Debian's pgbouncer"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >&2
fi
pgbouncer=$(command -v pgbouncer)

if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' \
    "$port" 2>/dev/null; then
    log "127.0.0.1:$port is already taken (another pgbouncer? Debian's service starts one where systemd runs)"
    exit 1
fi

# pgbouncer refuses to run as root: it runs as postgres, which must be able
# to read its folder.
dir=$(mktemp -d /tmp/pgbouncer.XXXXXX)
chmod 0755 "$dir"
# Transaction pooling, as in production; trust, as the machine's server
# itself trusts local connections. Any database name goes to the same server
# (the tests create their own).
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=$upstream_host port=$upstream_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = $pool_size
max_client_conn = $max_client_conn
ignore_startup_parameters = extra_float_digits
admin_users = postgres
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
# trust still looks the user up in the auth file; the password is not checked.
printf '"postgres" ""\n' >"$dir/userlist.txt"
chown -R postgres: "$dir"

"$pgbouncer" -d -u postgres "$dir/pgbouncer.ini" >&2
for _ in $(seq 50); do
    [[ -s $dir/pgbouncer.pid ]] && pg_isready -q -h 127.0.0.1 -p "$port" && break
    sleep 0.1
done

psql_bouncer() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres -tA "$@"; }
if [[ $(psql_bouncer -c 'select 1') != 1 ]]; then
    log "no answer through 127.0.0.1:$port; log: $dir/pgbouncer.log"
    exit 1
fi
# A transaction-scoped advisory lock, as every state change takes, works in
# transaction pooling: the whole transaction stays on one server connection.
psql_bouncer -c 'BEGIN' -c 'SELECT pg_advisory_xact_lock(1)' -c 'COMMIT' >/dev/null
mode=$(psql -X -h 127.0.0.1 -p "$port" -U postgres -d pgbouncer -tA -c 'SHOW CONFIG' | awk -F'|' '$1 == "pool_mode" { print $2 }')
[[ $mode == transaction ]] || {
    log "pool_mode is '$mode', not transaction"
    exit 1
}
log "running on 127.0.0.1:$port (pool_mode transaction) in front of $upstream_host:$upstream_port; folder $dir"
log "stop it with: kill \"\$(cat $dir/pgbouncer.pid)\"; rm -rf $dir"
echo "PGBOUNCER_DIR=$dir"
echo "PGBOUNCER_PID=$(cat "$dir/pgbouncer.pid")"
