/*
 * The HTTP request handling that runs without a live libmicrohttpd daemon
 * (handlers take an MHD connection, so they are not called here): the
 * route matcher and Allow list, the upload-name sanitizers, and the JSON
 * bodies of POST /api/v1/jobs, /pipelines/validate, /users and /tokens
 * read the way the handlers read them (jansson, then the pipeline parser,
 * format and role parsers).
 * Input: "METHOD PATH\n" then the body.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server/server_internal.h"
#include "service/store.h"

/* Aborts unless `s` is a safe file-name stem: no separators, no leading dot. */
static void check_stem(const char *s) {
    if (s[0] == '.' || strchr(s, '/') || strchr(s, '\\'))
        abort();
}

/* The "pipeline" member as h_jobs_create and h_pipeline_validate read it. */
static void body_pipeline(json_t *v) {
    char *owned = NULL;
    const char *text = json_is_string(v) ? json_string_value(v) : NULL;
    if (json_is_array(v))
        text = owned = json_dumps(v, JSON_COMPACT);
    if (text && strlen(text) <= TSR_PIPELINE_MAX_TEXT) {
        tsr_ctx *ctx = fuzz_ctx();
        tsr_pipeline *p = NULL;
        if (ctx && tsr_pipeline_parse(ctx, text, &p) == TSR_OK) {
            char *t = tsr_pipeline_to_text(p), *j = tsr_pipeline_to_json(p);
            json_t *pj = j ? json_loads(j, 0, NULL) : NULL;
            if (t && j && !pj)
                abort(); /* the normalized JSON form must be JSON */
            json_decref(pj);
            free(t);
            free(j);
        }
        tsr_pipeline_free(p);
        tsr_ctx_free(ctx);
    }
    free(owned);
}

/* The other members of the job, user and token bodies. */
static void body_members(json_t *body) {
    json_t *out = json_object_get(body, "output");
    const char *f = json_string_value(json_object_get(out, "format"));
    if (f)
        (void)tsr_format_can_encode(tsr_format_from_name(f));
    json_t *images = json_object_get(body, "images");
    for (size_t i = 0; i < json_array_size(images); i++) {
        const char *id = json_string_value(json_array_get(images, i));
        char params[5][65];
        char path[256];
        int known;
        if (id && strlen(id) < 200) { /* ids reach the matcher as path segments */
            snprintf(path, sizeof path, "/api/v1/images/%s", id);
            (void)route_match("GET", path, params, &known);
        }
    }
    tsr_role role;
    const char *r = json_string_value(json_object_get(body, "role"));
    if (r && tsr_role_parse(r, &role))
        (void)tsr_role_name(role);
    const char *name = json_string_value(json_object_get(body, "name"));
    if (name) {
        char shown[128], stem[128];
        display_name(name, shown, sizeof shown);
        safe_stem(shown, stem, sizeof stem);
        check_stem(stem);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nl = memchr(data, '\n', size < 4096 ? size : 4096);
    size_t line = nl ? (size_t)(nl - data) : (size < 4096 ? size : 4096);
    char *head = malloc(line + 1);
    if (!head)
        return 0;
    memcpy(head, data, line);
    head[line] = '\0';
    char *sp = strchr(head, ' ');
    const char *method = sp ? head : "GET";
    const char *path = sp ? sp + 1 : head;
    if (sp)
        *sp = '\0';

    char params[5][65], allow[24], shown[64], stem[64];
    int known = 0;
    int i = route_match(method, path, params, &known);
    if (i >= server_route_count)
        abort();
    route_allowed(path, allow, sizeof allow);
    display_name(path, shown, sizeof shown);
    if (strchr(shown, '/'))
        abort(); /* the shown name is the last path segment */
    safe_stem(shown, stem, sizeof stem);
    check_stem(stem);

    size_t blen = nl ? size - line - 1 : 0;
    if (blen > 0 && blen <= JSON_BODY_MAX) {
        json_error_t err;
        json_t *body = json_loadb((const char *)nl + 1, blen, 0, &err);
        if (json_is_object(body)) {
            body_pipeline(json_object_get(body, "pipeline"));
            body_members(body);
        }
        json_decref(body);
    }
    free(head);
    return 0;
}
