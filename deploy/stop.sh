#!/usr/bin/env bash
# Stops everything one Bazar host started under $BAZAR_VAR: every runit service, then runsvdir;
# processes are found by pid file and process group only. Safe to run twice.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -d "$RUN" ]] || {
    info "nothing to stop under $VAR"
    exit 0
}

stopped=()
shopt -s nullglob
# Every service directory, including those of a larger topology than the current one: nginx
# first so no new request reaches a pool that is going away, then the front end, order and
# catalog replicas, Redis last.
mapfile -t order < <(
    for d in "$SV"/*/; do basename "$d"; done |
        awk '{ r = ($1 == "nginx") ? 0 : ($1 ~ /^frontend/) ? 1 : ($1 ~ /^order-/) ? 2 : ($1 ~ /^catalog-/) ? 3 : 4
               print r, $1 }' | sort -k1,1n -k2,2 | cut -d' ' -f2
)

# stop_service NAME: down (TERM: nginx's fast shutdown; multiwatch passes TERM to each child,
# which finishes its request), KILL after 10 s; then the process group must be empty.
stop_service() {
    local name="$1" group p i
    group="$(read_pids "$RUN/$name.pid" | head -n 1)"
    if [[ "$(sv_state "$name")" != none ]]; then
        sv -w 10 force-stop "$SV/$name" >/dev/null 2>&1 || true
    fi
    # Left in the group (a crash orphaned them, or runsv was gone): TERM, then KILL.
    for ((i = 0; i < 70; i++)); do
        p="$(group_pids "$group")"
        [[ -z "$p" ]] && break
        # shellcheck disable=SC2086  # one pid per word
        if ((i == 0)); then kill -TERM $p 2>/dev/null || true; elif ((i == 50)); then kill -KILL $p 2>/dev/null || true; fi
        sleep 0.1
    done
    rm -f "$RUN/$name.pid" "$RUN/$name.sock"
}
# runsvdir first: it would start a new runsv for every one that exits below (each runsv
# runs in a session of its own and goes on supervising without it).
if [[ -e "$RUN/runsvdir.pid" ]]; then
    if runsvdir_alive; then stopped+=(runsvdir); fi
    kill_pidfile "$RUN/runsvdir.pid" runsvdir
fi
# Then held down, so that runsv starts none of them again while the others stop.
for s in "${order[@]}"; do
    if [[ -n "$(service_pids "$s")" ]]; then stopped+=("$s"); fi
    if [[ "$(sv_state "$s")" != none ]]; then sv down "$SV/$s" >/dev/null 2>&1 || true; fi
done
for s in "${order[@]}"; do stop_service "$s"; done
# And each runsv exits once its service is down.
for s in "${order[@]}"; do
    if [[ "$(sv_state "$s")" != none ]]; then sv exit "$SV/$s" >/dev/null 2>&1 || true; fi
done
for ((i = 0; i < 50; i++)); do
    left=0
    for s in "${order[@]}"; do [[ "$(sv_state "$s")" == none ]] || left=1; done
    ((left)) || break
    sleep 0.1
done
# Whatever an older, unsupervised Bazar left running.
mapfile -t old < <(stop_unsupervised)
stopped+=("${old[@]}")
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
