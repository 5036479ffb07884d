#!/usr/bin/env bash
# runit's run script for one component of a Bazar host (each $SV/NAME/run execs this with
# NAME): it clears what a crashed previous run left behind, puts the component in a process
# group of its own, records that group in $RUN/NAME.pid and execs the component in the
# foreground, so that runsv sees it die and starts it again (README, "Supervision").
#
#   redis      redis-server, not daemonized
#   nginx      nginx with "daemon off" (its master restarts its own workers)
#   POOL       spawn-fcgi -n binds the pool's socket and execs multiwatch, which forks the
#              pool's children and forks a new one whenever one dies
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

name="${1:?usage: service.sh NAME}"
pidf="$RUN/$name.pid"

case "$name" in
redis) comms=(redis-server) out="$LOGDIR/redis.stdout.log" ;;
nginx) comms=(nginx) out="$LOGDIR/nginx.stdout.log" ;;
*)
    read -r _ children prog replica < <(pools | awk -v n="$name" '$1 == n') ||
        die "service.sh: $name is neither redis, nginx nor a pool of this host"
    comms=(multiwatch "$prog") out="$LOGDIR/spawn-$name.log"
    ;;
esac
exec >>"$out" 2>&1 </dev/null
printf '%s bazar: starting %s (run script pid %s)\n' "$(date -u +%FT%TZ)" "$name" "$$"

# reap_leftovers: the previous run's group may outlive its leader: nginx workers whose
# master was killed, or a pool's children whose multiwatch was killed. They still hold
# the listening socket, so nothing new could bind it. Only processes in that group with
# one of this component's command names are signalled: TERM (nginx: QUIT) lets them
# finish the request in hand, KILL follows after 5 s.
reap_leftovers() {
    local old left p c i sig=TERM
    old="$(read_pids "$pidf" | head -n 1)"
    [[ -n "$old" ]] || return 0
    [[ "$name" != nginx ]] || sig=QUIT
    for ((i = 0; i < 60; i++)); do
        left=()
        for p in $(group_pids "$old"); do
            c="$(cat "/proc/$p/comm" 2>/dev/null)" || continue
            if [[ " ${comms[*]} " == *" $c "* ]]; then left+=("$p"); fi
        done
        ((${#left[@]})) || return 0
        if ((i == 0)); then
            printf 'bazar: %s: %s left over from the last run (group %s): %s\n' \
                "$name" "${#left[@]}" "$old" "${left[*]}"
            kill "-$sig" "${left[@]}" 2>/dev/null || true
        elif ((i == 50)); then
            kill -KILL "${left[@]}" 2>/dev/null || true
        fi
        sleep 0.1
    done
}
reap_leftovers
echo "$$" >"$pidf"

case "$name" in
redis)
    rm -f "$RUN/redis.sock"
    exec chpst -P redis-server "$VAR/redis.conf" --daemonize no
    ;;
nginx)
    exec chpst -P nginx -p "$NGINX_PREFIX" -c "$NGINX_CONF" -e "$NGINX_ERROR_LOG"
    ;;
esac

# A pool: unix socket (or the host's TCP port in a cluster), then multiwatch with the
# pool's children; TERM to multiwatch (sv down) becomes TERM to each child, which
# finishes its request and exits. multiwatch gives up a child that died four times, each
# within its retry timeout (-t) of being started, and the pool would run short for good:
# a program whose start-up fails waits 1 s before it exits (fcgi_service_fail), longer than
# -t 500, so a passing fault is retried once a second for as long as it lasts.
sock="$RUN/$name.sock"
rm -f "$sock"
opts=(-n)
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
exec chpst -P spawn-fcgi "${opts[@]}" -- "$(command -v multiwatch)" -f "$children" -t 500 -s TERM -- "${cmd[@]}"
