#!/usr/bin/env bash
# Prints the default upstreams.conf (nginx/upstreams.conf.in) for the current topology:
# unix sockets on one host, HOST:PORT of every replica on a cluster. deploy/render.sh writes
# it once per topology; deploy/cluster writes the cluster's one copy the operator edits.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

servers() { # SERVICE
    local n
    for ((n = 1; n <= $(replica_count "$1"); n++)); do
        echo "    server $(pool_addr "$1-$n") max_fails=1 fail_timeout=3s;"
    done
}
if ((TCP)); then
    where="hosts catalog=${BAZAR_CATALOG_HOSTS// /,} order=${BAZAR_ORDER_HOSTS// /,}"
    frontend_servers="$(for h in "${FRONTEND_HOSTS[@]}"; do
        echo "    server $(pool_addr frontend "$h");"
    done)"
else
    where="var=$VAR"
    frontend_servers="    server $(pool_addr frontend);"
fi
subst "$REPO/nginx/upstreams.conf.in" \
    WHERE="$where" \
    CATALOG_REPLICAS="$BAZAR_CATALOG_REPLICAS" \
    ORDER_REPLICAS="$BAZAR_ORDER_REPLICAS" \
    FRONTEND_SERVERS="$frontend_servers" \
    CATALOG_SERVERS="$(servers catalog)" \
    ORDER_SERVERS="$(servers order)"
