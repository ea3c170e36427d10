/* The trailing-data rule of uploads: after a PNG's IEND chunk, a GIF's
 * trailer, a JPEG's EOI marker, the end of a WebP's RIFF chunk or the last
 * top-level box of a HEIF/AVIF only zero bytes may follow. Anything else (a
 * ZIP, a script, an HTML page: the makings of a polyglot) makes the upload
 * 422. The file is walked by its structure (chunk lengths, GIF sub-blocks,
 * JPEG segments and entropy-coded data, box sizes), reading through a 64 KiB
 * window, never whole in memory. TIFF, BMP and PNM have no end marker and
 * are not checked. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"

#define WINDOW (64 * 1024)

/* A forward reader over the file. */
typedef struct walker {
    int fd;              /* the file */
    uint64_t len;        /* its size */
    uint64_t pos;        /* next byte to read */
    uint8_t buf[WINDOW]; /* bytes [base, base + have) */
    uint64_t base;       /* file offset of buf[0] */
    size_t have;         /* valid bytes in buf */
} walker;

/* The byte at w->pos, advancing; -1 at the end of the file or on error. */
static int next(walker *w) {
    if (w->pos >= w->len)
        return -1;
    if (w->pos < w->base || w->pos >= w->base + w->have) {
        ssize_t got = pread(w->fd, w->buf, WINDOW, (off_t)w->pos);
        if (got <= 0)
            return -1;
        w->base = w->pos;
        w->have = (size_t)got;
    }
    return w->buf[w->pos++ - w->base];
}

/* Moves past the next 0xff byte (memchr over the window); false at the
 * end of the file. */
static bool to_ff(walker *w) {
    for (;;) {
        int c = next(w); /* loads the window at pos when needed */
        if (c < 0)
            return false;
        if (c == 0xff)
            return true;
        const uint8_t *at = w->buf + (w->pos - w->base);
        size_t left = w->have - (size_t)(w->pos - w->base);
        const uint8_t *ff = memchr(at, 0xff, left);
        if (ff) {
            w->pos += (uint64_t)(ff - at) + 1;
            return true;
        }
        w->pos += left;
    }
}

/* Big-endian 16 and 32 bit values; -1 past the end. */
static int64_t be(walker *w, int bytes) {
    int64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        int c = next(w);
        if (c < 0)
            return -1;
        v = v << 8 | c;
    }
    return v;
}

/* End offset of a PNG: just past the IEND chunk; 0 when not found. */
static uint64_t png_end(walker *w) {
    w->pos = 8;
    while (w->pos + 12 <= w->len) {
        int64_t n = be(w, 4), type = be(w, 4);
        if (n < 0 || type < 0)
            return 0;
        w->pos += (uint64_t)n + 4; /* data and CRC */
        if (type == 0x49454e44)    /* IEND */
            return w->pos;
    }
    return 0;
}

/* Skips GIF data sub-blocks up to the zero-length terminator. */
static int gif_blocks(walker *w) {
    for (int n; (n = next(w)) > 0;)
        w->pos += (uint64_t)n;
    return w->pos <= w->len;
}

/* End offset of a GIF: just past the trailer byte; 0 when not found. */
static uint64_t gif_end(walker *w) {
    w->pos = 10;
    int flags = next(w);
    if (flags < 0)
        return 0;
    w->pos = 13 + ((flags & 0x80) ? 3u << ((flags & 7) + 1) : 0);
    for (;;) {
        int c = next(w);
        if (c == 0x3b)
            return w->pos;
        if (c == 0x21) {
            if (next(w) < 0 || !gif_blocks(w))
                return 0;
        } else if (c == 0x2c) {
            w->pos += 8;
            int f = next(w);
            if (f < 0)
                return 0;
            w->pos += ((f & 0x80) ? 3u << ((f & 7) + 1) : 0) + 1; /* table, LZW code size */
            if (!gif_blocks(w))
                return 0;
        } else {
            return 0;
        }
    }
}

