#!/usr/bin/env bash
# Starts whatever part of one Bazar host is not running, under runit supervision (Redis, FastCGI pools, nginx); idempotent.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in spawn-fcgi multiwatch runsvdir sv chpst nginx redis-server curl; do
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

program_log() { # PROGRAM REPLICA|-
    if [[ "$2" == - ]]; then echo "$LOGDIR/$1.log"; else echo "$LOGDIR/$1-$2.log"; fi
}

out="$LOGDIR/nginx.start.log"
if ! nginx_cmd -t -q </dev/null >"$out" 2>&1; then
    fail "nginx configuration test failed ($NGINX_CONF)" "$out"
fi

# --- supervision -----------------------------------------------------------------------------
# write_service NAME: $SV/NAME/run, which execs deploy/service.sh NAME with this host's
# environment (runsv starts it again with the same environment after every crash).
write_service() {
    local dir="$SV/$1" v
    mkdir -p "$dir"
    {
        echo '#!/usr/bin/env bash'
        echo "# Written by deploy/start.sh: runit's run script for $1 (see deploy/service.sh)."
        for v in $(compgen -v BAZAR_); do
            [[ "$v" =~ ^BAZAR_(LIB_LOADED|RUN_FOREGROUND|START_WAIT)$ ]] && continue
            printf 'export %s=%q\n' "$v" "${!v}"
        done
        printf 'export PATH=%q\n' "$PATH"
        # BAZAR_PASS_ENV names more variables for the components (LD_PRELOAD, say).
        for v in ${BAZAR_PASS_ENV:-}; do
            [[ "$v" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "BAZAR_PASS_ENV: $v is not a variable name"
            if [[ -n "${!v+set}" ]]; then printf 'export %s=%q\n' "$v" "${!v}"; fi
        done
        printf 'exec bash %q %q\n' "$DEPLOY/service.sh" "$1"
    } >"$dir/run.new"
    chmod 755 "$dir/run.new"
    mv -f "$dir/run.new" "$dir/run"
}
if ! runsvdir_alive && [[ ! -d "$SV" ]]; then
    # Processes of an older Bazar, not supervised, would hold the sockets and ports.
    mapfile -t old < <(stop_unsupervised)
    if ((${#old[@]})); then info "stopped ${old[*]} (started before supervision)"; fi
fi
mapfile -t svcs < <(services)
for s in "${svcs[@]}"; do write_service "$s"; done

fresh=0 # runsvdir starts every service at once
if ! runsvdir_alive; then
    fresh=1
    # Its own session, so that nothing that signals our caller's group reaches it; -P puts
    # every runsv in a session of its own too.
    setsid runsvdir -P "$SV" </dev/null >>"$LOGDIR/runsvdir.log" 2>&1 &
    echo "$!" >"$RUN/runsvdir.pid"
    started+=(runsvdir)
fi

# ready NAME: the service's process group is complete: Redis with its socket, nginx, or a
# pool's multiwatch with all its children (and its socket, unless TCP).
ready() {
    local name="$1" pid n want
    [[ "$(sv_stat "$name")" == run ]] || return 1
    pid="$(read_pids "$RUN/$name.pid" | head -n 1)"
    [[ -n "$pid" ]] || return 1
    n="$(group_pids "$pid" | wc -l)"
    case "$name" in
    redis) [[ -S "$RUN/redis.sock" ]] && ((n >= 1)) ;;
    nginx) ((n >= 2)) ;; # the master and its worker
    *)
        want="$(pools | awk -v s="$name" '$1 == s {print $2}')"
        ((n == want + 1)) && { ((TCP)) || [[ -S "$RUN/$name.sock" ]]; }
        ;;
    esac
}

service_log() { # NAME: the log that tells why the service did not start
    case "$1" in
    redis) echo "$LOGDIR/redis.stdout.log $LOGDIR/redis.log" ;;
    nginx) echo "$LOGDIR/nginx.stdout.log $NGINX_ERROR_LOG" ;;
    *)
        local prog rep
        read -r prog rep < <(pools | awk -v s="$1" '$1 == s {print $3, $4}')
        echo "$LOGDIR/spawn-$1.log $(program_log "$prog" "$rep")"
        ;;
    esac
}

for s in "${svcs[@]}"; do
    # runsvdir notices a new service directory within 5 s.
    for ((i = 0; i < 70; i++)); do
        [[ "$(sv_state "$s")" != none ]] && break
        sleep 0.1
    done
    [[ "$(sv_state "$s")" != none ]] || fail "runsvdir did not pick up $SV/$s within 7 s" "$LOGDIR/runsvdir.log"
    if ((fresh)) || ! ready "$s"; then started+=("$s"); fi
    # "up" also undoes "sv down" or "sv once" (a test or an operator holding it down).
    sv up "$SV/$s" >/dev/null || fail "sv up $SV/$s failed"
done
for s in "${svcs[@]}"; do
    for ((i = 0; i < 100; i++)); do
        ready "$s" && break
        sleep 0.1
    done
    if ! ready "$s"; then
        # A component that cannot start (bad configuration, missing library) would be
        # restarted once a second for ever: hold it down and say why.
        sv down "$SV/$s" >/dev/null 2>&1 || true
        # shellcheck disable=SC2046  # service_log prints several paths
        fail "$s did not start within 10 s (held down: fix it, then 'make start')" $(service_log "$s")
    fi
done

# A changed configuration (render.sh flags it) is applied gracefully to a running nginx.
if [[ -e "$VAR/nginx/.changed" && " ${started[*]} " != *" nginx "* ]]; then
    nginx_cmd -s reload </dev/null >"$out" 2>&1 || fail "nginx reload failed" "$out" "$NGINX_ERROR_LOG"
    started+=("nginx(reloaded)")
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
