/* front_auth.c - the admin token: loaded or generated once, checked in constant time. */
#include <stdio.h>
#include <string.h>

#include "fcgi_secret.h"
#include "front.h"

int front_auth_init(front *f, char *err, size_t errlen)
{
    char path[FCGI_CONFIG_STR + 32];
    snprintf(path, sizeof path, "%s/admin.token", f->cfg->var_dir);
    return fcgi_secret_load(f->cfg->admin_token, path, 1, f->token, sizeof f->token, err, errlen);
}

int front_auth_check(fcgi_request *req)
{
    const char *h = fcgi_req_header(req, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        fcgi_resp_header(req, "WWW-Authenticate", "Bearer");
        fcgi_resp_error(req, 401, "admin token required: Authorization: Bearer <token>");
        return 0;
    }
    if (!fcgi_secret_equal(front_ctx.token, h + 7)) {
        fcgi_resp_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        fcgi_resp_error(req, 401, "wrong admin token");
        return 0;
    }
    return 1;
}
