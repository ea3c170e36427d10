/* Reading, describing, deleting and listing objects; the start-up check. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "service/s3_internal.h"

static bool ok_status(long status) {
    return status >= 200 && status < 300;
}

/* The stored hash if it is 64 hex digits (lower-cased), else "". */
static void take_sha256(const char *meta, char out[TSR_S3_SHA256_HEX + 1]) {
    out[0] = '\0';
    if (strlen(meta) != TSR_S3_SHA256_HEX)
        return;
    for (int i = 0; i < TSR_S3_SHA256_HEX; i++) {
        if (!isxdigit((unsigned char)meta[i]))
            return;
        out[i] = (char)tolower((unsigned char)meta[i]);
    }
    out[TSR_S3_SHA256_HEX] = '\0';
}

tsr_status tsr_s3_check(tsr_s3_client *c, tsr_ctx *ctx) {
    tsr_buffer query = {.max = S3_QUERY_MAX};
    tsr_status rc = tsr_buffer_append(&query, "list-type=2&max-keys=1", 22);
    if (!rc && c->loc.prefix[0]) {
        rc = tsr_buffer_append(&query, "&prefix=", 8);
        if (!rc)
            rc = s3_uri_append(&query, c->loc.prefix, false);
        if (!rc)
            rc = s3_uri_append(&query, "/", false);
    }
    if (!rc)
        rc = tsr_buffer_append(&query, "", 1);
    if (rc) {
        tsr_buffer_free(&query);
        return tsr_error(ctx, rc, "s3: out of memory");
    }
    s3_request req = {.method = "GET",
                      .query = (const char *)query.data,
                      .what = "check",
                      .sink = S3_SINK_MEMORY};
    rc = s3_perform(c, ctx, &req);
    if (!rc && !ok_status(req.status))
        rc = s3_answer_error(c, ctx, &req);
    s3_request_done(&req);
    tsr_buffer_free(&query);
    return rc;
}

tsr_status tsr_s3_head(tsr_s3_client *c, tsr_ctx *ctx, const char *name, bool *found,
                       tsr_s3_object *info) {
    char key[TSR_S3_KEY_MAX + 1], what[TSR_S3_NAME_MAX + 16];
    *found = false;
    tsr_status rc = s3_full_key(c, ctx, name, key);
    if (rc)
        return rc;
    snprintf(what, sizeof what, "head %s", name);
    s3_request req = {.method = "HEAD", .key = key, .what = what};
    rc = s3_perform(c, ctx, &req);
    if (!rc && ok_status(req.status)) {
        *found = true;
        if (info) {
            info->size = req.content_length;
            take_sha256(req.meta, info->sha256);
        }
    } else if (!rc && req.status != 404) {
        rc = s3_answer_error(c, ctx, &req);
    }
    s3_request_done(&req);
    return rc;
}

tsr_status tsr_s3_delete(tsr_s3_client *c, tsr_ctx *ctx, const char *name) {
    char key[TSR_S3_KEY_MAX + 1], what[TSR_S3_NAME_MAX + 16];
    tsr_status rc = s3_full_key(c, ctx, name, key);
    if (rc)
        return rc;
    snprintf(what, sizeof what, "delete %s", name);
    s3_request req = {.method = "DELETE", .key = key, .what = what};
    rc = s3_perform(c, ctx, &req);
    if (!rc && !ok_status(req.status) && req.status != 404)
        rc = s3_answer_error(c, ctx, &req);
    s3_request_done(&req);
    return rc;
}

/* Checks the bytes written into the sink fd against the stored hash. */
static tsr_status verify_fd(tsr_ctx *ctx, s3_request *req, const char *name, tsr_s3_object *info) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    char got[TSR_S3_SHA256_HEX + 1], want[TSR_S3_SHA256_HEX + 1];
    crypto_hash_sha256_final(&req->sha, digest);
    sodium_bin2hex(got, sizeof got, digest, sizeof digest);
    take_sha256(req->meta, want);
    if (!want[0])
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "s3: object %s failed its SHA-256 check: it has no x-amz-meta-sha256 "
                         "(not written by tessera)",
                         name);
    if (strcmp(got, want) != 0)
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "s3: object %s failed its SHA-256 check: stored %s, read %s (%llu bytes)",
                         name, want, got, (unsigned long long)req->received);
    if (info) {
        info->size = req->received;
        memcpy(info->sha256, want, sizeof want);
    }
    return TSR_OK;
}

