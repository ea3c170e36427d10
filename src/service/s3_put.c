/* Writing objects: the content's SHA-256 first (whole and per part), then a
 * single PUT or a multipart upload that is aborted on any failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/s3_internal.h"

#define CONTENT_TYPE "application/octet-stream"
#define PART_ROUND   (1ull << 20) /* part sizes grown for huge objects are whole MiB */

typedef char sha_hex[TSR_S3_SHA256_HEX + 1];

/* What pass one learnt about the content, and the upload's parts. */
typedef struct put_plan {
    const char *name;                     /* the object's name (messages) */
    const char *key;                      /* its full key */
    int fd;                               /* the content (borrowed) */
    uint64_t size;                        /* bytes */
    uint64_t part_bytes;                  /* bytes per part (the last may be shorter) */
    uint32_t parts;                       /* parts, 0 for a single PUT */
    sha_hex sha256;                       /* of the whole content */
    sha_hex *part_sha;                    /* of each part (owned), NULL for a single PUT */
    char (*etag)[S3_ETAG_MAX + 1];        /* each part's ETag (owned) */
    char upload_id[S3_UPLOAD_ID_MAX + 1]; /* "" until initiated */
    tsr_ctx *watch;                       /* the caller's ctx: cancellation */
} put_plan;

static void hex_final(crypto_hash_sha256_state *st, sha_hex out) {
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(st, d);
    sodium_bin2hex(out, sizeof(sha_hex), d, sizeof d);
}

/* Sizes the upload: one PUT, or parts of part_bytes (grown when the object
 * would need more than TSR_S3_PARTS_MAX). */
static tsr_status plan_parts(tsr_s3_client *c, tsr_ctx *ctx, put_plan *p) {
    if (p->size > TSR_S3_OBJECT_MAX)
        return tsr_error(ctx, TSR_ERR_LIMIT, "s3: put %s: %llu bytes is over S3's 5 TiB", p->name,
                         (unsigned long long)p->size);
    if (p->size <= c->cfg.single_put_max)
        return TSR_OK;
    p->part_bytes = c->cfg.part_bytes;
    uint64_t need = (p->size + TSR_S3_PARTS_MAX - 1) / TSR_S3_PARTS_MAX;
    if (p->part_bytes < need)
        p->part_bytes = (need + PART_ROUND - 1) / PART_ROUND * PART_ROUND;
    p->parts = (uint32_t)((p->size + p->part_bytes - 1) / p->part_bytes);
    p->part_sha = calloc(p->parts, sizeof *p->part_sha);
    p->etag = calloc(p->parts, sizeof *p->etag);
    if (!p->part_sha || !p->etag)
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    return TSR_OK;
}

/* Pass one: the SHA-256 of the whole content and of each part. */
static tsr_status hash_content(tsr_ctx *ctx, put_plan *p) {
    crypto_hash_sha256_state whole, part;
    uint8_t *buf = malloc(S3_READ_CHUNK);
    if (!buf)
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    crypto_hash_sha256_init(&whole);
    crypto_hash_sha256_init(&part);
    tsr_status rc = TSR_OK;
    for (uint64_t off = 0; off < p->size && !rc;) {
        uint64_t part_end = p->parts ? (off / p->part_bytes + 1) * p->part_bytes : p->size;
        uint64_t end = part_end < p->size ? part_end : p->size;
        size_t want = end - off < S3_READ_CHUNK ? (size_t)(end - off) : S3_READ_CHUNK;
        ssize_t got = pread(p->fd, buf, want, (off_t)off);
        if (got <= 0) {
            rc = tsr_error(ctx, TSR_ERR_IO, "s3: put %s: cannot read the content: %s", p->name,
                           got < 0 ? strerror(errno) : "it is shorter than its size");
            break;
        }
        crypto_hash_sha256_update(&whole, buf, (size_t)got);
        crypto_hash_sha256_update(&part, buf, (size_t)got);
        off += (uint64_t)got;
        if (p->parts && (off == end)) {
            hex_final(&part, p->part_sha[(off - 1) / p->part_bytes]);
            crypto_hash_sha256_init(&part);
        }
        if (tsr_ctx_cancelled(p->watch))
            rc = tsr_error(ctx, TSR_ERR_CANCELLED, "s3: put %s: cancelled", p->name);
    }
    hex_final(&whole, p->sha256);
    free(buf);
    return rc;
}

static tsr_status single_put(tsr_s3_client *c, tsr_ctx *ctx, put_plan *p) {
    char what[TSR_S3_NAME_MAX + 16];
    snprintf(what, sizeof what, "put %s", p->name);
    s3_request req = {.method = "PUT",
                      .key = p->key,
                      .what = what,
                      .payload_sha256 = p->sha256,
                      .meta_sha256 = p->sha256,
                      .content_type = CONTENT_TYPE,
                      .has_body = true,
                      .body_fd = p->fd,
                      .body_length = p->size,
                      .watch = p->watch};
    tsr_status rc = s3_perform(c, ctx, &req);
    if (!rc && (req.status < 200 || req.status >= 300))
        rc = s3_answer_error(c, ctx, &req);
    s3_request_done(&req);
    return rc;
}

