/* Capped growable byte buffers and whole-file I/O. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/image.h"
#include "util/units.h"

#define DEFAULT_BUFFER_MAX ((size_t)4 << 30)

tsr_status tsr_buffer_reserve(tsr_buffer *buf, size_t n) {
    size_t max = buf->max ? buf->max : DEFAULT_BUFFER_MAX;
    if (n > max || buf->len > max - n)
        return TSR_ERR_LIMIT;
    if (buf->len + n <= buf->cap)
        return TSR_OK;
    size_t cap = buf->cap ? buf->cap : 4096;
    while (cap < buf->len + n)
        cap = cap > max / 2 ? max : cap * 2;
    uint8_t *data = realloc(buf->data, cap);
    if (!data)
        return TSR_ERR_NOMEM;
    buf->data = data;
    buf->cap = cap;
    return TSR_OK;
}

tsr_status tsr_buffer_append(tsr_buffer *buf, const void *bytes, size_t n) {
    tsr_status st = tsr_buffer_reserve(buf, n);
    if (st)
        return st;
    if (n)
        memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return TSR_OK;
}

void tsr_buffer_free(tsr_buffer *buf) {
    if (!buf)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

/* A LIMIT error for a file that grew past `max_bytes` while read. */
static tsr_status over_limit(tsr_ctx *ctx, const char *path, uint64_t max_bytes) {
    char cap[TSR_UNITS_TEXT];
    tsr_units_format(TSR_UNIT_BYTES, max_bytes, cap);
    return tsr_error(ctx, TSR_ERR_LIMIT, "%s: more than the limit of %s", path, cap);
}

tsr_status tsr_file_read(tsr_ctx *ctx, const char *path, uint64_t max_bytes, tsr_buffer *buf) {
    tsr_status st = TSR_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = tsr_error(ctx, TSR_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        char size[TSR_UNITS_TEXT], cap[TSR_UNITS_TEXT];
        tsr_units_pair(TSR_UNIT_BYTES, (uint64_t)sb.st_size, max_bytes, size, cap);
        st = tsr_error(ctx, TSR_ERR_LIMIT, "%s: %s is more than the limit of %s", path, size, cap);
        goto out;
    }
    buf->max = (size_t)max_bytes + 1;
    if (tsr_buffer_reserve(buf, (size_t)sb.st_size + 1)) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    for (;;) {
        if (buf->len == buf->cap && tsr_buffer_reserve(buf, 65536)) {
            st = over_limit(ctx, path, max_bytes);
            goto out;
        }
        ssize_t n = read(fd, buf->data + buf->len, buf->cap - buf->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = tsr_error(ctx, TSR_ERR_IO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        buf->len += (size_t)n;
    }
    if (buf->len > max_bytes)
        st = over_limit(ctx, path, max_bytes);
out:
    close(fd);
    return st;
}

tsr_status tsr_file_write_atomic(tsr_ctx *ctx, const char *path, const void *bytes, size_t n) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    tsr_status st = TSR_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = tsr_error(ctx, TSR_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    const uint8_t *p = bytes;
    size_t left = n;
    while (left) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            st = tsr_error(ctx, TSR_ERR_IO, "%s: %s", path, strerror(errno));
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!st && fsync(fd) != 0)
        st = tsr_error(ctx, TSR_ERR_IO, "%s: fsync: %s", path, strerror(errno));
    if (close(fd) != 0 && !st)
        st = tsr_error(ctx, TSR_ERR_IO, "%s: close: %s", path, strerror(errno));
    if (!st && rename(tmp, path) != 0)
        st = tsr_error(ctx, TSR_ERR_IO, "%s: rename: %s", path, strerror(errno));
    if (st)
        unlink(tmp);
out:
    free(tmp);
    return st;
}
