#!/bin/sh
# REDIS_PORT, REDIS_BIND (default * -::*), REDIS_PASSWORD (required: a
# counter store open to anyone on the network could lift every rate limit),
# REDIS_MAXMEMORY (default 256mb).
set -eu
: "${REDIS_PASSWORD:?REDIS_PASSWORD is required}"
conf=$(mktemp)
chmod 600 "$conf"
# The password goes through a private file, not argv, which `ps` would show.
cat > "$conf" <<CONF
port $REDIS_PORT
bind ${REDIS_BIND:-* -::*}
requirepass $REDIS_PASSWORD
protected-mode no
save ""
appendonly no
maxmemory ${REDIS_MAXMEMORY:-256mb}
maxmemory-policy volatile-ttl
dir /tmp
logfile ""
CONF
exec redis-server "$conf"
