#!/usr/bin/env bash
# tests/bench/bench.sh - `make bench` (full) and `make bench-smoke` (--smoke, < 60 s): starts its
# own clusters and ceilings on random loopback ports, measures, writes report + CSVs + plots.
#
# Output: $BENCH_OUT (default var/bench, var/bench-smoke for --smoke): report.md, *.csv,
# *.png (when gnuplot is installed), logs/. Cluster state lives in a temporary BAZAR_VAR per
# cluster under /tmp (kept with BENCH_KEEP=1). Everything started here is stopped by pid file
# on exit, failure and Ctrl-C included. Every load is bounded in count and time.
#
# Knobs (environment): BENCH_DUR (seconds per wrk run), BENCH_REQUESTS (per client, reads),
# BENCH_BUY_REQUESTS (per client, buys), BENCH_ROUNDS (hit-vs-miss), BENCH_MIXED_REQUESTS and
# BENCH_MIXED_SECONDS (memory run: request goal, time cap per part), BENCH_SCALE_BOOKS,
# BENCH_CATCHUP_WRITES / BENCH_CATCHUP_CLIENTS / BENCH_CATCHUP_SECONDS (writes a stopped
# replica misses, concurrent writers, time cap), BENCH_BIG_ORDERS (orders written into the
# order log before the big-log purchase runs, full mode only), BENCH_PAGE_REQUESTS (catalog
# page requests of each kind, full mode only), BENCH_ONLY (comma list of sections to run:
# main, memory, cacheoff, scale, small, catchup, bigorders, pages; default all).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$HERE/../.." && pwd -P)"
PY=/usr/bin/python3
MODE=full
if [[ "${1:-}" == --smoke ]]; then MODE=smoke; fi

if [[ $MODE == smoke ]]; then
    OUT="${BENCH_OUT:-$REPO/var/bench-smoke}"
    DUR="${BENCH_DUR:-1}"
    REQS="${BENCH_REQUESTS:-100}"
    BUY_REQS="${BENCH_BUY_REQUESTS:-20}"
    ROUNDS="${BENCH_ROUNDS:-30}"
    CLIENTS=(1 5)
    CONNS=(16)
    CATCHUP_WRITES="${BENCH_CATCHUP_WRITES:-300}"
else
    OUT="${BENCH_OUT:-$REPO/var/bench}"
    DUR="${BENCH_DUR:-5}"
    REQS="${BENCH_REQUESTS:-1000}"
    BUY_REQS="${BENCH_BUY_REQUESTS:-200}"
    ROUNDS="${BENCH_ROUNDS:-1000}"
    CLIENTS=(1 5 10)
    CONNS=(1 16 64)
    CATCHUP_WRITES="${BENCH_CATCHUP_WRITES:-10000}"
fi
MIXED_REQS="${BENCH_MIXED_REQUESTS:-1000000}"
MIXED_SECS="${BENCH_MIXED_SECONDS:-200}"
SCALE_BOOKS="${BENCH_SCALE_BOOKS:-100000}"
CATCHUP_CLIENTS="${BENCH_CATCHUP_CLIENTS:-8}"
CATCHUP_SECS="${BENCH_CATCHUP_SECONDS:-180}"
BIG_ORDERS="${BENCH_BIG_ORDERS:-1000000}"
PAGE_REQS="${BENCH_PAGE_REQUESTS:-300}"
ONLY="${BENCH_ONLY:-}"

say() { printf 'bench: %s\n' "$*"; }
die() {
    printf 'bench: error: %s\n' "$*" >&2
    exit 1
}

