#!/usr/bin/env bash
# Renders bazar.conf, redis.conf and the nginx configuration under $BAZAR_VAR from the templates.
set -euo pipefail
# shellcheck source=deploy/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# write_atomic OUT MODE: stdin to OUT via a temporary file in the same directory, so a
# reader (nginx reload, a starting program) never sees half a file. An unchanged file is
# left alone; a changed file under nginx/ marks the nginx configuration as changed
# ($NGINX_CHANGED), so deploy/start.sh reloads a running nginx only when there is news.
write_atomic() {
    local out="$1" mode="$2" tmp
    tmp="$(mktemp "$out.XXXXXX")"
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -e "$out" ]] && cmp -s "$tmp" "$out"; then
        rm -f "$tmp"
        chmod "$mode" "$out"
        return 0
    fi
    mv -f "$tmp" "$out"
    if [[ "$out" == "$VAR/nginx/"* ]]; then : >"$NGINX_CHANGED"; fi
}

mkdir -p "$VAR/nginx" "$RUN" "$LOGDIR"
NGINX_CHANGED="$VAR/nginx/.changed"

# The secrets first: redis.conf carries the cluster secret in TCP mode.
# --- admin.token and cluster.secret: 32 random bytes as 64 hex digits, 0600, created once --
# The admin token guards the admin API; the cluster secret goes with every internal call
# (X-Bazar-Secret) and the replicas refuse calls without it. On a cluster, deploy/cluster
# puts the same cluster.secret on every host before this runs.
gen_secret() { # FILE LABEL
    local f="$1"
    if [[ ! -s "$f" ]]; then
        (
            umask 077
            tmp="$(mktemp "$f.XXXXXX")"
            # No trailing newline: the file is the secret, byte for byte.
            od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$tmp"
            chmod 0600 "$tmp"
            mv -f "$tmp" "$f"
        )
        [[ "$(wc -c <"$f")" -eq 64 ]] || die "could not generate $f"
        info "generated $2 in $f"
    else
        chmod 0600 "$f"
    fi
}
gen_secret "$VAR/admin.token" "admin token"
gen_secret "$VAR/cluster.secret" "cluster secret"

# Redis: a unix socket on one host; on a cluster also TCP on the Redis host's address,
# password-protected with the cluster secret (so the rendered file is 0600).
if ((TCP)); then
    redis_addr="$BAZAR_REDIS"
    redis_auth=on
    redis_net="port ${BAZAR_REDIS##*:}
bind ${BAZAR_REDIS%:*}
protected-mode yes
requirepass $(cat "$VAR/cluster.secret")"
else
    redis_addr="unix:$RUN/redis.sock"
    redis_auth=off
    redis_net="port 0"
fi

# --- bazar.conf ---------------------------------------------------------------------------
{
    subst "$DEPLOY/bazar.conf.in" \
        VAR="$VAR" \
        INTERNAL_URL="$INTERNAL_URL" \
        CATALOG_REPLICAS="$BAZAR_CATALOG_REPLICAS" \
        ORDER_REPLICAS="$BAZAR_ORDER_REPLICAS" \
        CACHE="$BAZAR_CACHE" \
        REDIS="$redis_addr" \
        REDIS_AUTH="$redis_auth" \
        SEED_FILE="$REPO/catalog/books.tsv"
    if [[ -n "$BAZAR_CONF_EXTRA" ]]; then
        printf '\n# From BAZAR_CONF_EXTRA:\n%s\n' "$BAZAR_CONF_EXTRA"
    fi
} | write_atomic "$CONF" 0644

# --- redis.conf ---------------------------------------------------------------------------
subst "$DEPLOY/redis.conf.in" VAR="$VAR" REDIS_NET="$redis_net" | write_atomic "$VAR/redis.conf" 0600

# --- nginx.conf -----------------------------------------------------------------------------
if is_root; then
    user_directive="user $RUN_USER $RUN_GROUP;  # workers; the FastCGI sockets are theirs (spawn-fcgi -U/-G)"
else
    user_directive="# (not root: workers run as $(id -un), no user directive)"
fi
# The storefront's static files are served from the repo (edits show on reload of the
# page); when nginx workers run as $RUN_USER and cannot reach them there (a repo under a
# private home directory), from a copy under $VAR/www instead.
www="$REPO/frontend/www"
if is_root; then
    d="$www"
    while [[ "$d" != / ]]; do
        perms="$(stat -c %A "$d")"
        if [[ "${perms:9:1}" != x && "${perms:9:1}" != t ]]; then
            rm -rf "$VAR/www.new"
            cp -R "$REPO/frontend/www" "$VAR/www.new"
            chmod -R a+rX "$VAR/www.new"
            rm -rf "$VAR/www"
            mv "$VAR/www.new" "$VAR/www"
            www="$VAR/www"
            break
        fi
        d="$(dirname "$d")"
    done
