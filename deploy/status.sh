#!/usr/bin/env bash
# Prints one line per component of this Bazar host (name, state, pids); exit 0 if all run, else 3.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bad=0
show() { # NAME PIDFILE COMM [SOCKET]
    local name="$1" pidf="$2" comm="$3" sock="${4:-}" state pids live
    pids="$(read_pids "$pidf" | tr '\n' ' ')"
    live="$(live_pids "$pidf" "$comm" | tr '\n' ' ')"
    if [[ -z "$pids" ]]; then
        state=stopped
    elif [[ "$pids" == "$live" ]]; then
        state=running
        if [[ -n "$sock" && ! -S "$sock" ]]; then state="running (socket $sock missing)"; fi
    elif [[ -z "$live" ]]; then
        state=dead
    else
        state="degraded (alive: ${live% })"
    fi
    [[ "$state" == running ]] || bad=1
    printf '%-18s %-9s pids: %s\n' "$name" "$state" "${pids:--}"
}

if has_role redis; then show redis "$RUN/redis.pid" redis-server "$RUN/redis.sock"; fi
while read -r name _ prog _; do
    if ((TCP)); then sock=""; else sock="$RUN/$name.sock"; fi
    show "$name" "$RUN/$name.pid" "$prog" "$sock"
done < <(pools)
show nginx "$RUN/nginx.pid" nginx

health() { # LABEL URL
    local code state
    code="$(http_code "$2")"
    if [[ "$code" == 200 ]]; then state=ok; else state="http $code" bad=1; fi
    printf '%-18s %-9s %s\n' "$1" "$state" "$2"
}
# On a cluster host, each local replica's own health; on the front-end host the public one.
if [[ "$BAZAR_ROLES" != all ]]; then
    for svc in catalog order; do
        for ((n = 1; n <= $(replica_count $svc); n++)); do
            if has_role "$svc:$n"; then health "$svc-$n health" "$INTERNAL_URL/replica/$svc/$n/health"; fi
        done
    done
fi
if has_role frontend; then health health "$PUBLIC_URL/health"; fi
if ((bad)); then
    exit 3
fi