tsr_status tsr_s3_get_fd(tsr_s3_client *c, tsr_ctx *ctx, const char *name, int fd, bool *found,
                         tsr_s3_object *info) {
    char key[TSR_S3_KEY_MAX + 1], what[TSR_S3_NAME_MAX + 16];
    if (found)
        *found = false;
    tsr_status rc = s3_full_key(c, ctx, name, key);
    if (rc)
        return rc;
    snprintf(what, sizeof what, "get %s", name);
    s3_request req = {.method = "GET", .key = key, .what = what, .sink = S3_SINK_FD, .sink_fd = fd};
    rc = s3_perform(c, ctx, &req);
    if (!rc && req.status == 404 && found && strcmp(req.error_code, "NoSuchBucket") != 0) {
        s3_request_done(&req); /* found = false; the error body went to memory, not fd */
        return TSR_OK;
    }
    if (!rc && !ok_status(req.status))
        rc = s3_answer_error(c, ctx, &req);
    if (!rc) {
        rc = verify_fd(ctx, &req, name, info);
        if (!rc && found)
            *found = true;
    }
    if (rc && ftruncate(fd, 0) != 0)
        tsr_error(ctx, TSR_ERR_IO, "s3: get %s: cannot truncate the output", name);
    s3_request_done(&req);
    return rc;
}

tsr_status tsr_s3_get_range(tsr_s3_client *c, tsr_ctx *ctx, const char *name, uint64_t offset,
                            size_t length, void *buf, size_t *got) {
    char key[TSR_S3_KEY_MAX + 1], what[TSR_S3_NAME_MAX + 16];
    *got = 0;
    tsr_status rc = s3_full_key(c, ctx, name, key);
    if (rc || length == 0)
        return rc;
    snprintf(what, sizeof what, "get %s (range)", name);
    s3_request req = {.method = "GET",
                      .key = key,
                      .what = what,
                      .sink = S3_SINK_BUFFER,
                      .sink_buf = buf,
                      .sink_cap = length};
    snprintf(req.range, sizeof req.range, "bytes=%llu-%llu", (unsigned long long)offset,
             (unsigned long long)(offset + length - 1));
    rc = s3_perform(c, ctx, &req);
    if (!rc && req.status == 416) /* offset at or past the end */
        req.received = 0;
    else if (!rc && req.status == 200 && offset != 0)
        rc = tsr_error(ctx, TSR_ERR_CORRUPT, "s3: %s: the store ignored the Range header", what);
    else if (!rc && !ok_status(req.status))
        rc = s3_answer_error(c, ctx, &req);
    if (!rc)
        *got = (size_t)req.received;
    s3_request_done(&req);
    return rc;
}

/* Strips the location's prefix from listed keys for the caller's fn. */
typedef struct list_state {
    size_t strip;      /* bytes of "PREFIX/" */
    tsr_s3_list_fn fn; /* the caller's */
    void *arg;         /* its argument */
} list_state;

static int list_key(void *arg, const char *key, uint64_t size) {
    list_state *s = arg;
    if (strlen(key) <= s->strip)
        return 0;
    return s->fn(s->arg, key + s->strip, size);
}

/* The query of one ListObjectsV2 page (parameters in canonical order). */
static tsr_status list_query(const tsr_s3_client *c, const char *token, const char *prefix,
                             tsr_buffer *q) {
    char page[48];
    tsr_status rc = TSR_OK;
    q->len = 0;
    if (token[0]) {
        rc = tsr_buffer_append(q, "continuation-token=", 19);
        rc = rc ? rc : s3_uri_append(q, token, false);
        rc = rc ? rc : tsr_buffer_append(q, "&", 1);
    }
    snprintf(page, sizeof page, "list-type=2&max-keys=%d&prefix=", c->cfg.list_page);
    rc = rc ? rc : tsr_buffer_append(q, page, strlen(page));
    rc = rc ? rc : s3_uri_append(q, prefix, false);
    return rc ? rc : tsr_buffer_append(q, "", 1);
}

tsr_status tsr_s3_list(tsr_s3_client *c, tsr_ctx *ctx, const char *name_prefix, tsr_s3_list_fn fn,
                       void *arg) {
    char prefix[TSR_S3_KEY_MAX + 1], token[S3_TOKEN_MAX + 1] = "";
    const char *np = name_prefix ? name_prefix : "";
    int n =
        snprintf(prefix, sizeof prefix, "%s%s%s", c->loc.prefix, c->loc.prefix[0] ? "/" : "", np);
    if (n < 0 || (size_t)n >= sizeof prefix || strpbrk(np, "\r\n\t"))
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: list: bad name prefix");
    list_state state = {
        .strip = c->loc.prefix[0] ? strlen(c->loc.prefix) + 1 : 0, .fn = fn, .arg = arg};
    tsr_buffer query = {.max = S3_QUERY_MAX};
    tsr_status rc = TSR_OK;
    for (bool more = true, stop = false; more && !stop && !rc;) {
        if ((rc = list_query(c, token, prefix, &query))) {
            rc = tsr_error(ctx, rc, "s3: list: query too long");
            break;
        }
        s3_request req = {.method = "GET",
                          .query = (const char *)query.data,
                          .what = "list",
                          .sink = S3_SINK_MEMORY};
        rc = s3_perform(c, ctx, &req);
        if (!rc && !ok_status(req.status))
            rc = s3_answer_error(c, ctx, &req);
        if (!rc)
            rc = s3_xml_list_page(ctx, &req.mem, list_key, &state, &more, token, &stop);
        s3_request_done(&req);
    }
    tsr_buffer_free(&query);
    return rc;
}
