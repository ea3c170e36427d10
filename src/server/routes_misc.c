/* Operations, pipeline validation lives in routes_jobs.c; here: the
 * operation list, the presets, health and the embedded web UI (readiness:
 * readiness.c). */
#include <stdio.h>
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

enum MHD_Result h_presets(request *r) {
    char *text = tsr_presets_to_json();
    if (!text)
        return reply_error(r, 500, "internal", "cannot list the presets");
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

/* The asset path a request names: its route's pattern with each {name}
 * replaced by the captured parameter ("/js/{name}.js" -> "/js/api.js"),
 * into `out`; 0 when it does not fit. Only embedded assets are looked up by
 * it, never files. */
static int asset_path(const request *r, char *out, size_t size) {
    const char *p = server_routes[r->route_index].pattern;
    size_t len = 0;
    int n = 0;
    while (*p) {
        const char *piece = p;
        size_t piece_len = 1;
        if (*p == '{' && n < 2) {
            piece = r->params[n++];
            piece_len = strlen(piece);
            p = strchr(p, '}');
        }
        if (len + piece_len >= size)
            return 0;
        memcpy(out + len, piece, piece_len);
        len += piece_len;
        p++;
    }
    out[len] = '\0';
    return 1;
}

enum MHD_Result h_web(request *r) {
    char path[96]; /* the pattern with its {name} filled in (at most 64 characters) */
    if (!asset_path(r, path, sizeof path))
        return reply_error(r, 404, "not_found", "no such file");
    if (!strcmp(path, "/favicon.ico")) /* browsers ask for it whatever the page links */
        snprintf(path, sizeof path, "/favicon.svg");
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
