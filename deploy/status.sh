#!/usr/bin/env bash
# Prints one line per component of this Bazar host (name, runit state, pids); exit 0 if all run, else 3.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bad=0
# show NAME: runit's state of the service and the pids of its process group; "running" needs
# runsv to say run and the group to be complete (a pool: multiwatch and every child).
show() {
    local name="$1" state pids want n
    pids="$(service_pids "$name" | tr '\n' ' ')"
    n="$(wc -w <<<"$pids")"
    case "$(sv_state "$name")" in
    run)
        case "$name" in
        redis | nginx) want=1 ;;
        *) want="$(($(pools | awk -v s="$name" '$1 == s {print $2}') + 1))" ;;
        esac
        if ((n >= want)); then state=running; else state="restarting ($n of $want processes)"; fi
        if [[ "$name" != nginx ]] && ((!TCP)) || [[ "$name" == redis ]]; then
            [[ -S "$RUN/$name.sock" ]] || state="running (socket $RUN/$name.sock missing)"
        fi
        ;;
    down) if [[ -n "$pids" ]]; then state="stopping"; else state=down; fi ;;
    *) if [[ -n "$pids" ]]; then state="unsupervised"; else state=stopped; fi ;;
    esac
    [[ "$state" == running ]] || bad=1
    printf '%-18s %-9s pids: %s\n' "$name" "$state" "${pids:--}"
}

if runsvdir_alive; then
    printf '%-18s %-9s pids: %s\n' runsvdir running "$(read_pids "$RUN/runsvdir.pid")"
else
    printf '%-18s %-9s pids: -\n' runsvdir stopped
    bad=1
fi
while read -r name; do show "$name"; done < <(services | tac)

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
