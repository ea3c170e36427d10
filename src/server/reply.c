/* Building responses: security headers, JSON bodies, error bodies, and the
 * small request helpers every handler uses. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "util/clock.h"

enum MHD_Result reply(request *r, unsigned status, struct MHD_Response *resp) {
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' blob:; frame-ancestors 'none'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Request-Id", r->id);
    if (r->srv->config.tls_cert)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (r->retry_after > 0) {
        char secs[16];
        snprintf(secs, sizeof secs, "%d", r->retry_after);
        MHD_add_response_header(resp, "Retry-After", secs);
    }
    if (r->allow[0])
        MHD_add_response_header(resp, "Allow", r->allow);
    r->status = status;
    r->queued = 1;
    enum MHD_Result ret = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result reply_json(request *r, unsigned status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    if (!text)
        return reply_text(r, 500, "application/json",
                          "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return reply(r, status, resp);
}

enum MHD_Result reply_error(request *r, unsigned status, const char *code, const char *fmt, ...) {
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->reason, sizeof r->reason, "%.199s", msg); /* the audit line's reason */
    json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
    return reply_json(r, status, body);
}

enum MHD_Result reply_status(request *r, tsr_status st) {
    const char *msg = tsr_ctx_message(r->ctx);
    if (!msg[0])
        msg = tsr_status_name(st);
    switch (st) {
    case TSR_ERR_USAGE:
        return reply_error(r, 400, "bad_request", "%s", msg);
    case TSR_ERR_LIMIT:
        return reply_error(r, 413, "too_large", "%s", msg);
    case TSR_ERR_FORMAT:
        return reply_error(r, 415, "unsupported_format", "%s", msg);
    case TSR_ERR_CORRUPT:
        return reply_error(r, 422, "undecodable", "%s", msg);
    case TSR_ERR_NOMEM:
        return reply_error(r, 503, "unavailable", "%s", msg);
    default:
        return reply_error(r, 500, "internal", "%s", msg);
    }
}

enum MHD_Result reply_text(request *r, unsigned status, const char *type, const char *text) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return reply(r, status, resp);
}

json_t *json_time(int64_t ms) {
    if (ms <= 0)
        return json_null();
    char buf[TSR_CLOCK_ISO_SIZE];
    tsr_clock_format_iso(ms, buf);
    return json_string(buf);
}

json_t *request_json(request *r) {
    if (r->body.len == 0)
        return json_object();
    json_error_t err;
    json_t *v = json_loadb((const char *)r->body.data, r->body.len, 0, &err);
    if (!v) {
        reply_error(r, 400, "bad_request", "the body is not valid JSON: %s (line %d)", err.text,
                    err.line);
        return NULL;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        reply_error(r, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

const char *query_arg(request *r, const char *name) {
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

int query_limit(request *r, size_t *limit, enum MHD_Result *result) {
    const char *s = query_arg(r, "limit");
    *limit = 50;
    if (!s)
        return 1;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 1000) {
        *result = reply_error(r, 400, "bad_request", "limit must be an integer from 1 to 1000");
        return 0;
    }
    *limit = (size_t)v;
    return 1;
}

int query_offset(request *r, size_t *offset, enum MHD_Result *result) {
    const char *s = query_arg(r, "offset");
    *offset = 0;
    if (!s)
        return 1;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || v < 0 || v > 1000000000LL) {
        *result =
            reply_error(r, 400, "bad_request", "offset must be an integer from 0 to 1000000000");
        return 0;
    }
    *offset = (size_t)v;
    return 1;
}

int etag_matches(request *r, const char *etag) {
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    return inm && (strstr(inm, etag) != NULL || !strcmp(inm, "*"));
}

void display_name(const char *in, char *out, size_t size) {
    size_t n = 0;
    const char *base = in ? in : "";
    for (const char *p = base; *p; p++)
        if (*p == '/' || *p == '\\')
            base = p + 1;
    for (const char *p = base; *p && n + 1 < size; p++)
        if ((unsigned char)*p >= 0x20 && *p != 0x7f)
            out[n++] = *p;
    out[n] = '\0';
}

void safe_stem(const char *name, char *out, size_t size) {
    size_t n = 0;
    const char *dot = strrchr(name, '.');
    for (const char *p = name; *p && p != dot && n + 1 < size; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || (c == '.' && n > 0);
        out[n++] = ok ? c : '_';
    }
    out[n] = '\0';
}
