#!/usr/bin/env bash
# Re-renders the configuration and gracefully reloads nginx (e.g. after editing upstreams.conf).
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Keeps an edited upstreams.conf unless the topology changed (see deploy/render.sh).
bash "$DEPLOY/render.sh"

out="$LOGDIR/nginx.reload.log"
if ! nginx_cmd -t </dev/null >"$out" 2>&1; then
    cat "$out" >&2
    die "nginx rejected $NGINX_CONF (or a file it includes, e.g. $VAR/nginx/upstreams.conf); nothing reloaded"
fi
if ! pids_alive "$RUN/nginx.pid" nginx; then
    die "configuration is valid but nginx is not running under $VAR: use 'make start'"
fi
master="$(read_pids "$RUN/nginx.pid" | head -n 1)"
workers() { group_pids "$master" | grep -vx "$master" || true; }
old="$(workers)"
nginx_cmd -s reload </dev/null >"$out" 2>&1 || {
    cat "$out" >&2
    die "nginx -s reload failed"
}
# The master reloads after this command returns: until it has started new workers and
# every old one has finished its requests and exited, a request may still be served
# with the old configuration. Wait for that, so that what follows sees the new one.
fresh="" stale=""
for ((i = 0; i < 100; i++)); do
    now="$(workers)"
    fresh="$(comm -13 <(sort <<<"$old") <(sort <<<"$now") | grep . || true)"
    stale="$(comm -12 <(sort <<<"$old") <(sort <<<"$now") | grep . || true)"
    [[ -n "$fresh" && -z "$stale" ]] && break
    sleep 0.1
done
if [[ -z "$fresh" ]]; then
    die "nginx kept its old configuration (no new worker after 10 s): see $NGINX_ERROR_LOG"
fi
if [[ -n "$stale" ]]; then
    info "nginx reloaded (pid $master); $(wc -l <<<"$stale") old worker(s) still finishing requests"
else
    info "nginx reloaded (pid $master); configuration test passed, every worker runs it"
fi
while read -r name _ _ _; do
    [[ "$(sv_state "$name")" == run ]] ||
        warn "pool $name is not running (new topology?): 'make start' spawns it"
done < <(pools)
