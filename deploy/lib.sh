# deploy/lib.sh - shared settings and helpers, sourced by every deploy/ script (not run directly).
# shellcheck shell=bash disable=SC2034  # the variables here are used by the scripts that source it
#
# Resolves REPO, VAR (= BAZAR_VAR, absolute, created) and BIN (= BAZAR_BIN), reads the
# environment documented in docs/INTERFACES.md and provides pid-file helpers that only
# ever signal the pids written in a pid file (never anything found by name).

if [[ -n "${BAZAR_LIB_LOADED:-}" ]]; then
    return 0
fi
BAZAR_LIB_LOADED=1

# Bash 5.2 treats '&' in ${x//pat/rep} as "the match"; we always want it literal.
shopt -u patsub_replacement 2>/dev/null || true

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
DEPLOY="$REPO/deploy"

die() {
    printf 'bazar: error: %s\n' "$*" >&2
    exit 1
}
info() { printf 'bazar: %s\n' "$*"; }
warn() { printf 'bazar: warning: %s\n' "$*" >&2; }

# --- environment (docs/INTERFACES.md) -------------------------------------------------------
# On a host of a multi-host cluster, deploy/cluster writes the whole environment into
# host.env next to the copied build and points BAZAR_HOST_ENV at it.
if [[ -n "${BAZAR_HOST_ENV:-}" ]]; then
    [[ -r "$BAZAR_HOST_ENV" ]] || die "BAZAR_HOST_ENV=$BAZAR_HOST_ENV: not readable"
    # shellcheck source=/dev/null
    . "$BAZAR_HOST_ENV"
fi
BAZAR_VAR="${BAZAR_VAR:-$REPO/var}"
BAZAR_BIN="${BAZAR_BIN:-$REPO/bin}"
BAZAR_LISTEN="${BAZAR_LISTEN:-127.0.0.1}"
BAZAR_PUBLIC_PORT="${BAZAR_PUBLIC_PORT:-8080}"
BAZAR_INTERNAL_PORT="${BAZAR_INTERNAL_PORT:-8081}"
BAZAR_CATALOG_REPLICAS="${BAZAR_CATALOG_REPLICAS:-3}"
BAZAR_ORDER_REPLICAS="${BAZAR_ORDER_REPLICAS:-3}"
BAZAR_CACHE="${BAZAR_CACHE:-on}"
BAZAR_CONF_EXTRA="${BAZAR_CONF_EXTRA:-}"

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
check_range() { # NAME VALUE MIN MAX
    if ! is_uint "$2" || ((10#$2 < $3 || 10#$2 > $4)); then
        die "$1=$2: expected an integer in $3..$4"
    fi
}
check_range BAZAR_PUBLIC_PORT "$BAZAR_PUBLIC_PORT" 1 65535
check_range BAZAR_INTERNAL_PORT "$BAZAR_INTERNAL_PORT" 1 65535
check_range BAZAR_CATALOG_REPLICAS "$BAZAR_CATALOG_REPLICAS" 1 7
check_range BAZAR_ORDER_REPLICAS "$BAZAR_ORDER_REPLICAS" 1 7
[[ "$BAZAR_PUBLIC_PORT" != "$BAZAR_INTERNAL_PORT" ]] ||
    die "BAZAR_PUBLIC_PORT and BAZAR_INTERNAL_PORT must differ"
case "${BAZAR_CACHE,,}" in
on | 1 | yes | true) BAZAR_CACHE=on ;;
off | 0 | no | false) BAZAR_CACHE=off ;;
*) die "BAZAR_CACHE=$BAZAR_CACHE: expected on or off" ;;
esac
[[ "$BAZAR_LISTEN" =~ ^[A-Za-z0-9.:_-]+$ ]] || die "BAZAR_LISTEN=$BAZAR_LISTEN: not an address"

