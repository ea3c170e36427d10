/* The audit log: one log record per security event (src/util/log.h; by
 * default a JSON line on stderr), marked "msg":"audit" so it can be split
 * from the request log (docs/security.md lists the events). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/server_internal.h"

#define FORWARDED_MAX 1024 /* bytes of X-Forwarded-For read; a longer one is ignored */

typedef struct forwarded {
    char text[FORWARDED_MAX]; /* the values joined by commas */
    size_t len;
    int too_long;
} forwarded;

static enum MHD_Result add_forwarded(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value) {
    (void)kind;
    forwarded *f = cls;
    if (!key || strcasecmp(key, "X-Forwarded-For") != 0 || !value)
        return MHD_YES;
    size_t n = strlen(value);
    if (f->len + n + 2 > sizeof f->text) {
        f->too_long = 1;
        return MHD_NO;
    }
    if (f->len)
        f->text[f->len++] = ',';
    memcpy(f->text + f->len, value, n + 1);
    f->len += n;
    return MHD_YES;
}

void request_address(request *r, char *out, size_t size) {
    char peer[INET6_ADDRSTRLEN] = "";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, peer,
                  sizeof peer);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, peer,
                  sizeof peer);
    if (!tsr_proxies_match(&r->srv->proxies, peer)) {
        snprintf(out, size, "%s", peer);
        return;
    }
    forwarded f = {.len = 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_forwarded, &f);
    tsr_proxies_client(&r->srv->proxies, peer, f.len && !f.too_long ? f.text : NULL, out, size);
}

void audit(request *r, const char *level, const char *event, ...) {
    char addr[INET6_ADDRSTRLEN];
    request_address(r, addr, sizeof addr);
    const char *route = r->route_index >= 0 ? server_routes[r->route_index].pattern : "";
    json_t *line = json_object();
    json_object_set_new(line, "event", json_string(event));
    json_object_set_new(line, "request_id", json_string(r->id));
    json_object_set_new(line, "address", json_string(addr));
    json_object_set_new(line, "account", r->user.id ? json_string(r->user.name) : json_null());
    json_object_set_new(line, "method", json_string(r->method));
    json_object_set_new(line, "route", json_string(route));
    va_list ap;
    va_start(ap, event);
    json_object_add_pairs(line, ap);
    va_end(ap);
    tsr_server_log_json(level, "audit", line);
    json_decref(line);
}
