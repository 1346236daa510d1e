#!/bin/sh
# Writes pgbouncer.ini and the userlist from the environment into a private
# runtime folder (the password never enters the image), then runs pgbouncer.
#   DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD   the PostgreSQL server
#   PGBOUNCER_LISTEN_ADDR (default *), PGBOUNCER_PORT (6432)
#   PGBOUNCER_POOL_MODE (transaction), PGBOUNCER_DEFAULT_POOL_SIZE (20),
#   PGBOUNCER_MAX_CLIENT_CONN (200)
set -eu
: "${DB_HOST:?}" "${DB_PORT:?}" "${DB_NAME:?}" "${DB_USER:?}" "${DB_PASSWORD:?}"
conf=/run/pgbouncer
umask 077
# PgBouncer 1.18 stores the plain password to answer the server's SCRAM
# challenge; clients authenticate against it the same way.
printf '"%s" "%s"\n' "$DB_USER" "$DB_PASSWORD" > "$conf/userlist.txt"
cat > "$conf/pgbouncer.ini" <<INI
[databases]
$DB_NAME = host=$DB_HOST port=$DB_PORT dbname=$DB_NAME

[pgbouncer]
listen_addr = ${PGBOUNCER_LISTEN_ADDR:-*}
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $conf/userlist.txt
pool_mode = ${PGBOUNCER_POOL_MODE:-transaction}
default_pool_size = ${PGBOUNCER_DEFAULT_POOL_SIZE:-20}
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN:-200}
server_check_query = select 1
ignore_startup_parameters = extra_float_digits
logfile =
pidfile =
log_connections = 0
log_disconnections = 0
admin_users = $DB_USER
INI
exec pgbouncer "$conf/pgbouncer.ini"
