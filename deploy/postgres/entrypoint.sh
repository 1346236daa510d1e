#!/bin/sh
# First start on an empty volume: initdb with the superuser and password from
# the environment, then create the database. Later starts use the data as is.
set -eu
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
LISTEN_ADDRESSES=${LISTEN_ADDRESSES:-*}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    # Local socket trusted inside the container only; every TCP client,
    # PgBouncer included, must present the password (SCRAM).
    initdb --username="$POSTGRES_USER" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    {
        echo "host all all 0.0.0.0/0 scram-sha-256"
        echo "host all all ::/0 scram-sha-256"
    } >> "$PGDATA/pg_hba.conf"
    # A socket-only server for the set-up, so no client connects half-made.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p $PGPORT" start >/dev/null
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 -q -p "$PGPORT" -U "$POSTGRES_USER" -d postgres \
            -c "CREATE DATABASE \"$POSTGRES_DB\""
    fi
    pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
    echo "postgres-entrypoint: initialised $PGDATA with database $POSTGRES_DB"
fi

# Logs to stderr for the container runtime; extra server settings as arguments.
exec postgres -D "$PGDATA" -p "$PGPORT" -c listen_addresses="$LISTEN_ADDRESSES" \
    -c logging_collector=off -c log_timezone=UTC -c timezone=UTC "$@"
