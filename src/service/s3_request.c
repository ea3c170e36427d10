/* The request engine of the S3 client: one request through libcurl (signed
 * by CURLOPT_AWS_SIGV4), its body from a file or memory, its answer into
 * memory, a file or a buffer, and the retry loop with backoff and jitter. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "service/s3_internal.h"

#define BACKOFF_SLICE_MS 50 /* sleeps are cut in slices to notice cancellation */

/* What the callbacks of one attempt see. */
typedef struct attempt {
    s3_request *req; /* the request */
    CURL *h;         /* its handle, to ask for the status */
    tsr_ctx *ctx;    /* for cancellation */
} attempt;

/* ---- callbacks ---------------------------------------------------------- */

static size_t read_cb(char *out, size_t size, size_t n, void *arg) {
    s3_request *r = arg;
    uint64_t left = r->body_length - r->body_pos;
    size_t want = size * n < left ? size * n : (size_t)left;
    if (want == 0)
        return 0;
    if (r->body_fd < 0) {
        memcpy(out, r->body_mem + r->body_pos, want);
        r->body_pos += want;
        return want;
    }
    ssize_t got = pread(r->body_fd, out, want, (off_t)(r->body_offset + r->body_pos));
    if (got <= 0) { /* an error, or the file shrank under us */
        r->local_errno = got < 0 ? errno : EIO;
        return CURL_READFUNC_ABORT;
    }
    r->body_pos += (uint64_t)got;
    return (size_t)got;
}

static int seek_cb(void *arg, curl_off_t offset, int origin) {
    s3_request *r = arg;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->body_length)
        return CURL_SEEKFUNC_CANTSEEK;
    r->body_pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t sink_write(s3_request *r, const char *data, size_t n) {
    switch (r->sink) {
    case S3_SINK_NONE:
        return n;
    case S3_SINK_MEMORY:
        r->mem.max = S3_XML_MAX;
        if (tsr_buffer_append(&r->mem, data, n)) {
            r->overflow = true;
            return 0;
        }
        return n;
    case S3_SINK_BUFFER:
        if (n > r->sink_cap - r->received) {
            r->overflow = true;
            return 0;
        }
        memcpy(r->sink_buf + r->received, data, n);
        r->received += n;
        return n;
    case S3_SINK_FD:
        for (size_t done = 0; done < n;) {
            ssize_t w = pwrite(r->sink_fd, data + done, n - done, (off_t)r->received);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                r->local_errno = w < 0 ? errno : EIO;
                return 0;
            }
            crypto_hash_sha256_update(&r->sha, (const unsigned char *)data + done, (size_t)w);
            done += (size_t)w;
            r->received += (uint64_t)w;
        }
        return n;
    }
    return 0;
}

