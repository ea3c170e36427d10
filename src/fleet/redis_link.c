/* Reconnecting Redis links and task payloads (see redis_link.h). */
#include "fleet/redis_link.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zstd.h>

#include "util/clock.h"

int tsr_redis_link_ensure(tsr_redis_link *l, const atomic_int *stop) {
    for (;;) {
        if (l->c)
            return 1;
        tsr_ctx *ctx = tsr_ctx_new();
        redisContext *c = NULL;
        if (ctx && !tsr_redis_connect(ctx, l->url, l->timeout_ms, &c)) {
            l->c = c;
            l->backoff_ms = 0;
            if (l->connected_once)
                l->reconnects++;
            l->connected_once = 1;
        }
        tsr_ctx_free(ctx);
        if (l->c)
            return 1;
        if (!stop || atomic_load(stop))
            return 0;
        l->backoff_ms = l->backoff_ms ? l->backoff_ms * 2 : 50;
        if (l->backoff_ms > 2000)
            l->backoff_ms = 2000;
        /* Sleep in slices so a stop request is seen promptly. */
        for (int waited = 0; waited < l->backoff_ms && !atomic_load(stop); waited += 50)
            tsr_clock_sleep_ms(50);
    }
}

redisReply *tsr_redis_link_cmd(tsr_redis_link *l, int argc, const char **argv, const size_t *lens) {
    if (!l->c)
        return NULL;
    redisReply *r = redisCommandArgv(l->c, argc, argv, lens);
    if (!r || l->c->err) {
        freeReplyObject(r);
        tsr_redis_link_close(l);
        return NULL;
    }
    return r;
}

redisReply *tsr_redis_link_cmd_retry(tsr_redis_link *l, const atomic_int *stop, int argc,
                                     const char **argv, const size_t *lens) {
    for (;;) {
        if (!tsr_redis_link_ensure(l, stop))
            return NULL;
        redisReply *r = tsr_redis_link_cmd(l, argc, argv, lens);
        /* LOADING: Redis restarted and is reading its AOF; wait and retry. */
        if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "LOADING", 7)) {
            freeReplyObject(r);
            r = NULL;
            tsr_clock_sleep_ms(100);
        }
        if (r)
            return r;
        if (!stop || atomic_load(stop))
            return NULL;
    }
}

void tsr_redis_link_close(tsr_redis_link *l) {
    if (l->c)
        redisFree(l->c);
    l->c = NULL;
}

int tsr_redis_link_flush(tsr_redis_link *l) {
    int done = 0;
    while (l->c && !done)
        if (redisBufferWrite(l->c, &done) != REDIS_OK)
            return 0;
    return l->c != NULL;
}

tsr_status tsr_payload_pack(tsr_ctx *ctx, int level, const uint8_t *bytes, size_t len,
                            tsr_buffer *out) {
    tsr_status st;
    if (level <= 0) {
        if ((st = tsr_buffer_append(out, "R", 1)))
            return tsr_error(ctx, st, "payload: out of memory");
        if ((st = tsr_buffer_append(out, bytes, len)))
            return tsr_error(ctx, st, "payload: out of memory");
        return TSR_OK;
    }
    size_t bound = ZSTD_compressBound(len);
    if ((st = tsr_buffer_reserve(out, bound + 1)))
        return tsr_error(ctx, st, "payload: out of memory for %zu bytes", bound);
    out->data[out->len] = 'Z';
    size_t n = ZSTD_compress(out->data + out->len + 1, bound, bytes, len, level);
    if (ZSTD_isError(n))
        return tsr_error(ctx, TSR_ERR_INTERNAL, "payload: zstd: %s", ZSTD_getErrorName(n));
    out->len += n + 1;
    return TSR_OK;
}

tsr_status tsr_payload_unpack(tsr_ctx *ctx, const uint8_t *bytes, size_t len, size_t max,
                              tsr_buffer *out) {
    tsr_status st;
    if (len < 1)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "payload: empty");
    if (bytes[0] == 'R') {
        if (len - 1 > max)
            return tsr_error(ctx, TSR_ERR_LIMIT, "payload: %zu bytes, over the %zu cap", len - 1,
                             max);
        if ((st = tsr_buffer_append(out, bytes + 1, len - 1)))
            return tsr_error(ctx, st, "payload: out of memory");
        return TSR_OK;
    }
    if (bytes[0] != 'Z')
        return tsr_error(ctx, TSR_ERR_CORRUPT, "payload: unknown format byte 0x%02x", bytes[0]);
    unsigned long long size = ZSTD_getFrameContentSize(bytes + 1, len - 1);
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "payload: not a sized zstd frame");
    if (size > max)
        return tsr_error(ctx, TSR_ERR_LIMIT, "payload: %llu bytes, over the %zu cap", size, max);
    if ((st = tsr_buffer_reserve(out, (size_t)size)))
        return tsr_error(ctx, st, "payload: out of memory for %llu bytes", size);
    size_t n = ZSTD_decompress(out->data + out->len, (size_t)size, bytes + 1, len - 1);
    if (ZSTD_isError(n) || n != size)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "payload: bad zstd frame");
    out->len += n;
    return TSR_OK;
}

int tsr_payload_raw_view(const uint8_t *bytes, size_t len, size_t max, const uint8_t **data,
                         size_t *n) {
    if (len < 1 || bytes[0] != 'R' || len - 1 > max)
        return 0;
    *data = bytes + 1;
    *n = len - 1;
    return 1;
}

const redisReply *tsr_redis_field(const redisReply *fields, const char *name) {
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *f = fields->element[i];
        if (f->type == REDIS_REPLY_STRING && !strcmp(f->str, name))
            return fields->element[i + 1];
    }
    return NULL;
}

const char *tsr_redis_field_str(const redisReply *fields, const char *name, const char *fallback) {
    const redisReply *v = tsr_redis_field(fields, name);
    return v && v->type == REDIS_REPLY_STRING ? v->str : fallback;
}
