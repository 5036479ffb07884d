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
nginx_cmd -s reload </dev/null >"$out" 2>&1 || {
    cat "$out" >&2
    die "nginx -s reload failed"
}
info "nginx reloaded (pid $(read_pids "$RUN/nginx.pid")); configuration test passed"
while read -r name _ _ _; do
    [[ "$(sv_state "$name")" == run ]] ||
        warn "pool $name is not running (new topology?): 'make start' spawns it"
done < <(pools)
