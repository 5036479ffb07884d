#!/usr/bin/env bash
# Starts whatever part of one Bazar host is not running (Redis, FastCGI pools, nginx); idempotent.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in spawn-fcgi nginx redis-server curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run 'make deps' (deploy/deps.sh)"
done
for prog in catalog order frontend; do
    [[ -x "$BIN/$prog" ]] || die "$BIN/$prog is missing: run 'make' first (or set BAZAR_BIN)"
done
# BAZAR_START_WAIT=none starts the processes and returns at once (deploy/cluster starts
# every host first, then waits: a replica is not ready until it hears its peers).
BAZAR_START_WAIT="${BAZAR_START_WAIT:-all}"
[[ "$BAZAR_START_WAIT" =~ ^(all|none)$ ]] || die "BAZAR_START_WAIT=$BAZAR_START_WAIT: expected all or none"

bash "$DEPLOY/render.sh"

mkdir -p "$RUN" "$LOGDIR" "$VAR/data" "$VAR/redis" "$VAR/nginx/tmp"
# nginx workers (nobody when we are root) must traverse $VAR and $VAR/run to reach the sockets.
chmod 755 "$VAR" "$RUN"

if is_root; then
    # Every directory above the sockets must be searchable by the worker user too.
    d="$RUN"
    while [[ "$d" != / ]]; do
        perms="$(stat -c %A "$d")"
        if [[ "${perms:9:1}" != x && "${perms:9:1}" != t ]]; then
            die "nginx workers run as $RUN_USER and cannot reach the sockets under $RUN:" \
                "$d is $perms. Run 'chmod o+x $d' or set BAZAR_VAR to a path like /var/tmp/bazar."
        fi
        d="$(dirname "$d")"
    done
    for t in client_body proxy fastcgi uwsgi scgi; do mkdir -p "$VAR/nginx/tmp/$t"; done
    chown -R "$RUN_USER:$RUN_GROUP" "$VAR/nginx/tmp"
fi

started=() # components (re)started by this run
fail() {   # MESSAGE LOG...: explain, show the relevant logs, exit non-zero
    local msg="$1" f
    shift
    printf 'bazar: error: %s\n' "$msg" >&2
    for f in "$@"; do show_log "$f"; done
    if [[ -z "${BAZAR_RUN_FOREGROUND:-}" ]]; then
        printf 'bazar: (what did start is left running: inspect, then "make stop")\n' >&2
    fi
    exit 1
}

# --- Redis ------------------------------------------------------------------------------------
start_redis() {
    local pidf="$RUN/redis.pid" sock="$RUN/redis.sock"
    if pids_alive "$pidf" redis-server && [[ -S "$sock" ]]; then
        return 0
    fi
    kill_pidfile "$pidf" redis-server
    rm -f "$sock"
    redis-server "$VAR/redis.conf" </dev/null >"$LOGDIR/redis.stdout.log" 2>&1 ||
        fail "redis-server did not start" "$LOGDIR/redis.stdout.log" "$LOGDIR/redis.log"
    if ! wait_for_file "$pidf" 5 || ! wait_for_socket "$sock" 5 || ! pids_alive "$pidf" redis-server; then
        fail "Redis did not come up (no live pid in $pidf or no socket $sock)" \
            "$LOGDIR/redis.stdout.log" "$LOGDIR/redis.log"
    fi
    started+=(redis)
}

