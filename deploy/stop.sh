#!/usr/bin/env bash
# Stops everything one Bazar host started under $BAZAR_VAR, by pid file only; safe to run twice.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -d "$RUN" ]] || {
    info "nothing to stop under $VAR"
    exit 0
}

stopped=()
stop_one() { # PIDFILE COMM LABEL
    if [[ -e "$1" ]]; then
        if [[ -n "$(live_pids "$1" "$2")" ]]; then stopped+=("$3"); fi
        kill_pidfile "$1" "$2"
    fi
}

# nginx first so no new request reaches a pool that is going away. TERM is nginx's fast
# shutdown; the master stops its workers itself.
stop_one "$RUN/nginx.pid" nginx nginx

# Then every FastCGI pool that has a pid file - including pools of a larger topology than
# the current one - front end first, then order, then catalog.
shopt -s nullglob
for pidf in "$RUN"/frontend.pid "$RUN"/order-*.pid "$RUN"/catalog-*.pid; do
    name="$(basename "$pidf" .pid)"
    prog="${name%%-*}"
    stop_one "$pidf" "$prog" "$name"
    rm -f "$RUN/$name.sock"
done

stop_one "$RUN/redis.pid" redis-server redis
rm -f "$RUN/redis.sock"

# Sockets left by pools that are gone (crashed, or pid file removed by hand).
for sock in "$RUN"/*.sock; do
    name="$(basename "$sock" .sock)"
    [[ -e "$RUN/$name.pid" ]] || rm -f "$sock"
done

if ((${#stopped[@]})); then
    info "stopped ${stopped[*]}"
else
    info "nothing was running under $VAR"
fi