# --- roles and addresses: everything here, or this host's part of a cluster ---------------
# BAZAR_ROLES      "all" (default), or what this host runs: frontend redis catalog:N order:N
#                  (nginx always runs: every host reaches the replicas through its own).
# BAZAR_CATALOG_HOSTS / BAZAR_ORDER_HOSTS
#                  the address of replica 1, 2, ... of each service. When set, every FastCGI
#                  pool listens on TCP at its host's address (BAZAR_FCGI_PORT plus a fixed
#                  offset, see pool_port) instead of a unix socket, and nginx reaches the
#                  replicas of other hosts there.
# BAZAR_FRONTEND_HOSTS  the front-end hosts' addresses (upstream frontend).
# BAZAR_REDIS      host:port of the Redis every catalog replica and front end uses (TCP mode).
BAZAR_ROLES="${BAZAR_ROLES:-all}"
BAZAR_ROLES="${BAZAR_ROLES//,/ }"
BAZAR_CATALOG_HOSTS="${BAZAR_CATALOG_HOSTS:-}"
BAZAR_ORDER_HOSTS="${BAZAR_ORDER_HOSTS:-}"
BAZAR_FRONTEND_HOSTS="${BAZAR_FRONTEND_HOSTS:-}"
BAZAR_REDIS="${BAZAR_REDIS:-}"
BAZAR_FCGI_PORT="${BAZAR_FCGI_PORT:-9000}"
check_range BAZAR_FCGI_PORT "$BAZAR_FCGI_PORT" 1 65000
BAZAR_FCGI_PORT=$((10#$BAZAR_FCGI_PORT))
for role in $BAZAR_ROLES; do
    [[ "$role" =~ ^(all|frontend|redis|catalog:[1-7]|order:[1-7])$ ]] ||
        die "BAZAR_ROLES: unknown role '$role' (all, frontend, redis, catalog:N, order:N)"
done
if [[ -n "$BAZAR_CATALOG_HOSTS" ]]; then TCP=1; else TCP=0; fi
if ((TCP)); then
    read -r -a CATALOG_HOSTS <<<"$BAZAR_CATALOG_HOSTS"
    read -r -a ORDER_HOSTS <<<"$BAZAR_ORDER_HOSTS"
    read -r -a FRONTEND_HOSTS <<<"$BAZAR_FRONTEND_HOSTS"
    ((${#CATALOG_HOSTS[@]} == BAZAR_CATALOG_REPLICAS)) ||
        die "BAZAR_CATALOG_HOSTS lists ${#CATALOG_HOSTS[@]} addresses for $BAZAR_CATALOG_REPLICAS replicas"
    ((${#ORDER_HOSTS[@]} == BAZAR_ORDER_REPLICAS)) ||
        die "BAZAR_ORDER_HOSTS lists ${#ORDER_HOSTS[@]} addresses for $BAZAR_ORDER_REPLICAS replicas"
    ((${#FRONTEND_HOSTS[@]} > 0)) || die "BAZAR_FRONTEND_HOSTS is empty"
    [[ "$BAZAR_REDIS" =~ ^[A-Za-z0-9._-]+:[0-9]+$ ]] || die "BAZAR_REDIS=$BAZAR_REDIS: expected host:port"
    [[ "$BAZAR_ROLES" != all ]] || die "BAZAR_ROLES must list this host's roles when BAZAR_CATALOG_HOSTS is set"
fi

mkdir -p "$BAZAR_VAR" || die "cannot create BAZAR_VAR=$BAZAR_VAR"
VAR="$(cd "$BAZAR_VAR" && pwd -P)"
BAZAR_VAR="$VAR"
# The path goes unquoted into nginx, Redis and bazar.conf syntax.
[[ "$VAR" =~ ^[A-Za-z0-9._/+,=-]+$ ]] ||
    die "BAZAR_VAR=$VAR: use a path of letters, digits and ._/+,=- only (no spaces or quotes)"
((${#VAR} <= 80)) || die "BAZAR_VAR=$VAR: too long (unix socket paths must stay under 108 bytes)"
case "$BAZAR_BIN" in /*) ;; *) BAZAR_BIN="$PWD/$BAZAR_BIN" ;; esac
BIN="$BAZAR_BIN"
RUN="$VAR/run"
LOGDIR="$VAR/log"
CONF="$VAR/bazar.conf"
NGINX_PREFIX="$VAR/nginx/"
NGINX_CONF="$VAR/nginx/nginx.conf"
NGINX_ERROR_LOG="$LOGDIR/nginx.error.log"
# Numeric env values may carry leading zeros ("08"); normalise them once.
BAZAR_PUBLIC_PORT=$((10#$BAZAR_PUBLIC_PORT))
BAZAR_INTERNAL_PORT=$((10#$BAZAR_INTERNAL_PORT))
BAZAR_CATALOG_REPLICAS=$((10#$BAZAR_CATALOG_REPLICAS))
BAZAR_ORDER_REPLICAS=$((10#$BAZAR_ORDER_REPLICAS))

# URL host part (IPv6 literals need brackets).
if [[ "$BAZAR_LISTEN" == *:* ]]; then LISTEN_HOST="[$BAZAR_LISTEN]"; else LISTEN_HOST="$BAZAR_LISTEN"; fi
PUBLIC_URL="http://$LISTEN_HOST:$BAZAR_PUBLIC_PORT"
INTERNAL_URL="http://$LISTEN_HOST:$BAZAR_INTERNAL_PORT"

# When run as root, nginx workers drop to an unprivileged user; the FastCGI sockets are
# handed to that user so the workers can connect.
is_root() { [[ "$(id -u)" -eq 0 ]]; }
RUN_USER=nobody
if getent group nogroup >/dev/null 2>&1; then RUN_GROUP=nogroup; else RUN_GROUP=nobody; fi

# nginx always gets our prefix, our config and our startup error log (-e), so it never
# touches /etc/nginx/nginx.conf or /var/log/nginx.
nginx_cmd() { nginx -p "$NGINX_PREFIX" -c "$NGINX_CONF" -e "$NGINX_ERROR_LOG" "$@"; }

# --- components --------------------------------------------------------------------------------
# has_role ROLE: this host runs ROLE (frontend, redis, catalog:N, order:N).
has_role() { [[ "$BAZAR_ROLES" == all || " $BAZAR_ROLES " == *" $1 "* ]]; }

# replica_count SERVICE
replica_count() {
    if [[ $1 == catalog ]]; then echo "$BAZAR_CATALOG_REPLICAS"; else echo "$BAZAR_ORDER_REPLICAS"; fi
}

# Pool sizes that an operator may change (README, "Configuration"): the front end's write
# processes and each order replica's workers (docs/PERFORMANCE.md, "Failures under load").
WRITE_WORKERS="${BAZAR_WRITE_WORKERS:-16}"
ORDER_WORKERS="${BAZAR_ORDER_WORKERS:-8}"
[[ "$WRITE_WORKERS" =~ ^[1-9][0-9]?$ ]] || die "BAZAR_WRITE_WORKERS=$WRITE_WORKERS: expected 1 to 99"
[[ "$ORDER_WORKERS" =~ ^[1-9][0-9]?$ ]] || die "BAZAR_ORDER_WORKERS=$ORDER_WORKERS: expected 1 to 99"

# Every FastCGI pool this host runs as "name children program replica-arg"; name is also the
# socket/pid-file stem.
pools() {
    local n svc
    for svc in catalog order; do
        for ((n = 1; n <= $(replica_count $svc); n++)); do
            has_role "$svc:$n" || continue
            # An order worker holds a purchase while the catalog takes its copy, which waits
            # out a catalog failover: 8 of them keep purchases flowing meanwhile (docs/
            # PERFORMANCE.md, "Failures under load"). A catalog worker never waits on
            # another service.
            if [[ $svc == order ]]; then echo "$svc-$n $ORDER_WORKERS $svc $n"; else echo "$svc-$n 3 $svc $n"; fi
            echo "$svc-$n.peer 2 $svc $n"
        done
    done
    # The front end: two pools, so that lookups never queue behind writes. A purchase can
    # hold its process for seconds (a failover, a Redis that does not answer); nginx sends
    # GET and HEAD to "frontend" and every other method to "frontend.write".
    if has_role frontend; then
        echo "frontend 4 frontend -"
        # A write holds its process for as long as a failover it meets (up to the 5 s
        # deadline); at 60 purchases/s a one-second failover is 60 of them at once.
        echo "frontend.write $WRITE_WORKERS frontend -"
    fi
}

# pool_port NAME: the TCP port of a pool in TCP mode: BAZAR_FCGI_PORT for the front end's read
# pool and +1 for its write pool,
# +100+N / +110+N for catalog replica N's client / peer pool, +200+N / +210+N for order.
pool_port() {
    local name="$1" n off
    case "$name" in
    frontend) echo "$BAZAR_FCGI_PORT"; return ;;
    frontend.write) echo $((BAZAR_FCGI_PORT + 1)); return ;;
    catalog-*) off=100 ;;
    order-*) off=200 ;;
    *) die "pool_port: unknown pool $name" ;;
    esac
    n="${name#*-}"
    if [[ "$n" == *.peer ]]; then n="${n%.peer}" off=$((off + 10)); fi
    echo $((BAZAR_FCGI_PORT + off + n))
}

# pool_host NAME: the address of the host that runs a replica's pool (TCP mode).
pool_host() {
    local name="${1%.peer}" n
    n="${name#*-}"
    case "$name" in
    catalog-*) echo "${CATALOG_HOSTS[n - 1]}" ;;
    order-*) echo "${ORDER_HOSTS[n - 1]}" ;;
    *) echo "$BAZAR_LISTEN" ;;
    esac
}

# pool_addr NAME [HOST]: where nginx reaches a pool: unix:SOCKET, or HOST:PORT in TCP mode.
pool_addr() {
    if ((TCP)); then
        echo "${2:-$(pool_host "$1")}:$(pool_port "$1")"
    else
        echo "unix:$RUN/$1.sock"
    fi
}

# subst TEMPLATE KEY=VALUE...: the template with every @KEY@ replaced by VALUE (literally:
# no sed, no envsubst, no escaping issues). Fails on any placeholder left over.
subst() {
    local tpl="$1" text kv key val left
    shift
    [[ -r "$tpl" ]] || die "missing template $tpl"
    text="$(cat "$tpl")"
    for kv in "$@"; do
        key="${kv%%=*}"
        val="${kv#*=}"
        text="${text//"@$key@"/"$val"}"
    done
    if [[ "$text" =~ @[A-Z][A-Z_]*@ ]]; then
        left="${BASH_REMATCH[0]}"
        die "$tpl: placeholder $left was not rendered"
    fi
    printf '%s\n' "$text"
}

# --- pid files -------------------------------------------------------------------------------
# read_pids FILE: the pids in FILE, one per line. spawn-fcgi writes one pid per line and no
# final newline, so split on any whitespace rather than trusting `read`.
read_pids() {
    local f="$1" p
    [[ -r "$f" ]] || return 0
    for p in $(tr -s '[:space:]' ' ' <"$f"); do
        if is_uint "$p" && ((p > 1)); then echo "$p"; fi
    done
}

# pid_alive PID [COMM]: the process exists, is not a zombie, and (if COMM is given and
# /proc is available) its command name is COMM - so a pid reused by an unrelated program
# after a crash or reboot is treated as dead and never signalled.
pid_alive() {
    local pid="$1" want="${2:-}" stat comm
    if [[ -r /proc/$pid/stat ]]; then
        stat="$(cat "/proc/$pid/stat" 2>/dev/null)" || return 1
        stat="${stat##*) }"
        [[ "${stat:0:1}" != Z && "${stat:0:1}" != X ]] || return 1
        if [[ -n "$want" ]]; then
            comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
            [[ "$comm" == "${want:0:15}" ]] || return 1
        fi
        return 0
    fi
    [[ -d /proc/self ]] && return 1 # /proc exists but not this pid
    kill -0 "$pid" 2>/dev/null
}

# pids_alive FILE [COMM]: true if FILE lists at least one pid and every pid in it is alive.
pids_alive() {
    local p n=0
    for p in $(read_pids "$1"); do
        pid_alive "$p" "${2:-}" || return 1
        n=$((n + 1))
    done
    ((n > 0))
}

# live_pids FILE [COMM]: the pids of FILE that are alive.
live_pids() {
    local p
    for p in $(read_pids "$1"); do
        if pid_alive "$p" "${2:-}"; then echo "$p"; fi
    done
}

# kill_pidfile FILE [COMM]: TERM every live pid of FILE, wait up to 5 s, then KILL what is
# left; removes FILE. Only the pids in FILE are ever signalled.
kill_pidfile() {
    local f="$1" want="${2:-}" pids p i
    [[ -e "$f" ]] || return 0
    pids="$(live_pids "$f" "$want")"
    if [[ -n "$pids" ]]; then
        for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
        for ((i = 0; i < 50; i++)); do
            pids="$(for p in $pids; do if pid_alive "$p" "$want"; then echo "$p"; fi; done)"
            [[ -z "$pids" ]] && break
            sleep 0.1
        done
        if [[ -n "$pids" ]]; then
            warn "$(basename "$f"): pids $(echo "$pids" | tr '\n' ' ')did not exit after TERM; sending KILL"
            for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
            for ((i = 0; i < 20; i++)); do
                pids="$(for p in $pids; do if pid_alive "$p" "$want"; then echo "$p"; fi; done)"
                [[ -z "$pids" ]] && break
                sleep 0.1
            done
        fi
    fi
    rm -f "$f"
}

# --- waiting ------------------------------------------------------------------------------------
# wait_until TEST PATH [SECONDS]: until `test TEST PATH` holds, checked every 0.1 s.
wait_until() {
    local flag="$1" path="$2" secs="${3:-5}" i
    for ((i = 0; i < secs * 10; i++)); do
        test "$flag" "$path" && return 0
        sleep 0.1
    done
    test "$flag" "$path"
}
# wait_for_socket PATH [SECONDS]: until PATH is a unix socket.
wait_for_socket() { wait_until -S "$@"; }
# wait_for_file PATH [SECONDS]: until PATH exists and is non-empty.
wait_for_file() { wait_until -s "$@"; }

# http_code URL: the HTTP status of a GET (000 when nothing answers).
http_code() {
    curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$1" 2>/dev/null || true
}

# wait_for_http URL CODE [SECONDS]: until GET URL answers CODE; prints the last code seen.
wait_for_http() {
    local url="$1" want="$2" secs="${3:-10}" code=000 i
    for ((i = 0; i < secs * 5; i++)); do
        code="$(http_code "$url")"
        [[ "$code" == "$want" ]] && break
        sleep 0.2
    done
    echo "$code"
    [[ "$code" == "$want" ]]
}

# show_log FILE [LINES]: the tail of a log, indented, to stderr (for failure messages).
show_log() {
    local f="$1" n="${2:-15}"
    if [[ -s "$f" ]]; then
        printf -- '--- last %s lines of %s ---\n' "$n" "$f" >&2
        tail -n "$n" "$f" | sed 's/^/  /' >&2
    else
        printf -- '--- %s: empty or missing ---\n' "$f" >&2
    fi
}

# --- supervision (runit + multiwatch; README "Supervision") ------------------------------------
# Every component runs under runit's runsv, one service directory each in $SV, all watched by
# one runsvdir per host ($RUN/runsvdir.pid). A service's run script (deploy/service.sh) puts
# it in a process group of its own, so the group id is the pid it writes to $RUN/NAME.pid and
# every process of the component - a pool's multiwatch and its children, nginx's master and
# workers - is found by group, never by name.
SV="$VAR/sv"

# services: every runit service of this host, in stop order: nginx (every host has its
# internal listener), the front end, order replicas, catalog replicas, then Redis.
services() {
    local all
    all="$(pools | awk '{print $1}')"
    echo nginx
    grep -E '^frontend(\.write)?$' <<<"$all" || true
    grep '^order-' <<<"$all" || true
    grep '^catalog-' <<<"$all" || true
    if has_role redis; then echo redis; fi
}

# group_pids PGID: the live processes of process group PGID (none when PGID is not a group);
# pgrep -g selects by group id only, never by name.
group_pids() {
    local p
    is_uint "$1" && (($1 > 1)) || return 0
    for p in $(pgrep -g "$1" 2>/dev/null); do
        if pid_alive "$p"; then echo "$p"; fi
    done
    return 0
}

# service_pids NAME: every live process of service NAME (its process group).
service_pids() { group_pids "$(read_pids "$RUN/$1.pid" | head -n 1)"; }

# sv_stat NAME: what runsv last wrote to the service's supervise/stat (run, down, finish, or
# "run, want down" ...), none when it never ran. No process is started: start.sh polls it
# for every service ten times a second, where sv_state's `sv status` costs ~25 ms a call.
# It cannot tell that runsv itself has gone (sv_state can).
sv_stat() {
    local st=""
    if [[ -r "$SV/$1/supervise/stat" ]]; then read -r st <"$SV/$1/supervise/stat" || true; fi
    echo "${st:-none}"
}

# sv_state NAME: runit's view of a service: run, down, finish or none (no runsv watches it).
sv_state() {
    local out
    [[ -p "$SV/$1/supervise/ok" ]] || { echo none; return 0; }
    out="$(sv status "$SV/$1" 2>/dev/null)" || true
    case "$out" in
    run:* | down:* | finish:*) echo "${out%%:*}" ;;
    *) echo none ;; # "warning: ...: runsv not running"
    esac
}

# runsvdir_alive: true if this host's runsvdir runs.
runsvdir_alive() { pids_alive "$RUN/runsvdir.pid" runsvdir; }

# stop_unsupervised: stops what a pid file names that no runit service directory claims - a
# host started by an older Bazar, whose pid files list spawn-fcgi's children, nginx's master
# and Redis - and prints each name stopped. Their pids are checked by command name.
stop_unsupervised() {
    local f name prog
    for f in "$RUN"/*.pid; do
        [[ -e "$f" ]] || continue
        name="$(basename "$f" .pid)"
        [[ "$name" == runsvdir || -d "$SV/$name" ]] && continue
        case "$name" in
        redis) prog=redis-server ;;
        nginx) prog=nginx ;;
        *) prog="${name%%-*}" ;;
        esac
        if [[ -n "$(live_pids "$f" "$prog")" ]]; then echo "$name"; fi
        kill_pidfile "$f" "$prog"
    done
}