# --- FastCGI pools ---------------------------------------------------------------------------
# start_pool NAME CHILDREN PROGRAM REPLICA|-: (re)spawns the pool unless every pid in its
# pid file is alive and its socket exists. In TCP mode (a cluster) the pool listens on its
# host's address and port (lib.sh pool_port) instead of a unix socket.
start_pool() {
    local name="$1" children="$2" prog="$3" replica="$4"
    local sock="$RUN/$name.sock" pidf="$RUN/$name.pid" out="$LOGDIR/spawn-$name.log"
    local -a opts cmd spawned recorded
    local rc
    if pids_alive "$pidf" "$prog" && { ((TCP)) || [[ -S "$sock" ]]; }; then
        return 0
    fi
    # Partly dead (or never started): stop what is left of it, by pid only, then respawn.
    kill_pidfile "$pidf" "$prog"
    rm -f "$sock"
    opts=(-F "$children" -P "$pidf")
    if ((TCP)); then
        opts+=(-a "$BAZAR_LISTEN" -p "$(pool_port "$name")")
    elif is_root; then
        opts+=(-s "$sock" -U "$RUN_USER" -G "$RUN_GROUP" -M 0660)
    else
        opts+=(-s "$sock" -M 0600)
    fi
    cmd=("$BIN/$prog" -c "$CONF")
    [[ "$replica" == - ]] || cmd+=(-r "$replica")
    [[ "$name" != *.peer ]] || cmd+=(-p peer)
    rc=0
    spawn-fcgi "${opts[@]}" -- "${cmd[@]}" </dev/null >"$out" 2>&1 || rc=$?
    # spawn-fcgi 1.6.4 prints "child spawned successfully: PID: N" for every child and
    # writes every child's pid, one per line, to the -P file - but without a final
    # newline. Rewrite the file from its output: one pid per line, newline-terminated
    # (so `cat *.pid` works), and its output wins should the two ever disagree.
    mapfile -t spawned < <(sed -n 's/.*PID: \([0-9][0-9]*\).*/\1/p' "$out")
    mapfile -t recorded < <(read_pids "$pidf")
    if ((rc == 0)) && [[ "${spawned[*]}" != "${recorded[*]}" ]]; then
        warn "$name: pid file $pidf (${recorded[*]:-empty}) disagrees with spawn-fcgi (${spawned[*]:-none})"
    fi
    if ((${#spawned[@]})); then printf '%s\n' "${spawned[@]}" >"$pidf"; fi
    if ((rc != 0)); then
        fail "spawn-fcgi could not start $name (${cmd[*]}): exit status $rc" "$out" \
            "$(program_log "$prog" "$replica")"
    fi
    ((${#spawned[@]} == children)) ||
        fail "$name: spawn-fcgi started ${#spawned[@]} of $children children" "$out" \
            "$(program_log "$prog" "$replica")"
    started+=("$name")
}

program_log() { # PROGRAM REPLICA|-
    if [[ "$2" == - ]]; then echo "$LOGDIR/$1.log"; else echo "$LOGDIR/$1-$2.log"; fi
}

if has_role redis; then start_redis; fi
# Catalog replicas, then order replicas, then the front end (the order of pools()).
while read -r name children prog replica; do
    start_pool "$name" "$children" "$prog" "$replica"
done < <(pools)

# A program that dies right after exec (bad config, missing library) has exited by now.
sleep 0.3
while read -r name children prog replica; do
    if ! pids_alive "$RUN/$name.pid" "$prog"; then
        fail "$name: a child exited right after starting" "$LOGDIR/spawn-$name.log" \
            "$(program_log "$prog" "$replica")"
    fi
done < <(pools)

# --- nginx -----------------------------------------------------------------------------------
out="$LOGDIR/nginx.start.log"
if ! nginx_cmd -t -q </dev/null >"$out" 2>&1; then
    fail "nginx configuration test failed ($NGINX_CONF)" "$out"
fi
if pids_alive "$RUN/nginx.pid" nginx; then
    # Already running: apply a changed configuration gracefully (render.sh flags changes).
    if [[ -e "$VAR/nginx/.changed" ]]; then
        nginx_cmd -s reload </dev/null >"$out" 2>&1 || fail "nginx reload failed" "$out" "$NGINX_ERROR_LOG"
        started+=("nginx(reloaded)")
    fi
else
    kill_pidfile "$RUN/nginx.pid" nginx
    nginx_cmd </dev/null >"$out" 2>&1 || fail "nginx did not start" "$out" "$NGINX_ERROR_LOG"
    if ! wait_for_file "$RUN/nginx.pid" 5 || ! pids_alive "$RUN/nginx.pid" nginx; then
        fail "nginx did not start (no live pid in $RUN/nginx.pid)" "$out" "$NGINX_ERROR_LOG"
    fi
    started+=(nginx)
fi

rm -f "$VAR/nginx/.changed"

# --- ready? ----------------------------------------------------------------------------------
if [[ "$BAZAR_START_WAIT" == none ]]; then
    info "started without waiting (${started[*]:-nothing new}; state $VAR)"
    exit 0
fi
# Every replica first, through its own route: a replica answers 503 until its
# first read lease (it needs nginx up to hear the primary), and a 503 through
# the upstream block would make nginx shun it for fail_timeout (passive check).
for svc in catalog order; do
    for ((n = 1; n <= $(replica_count $svc); n++)); do
        has_role "$svc:$n" || continue
        if ! code="$(wait_for_http "$INTERNAL_URL/replica/$svc/$n/health" 200 20)"; then
            fail "$svc replica $n is not serving (health $code after 20 s)" "$LOGDIR/$svc-$n.log"
        fi
    done
done
if has_role frontend && ! code="$(wait_for_http "$PUBLIC_URL/health" 200 10)"; then
    fail "$PUBLIC_URL/health answered $code instead of 200 within 10 s" \
        "$LOGDIR/frontend.log" "$NGINX_ERROR_LOG"
fi
if has_role frontend; then where="at $PUBLIC_URL/"; else where="(roles: $BAZAR_ROLES)"; fi
what="catalog x$BAZAR_CATALOG_REPLICAS, order x$BAZAR_ORDER_REPLICAS; internal $INTERNAL_URL; state $VAR"
if ((${#started[@]} == 0)); then
    info "already running $where ($what)"
else
    info "up $where ($what; started: ${started[*]})"
fi