static tsr_status initiate(tsr_s3_client *c, tsr_ctx *ctx, put_plan *p) {
    char what[TSR_S3_NAME_MAX + 32];
    snprintf(what, sizeof what, "put %s (start upload)", p->name);
    s3_request req = {.method = "POST",
                      .key = p->key,
                      .query = "uploads=",
                      .what = what,
                      .meta_sha256 = p->sha256,
                      .content_type = CONTENT_TYPE,
                      .sink = S3_SINK_MEMORY,
                      .watch = p->watch};
    tsr_status rc = s3_perform(c, ctx, &req);
    if (!rc && (req.status < 200 || req.status >= 300))
        rc = s3_answer_error(c, ctx, &req);
    if (!rc)
        rc = s3_xml_upload_id(ctx, &req.mem, p->upload_id);
    s3_request_done(&req);
    return rc;
}

/* "partNumber=N&uploadId=ID" (canonical order), or "uploadId=ID". */
static tsr_status upload_query(const put_plan *p, uint32_t part, tsr_buffer *q) {
    char head[32];
    q->len = 0;
    q->max = S3_QUERY_MAX;
    snprintf(head, sizeof head, part ? "partNumber=%u&uploadId=" : "uploadId=", part);
    tsr_status rc = tsr_buffer_append(q, head, strlen(head));
    rc = rc ? rc : s3_uri_append(q, p->upload_id, false);
    return rc ? rc : tsr_buffer_append(q, "", 1);
}

static tsr_status upload_part(tsr_s3_client *c, tsr_ctx *ctx, put_plan *p, uint32_t i) {
    char what[TSR_S3_NAME_MAX + 48];
    tsr_buffer q = {0};
    if (upload_query(p, i + 1, &q))
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    uint64_t off = (uint64_t)i * p->part_bytes;
    snprintf(what, sizeof what, "put %s (part %u of %u)", p->name, i + 1, p->parts);
    s3_request req = {.method = "PUT",
                      .key = p->key,
                      .query = (const char *)q.data,
                      .what = what,
                      .payload_sha256 = p->part_sha[i],
                      .content_type = CONTENT_TYPE,
                      .has_body = true,
                      .body_fd = p->fd,
                      .body_offset = off,
                      .body_length = p->size - off < p->part_bytes ? p->size - off : p->part_bytes,
                      .watch = p->watch};
    tsr_status rc = s3_perform(c, ctx, &req);
    if (!rc && (req.status < 200 || req.status >= 300))
        rc = s3_answer_error(c, ctx, &req);
    if (!rc && !req.etag[0])
        rc = tsr_error(ctx, TSR_ERR_CORRUPT, "s3: %s: the answer has no ETag", what);
    if (!rc)
        memcpy(p->etag[i], req.etag, sizeof req.etag);
    s3_request_done(&req);
    tsr_buffer_free(&q);
    return rc;
}

/* The CompleteMultipartUpload document, every ETag XML-escaped. */
static tsr_status complete_body(const put_plan *p, tsr_buffer *body) {
    char num[64];
    const char *head =
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    body->max = (size_t)p->parts * (6 * S3_ETAG_MAX + 96) + 256;
    tsr_status rc = tsr_buffer_append(body, head, strlen(head));
    for (uint32_t i = 0; i < p->parts && !rc; i++) {
        snprintf(num, sizeof num, "<Part><PartNumber>%u</PartNumber><ETag>", i + 1);
        rc = tsr_buffer_append(body, num, strlen(num));
        rc = rc ? rc : s3_xml_escape_append(body, p->etag[i]);
        rc = rc ? rc : tsr_buffer_append(body, "</ETag></Part>", 14);
    }
    const char *tail = "</CompleteMultipartUpload>";
    return rc ? rc : tsr_buffer_append(body, tail, strlen(tail) + 1); /* with the NUL */
}

/* After a retried Complete whose first answer was lost, the store says
 * NoSuchUpload although the object was made: it is ours if it carries our
 * hash and size. */
static bool completed_before(tsr_s3_client *c, put_plan *p) {
    tsr_ctx *scratch = tsr_ctx_new();
    bool found = false;
    tsr_s3_object info = {0};
    if (scratch && tsr_s3_head(c, scratch, p->name, &found, &info) != TSR_OK)
        found = false;
    tsr_ctx_free(scratch);
    return found && info.size == p->size && !strcmp(info.sha256, p->sha256);
}

