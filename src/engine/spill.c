/* Stage boundaries in temporary files (spill.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/spill.h"
#include "util/units.h"

/* The folder temporary files go to: $TMPDIR when set, else /tmp. */
static const char *spill_dir(void) {
    const char *dir = getenv("TMPDIR");
    return dir && dir[0] ? dir : "/tmp";
}

/* Reserves `bytes` for the file: ENOSPC now rather than half-way through a
 * stage. File systems that cannot reserve (EOPNOTSUPP, EINVAL) just grow it. */
static tsr_status reserve(tsr_ctx *ctx, int fd, uint64_t bytes, const char *dir) {
    int err = bytes ? posix_fallocate(fd, 0, (off_t)bytes) : 0;
    if (!err || err == EOPNOTSUPP || err == EINVAL)
        return TSR_OK;
    char size[TSR_UNITS_TEXT];
    tsr_units_format(TSR_UNIT_BYTES, bytes, size);
    return tsr_error(ctx, TSR_ERR_IO,
                     "no room for a %s temporary file in %s (TMPDIR): %s; a run that holds "
                     "whole images in memory needs as much (see --memory-budget)",
                     size, dir, strerror(err));
}

tsr_status tsr_spill_new(tsr_ctx *ctx, tsr_rect stored, int image_w, int image_h, int bands,
                         tsr_spill **out) {
    *out = NULL;
    const char *dir = spill_dir();
    char path[4096];
    if (snprintf(path, sizeof path, "%s/tessera-spill-XXXXXX", dir) >= (int)sizeof path)
        return tsr_error(ctx, TSR_ERR_IO, "TMPDIR is too long a path");
    tsr_spill *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    s->fd = mkostemp(path, O_CLOEXEC);
    if (s->fd < 0) {
        int err = errno;
        free(s);
        return tsr_error(ctx, TSR_ERR_IO, "cannot create a temporary file in %s (TMPDIR): %s", dir,
                         strerror(err));
    }
    unlink(path);
    s->stored = stored;
    s->image_w = image_w;
    s->image_h = image_h;
    s->bands = bands;
    s->stride = (size_t)(stored.w > 0 ? stored.w : 0) * (size_t)bands;
    tsr_status st =
        reserve(ctx, s->fd, (uint64_t)s->stride * (uint64_t)(stored.h > 0 ? stored.h : 0), dir);
    if (st) {
        tsr_spill_free(s);
        return st;
    }
    *out = s;
    return TSR_OK;
}

/* Writes n bytes at offset, whole. */
static int write_all(int fd, const uint8_t *p, size_t n, uint64_t offset) {
    while (n) {
        ssize_t put = pwrite(fd, p, n, (off_t)offset);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return put < 0 ? errno : EIO;
        p += put, n -= (size_t)put, offset += (uint64_t)put;
    }
    return 0;
}

/* Reads n bytes at offset, whole. */
static int read_all(int fd, uint8_t *p, size_t n, uint64_t offset) {
    while (n) {
        ssize_t got = pread(fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return got < 0 ? errno : EIO;
        p += got, n -= (size_t)got, offset += (uint64_t)got;
    }
    return 0;
}

tsr_status tsr_spill_append(tsr_spill *spill, tsr_ctx *ctx, const uint8_t *src, size_t stride,
                            int n) {
    if (n < 0 || n > spill->stored.h - spill->rows)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "temporary file: rows %d..%d of %d", spill->rows,
                         spill->rows + n - 1, spill->stored.h);
    int err = 0;
    uint64_t at = (uint64_t)spill->rows * spill->stride;
    if (stride == spill->stride)
        err = write_all(spill->fd, src, (size_t)n * stride, at);
    for (int i = 0; !err && stride != spill->stride && i < n; i++)
        err = write_all(spill->fd, src + (size_t)i * stride, spill->stride,
                        at + (uint64_t)i * spill->stride);
    if (err)
        return tsr_error(ctx, TSR_ERR_IO, "writing a temporary file in %s (TMPDIR): %s",
                         spill_dir(), strerror(err));
    spill->rows += n;
    return TSR_OK;
}

tsr_status tsr_spill_read(const tsr_spill *spill, tsr_ctx *ctx, tsr_rect r, uint8_t *dst,
                          size_t stride) {
    tsr_rect s = spill->stored;
    if (r.w < 0 || r.h < 0 || r.x < s.x || r.y < s.y || r.x + r.w > s.x + s.w ||
        r.y + r.h > s.y + spill->rows)
        return tsr_error(ctx, TSR_ERR_INTERNAL,
                         "temporary file: rect %d,%d %dx%d outside %d,%d %dx%d (%d rows written)",
                         r.x, r.y, r.w, r.h, s.x, s.y, s.w, s.h, spill->rows);
    size_t row = (size_t)r.w * (size_t)spill->bands;
    uint64_t at = (uint64_t)(r.y - s.y) * spill->stride + (uint64_t)(r.x - s.x) * spill->bands;
    int err = 0;
    if (row == spill->stride && stride == row)
        err = read_all(spill->fd, dst, row * (size_t)r.h, at);
    for (int i = 0; !err && !(row == spill->stride && stride == row) && i < r.h; i++)
        err = read_all(spill->fd, dst + (size_t)i * stride, row, at + (uint64_t)i * spill->stride);
    if (err)
        return tsr_error(ctx, TSR_ERR_IO, "reading a temporary file: %s", strerror(err));
    return TSR_OK;
}

void tsr_spill_free(tsr_spill *spill) {
    if (!spill)
        return;
    if (spill->fd >= 0)
        close(spill->fd);
    free(spill);
}
