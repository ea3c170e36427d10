/* Redis URL parsing and connecting (see redis_conn.h). */
#include "fleet/redis_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/hex.h"

/* Copies s[0..n) into out (size `size`) decoding %XX; false when it does
 * not fit or an escape is malformed. */
static int decode(const char *s, size_t n, char *out, size_t size) {
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            uint8_t byte;
            size_t got;
            if (i + 2 >= n || tsr_hex_decode(s + i + 1, 2, &byte, 1, &got))
                return 0;
            c = byte;
            i += 2;
        }
        if (o + 1 >= size)
            return 0;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 1;
}

/* Parses a decimal integer in s[0..n) within [lo, hi]; false otherwise. */
static int number(const char *s, size_t n, long lo, long hi, int *out) {
    long v = 0;
    if (n == 0 || n > 9)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static tsr_status bad(tsr_ctx *ctx, const char *why) {
    return tsr_error(ctx, TSR_ERR_USAGE,
                     "redis URL: %s (want redis://[[user]:password@]host[:port][/db] or "
                     "unix:///path.sock)",
                     why);
}

/* unix:///path[?db=N] */
static tsr_status parse_unix(tsr_ctx *ctx, const char *rest, tsr_redis_url *out) {
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || rest[0] != '/' || n >= sizeof out->path)
        return bad(ctx, "the socket path must be absolute and shorter than 256 bytes");
    memcpy(out->path, rest, n);
    out->path[n] = '\0';
    if (q && (strncmp(q, "?db=", 4) || !number(q + 4, strlen(q + 4), 0, 100000, &out->db)))
        return bad(ctx, "the only query accepted is ?db=N");
    return TSR_OK;
}

tsr_status tsr_redis_url_parse(tsr_ctx *ctx, const char *url, tsr_redis_url *out) {
    memset(out, 0, sizeof *out);
    out->port = 6379;
    if (!url || !*url)
        return bad(ctx, "empty");
    if (!strncmp(url, "unix://", 7))
        return parse_unix(ctx, url + 7, out);
    if (!strncmp(url, "rediss://", 9))
        return bad(ctx, "rediss:// (TLS) is not supported; tunnel it or use a private network");
    if (strncmp(url, "redis://", 8))
        return bad(ctx, "it must start with redis:// or unix://");
    const char *p = url + 8, *slash = strchr(p, '/');
    size_t auth_len = strcspn(p, "/");
    const char *at = memrchr(p, '@', auth_len);
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        if (colon && !decode(p, (size_t)(colon - p), out->user, sizeof out->user))
            return bad(ctx, "malformed or too long user name");
        if (!decode(pw, (size_t)(at - pw), out->password, sizeof out->password))
            return bad(ctx, "malformed or too long password");
        p = at + 1;
    }
    const char *end = slash ? slash : p + strlen(p), *port = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));
        if (!close || close == p + 1 || (size_t)(close - p - 1) >= sizeof out->host)
            return bad(ctx, "malformed [IPv6] host");
        memcpy(out->host, p + 1, (size_t)(close - p - 1));
        if (close + 1 < end && close[1] != ':')
            return bad(ctx, "junk after the [IPv6] host");
        port = close + 1 < end ? close + 2 : NULL;
    } else {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        size_t n = (size_t)((colon ? colon : end) - p);
        if (n == 0 || n >= sizeof out->host)
            return bad(ctx, "missing or too long host");
        memcpy(out->host, p, n);
        port = colon ? colon + 1 : NULL;
    }
    if (port && !number(port, (size_t)(end - port), 1, 65535, &out->port))
        return bad(ctx, "the port must be a number 1..65535");
    if (slash && slash[1] && !number(slash + 1, strlen(slash + 1), 0, 100000, &out->db))
        return bad(ctx, "the database after '/' must be a number");
    return TSR_OK;
}

/* Runs one command that must not fail; false with the reason in `why`. */
static int command_ok(redisContext *c, char *why, size_t size, int argc, const char **argv) {
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int ok = tsr_redis_reply_ok(r);
    if (!ok)
        snprintf(why, size, "%s", r ? r->str : c->errstr);
    freeReplyObject(r);
    return ok;
}

tsr_status tsr_redis_connect(tsr_ctx *ctx, const tsr_redis_url *url, int timeout_ms,
                             redisContext **out) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    char why[256] = "";
    const char *where = url->path[0] ? url->path : url->host;
    tsr_status st = TSR_OK;
    *out = NULL;
    redisContext *c = url->path[0] ? redisConnectUnixWithTimeout(url->path, tv)
                                   : redisConnectWithTimeout(url->host, url->port, tv);
    if (!c)
        return tsr_error(ctx, TSR_ERR_NOMEM, "redis: out of memory connecting to %s", where);
    if (c->err) {
        st = tsr_error(ctx, TSR_ERR_IO, "redis: cannot connect to %s:%d: %s", where, url->port,
                       c->errstr);
        goto out;
    }
    redisSetTimeout(c, tv);
    c->reader->maxbuf = 0; /* keep the read buffer: replies of tile payloads are large */
    if (url->password[0]) {
        const char *a2[] = {"AUTH", url->password};
        const char *a3[] = {"AUTH", url->user, url->password};
        int ok = url->user[0] ? command_ok(c, why, sizeof why, 3, a3)
                              : command_ok(c, why, sizeof why, 2, a2);
        if (!ok) {
            st = tsr_error(ctx, TSR_ERR_IO, "redis: %s refused the login: %s", where, why);
            goto out;
        }
    }
    if (url->db) {
        char db[16];
        snprintf(db, sizeof db, "%d", url->db);
        const char *argv[] = {"SELECT", db};
        if (!command_ok(c, why, sizeof why, 2, argv)) {
            st = tsr_error(ctx, TSR_ERR_IO, "redis: %s: cannot select database %d: %s", where,
                           url->db, why);
            goto out;
        }
    }
out:
    if (st)
        redisFree(c);
    else
        *out = c;
    return st;
}

int tsr_redis_reply_ok(const redisReply *reply) {
    return reply && reply->type != REDIS_REPLY_ERROR;
}
