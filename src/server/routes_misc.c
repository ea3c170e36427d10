/* Operations, pipeline validation lives in routes_jobs.c; here: the
 * operation list, health, readiness and the embedded web UI. */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

enum MHD_Result h_operations(request *r) {
    char *text = r->srv->config.ops_json ? r->srv->config.ops_json() : NULL;
    if (!text)
        return reply_error(r, 500, "internal", "cannot list the operations");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    return reply(r, 200, resp);
}

enum MHD_Result h_healthz(request *r) {
    return reply_text(r, 200, "application/json", "{\"status\":\"ok\"}");
}

enum MHD_Result h_readyz(request *r) {
    if (atomic_load(&r->srv->draining)) {
        r->retry_after = 5;
        return reply_error(r, 503, "unavailable", "the server is shutting down");
    }
    return reply_text(r, 200, "application/json", "{\"status\":\"ready\"}");
}

enum MHD_Result h_web(request *r) {
    const char *path = server_routes[r->route_index].pattern;
    for (size_t i = 0; i < tsr_web_asset_count; i++) {
        const web_asset *a = &tsr_web_assets[i];
        if (strcmp(a->path, path))
            continue;
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(a->size, (void *)a->data, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, "Content-Type", a->type);
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        return reply(r, 200, resp);
    }
    return reply_error(r, 404, "not_found", "no such file: %s", path);
}
