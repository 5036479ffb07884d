#!/usr/bin/env bash
# Valgrind memcheck of one service under load: starts a 1 catalog + 1 order cluster
# (cache off, so every lookup reaches the catalog), replaces the catalog-1 client pool by
# two bin/catalog processes under spawn-fcgi running under
#   valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect
# on the same socket, sends a short bounded load (lookups, searches, restocks,
# purchases, bad input), stops them (SIGTERM: they exit and valgrind reports) and the
# cluster, and fails unless every valgrind log says "ERROR SUMMARY: 0 errors" (memory
# errors, definite and indirect leaks all count).
# Usage: bash tests/valgrind/run.sh        (from anywhere; needs `make` first)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
command -v valgrind >/dev/null || bash "$REPO/deploy/deps.sh" valgrind
root="$(mktemp -d /tmp/bzvg.XXXXXX)"
chmod 755 "$root"
logs="$root/valgrind"
mkdir -p "$logs"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pub="$(port)"; int="$(port)"
while [[ "$int" == "$pub" ]]; do int="$(port)"; done
export BAZAR_VAR="$root/var" BAZAR_BIN="$REPO/bin" BAZAR_PUBLIC_PORT="$pub" BAZAR_INTERNAL_PORT="$int"
export BAZAR_CATALOG_REPLICAS=1 BAZAR_ORDER_REPLICAS=1 BAZAR_CACHE=off BAZAR_LISTEN=127.0.0.1
vgpids="$root/valgrind.pid"
stop_vg() { # SIGTERM to the valgrind'd pool (by pid), bounded wait for it to exit
    local p
    [[ -s "$vgpids" ]] || return 0
    for p in $(cat "$vgpids"); do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 300); do
        local alive=0
        for p in $(cat "$vgpids"); do
            if [[ -r /proc/$p/stat ]] && ! grep -q ') Z' "/proc/$p/stat"; then alive=1; fi
        done
        ((alive)) || break
        sleep 0.1
    done
    : >"$vgpids"
}
cleanup() {
    stop_vg
    bash "$REPO/deploy/stop.sh" >/dev/null 2>&1 || true
    [[ -n "${BAZAR_KEEP_VAR:-}" ]] || rm -rf "$root"
}
trap cleanup EXIT

echo "valgrind: starting a 1+1 cluster ($root)"
bash "$REPO/deploy/start.sh" >"$root/start.out" 2>&1 || { cat "$root/start.out"; exit 1; }
run="$BAZAR_VAR/run"
sock="$run/catalog-1.sock"
opts=(-s "$sock" -F 2 -P "$vgpids")
if [[ "$(id -u)" -eq 0 ]]; then # as deploy/start.sh: the socket belongs to nginx's user
    opts+=(-U "$(stat -c %U "$sock")" -G "$(stat -c %G "$sock")" -M "0$(stat -c %a "$sock")")
fi
# runit takes the supervised pool down (TERM) and leaves it down; this script's own
# spawn-fcgi pool, under valgrind, takes its socket.
sv down "$BAZAR_VAR/sv/catalog-1" >/dev/null
old="$(head -n 1 "$run/catalog-1.pid")"
for _ in $(seq 1 100); do # bounded wait for the old pool to go
    [[ -z "$(pgrep -g "$old")" ]] && break
    sleep 0.1
done
rm -f "$sock"
spawn-fcgi "${opts[@]}" -- "$(command -v valgrind)" --leak-check=full \
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
    --log-file="$logs/catalog.%p.log" "$REPO/bin/catalog" -c "$BAZAR_VAR/bazar.conf" -r 1 \
    >"$root/spawn.out" 2>&1 || { cat "$root/spawn.out"; exit 1; }
sed -n 's/.*PID: \([0-9][0-9]*\).*/\1/p' "$root/spawn.out" >"$vgpids"
echo "valgrind: catalog-1 client pool now under valgrind: pids $(tr '\n' ' ' <"$vgpids")"
sleep 2
base="http://127.0.0.1:$pub"
token="$(cat "$BAZAR_VAR/admin.token")"
for _ in $(seq 1 100); do # bounded wait for /health
    curl -fsS -m 5 "$base/health" >/dev/null 2>&1 && break
    sleep 0.2
done
t0=$SECONDS
n=0
for i in $(seq 1 60); do # bounded load: 60 rounds of 6 requests
    curl -sS -m 10 -o /dev/null "$base/bazar/info/$((i % 7))"
    curl -sS -m 10 -o /dev/null "$base/bazar/search/distributed%20systems"
    curl -sS -m 10 -o /dev/null "$base/bazar/info/all"
    curl -sS -m 10 -o /dev/null "$base/bazar/info/%ff"
    curl -sS -m 10 -o /dev/null -X POST -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d '{"count":1}' "$base/bazar/books/$((i % 7))/restock"
    curl -sS -m 10 -o /dev/null -X POST -H "Idempotency-Key: vg-$i" "$base/bazar/purchase/$((i % 7))"
    n=$((n + 6))
    ((SECONDS - t0 < 120)) || break
done
ok="$(curl -sS -m 10 -o /dev/null -w '%{http_code}' "$base/bazar/info/1")"
echo "valgrind: sent $n requests in $((SECONDS - t0)) s (last lookup: $ok); stopping"
[[ "$ok" == 200 ]] || { echo "valgrind: the cluster stopped answering"; exit 1; }
stop_vg

status=0
shopt -s nullglob
files=("$logs"/catalog.*.log)
((${#files[@]} >= 2)) || { echo "valgrind: expected a log per catalog process, got ${#files[@]}"; exit 1; }
for f in "${files[@]}"; do
    # --errors-for-leak-kinds: a definite or indirect leak counts as an error. The
    # summary is written at exit, so its presence also shows the process exited cleanly.
    if ! grep -q 'ERROR SUMMARY: 0 errors' "$f"; then
        echo "valgrind: errors or no summary in $f:"
        grep -v '^==[0-9]*== *$' "$f" | head -80
        status=1
    else
        echo "valgrind: $(basename "$f"): $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$f");" \
            "$(grep -oE 'definitely lost: [0-9,]+ bytes|no leaks are possible' "$f" | head -1)"
    fi
done
if ((status == 0)); then
    echo "valgrind: ${#files[@]} catalog processes, no errors and no leaks"
fi
exit "$status"
