#!/usr/bin/env bash
# Foreground mode for `make run`: starts everything, then stops it all on Ctrl-C or SIGTERM.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sleeper=""
cleanup() {
    trap - INT TERM HUP
    if [[ -n "$sleeper" ]]; then kill "$sleeper" 2>/dev/null || true; fi
    echo
    info "stopping..."
    bash "$DEPLOY/stop.sh" || true
}

trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM HUP

if ! BAZAR_RUN_FOREGROUND=1 bash "$DEPLOY/start.sh"; then
    info "start failed; stopping what did start (logs stay in $LOGDIR)"
    trap - INT TERM HUP
    bash "$DEPLOY/stop.sh" || true
    exit 1
fi

cat <<EOF2

Bazar is serving $PUBLIC_URL/   (state and logs: $VAR)  -- Ctrl-C stops everything.

  curl -s $PUBLIC_URL/bazar/search/distributed%20systems
  curl -s $PUBLIC_URL/bazar/info/1
  curl -s -X POST $PUBLIC_URL/bazar/purchase/1 -H 'Idempotency-Key: demo-1'
  curl -s -X PUT $PUBLIC_URL/bazar/books/1/price -H "Authorization: Bearer \$(cat $VAR/admin.token)" -H 'Content-Type: application/json' -d '{"price":39.5}'
  curl -s $INTERNAL_URL/status

EOF2

sleep infinity &
sleeper=$!
wait "$sleeper" || true
# Only reached if the sleep ends without a signal to us (someone killed it).
cleanup