static size_t write_cb(char *data, size_t size, size_t n, void *arg) {
    attempt *a = arg;
    long status = 0;
    curl_easy_getinfo(a->h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return sink_write(a->req, data, size * n);
    a->req->mem.max = S3_ERROR_BODY_MAX; /* an error answer: kept for its code only */
    if (tsr_buffer_append(&a->req->mem, data, size * n)) {
        a->req->overflow = true;
        return 0;
    }
    return size * n;
}

/* Copies a header's value (trimmed) into out when `line` is that header. */
static bool header_value(const char *line, size_t n, const char *name, char *out, size_t cap) {
    size_t len = strlen(name);
    if (n <= len || strncasecmp(line, name, len) != 0 || line[len] != ':')
        return false;
    const char *v = line + len + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t m = (size_t)(end - v) < cap - 1 ? (size_t)(end - v) : cap - 1;
    memcpy(out, v, m);
    out[m] = '\0';
    return true;
}

static size_t header_cb(char *line, size_t size, size_t n, void *arg) {
    s3_request *r = arg;
    size_t len = size * n;
    char number[32];
    if (len >= 5 && !strncmp(line, "HTTP/", 5)) { /* a new answer (after 100 Continue) */
        r->etag[0] = r->meta[0] = r->bucket_region[0] = '\0';
        r->content_length = 0;
    } else if (header_value(line, len, "content-length", number, sizeof number)) {
        r->content_length = strtoull(number, NULL, 10);
    } else if (!header_value(line, len, "etag", r->etag, sizeof r->etag) &&
               !header_value(line, len, "x-amz-bucket-region", r->bucket_region,
                             sizeof r->bucket_region)) {
        header_value(line, len, "x-amz-meta-sha256", r->meta, sizeof r->meta);
    }
    return len;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    (void)dt, (void)dn, (void)ut, (void)un;
    attempt *a = arg;
    return !a->req->cleanup && tsr_ctx_cancelled(a->ctx);
}

/* ---- one attempt -------------------------------------------------------- */

static tsr_status build_url(const tsr_s3_client *c, const s3_request *r, tsr_buffer *url) {
    url->max = strlen(c->endpoint) + 3 * TSR_S3_KEY_MAX + S3_QUERY_MAX + 128;
    tsr_status rc = tsr_buffer_append(url, c->endpoint, strlen(c->endpoint));
    if (!rc)
        rc = tsr_buffer_append(url, "/", 1);
    if (!rc)
        rc = s3_uri_append(url, c->loc.bucket, false);
    if (!rc && r->key) {
        rc = tsr_buffer_append(url, "/", 1);
        if (!rc)
            rc = s3_uri_append(url, r->key, true);
    }
    if (!rc && r->query && *r->query) {
        rc = tsr_buffer_append(url, "?", 1);
        if (!rc)
            rc = tsr_buffer_append(url, r->query, strlen(r->query));
    }
    return rc ? rc : tsr_buffer_append(url, "", 1);
}

/* The request's own headers; NULL when out of memory. */
static struct curl_slist *build_headers(const tsr_s3_client *c, const s3_request *r) {
    char line[160];
    struct curl_slist *list = NULL, *next;
    snprintf(line, sizeof line, "x-amz-content-sha256: %s",
             r->payload_sha256 ? r->payload_sha256 : S3_EMPTY_SHA256);
    if (!(list = curl_slist_append(NULL, line)))
        return NULL;
    const char *extra[5] = {NULL};
    char meta[128], type[128], range[96];
    int n = 0;
    if (r->meta_sha256) {
        snprintf(meta, sizeof meta, "x-amz-meta-sha256: %s", r->meta_sha256);
        extra[n++] = meta;
    }
    if (r->content_type) {
        snprintf(type, sizeof type, "Content-Type: %s", r->content_type);
        extra[n++] = type;
    }
    if (r->range[0]) {
        snprintf(range, sizeof range, "Range: %s", r->range);
        extra[n++] = range;
    }
    if (c->token_header)
        extra[n++] = c->token_header;
    extra[n++] = "Expect:"; /* no 100-continue round trip (and no 1 s wait for it) */
    for (int i = 0; i < n; i++) {
        if (!(next = curl_slist_append(list, extra[i]))) {
            curl_slist_free_all(list);
            return NULL;
        }
        list = next;
    }
    return list;
}

static void set_method(CURL *h, s3_request *r) {
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(r->method, "PUT")) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_length);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, r);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, r);
    } else if (!strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->has_body ? r->body_mem : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(r->has_body ? r->body_length : 0));
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
}

static void set_options(tsr_s3_client *c, attempt *a, const char *url, struct curl_slist *hdrs) {
    CURL *h = a->h;
    s3_request *r = a->req;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, c->sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, c->access_key);
    curl_easy_setopt(h, CURLOPT_PASSWORD, c->secret_key);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->cfg.connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, c->cfg.low_speed_bytes);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, c->cfg.low_speed_seconds);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->cfg.request_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_error);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
    if (c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    set_method(h, r);
}

/* Clears what the previous attempt left. */
static tsr_status attempt_reset(tsr_ctx *ctx, s3_request *r) {
    r->body_pos = r->received = 0;
    r->mem.len = 0;
    r->local_errno = 0;
    r->overflow = false;
    r->status = 0;
    r->etag[0] = r->meta[0] = r->bucket_region[0] = r->error_code[0] = r->error_message[0] = '\0';
    r->curl_error[0] = '\0';
    if (r->sink == S3_SINK_FD) {
        crypto_hash_sha256_init(&r->sha);
        if (ftruncate(r->sink_fd, 0) != 0)
            return tsr_error(ctx, TSR_ERR_IO, "s3: %s: cannot truncate the output file: %s",
                             r->what, strerror(errno));
    }
    return TSR_OK;
}

