#!/bin/sh
# Renders the nginx configuration from the environment, then runs nginx.
#   APP_UPSTREAMS   space-separated host:port of the gunicorn containers (required)
#   NGINX_LISTEN    address to listen on (default: all), NGINX_PORT (8080)
#   NGINX_SERVER_NAME (default _), NGINX_CLIENT_MAX_BODY_SIZE (10m, as
#   DATA_UPLOAD_MAX_MEMORY_SIZE), NGINX_WORKER_PROCESSES (auto)
#   NGINX_TRUST_FORWARDED_PROTO   true only behind a TLS terminator that sets
#                   X-Forwarded-Proto itself; default false: nginx is the edge
#                   and a client's own X-Forwarded-Proto is overwritten
set -eu
: "${APP_UPSTREAMS:?APP_UPSTREAMS is required, e.g. \"app1:8000 app2:8000\"}"
UPSTREAM_SERVERS=
for server in $APP_UPSTREAMS; do
    # One failed connection takes a server out for 10 s, not for good.
    UPSTREAM_SERVERS="${UPSTREAM_SERVERS}        server $server max_fails=1 fail_timeout=10s;
"
done
if [ -n "${NGINX_LISTEN:-}" ]; then
    NGINX_LISTEN_ON="$NGINX_LISTEN:$NGINX_PORT"
else
    NGINX_LISTEN_ON="$NGINX_PORT"
fi
export UPSTREAM_SERVERS NGINX_LISTEN_ON
export NGINX_SERVER_NAME="${NGINX_SERVER_NAME:-_}"
export NGINX_CLIENT_MAX_BODY_SIZE="${NGINX_CLIENT_MAX_BODY_SIZE:-10m}"
export NGINX_WORKER_PROCESSES="${NGINX_WORKER_PROCESSES:-auto}"
case "${NGINX_TRUST_FORWARDED_PROTO:-false}" in
    true) NGINX_FORWARDED_PROTO='$coupons_forwarded_proto' ;;
    false) NGINX_FORWARDED_PROTO='$scheme' ;;
    *) echo "NGINX_TRUST_FORWARDED_PROTO must be true or false" >&2; exit 1 ;;
esac
export NGINX_FORWARDED_PROTO
# Only these names are replaced: nginx's own $variables stay as they are.
envsubst '$UPSTREAM_SERVERS $NGINX_FORWARDED_PROTO $NGINX_LISTEN_ON $NGINX_SERVER_NAME $NGINX_CLIENT_MAX_BODY_SIZE $NGINX_WORKER_PROCESSES' \
    < /etc/nginx/coupons.conf.template > /run/nginx/nginx.conf
nginx -t -q -c /run/nginx/nginx.conf
exec nginx -c /run/nginx/nginx.conf -g 'daemon off;'
