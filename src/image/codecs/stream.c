/* Row streaming front door: opens files, checks the byte cap, dispatches to
 * the per-format streaming readers and writers, and serves the formats that
 * cannot stream from a whole decoded image (reading) or a collected image
 * encoded at finish (writing). Writers go to a temporary file renamed into
 * place by finish. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream_internal.h"
#include "util/units.h"

#define SNIFF_BYTES 64

bool tsr_stream_pread(int fd, void *dst, size_t n, uint64_t offset) {
    uint8_t *p = dst;
    while (n) {
        ssize_t got = pread(fd, p, n, (off_t)offset);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return false;
        p += got, n -= (size_t)got, offset += (uint64_t)got;
    }
    return true;
}

tsr_status tsr_stream_write(tsr_row_writer *w, const void *src, size_t n) {
    const uint8_t *p = src;
    while (n) {
        ssize_t put = write(w->fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            return tsr_error(w->ctx, TSR_ERR_IO, "%s: %s", w->path, strerror(errno));
        p += put, n -= (size_t)put;
    }
    return TSR_OK;
}

tsr_status tsr_stream_pwrite(tsr_row_writer *w, const void *src, size_t n, uint64_t offset) {
    const uint8_t *p = src;
    while (n) {
        ssize_t put = pwrite(w->fd, p, n, (off_t)offset);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            return tsr_error(w->ctx, TSR_ERR_IO, "%s: %s", w->path, strerror(errno));
        p += put, n -= (size_t)put, offset += (uint64_t)put;
    }
    return TSR_OK;
}

/* Fallback reader: rows are copied out of the whole decoded image. */
static tsr_status read_image(tsr_row_reader *r, uint8_t *dst, size_t stride, int rows) {
    size_t len = (size_t)r->width * (size_t)r->bands;
    for (int i = 0; i < rows; i++)
        memcpy(dst + (size_t)i * stride,
               r->image->data + (size_t)(r->next_row + i) * r->image->stride, len);
    return TSR_OK;
}

/* Reads the whole file and decodes it; the reader then serves its rows. */
static tsr_status open_fallback(tsr_row_reader *r, const tsr_decode_options *opts,
                                tsr_image_info *info) {
    tsr_buffer buf = {0};
    tsr_status st =
        tsr_limits_check_alloc(r->ctx, "input (a format or layout read whole)", r->file_len);
    if (st)
        return st;
    if (tsr_buffer_reserve(&buf, (size_t)r->file_len + 1))
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "input: out of memory reading %llu bytes",
                         (unsigned long long)r->file_len);
    if (!tsr_stream_pread(r->fd, buf.data, (size_t)r->file_len, 0)) {
        st = tsr_error(r->ctx, TSR_ERR_IO, "input: cannot read %llu bytes: %s",
                       (unsigned long long)r->file_len, errno ? strerror(errno) : "file shrank");
        goto out;
    }
    buf.len = (size_t)r->file_len;
    st = tsr_image_decode(r->ctx, buf.data, buf.len, opts, &r->image, info);
    if (st)
        goto out;
    r->width = r->image->width, r->height = r->image->height, r->bands = r->image->bands;
    r->streams = false;
    r->read = read_image;
out:
    tsr_buffer_free(&buf);
    return st;
}

/* The streaming opener of `format`, or NULL when the format never streams. */
static tsr_status open_native(tsr_row_reader *r, tsr_format format, const tsr_decode_options *opts,
                              tsr_image_info *info, bool *fallback) {
    switch (format) {
    case TSR_FORMAT_JPEG:
        return tsr_jpeg_reader_open(r, opts, info, fallback);
    case TSR_FORMAT_PNG:
        return tsr_png_reader_open(r, opts, info, fallback);
    case TSR_FORMAT_TIFF:
        return tsr_tiff_reader_open(r, opts, info, fallback);
    case TSR_FORMAT_PNM:
        return tsr_pnm_reader_open(r, info, fallback);
    case TSR_FORMAT_BMP:
        return tsr_bmp_reader_open(r, info, fallback);
    default:
        *fallback = true;
        return TSR_OK;
    }
}

