/* The audit log: one JSON line on stderr per security event, marked
 * "msg":"audit" so it can be split from the request log (docs/security.md
 * lists the events). */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "server/server_internal.h"
#include "util/clock.h"

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
    json_object_set_new(line, "ts", json_time(tsr_clock_wall_ms()));
    json_object_set_new(line, "level", json_string(level));
    json_object_set_new(line, "msg", json_string("audit"));
    json_object_set_new(line, "event", json_string(event));
    json_object_set_new(line, "request_id", json_string(r->id));
    json_object_set_new(line, "address", json_string(addr));
    json_object_set_new(line, "account", r->user.id ? json_string(r->user.name) : json_null());
    json_object_set_new(line, "method", json_string(r->method));
    json_object_set_new(line, "route", json_string(route));
    va_list ap;
    va_start(ap, event);
    for (const char *key; (key = va_arg(ap, const char *));) {
        json_t *v = va_arg(ap, json_t *);
        json_object_set_new(line, key, v ? v : json_null());
    }
    va_end(ap);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text)
        fprintf(stderr, "%s\n", text);
    free(text);
    json_decref(line);
}