static tsr_status complete(tsr_s3_client *c, tsr_ctx *ctx, put_plan *p) {
    char what[TSR_S3_NAME_MAX + 32], sha[TSR_S3_SHA256_HEX + 1];
    tsr_buffer q = {0}, body = {0};
    if (upload_query(p, 0, &q) || complete_body(p, &body)) {
        tsr_buffer_free(&q);
        tsr_buffer_free(&body);
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    }
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(d, body.data, body.len - 1);
    sodium_bin2hex(sha, sizeof sha, d, sizeof d);
    snprintf(what, sizeof what, "put %s (complete upload)", p->name);
    s3_request req = {.method = "POST",
                      .key = p->key,
                      .query = (const char *)q.data,
                      .what = what,
                      .payload_sha256 = sha,
                      .content_type = "application/xml",
                      .has_body = true,
                      .body_fd = -1,
                      .body_mem = (const char *)body.data,
                      .body_length = body.len - 1,
                      .sink = S3_SINK_MEMORY,
                      .error_in_200 = true,
                      .watch = p->watch};
    tsr_status rc = s3_perform(c, ctx, &req);
    bool lost_answer = !rc && req.tries > 1 && !strcmp(req.error_code, "NoSuchUpload");
    if (lost_answer && completed_before(c, p))
        p->upload_id[0] = '\0'; /* done: nothing to abort */
    else if (!rc && (req.status < 200 || req.status >= 300))
        rc = s3_answer_error(c, ctx, &req);
    s3_request_done(&req);
    tsr_buffer_free(&q);
    tsr_buffer_free(&body);
    return rc;
}

/* AbortMultipartUpload, even when the caller was cancelled. True when the
 * upload is gone; else `why` says why not. */
static bool abort_upload(tsr_s3_client *c, put_plan *p, char *why, size_t cap) {
    char what[TSR_S3_NAME_MAX + 32];
    tsr_buffer q = {0};
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch || upload_query(p, 0, &q)) {
        tsr_ctx_free(scratch);
        tsr_buffer_free(&q);
        snprintf(why, cap, "out of memory");
        return false;
    }
    snprintf(what, sizeof what, "put %s (abort upload)", p->name);
    s3_request req = {.method = "DELETE",
                      .key = p->key,
                      .query = (const char *)q.data,
                      .what = what,
                      .cleanup = true};
    tsr_status rc = s3_perform(c, scratch, &req);
    if (!rc && (req.status < 200 || req.status >= 300) && req.status != 404)
        rc = s3_answer_error(c, scratch, &req);
    snprintf(why, cap, "%s", tsr_ctx_message(scratch));
    s3_request_done(&req);
    tsr_buffer_free(&q);
    tsr_ctx_free(scratch);
    return rc == TSR_OK;
}

static tsr_status multipart(tsr_s3_client *c, tsr_ctx *ctx, put_plan *p) {
    tsr_ctx *step = tsr_ctx_new(); /* the steps' messages, to add the abort's outcome */
    if (!step)
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    tsr_status rc = initiate(c, step, p);
    for (uint32_t i = 0; i < p->parts && !rc; i++)
        rc = upload_part(c, step, p, i);
    if (!rc)
        rc = complete(c, step, p);
    char why[512];
    if (rc && p->upload_id[0]) {
        if (!abort_upload(c, p, why, sizeof why))
            tsr_error(ctx, rc,
                      "%s; aborting upload %s failed too (%s): a lifecycle rule must remove it",
                      tsr_ctx_message(step), p->upload_id, why);
        else
            tsr_error(ctx, rc, "%s; the upload was aborted", tsr_ctx_message(step));
    } else if (rc) {
        tsr_error(ctx, rc, "%s", tsr_ctx_message(step));
    }
    tsr_ctx_free(step);
    return rc;
}

tsr_status tsr_s3_put_fd(tsr_s3_client *c, tsr_ctx *ctx, const char *name, int fd,
                         tsr_s3_object *info) {
    char key[TSR_S3_KEY_MAX + 1];
    struct stat sb;
    tsr_status rc = s3_full_key(c, ctx, name, key);
    if (rc)
        return rc;
    if (fstat(fd, &sb) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "s3: put %s: %s", name, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: put %s: the content is not a regular file", name);
    put_plan p = {.name = name, .key = key, .fd = fd, .size = (uint64_t)sb.st_size, .watch = ctx};
    rc = plan_parts(c, ctx, &p);
    if (!rc)
        rc = hash_content(ctx, &p);
    if (!rc)
        rc = p.parts ? multipart(c, ctx, &p) : single_put(c, ctx, &p);
    if (!rc && info) {
        info->size = p.size;
        memcpy(info->sha256, p.sha256, sizeof p.sha256);
    }
    free(p.part_sha);
    free(p.etag);
    return rc;
}