/* End offset of a JPEG: just past the EOI marker; 0 when not found. */
static uint64_t jpeg_end(walker *w) {
    w->pos = 2;
    int c = next(w);
    for (;;) {
        if (c != 0xff)
            return 0;
        while ((c = next(w)) == 0xff) /* fill bytes */
            ;
        if (c < 0)
            return 0;
        if (c == 0xd9)
            return w->pos;
        if (c == 0x01 || (c >= 0xd0 && c <= 0xd7)) {
            c = next(w);
            continue;
        }
        int64_t n = be(w, 2);
        if (n < 2)
            return 0;
        w->pos += (uint64_t)n - 2;
        if (c != 0xda) {
            c = next(w);
            continue;
        }
        /* entropy-coded data: up to a marker other than a stuffed 0 or RSTn */
        for (;;) {
            if (!to_ff(w))
                return 0;
            int m = next(w);
            while (m == 0xff)
                m = next(w);
            if (m < 0)
                return 0;
            if (m != 0 && !(m >= 0xd0 && m <= 0xd7)) {
                w->pos -= 2; /* back to 0xff, marker */
                c = next(w);
                break;
            }
        }
    }
}

/* End offset of a WebP: the RIFF chunk with its pad byte. */
static uint64_t webp_end(walker *w) {
    w->pos = 4;
    int64_t b[4];
    for (int i = 0; i < 4; i++)
        b[i] = next(w);
    if (b[3] < 0)
        return 0;
    uint64_t riff = (uint64_t)(b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24);
    return 8 + riff + (riff & 1);
}

/* End offset of a HEIF/AVIF: the top-level boxes walked by their sizes
 * (32- or 64-bit); a box that reaches the end of the file (size 0) ends
 * it; the walk stops at a header that does not fit. */
static uint64_t heif_end(walker *w) {
    uint64_t pos = 0;
    while (w->len - pos >= 8) {
        uint64_t size = 0, header = 8;
        w->pos = pos;
        for (int i = 0; i < 4; i++) /* the size; the type that follows is not needed */
            size = size << 8 | (uint64_t)next(w);
        if (size == 1 && w->len - pos >= 16) {
            size = 0, header = 16;
            w->pos = pos + 8;
            for (int i = 0; i < 8; i++)
                size = size << 8 | (uint64_t)next(w);
        } else if (size == 0) {
            return w->len;
        }
        if (size < header || size > w->len - pos)
            break;
        pos += size;
    }
    return pos;
}

tsr_status trailing_check(tsr_ctx *ctx, const char *path, tsr_format format) {
    uint64_t (*end_of)(walker *) = format == TSR_FORMAT_PNG    ? png_end
                                   : format == TSR_FORMAT_GIF  ? gif_end
                                   : format == TSR_FORMAT_JPEG ? jpeg_end
                                   : format == TSR_FORMAT_WEBP ? webp_end
                                   : format == TSR_FORMAT_HEIF || format == TSR_FORMAT_AVIF
                                       ? heif_end
                                       : NULL;
    if (!end_of)
        return TSR_OK;
    walker *wk = calloc(1, sizeof *wk);
    tsr_status st = TSR_OK;
    struct stat sb;
    if (!wk)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    wk->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (wk->fd < 0 || fstat(wk->fd, &sb)) {
        st = tsr_error(ctx, TSR_ERR_IO, "cannot reopen the upload: %s", strerror(errno));
        goto out;
    }
    wk->len = (uint64_t)sb.st_size;
    uint64_t end = end_of(wk);
    if (!end || end > wk->len) {
        st = tsr_error(ctx, TSR_ERR_CORRUPT, "%s: cannot find the end of the image",
                       tsr_format_name(format));
        goto out;
    }
    uint64_t extra = 0;
    wk->pos = end;
    for (int c; (c = next(wk)) >= 0;)
        if (c != 0) {
            extra = wk->len - end;
            break;
        }
    if (extra)
        st = tsr_error(ctx, TSR_ERR_CORRUPT,
                       "%s: %llu bytes of other data follow the end of the image (polyglot "
                       "files are refused)",
                       tsr_format_name(format), (unsigned long long)extra);
out:
    if (wk->fd >= 0)
        close(wk->fd);
    free(wk);
    return st;
}