SECTIONS=" main memory cacheoff scale small catchup bigorders pages "
for sec in ${ONLY//,/ }; do
    [[ "$SECTIONS" == *" $sec "* ]] || die "BENCH_ONLY: unknown section '$sec' (known:$SECTIONS)"
done
want() { [[ -z "$ONLY" || ",$ONLY," == *",$1,"* ]]; } # SECTION: is it part of this run?
for n in "$CATCHUP_WRITES" "$CATCHUP_CLIENTS" "$CATCHUP_SECS" "$BIG_ORDERS" "$PAGE_REQS"; do
    [[ "$n" =~ ^[1-9][0-9]{0,8}$ ]] ||
        die "BENCH_CATCHUP_*, BENCH_BIG_ORDERS and BENCH_PAGE_REQUESTS must be positive integers"
done

for tool in wrk nginx spawn-fcgi redis-server curl cc; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (make bench installs it: deploy/deps.sh)"
done
for prog in catalog order frontend; do
    [[ -x "$REPO/bin/$prog" ]] || die "bin/$prog is missing: run make first"
done

rm -rf "$OUT"
mkdir -p "$OUT/logs"
STATE="$(mktemp -d /tmp/bazar-bench.XXXXXX)"
chmod 755 "$STATE"
T_START=$SECONDS

# --- cleanup: every cluster and the ceiling, by pid file, whatever happens --------------------
CLUSTERS=() # BAZAR_VAR of every cluster started
CEIL="$STATE/ceiling"
stop_pidfile() { # FILE: TERM the pids listed in FILE, then KILL what is left after 5 s
    local f="$1" p i alive pids=()
    [[ -s "$f" ]] || return 0
    for p in $(tr -s '[:space:]' ' ' <"$f"); do
        if [[ "$p" =~ ^[0-9]+$ ]] && ((p > 1)); then pids+=("$p"); fi
    done
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 50; i++)); do
        alive=()
        for p in "${pids[@]}"; do
            if kill -0 "$p" 2>/dev/null; then alive+=("$p"); fi
        done
        ((${#alive[@]})) || break
        sleep 0.1
    done
    for p in "${alive[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    rm -f "$f"
}
cleanup() {
    local rc=$? v
    trap - EXIT INT TERM
    for v in "${CLUSTERS[@]}"; do
        BAZAR_VAR="$v" bash "$REPO/deploy/stop.sh" >>"$OUT/logs/stop.log" 2>&1 || true
    done
    stop_pidfile "$CEIL/nginx.pid"
    stop_pidfile "$CEIL/spawn.pid"
    stop_pidfile "$CEIL/redis.pid"
    if ((rc != 0)) || [[ -n "${BENCH_KEEP:-}" ]]; then
        say "state kept in $STATE"
    else
        rm -rf "$STATE"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- ports -------------------------------------------------------------------------------------
USED_PORTS=" "
port_free() { # nothing listens on it and it can be bound right now
    "$PY" -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}
pick_port() { # prints a free port in 30000-39999 not handed out before
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((30000 + RANDOM % 10000))
        if [[ "$USED_PORTS" != *" $p "* ]] && port_free "$p"; then
            USED_PORTS+="$p "
            echo "$p"
            return 0
        fi
    done
    die "no free port found"
}

# --- meta ----------------------------------------------------------------------------------------
{
    echo "mode=$MODE"
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "cpus=$(nproc)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "kernel=$(uname -r)"
    echo "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
    echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    echo "redis=$(redis-server -v | sed 's/.*v=\([^ ]*\).*/\1/')"
    echo "sqlite=$(sqlite3 --version 2>/dev/null | awk '{print $1}')"
    echo "dur=$DUR"
    echo "requests=$REQS"
    echo "buy_requests=$BUY_REQS"
    echo "rounds=$ROUNDS"
    echo "only=$ONLY"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/meta.env"

# --- clusters ------------------------------------------------------------------------------------
# cluster_start NAME CACHE CATALOG_REPLICAS ORDER_REPLICAS [CONF_EXTRA]: sets PUB, INT, VARD,
# TOKEN, CL_ENV (the BAZAR_* environment, for a restart with deploy/start.sh) and SECRET_HDR.
cluster_start() {
    local name="$1" cache="$2" nc="$3" no="$4" extra="${5:-}" t0 t1 try
    VARD="$STATE/$name"
    mkdir -p "$VARD"
    CLUSTERS+=("$VARD")
    t0=$(date +%s.%N)
    for try in 1 2 3; do
        PUB="$(pick_port)"
        INT="$(pick_port)"
        if BAZAR_VAR="$VARD" BAZAR_PUBLIC_PORT="$PUB" BAZAR_INTERNAL_PORT="$INT" BAZAR_CACHE="$cache" \
            BAZAR_CATALOG_REPLICAS="$nc" BAZAR_ORDER_REPLICAS="$no" BAZAR_CONF_EXTRA="$extra" \
            bash "$REPO/deploy/start.sh" >"$OUT/logs/start-$name.log" 2>&1; then
            break
        fi
        # A port taken between the check and nginx's bind (others' clusters, ephemeral
        # ports of client connections): stop what started and try other ports.
        BAZAR_VAR="$VARD" bash "$REPO/deploy/stop.sh" >>"$OUT/logs/stop.log" 2>&1 || true
        if ((try == 3)) || ! grep -q 'Address already in use' "$OUT/logs/start-$name.log"; then
            cat "$OUT/logs/start-$name.log" >&2
            die "cluster $name did not start"
        fi
        say "cluster $name: port $PUB or $INT was taken meanwhile; retrying on other ports"
    done
    t1=$(date +%s.%N)
    CL_ENV=(BAZAR_VAR="$VARD" BAZAR_PUBLIC_PORT="$PUB" BAZAR_INTERNAL_PORT="$INT"
        BAZAR_CACHE="$cache" BAZAR_CATALOG_REPLICAS="$nc" BAZAR_ORDER_REPLICAS="$no"
        BAZAR_CONF_EXTRA="$extra")
    load_secret
    TOKEN="$VARD/admin.token"
    echo "$name,$cache,$nc+$no,$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')" >>"$OUT/starts.csv"
    say "cluster $name up (cache $cache, $nc+$no replicas, public :$PUB, internal :$INT)"
}
cluster_stop() {
    BAZAR_VAR="$VARD" bash "$REPO/deploy/stop.sh" >>"$OUT/logs/stop.log" 2>&1 || true
}
# Internal routes (/replica/..., /peer/...) want X-Bazar-Secret: <VARD/cluster.secret> when the
# cluster has a secret; read once per cluster start. icurl: curl to the internal listener with it.
SECRET_HDR=()
load_secret() {
    SECRET_HDR=()
    if [[ -s "$VARD/cluster.secret" ]]; then
        SECRET_HDR=(-H "X-Bazar-Secret: $(<"$VARD/cluster.secret")")
    fi
}
icurl() { curl -s --max-time 5 "${SECRET_HDR[@]}" "$@"; }
# rstate SUBCOMMAND ARGS...: tests/bench/repl_state.py against the current cluster.
rstate() { "$PY" "$HERE/repl_state.py" "$1" --port "$INT" --var "$VARD" "${@:2}"; }
echo "name,cache,replicas,start_s" >"$OUT/starts.csv"

# wait_converged: until /status says both services' replicas agree (after a write burst).
wait_converged() {
    local i s
    for ((i = 0; i < 50; i++)); do
        s="$(icurl --max-time 2 "http://127.0.0.1:$INT/status" || true)"
        if [[ "$(grep -o '"hashes_agree":true' <<<"$s" | wc -l)" -ge 2 ]]; then return 0; fi
        sleep 0.2
    done
    say "warning: replicas did not report agreeing hashes within 10 s"
}

client() { "$PY" "$HERE/client.py" "$@"; }
restock() { client restock --port "$PUB" --token-file "$TOKEN" --quantity 2000000; }

# --- wrk -------------------------------------------------------------------------------------------
echo "setup,op,conns,rps,p50_ms,p99_ms,mean_ms,requests,non2xx,sock_errors" >"$OUT/throughput.csv"
# wrk_run SETUP OP CONNS URL [SCRIPT]: one bounded wrk run, one CSV row.
wrk_run() {
    local setup="$1" op="$2" conns="$3" url="$4" script="${5:-$HERE/wrk_report.lua}" threads=2 out line
    ((conns >= 2)) || threads=1
    out="$(timeout $((DUR + 30)) wrk -t"$threads" -c"$conns" -d"${DUR}s" --timeout 5s -s "$script" "$url" 2>&1)" ||
        die "wrk $op failed: $out"
    echo "== $setup $op c=$conns $url" >>"$OUT/logs/wrk.log"
    echo "$out" >>"$OUT/logs/wrk.log"
    line="$(grep '^WRKCSV' <<<"$out")" || die "wrk $op: no summary line: $out"
    read -r _ req _ rps p50 p99 mean non2xx sockerr <<<"$line"
    echo "$setup,$op,$conns,$rps,$p50,$p99,$mean,$req,$non2xx,$sockerr" >>"$OUT/throughput.csv"
    printf 'bench: wrk %-5s %-22s c=%-3s %9s req/s  p50 %7s ms  p99 %8s ms  non-2xx %s\n' \
        "$setup" "$op" "$conns" "$rps" "$p50" "$p99" "$non2xx"
}

# --- memory ------------------------------------------------------------------------------------------
echo "phase,process,pid,rss_kb" >"$OUT/memory.csv"
# rss_snapshot PHASE: the RSS of every process of the cluster: each pid file names a
# process group (deploy/service.sh), whose members are a pool's multiwatch and workers,
# nginx's master and worker, Redis, or runsvdir.
rss_snapshot() {
    local phase="$1" f name p
    for f in "$VARD"/run/*.pid; do
        name="$(basename "$f" .pid)"
        for p in $(pgrep -g "$(head -n 1 "$f")"); do
            [[ -r /proc/$p/status ]] || continue
            echo "$phase,$name,$p,$(awk '/^VmRSS/{print $2}' "/proc/$p/status")" >>"$OUT/memory.csv"
        done
    done
}

# --- ceilings (a) nginx return 200, (b) libfcgi + one Redis GET ---------------------------------------
ceiling_start() {
    mkdir -p "$CEIL/tmp"
    chmod 755 "$CEIL"
    cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 \
        -o "$CEIL/ceiling_fcgi" "$HERE/ceiling_fcgi.c" -lfcgi -lhiredis ||
        die "cannot build tests/bench/ceiling_fcgi.c"
    redis-server --port 0 --unixsocket "$CEIL/redis.sock" --unixsocketperm 700 --daemonize yes \
        --pidfile "$CEIL/redis.pid" --logfile "$CEIL/redis.log" --dir "$CEIL" --save "" \
        --appendonly no >"$OUT/logs/ceiling-redis.log" 2>&1 || die "ceiling redis did not start"
    local i
    for ((i = 0; i < 50; i++)); do [[ -S "$CEIL/redis.sock" && -s "$CEIL/redis.pid" ]] && break; sleep 0.1; done
    redis-cli -s "$CEIL/redis.sock" SET bazar:ceiling \
        '{"id":2,"title":"Xen and the Art of Surviving Undergraduate School.","topic":"undergraduate school","price":50.00,"quantity":8,"version":0}' >/dev/null ||
        die "ceiling redis does not answer"
    local -a own=(-M 0600) user="# not root"
    if [[ "$(id -u)" -eq 0 ]]; then
        local grp=nobody
        getent group nogroup >/dev/null 2>&1 && grp=nogroup
        own=(-U nobody -G "$grp" -M 0660)
        user="user nobody $grp;"
        for d in client_body proxy fastcgi uwsgi scgi; do mkdir -p "$CEIL/tmp/$d"; done
        chown -R "nobody:$grp" "$CEIL/tmp"
    fi
    # The FastCGI program runs as root here (like spawn-fcgi without -u); only the socket is
    # handed to the nginx worker user, as deploy/start.sh does.
    spawn-fcgi -s "$CEIL/ceiling.sock" -F 2 -P "$CEIL/spawn.pid" "${own[@]}" -- \
        "$CEIL/ceiling_fcgi" "$CEIL/redis.sock" >"$OUT/logs/ceiling-spawn.log" 2>&1 ||
        die "spawn-fcgi ceiling_fcgi failed: $(cat "$OUT/logs/ceiling-spawn.log")"
    sed -n 's/.*PID: \([0-9][0-9]*\).*/\1/p' "$OUT/logs/ceiling-spawn.log" >"$CEIL/spawn.pid"
    CEIL_PORT="$(pick_port)"
    sed -e "s|@DIR@|$CEIL|g" -e "s|@PORT@|$CEIL_PORT|g" -e "s|@USER_DIRECTIVE@|$user|" \
        "$HERE/ceiling.nginx.conf.in" >"$CEIL/nginx.conf"
    nginx -p "$CEIL/" -c "$CEIL/nginx.conf" -e "$CEIL/nginx.error.log" >"$OUT/logs/ceiling-nginx.log" 2>&1 ||
        die "ceiling nginx did not start: $(cat "$OUT/logs/ceiling-nginx.log")"
    for ((i = 0; i < 50; i++)); do [[ -s "$CEIL/nginx.pid" ]] && break; sleep 0.1; done
    local a b
    a="$(curl -s --max-time 2 "http://127.0.0.1:$CEIL_PORT/return200")"
    b="$(curl -s --max-time 2 "http://127.0.0.1:$CEIL_PORT/fcgi")"
    [[ "$a" == '{"status":"ok"}' && "$b" == '{"id":2,'* ]] || die "ceilings answer wrongly: '$a' '$b'"
    say "ceilings up on :$CEIL_PORT (a) /return200 (b) /fcgi"
}
ceilings() { # CONNS: (a) and (b) right next to the lookup-hit run at the same connection count
    wrk_run ceiling "ceiling-a-return200" "$1" "http://127.0.0.1:$CEIL_PORT/return200"
    wrk_run ceiling "ceiling-b-fcgi-redis" "$1" "http://127.0.0.1:$CEIL_PORT/fcgi"
}

SEED_CSV="$OUT/seed.csv"
seed_tables() { # CACHE
    local op n reqs
    for op in lookup search buy; do
        for n in "${CLIENTS[@]}"; do
            reqs=$REQS
            if [[ $op == buy ]]; then reqs=$BUY_REQS; fi
            client seed --port "$PUB" --op "$op" --clients "$n" --requests "$reqs" --cache "$1" \
                --csv "$SEED_CSV" --max-seconds 120
        done
    done
}

# === 1. ceilings + the 3+3 cluster with the cache on ==============================================
if want main || want memory; then
    if want main; then ceiling_start; fi
    cluster_start c33 on 3 3
    restock
fi
if want main; then
    client seed --port "$PUB" --op buy --clients 2 --requests 20 --csv /dev/null >/dev/null # warm
    wrk_run 3+3 "buy-emptylog" 10 "http://127.0.0.1:$PUB" "$HERE/wrk_buy.lua"
    seed_tables on
    restock
    client hitmiss --port "$PUB" --rounds "$ROUNDS" --csv "$OUT/hitmiss.csv" --max-seconds 180
    for c in 1 16 64; do
        [[ " ${CONNS[*]} " == *" $c "* ]] || continue
        client seed --port "$PUB" --op lookup --clients 1 --requests 14 --csv /dev/null >/dev/null # warm
        ceilings "$c"
        wrk_run 3+3 lookup-hit "$c" "http://127.0.0.1:$PUB/bazar/info/2"
        wrk_run 3+3 search "$c" "http://127.0.0.1:$PUB/bazar/search/distributed%20systems"
        restock
        wrk_run 3+3 buy "$c" "http://127.0.0.1:$PUB" "$HERE/wrk_buy.lua"
    done
    restock
    wrk_run 3+3 "buy-c10" 10 "http://127.0.0.1:$PUB" "$HERE/wrk_buy.lua"
    wait_converged
    orders="$(icurl "http://127.0.0.1:$INT/status" | "$PY" -c \
        'import json,sys; print(max(r["applied"] for r in json.load(sys.stdin)["order"]["replicas"]))' || echo 0)"
    echo "order_log_entries_after=$orders" >>"$OUT/meta.env"
fi
if [[ $MODE == full ]] && want memory; then
    # Memory: RSS before, after a first part of a bounded mixed load, after the rest. The
    # first part runs MIXED_SECS/2; the second is sized from its rate to reach MIXED_REQS in
    # all, and never runs longer than MIXED_SECS.
    restock
    rss_snapshot before
    BENCH_BUY_PCT=2 DUR=$((MIXED_SECS / 2)) wrk_run 3+3 mixed-1 16 "http://127.0.0.1:$PUB" "$HERE/wrk_mixed.lua"
    rss_snapshot half
    IFS=, read -r _ _ _ rate _ _ _ done1 _ < <(tail -1 "$OUT/throughput.csv")
    rest="$(awk -v n="$MIXED_REQS" -v d="$done1" -v r="$rate" -v cap="$MIXED_SECS" \
        'BEGIN { s = r > 0 ? (n - d) / r : 1; s = s < 1 ? 1 : s; s = s > cap ? cap : s; printf "%d", s + 0.999 }')"
    restock
    BENCH_BUY_PCT=2 DUR=$rest wrk_run 3+3 mixed-2 16 "http://127.0.0.1:$PUB" "$HERE/wrk_mixed.lua"
    rss_snapshot after
fi
if want main || want memory; then
    wait_converged
    icurl "http://127.0.0.1:$INT/status" >"$OUT/status-c33.json" || true
    cluster_stop
fi

# === 2. the 3+3 cluster with the cache off =========================================================
if want cacheoff || { [[ $MODE == full ]] && want scale; }; then
    cluster_start c33off off 3 3
fi
if want cacheoff; then
    restock
    seed_tables off
    for c in "${CONNS[@]}"; do
        wrk_run 3+3 lookup-nocache "$c" "http://127.0.0.1:$PUB/bazar/info/2"
    done
fi
if [[ $MODE == full ]] && want scale; then
    # === 3. scale: a generated catalog imported on first start, next to the 7-book one =======
    # Both clusters (cache off) run at once and the runs alternate, three rounds, so that
    # other load on the machine hits both sides alike; the report takes the median.
    echo "import_s_7=$("$PY" "$HERE/init_time.py" "$VARD")" >>"$OUT/meta.env"
    SMALL_PUB=$PUB SMALL_VARD=$VARD
    TSV="$STATE/books-$SCALE_BOOKS.tsv"
    "$PY" "$HERE/gen_books.py" "$SCALE_BOOKS" "$REPO/catalog/books.tsv" >"$TSV"
    cluster_start c33big off 3 3 "seed_file = $TSV"
    echo "import_s_big=$("$PY" "$HERE/init_time.py" "$VARD")" >>"$OUT/meta.env"
    echo "scale_books=$SCALE_BOOKS" >>"$OUT/meta.env"
    echo "scale_db_bytes=$(stat -c %s "$VARD/data/catalog-1.db")" >>"$OUT/meta.env"
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PUB/bazar/info/$((SCALE_BOOKS - 1))")"
    [[ "$code" == 200 ]] || die "book $((SCALE_BOOKS - 1)) of the imported catalog answers $code"
    for _ in 1 2 3; do
        for side in "$SMALL_PUB 7 7books" "$PUB $SCALE_BOOKS ${SCALE_BOOKS}books"; do
            read -r p books label <<<"$side"
            BENCH_BOOKS=$books DUR=3 wrk_run "$label" lookup-nocache-rand 16 \
                "http://127.0.0.1:$p" "$HERE/wrk_lookup.lua"
            DUR=3 wrk_run "$label" search-nocache 16 \
                "http://127.0.0.1:$p/bazar/search/distributed%20systems"
        done
    done
    cluster_stop
    VARD=$SMALL_VARD
fi
if want cacheoff || { [[ $MODE == full ]] && want scale; }; then
    cluster_stop
fi

if [[ $MODE == full ]] && want small; then
    # === 4. purchases on 1+1 replicas (against 3+3 above) ==========================================
    cluster_start c11 on 1 1
    restock
    client seed --port "$PUB" --op buy --clients 2 --requests 20 --csv /dev/null >/dev/null # warm
    wrk_run 1+1 "buy-c10" 10 "http://127.0.0.1:$PUB" "$HERE/wrk_buy.lua"
    restock
    wrk_run 1+1 buy 1 "http://127.0.0.1:$PUB" "$HERE/wrk_buy.lua"
    cluster_stop
fi

# kill_replica SERVICE N: a crash of replica N of the current cluster that stays a crash:
# runit is told to leave both pools down once they exit (sv once; it has taken the command
# when byte 17 of its status file, "want", is "d"), then every process of their process
# groups (the group ids in their pid files) gets SIGKILL. deploy/start.sh brings them back.
kill_replica() {
    local svc="$1" n="$2" name d p i pids=() alive
    for name in "$svc-$n" "$svc-$n.peer"; do
        d="$VARD/sv/$name"
        sv once "$d" >/dev/null || die "sv once $d failed"
        for ((i = 0; i < 50; i++)); do
            [[ "$(dd if="$d/supervise/status" bs=1 skip=17 count=1 2>/dev/null)" == d ]] && break
            sleep 0.1
        done
        ((i < 50)) || die "runsv of $name did not take sv once within 5 s"
        p="$(head -n 1 "$VARD/run/$name.pid" 2>/dev/null | tr -dc 0-9)"
        [[ -n "$p" ]] && ((p > 1)) || die "no process group in $VARD/run/$name.pid"
        for i in $(pgrep -g "$p"); do pids+=("$i"); done
        # The group's leader (multiwatch) first: killed after a child, it could fork a
        # replacement that no list holds.
        kill -KILL "$p" 2>/dev/null || true
    done
    ((${#pids[@]})) || die "no live $svc-$n process in its process groups"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive=0
        for p in "${pids[@]}"; do
            if [[ -r /proc/$p/stat && "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ]]; then
                alive=1
            fi
        done
        ((alive)) || return 0
        sleep 0.1
    done
    die "$svc-$n: pids ${pids[*]} still alive 5 s after SIGKILL"
}
# conf_int KEY DEFAULT: an integer setting of the current cluster's bazar.conf (the last line
# wins, as for the programs), DEFAULT (fcgi/fcgi_config.c's) when it is not set.
conf_int() {
    local v
    v="$(sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\([0-9][0-9]*\).*/\1/p" "$VARD/bazar.conf" | tail -1)"
    echo "${v:-$2}"
}

if want catchup; then
    # === 5. catch-up: a catalog backup is killed, misses CATCHUP_WRITES writes, is restarted ===
    # Timed from the restart command (deploy/start.sh, which respawns only the dead pools) to
    # the moment the replica's /state position equals the primary's (polled every 20 ms). The
    # writes stay within log_retention, so this is log replay, not a snapshot install.
    cluster_start c33cu on 3 3
    prim="$(rstate primary --service catalog)" || die "no catalog primary"
    victim=3
    if ((prim == 3)); then victim=2; fi
    rstate agree --service catalog >/dev/null || die "catalog replicas do not agree before the catch-up run"
    before="$(rstate applied --service catalog --replica "$victim")"
    kill_replica catalog "$victim"
    say "catch-up: catalog-$victim killed at position $before; $CATCHUP_WRITES restocks through the API"
    wout="$(client writes --port "$PUB" --token-file "$TOKEN" --count "$CATCHUP_WRITES" \
        --clients "$CATCHUP_CLIENTS" --max-seconds "$CATCHUP_SECS")" || die "catch-up writes failed: $wout"
    echo "$wout"
    target="$(rstate applied --service catalog --replica "$prim")"
    missed=$((target - before))
    ret="$(conf_int log_retention 50000)"
    ((missed < ret)) || say "warning: $missed missed entries >= log_retention $ret: a snapshot, not log replay"
    {
        echo "catchup_writes=$missed"
        echo "catchup_victim=$victim"
        echo "catchup_before=$before"
        echo "catchup_clients=$CATCHUP_CLIENTS"
        echo "catchup_requested=$CATCHUP_WRITES"
        echo "catchup_write_rate=$(sed -n 's/.*rate=\([0-9.]*\).*/\1/p' <<<"$wout")"
        echo "catchup_retention=$ret"
        echo "catchup_heartbeat_ms=$(conf_int heartbeat_ms 100)"
    } >>"$OUT/meta.env"
    cout="$(rstate catchup --service catalog --replica "$victim" --target "$target" --max-seconds 60 \
        --log "$OUT/logs/restart-c33cu.log" -- env "${CL_ENV[@]}" bash "$REPO/deploy/start.sh")" ||
        die "catch-up did not complete: $cout"
    echo "$cout" >>"$OUT/meta.env"
    say "catch-up: $(tr '\n' ' ' <<<"$cout")"
    cluster_stop
fi

if [[ $MODE == full ]] && want bigorders; then
    # === 6. purchases with BIG_ORDERS orders in the order log, against an empty log =========
    # 1,000,000 purchases through the API would take about an hour here, so the cluster is
    # stopped and tests/bench/fill_orders.py writes them into every order and catalog replica
    # as applying their log entries would (rows, log tail within log_retention, positions).
    # One backup is left SHORT purchases short and must replay them from the primary's log,
    # and every replica's hash must agree: that checks the written state. Then the filled cluster and a fresh one (empty log) run at once; buys at 10
    # connections alternate, three rounds.
    cluster_start c33bo on 3 3
    restock
    wait_converged
    short=3 SHORT=1000
    for svc in order catalog; do
        p="$(rstate primary --service "$svc")" || die "no $svc primary"
        if ((p == 3)); then short=2; fi
    done
    BO_ENV=("${CL_ENV[@]}") BO_PUB=$PUB BO_VARD=$VARD
    cluster_stop
    t0=$(date +%s.%N)
    "$PY" "$HERE/fill_orders.py" "$VARD" "$BIG_ORDERS" --retention "$(conf_int log_retention 50000)" --short "$short:$SHORT" \
        >"$OUT/logs/fill-orders.log" 2>&1 || die "fill_orders failed: $(cat "$OUT/logs/fill-orders.log")"
    t1=$(date +%s.%N)
    cat "$OUT/logs/fill-orders.log"
    env "${BO_ENV[@]}" bash "$REPO/deploy/start.sh" >"$OUT/logs/start-c33bo-filled.log" 2>&1 ||
        die "the filled cluster did not start: $(tail -20 "$OUT/logs/start-c33bo-filled.log")"
    t2=$(date +%s.%N)
    load_secret
    # The short backup must replay exactly what it misses: from its filled position to the
    # primary's position now (the fill's SHORT entries, the order sweep's entry, and the no-op
    # of the election that a restarted cluster holds), with no snapshot.
    fill_pos() { sed -n "s/^fill_orders: $1 at position \([0-9]*\).*/\1/p" "$OUT/logs/fill-orders.log"; }
    for svc in order catalog; do
        rstate agree --service "$svc" --max-seconds 60 >/dev/null ||
            die "$svc replicas disagree after the fill"
        p="$(rstate primary --service "$svc")" || die "no $svc primary after the fill"
        want=$(($(rstate applied --service "$svc" --replica "$p") - $(fill_pos "$svc-$short")))
        ((want >= SHORT)) || die "$svc: the short backup misses $want entries, fewer than $SHORT"
        rstate agree --service "$svc" --expect-replayed "$short:$want" --max-seconds 60 ||
            die "$svc replicas disagree after the fill"
    done
    {
        echo "big_orders=$BIG_ORDERS"
        echo "bigorders_fill_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')"
        echo "bigorders_start_s=$(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.1f", b-a}')"
        echo "bigorders_order_db_bytes=$(stat -c %s "$VARD/data/order-1.db")"
        echo "bigorders_catalog_db_bytes=$(stat -c %s "$VARD/data/catalog-1.db")"
        echo "bigorders_order_applied=$(rstate applied --service order --replica 1)"
        echo "bigorders_verified=yes"
        echo "bigorders_short=$SHORT"
    } >>"$OUT/meta.env"
    cluster_start c33e on 3 3
    restock
    E_PUB=$PUB
    for p in "$BO_PUB" "$E_PUB"; do
        client seed --port "$p" --op buy --clients 2 --requests 20 --csv /dev/null >/dev/null # warm
    done
    for _ in 1 2 3; do
        wrk_run bigorders "buy-c10" 10 "http://127.0.0.1:$BO_PUB" "$HERE/wrk_buy.lua"
        wrk_run emptylog "buy-c10" 10 "http://127.0.0.1:$E_PUB" "$HERE/wrk_buy.lua"
    done
    cluster_stop
    VARD=$BO_VARD
    cluster_stop
fi

if [[ $MODE == full ]] && want pages; then
    # === 7. catalog pages: GET /bazar/books and GET /bazar/topics on SCALE_BOOKS books ======
    # A generated catalog of topics of 1,000 books each (100 topics at 100,000 books), imported
    # on first start; one connection, the request kinds of tests/bench/pages.py in turn (page
    # sorts, a topic, q, /bazar/topics), each answer checked. Not in --smoke: the import alone
    # takes longer than the smoke run may.
    per_topic=$((SCALE_BOOKS >= 20000 ? 1000 : 100))
    ((SCALE_BOOKS >= 3 * per_topic)) || die "BENCH_SCALE_BOOKS must be at least 300 for the pages section"
    TSV="$STATE/books-$SCALE_BOOKS-pages.tsv"
    "$PY" "$HERE/gen_books.py" "$SCALE_BOOKS" "$REPO/catalog/books.tsv" "$per_topic" >"$TSV"
    cluster_start c33pages on 3 3 "seed_file = $TSV"
    {
        echo "pages_books=$SCALE_BOOKS"
        echo "pages_per_topic=$per_topic"
        echo "pages_db_bytes=$(stat -c %s "$VARD/data/catalog-1.db")"
    } >>"$OUT/meta.env"
    "$PY" "$HERE/pages.py" --port "$PUB" --books "$SCALE_BOOKS" --per-topic "$per_topic" \
        --requests "$PAGE_REQS" --csv "$OUT/pages.csv" || die "catalog pages failed or answered wrongly"
    cluster_stop
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.env"
echo "elapsed_s=$((SECONDS - T_START))" >>"$OUT/meta.env"

# === report ============================================================================================
"$PY" "$HERE/report.py" "$OUT"