fi
# limit_req on purchases and admin writes, per client address: requests per second and
# burst. Generous defaults, far above what the tests and benchmarks send from one address.
limit_rate="${BAZAR_LIMIT_RATE:-2000}"
limit_burst="${BAZAR_LIMIT_BURST:-4000}"
[[ "$limit_rate" =~ ^[1-9][0-9]{0,6}$ ]] || die "BAZAR_LIMIT_RATE must be 1..9999999 (requests/s)"
[[ "$limit_burst" =~ ^[0-9]{1,7}$ ]] || die "BAZAR_LIMIT_BURST must be 0..9999999"
subst "$REPO/nginx/nginx.conf.in" \
    VAR="$VAR" \
    LISTEN_HOST="$LISTEN_HOST" \
    INTERNAL_PORT="$BAZAR_INTERNAL_PORT" \
    USER_DIRECTIVE="$user_directive" \
    LIMIT_RATE="$limit_rate" |
    write_atomic "$NGINX_CONF" 0644
if has_role frontend; then
    subst "$REPO/nginx/public.conf.in" \
        VAR="$VAR" \
        WWW="$www" \
        LISTEN_HOST="$LISTEN_HOST" \
        PUBLIC_PORT="$BAZAR_PUBLIC_PORT" \
        WRITE_POOL="$(pool_addr frontend.write)" \
        LIMIT_BURST="$limit_burst"
else
    echo "# No front end on this host (BAZAR_ROLES=$BAZAR_ROLES): no public listener."
fi | write_atomic "$VAR/nginx/public.conf" 0644

# --- errors.conf: JSON bodies for the errors nginx produces itself ---------------------------
errors=("400:bad request" "404:not found" "405:method not allowed"
    "413:request body too large" "414:request URI too long" "500:internal server error"
    "502:bad gateway: no service process could be reached" "503:service unavailable"
    "504:gateway timeout: the service did not answer in time" "411:length required"
    "429:too many requests" "494:request header too large" "501:not implemented"
    "505:HTTP version not supported")
{
    echo "# Generated by deploy/render.sh: JSON bodies for errors nginx itself produces"
    echo "# (included in both servers; upstream responses pass through untouched)."
    echo "# Internal URI locations, not named ones: a 400/414 raised while reading the"
    echo "# request line has no URI yet, and nginx cannot redirect it to a named location."
    for e in "${errors[@]}"; do
        echo "error_page ${e%%:*} /_bazar_error/${e%%:*};"
    done
    for e in "${errors[@]}"; do
        code="${e%%:*}"
        # 494 is nginx's internal code for "header too large"; the client gets 400.
        if [[ $code == 494 ]]; then status=400; else status=$code; fi
        printf "location = /_bazar_error/%s { internal; return %s '{\"error\":\"%s\"}\\\\n'; }\n" \
            "$code" "$status" "${e#*:}"
    done
} | write_atomic "$VAR/nginx/errors.conf" 0644

# --- replicas.conf: one location per replica and pool on the internal listener --------------
replica_location() { # PATH-PREFIX ADDRESS
    cat <<EOF
location $1/ {
    include /etc/nginx/fastcgi_params;
    fastcgi_param BAZAR_PREFIX $1;
    fastcgi_pass $2;
    fastcgi_connect_timeout 1s;
    fastcgi_read_timeout 5s;
    fastcgi_send_timeout 5s;
}
location = $1 {
    return 404 '{"error":"not found"}\n';
}
EOF
}
{
    echo "# Generated by deploy/render.sh for catalog=$BAZAR_CATALOG_REPLICAS order=$BAZAR_ORDER_REPLICAS:"
    echo "# /replica/<service>/<N>/ -> client pool of replica N, /peer/<service>/<N>/ -> its peer pool."
    for svc in catalog order; do
        for ((n = 1; n <= $(replica_count $svc); n++)); do
            replica_location "/replica/$svc/$n" "$(pool_addr "$svc-$n")"
            replica_location "/peer/$svc/$n" "$(pool_addr "$svc-$n.peer")"
        done
    done
} | write_atomic "$VAR/nginx/replicas.conf" 0644

# --- upstreams.conf: the operator's file -------------------------------------------------------
# On one host it is rendered (deploy/upstreams.sh) only when absent or when the topology
# changed (first line), so edits survive restarts. On a cluster, deploy/cluster keeps the one
# copy the operator edits and ships it as BAZAR_UPSTREAMS_SRC; it is installed as it is.
upstreams="$VAR/nginx/upstreams.conf"
if [[ -n "${BAZAR_UPSTREAMS_SRC:-}" ]]; then
    [[ -r "$BAZAR_UPSTREAMS_SRC" ]] || die "BAZAR_UPSTREAMS_SRC=$BAZAR_UPSTREAMS_SRC: not readable"
    write_atomic "$upstreams" 0644 <"$BAZAR_UPSTREAMS_SRC"
else
    fresh="$(bash "$DEPLOY/upstreams.sh")" || die "cannot render the upstreams"
    marker="${fresh%%$'\n'*}"
    current=""
    if [[ -e "$upstreams" ]]; then
        IFS= read -r current <"$upstreams" || true
    fi
    if [[ "$current" != "$marker" ]]; then
        if [[ -e "$upstreams" ]]; then
            cp -p "$upstreams" "$upstreams.bak"
            info "topology changed: re-rendered $upstreams (previous copy kept as upstreams.conf.bak)"
        fi
        printf '%s\n' "$fresh" | write_atomic "$upstreams" 0644
    fi
fi

