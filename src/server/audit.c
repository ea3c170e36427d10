/* The audit log: one log record per security event (src/util/log.h; by
 * default a JSON line on stderr), marked "msg":"audit" so it can be split
 * from the request log (docs/security.md lists the events). */
#include <arpa/inet.h>
#include <stdarg.h>

#include "server/server_internal.h"

void request_address(request *r, char *out, size_t size) {
    out[0] = '\0';
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
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