static tsr_status attempt_run(tsr_s3_client *c, tsr_ctx *ctx, s3_request *r, CURL *h) {
    tsr_buffer url = {0};
    tsr_status rc = attempt_reset(ctx, r);
    if (!rc && (rc = build_url(c, r, &url)))
        rc = tsr_error(ctx, rc, "s3: %s: request URL too long", r->what);
    struct curl_slist *hdrs = rc ? NULL : build_headers(c, r);
    if (!rc && !hdrs)
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    if (!rc) {
        attempt a = {.req = r, .h = h, .ctx = r->watch ? r->watch : ctx};
        curl_easy_reset(h);
        set_options(c, &a, (const char *)url.data, hdrs);
        r->curl_result = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
        if (r->curl_result == CURLE_OK && (r->status < 200 || r->status >= 300))
            s3_xml_error(&r->mem, r->error_code, r->error_message);
        else if (r->curl_result == CURLE_OK && r->error_in_200 &&
                 s3_xml_error(&r->mem, r->error_code, r->error_message))
            r->status = 500; /* "200 OK" carrying an <Error>: treated as that error */
    }
    curl_slist_free_all(hdrs);
    tsr_buffer_free(&url);
    return rc;
}

/* ---- classification and retries ----------------------------------------- */

static bool curl_retryable(CURLcode rc) {
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static bool answer_retryable(const s3_request *r) {
    return r->status >= 500 || r->status == 429 ||
           (r->status == 400 && !strcmp(r->error_code, "RequestTimeout"));
}

/* Why the last attempt failed, in words, for the final message. */
static void failure_words(const tsr_s3_client *c, const s3_request *r, char *out, size_t cap) {
    if (r->curl_result == CURLE_COULDNT_RESOLVE_HOST)
        snprintf(out, cap, "endpoint %s is unreachable: cannot resolve its host (%s)", c->endpoint,
                 r->curl_error);
    else if (r->curl_result == CURLE_COULDNT_CONNECT)
        snprintf(out, cap, "endpoint %s is unreachable: %s", c->endpoint, r->curl_error);
    else if (r->curl_result == CURLE_OPERATION_TIMEDOUT)
        snprintf(out, cap, "timed out or stalled (%s)", r->curl_error);
    else if (r->curl_result != CURLE_OK)
        snprintf(out, cap, "%s (%s)", curl_easy_strerror(r->curl_result), r->curl_error);
    else
        snprintf(out, cap, "HTTP %ld%s%s", r->status, r->error_code[0] ? " " : "", r->error_code);
}

/* The status for an attempt that ended without a usable answer. */
static tsr_status attempt_error(tsr_s3_client *c, tsr_ctx *ctx, s3_request *r, int tries) {
    char why[CURL_ERROR_SIZE + 256];
    if (r->local_errno)
        return tsr_error(ctx, TSR_ERR_IO, "s3: %s: local file: %s", r->what,
                         strerror(r->local_errno));
    if (r->overflow)
        return tsr_error(ctx, r->sink == S3_SINK_BUFFER ? TSR_ERR_CORRUPT : TSR_ERR_LIMIT,
                         "s3: %s: the answer is longer than %s", r->what,
                         r->sink == S3_SINK_BUFFER ? "asked for" : "its cap");
    if (r->curl_result == CURLE_ABORTED_BY_CALLBACK)
        return tsr_error(ctx, TSR_ERR_CANCELLED, "s3: %s: cancelled", r->what);
    failure_words(c, r, why, sizeof why);
    if (tries > 1)
        return tsr_error(ctx, TSR_ERR_IO, "s3: %s: %s, after %d tries", r->what, why, tries);
    return tsr_error(ctx, TSR_ERR_IO, "s3: %s: %s", r->what, why);
}

bool s3_backoff(tsr_s3_client *c, tsr_ctx *ctx, int attempt) {
    long cap = c->cfg.backoff_base_ms;
    for (int i = 1; i < attempt && cap < c->cfg.backoff_max_ms; i++)
        cap *= 2;
    if (cap > c->cfg.backoff_max_ms)
        cap = c->cfg.backoff_max_ms;
    /* equal jitter: half the cap, plus a random part of the other half */
    long wait = cap / 2 + (long)randombytes_uniform((uint32_t)(cap / 2 + 1));
    while (wait > 0) {
        if (tsr_ctx_cancelled(ctx))
            return false;
        long slice = wait < BACKOFF_SLICE_MS ? wait : BACKOFF_SLICE_MS;
        struct timespec ts = {.tv_sec = slice / 1000, .tv_nsec = (slice % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        wait -= slice;
    }
    return true;
}

tsr_status s3_perform(tsr_s3_client *c, tsr_ctx *ctx, s3_request *req) {
    CURL *h = s3_handle_take(c);
    if (!h)
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory (curl handle)");
    tsr_status rc = TSR_OK;
    tsr_ctx *watch = req->cleanup ? NULL : req->watch ? req->watch : ctx;
    for (int tries = 1;; tries++) {
        req->tries = tries;
        if (tsr_ctx_cancelled(watch)) {
            rc = tsr_error(ctx, TSR_ERR_CANCELLED, "s3: %s: cancelled", req->what);
            break;
        }
        if ((rc = attempt_run(c, ctx, req, h)))
            break;
        bool usable = req->curl_result == CURLE_OK && !answer_retryable(req);
        if (usable)
            break;
        bool retry = req->curl_result == CURLE_OK || curl_retryable(req->curl_result);
        retry = retry && !req->local_errno && !req->overflow;
        if (!retry || tries >= c->cfg.max_attempts) {
            rc = attempt_error(c, ctx, req, tries);
            break;
        }
        atomic_fetch_add(&c->retries, 1);
        if (!s3_backoff(c, watch, tries)) {
            rc = tsr_error(ctx, TSR_ERR_CANCELLED, "s3: %s: cancelled", req->what);
            break;
        }
    }
    s3_handle_give(c, h);
    return rc;
}

void s3_request_done(s3_request *req) {
    tsr_buffer_free(&req->mem);
}

tsr_status s3_answer_error(tsr_s3_client *c, tsr_ctx *ctx, const s3_request *r) {
    const char *code = r->error_code;
    if (!strcmp(code, "InvalidAccessKeyId"))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: wrong credentials: the store at %s does not know access key id "
                         "'%s' (AWS_ACCESS_KEY_ID)",
                         c->endpoint, c->access_key);
    if (!strcmp(code, "SignatureDoesNotMatch"))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: wrong credentials: the store at %s refused the request signature "
                         "of access key id '%s': check AWS_SECRET_ACCESS_KEY",
                         c->endpoint, c->access_key);
    if (!strcmp(code, "NoSuchBucket"))
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: bucket '%s' does not exist at %s", c->loc.bucket,
                         c->endpoint);
    if (r->bucket_region[0] && strcmp(r->bucket_region, c->region) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: bucket '%s' is in region %s, not %s: set AWS_REGION=%s",
                         c->loc.bucket, r->bucket_region, c->region, r->bucket_region);
    if (r->status == 403)
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: %s: access denied to bucket '%s' at %s (%s%s%s)",
                         r->what, c->loc.bucket, c->endpoint, code[0] ? code : "HTTP 403",
                         r->error_message[0] ? ": " : "", r->error_message);
    if (!strcmp(code, "RequestTimeTooSkewed"))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: %s: this machine's clock is too far from the store's", r->what);
    if (r->status == 404)
        return tsr_error(ctx, TSR_ERR_IO, "s3: %s: no such object", r->what);
    return tsr_error(ctx, TSR_ERR_IO, "s3: %s: HTTP %ld %s%s%s", r->what, r->status,
                     code[0] ? code : "(no error code)", r->error_message[0] ? ": " : "",
                     r->error_message);
}