tsr_status tsr_row_reader_open(tsr_ctx *ctx, const char *path, const tsr_decode_options *opts,
                               tsr_row_reader **out, tsr_image_info *info) {
    static const tsr_decode_options defaults = {0};
    uint8_t head[SNIFF_BYTES];
    tsr_image_info local;
    struct stat sb;
    bool fallback = false;
    tsr_status st = TSR_OK;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (!info)
        info = &local;
    tsr_row_reader *r = calloc(1, sizeof *r);
    if (!r)
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", path);
    r->ctx = ctx;
    r->fd = -1;
    r->streams = true;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        st = tsr_error(ctx, TSR_ERR_IO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (fstat(r->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = tsr_error(ctx, TSR_ERR_IO, "%s: not a regular file", path);
        goto out;
    }
    r->file_len = (uint64_t)sb.st_size;
    uint64_t cap = tsr_ctx_limits(ctx)->max_file_bytes;
    if (r->file_len > cap) {
        char size[TSR_UNITS_TEXT], limit[TSR_UNITS_TEXT];
        tsr_units_pair(TSR_UNIT_BYTES, r->file_len, cap, size, limit);
        st =
            tsr_error(ctx, TSR_ERR_LIMIT, "%s: %s is more than the limit of %s", path, size, limit);
        goto out;
    }
    if (r->file_len == 0) {
        st = tsr_error(ctx, TSR_ERR_FORMAT, "%s: empty file (0 bytes)", path);
        goto out;
    }
    size_t n = r->file_len < SNIFF_BYTES ? (size_t)r->file_len : SNIFF_BYTES;
    if (!tsr_stream_pread(r->fd, head, n, 0)) {
        st = tsr_error(ctx, TSR_ERR_IO, "%s: cannot read the header", path);
        goto out;
    }
    tsr_format format = tsr_format_detect(head, n);
    if (format == TSR_FORMAT_UNKNOWN) {
        st = tsr_error(ctx, TSR_ERR_FORMAT,
                       "%s: unrecognised image format (not JPEG, PNG, GIF, WebP, TIFF, BMP, PNM, "
                       "HEIF or AVIF)",
                       path);
        goto out;
    }
    memset(info, 0, sizeof *info);
    info->format = format;
    info->frames = 1;
    info->orientation = 1;
    info->bit_depth = 8;
    st = open_native(r, format, opts, info, &fallback);
    if (!st && fallback) {
        if (r->close)
            r->close(r);
        r->close = NULL, r->state = NULL;
        st = open_fallback(r, opts, info);
    }
out:
    if (st) {
        tsr_row_reader_free(r);
        return st;
    }
    *out = r;
    return TSR_OK;
}

void tsr_row_reader_shape(const tsr_row_reader *reader, int *width, int *height, int *bands) {
    if (width)
        *width = reader->width;
    if (height)
        *height = reader->height;
    if (bands)
        *bands = reader->bands;
}

bool tsr_row_reader_streams(const tsr_row_reader *reader) {
    return reader->streams;
}

tsr_status tsr_row_reader_read(tsr_row_reader *reader, uint8_t *dst, size_t stride, int rows) {
    if (reader->error)
        return reader->error;
    if (rows < 0 || rows > reader->height - reader->next_row) {
        reader->error =
            tsr_error(reader->ctx, TSR_ERR_INTERNAL, "reader: asked for rows %d..%d of %d",
                      reader->next_row, reader->next_row + rows - 1, reader->height);
        return reader->error;
    }
    if (rows == 0)
        return TSR_OK;
    if (!dst || stride < (size_t)reader->width * (size_t)reader->bands) {
        reader->error = tsr_error(reader->ctx, TSR_ERR_USAGE, "reader: bad destination rows");
        return reader->error;
    }
    reader->error = reader->read(reader, dst, stride, rows);
    if (!reader->error)
        reader->next_row += rows;
    return reader->error;
}

void tsr_row_reader_free(tsr_row_reader *reader) {
    if (!reader)
        return;
    if (reader->close)
        reader->close(reader);
    if (reader->fd >= 0)
        close(reader->fd);
    tsr_image_free(reader->image);
    free(reader);
}
