/* Bearer-token authentication and the role check of each route (deny by
 * default: only public routes skip it). */
#include <string.h>
#include <strings.h>

#include "server/server_internal.h"

int auth_check(request *r, const route *rt, enum MHD_Result *result) {
    if (rt->access == ACCESS_PUBLIC)
        return 1;
    if (query_arg(r, "token")) {
        audit(r, "warn", "signin_failed", "reason", json_string("token in the URL"), NULL);
        *result = reply_error(r, 400, "bad_request",
                              "tokens are not accepted in the URL; send Authorization: Bearer");
        return 0;
    }
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7)) {
        audit(r, "warn", "signin_failed", "reason", json_string("no bearer token"), NULL);
        *result = reply_error(r, 401, "unauthorized", "send Authorization: Bearer <token>");
        return 0;
    }
    const char *token = h + 7;
    while (*token == ' ')
        token++;
    int found = 0;
    tsr_status st = tsr_store_token_verify(r->srv->store, r->ctx, token, &r->user, &found);
    if (st) {
        *result = reply_status(r, st);
        return 0;
    }
    if (!found) {
        audit(r, "warn", "signin_failed", "reason", json_string("unknown or revoked token"), NULL);
        *result = reply_error(r, 401, "unauthorized", "the token is unknown or revoked");
        return 0;
    }
    if ((int)r->user.role > (int)rt->access) {
        audit(r, "warn", "denied", "role", json_string(tsr_role_name(r->user.role)), "reason",
              json_string("role below the route's"), NULL);
        *result = reply_error(r, 403, "forbidden", "role %s may not %s %s",
                              tsr_role_name(r->user.role), rt->method, rt->pattern);
        return 0;
    }
    return 1;
}
