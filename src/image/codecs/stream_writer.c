/* Row writers: argument checks, the temporary file (same folder, fsync,
 * rename at finish, unlink when freed unfinished), dispatch to the streaming
 * encoders, and the collect-then-encode fallback for the other formats (and
 * for BMP into a descriptor that cannot seek). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyramid_internal.h"

/* Fallback: rows are copied into an image encoded at finish. */
static tsr_status collect_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    size_t len = (size_t)w->width * (size_t)w->bands;
    for (int i = 0; i < rows; i++)
        memcpy(w->image->data + (size_t)(w->rows_done + i) * w->image->stride,
               src + (size_t)i * stride, len);
    return TSR_OK;
}

static tsr_status encode_collected(tsr_row_writer *w) {
    tsr_buffer buf = {0};
    tsr_status st = tsr_image_encode(w->ctx, w->image, w->format, &w->opts, &buf);
    if (!st)
        st = tsr_stream_write(w, buf.data, buf.len);
    tsr_buffer_free(&buf);
    return st;
}

static tsr_status open_fallback(tsr_row_writer *w) {
    w->streams = false;
    w->write = collect_rows;
    w->finish = encode_collected;
    return tsr_image_new(w->ctx, w->width, w->height, w->bands, &w->image);
}

/* Checks the arguments as tsr_image_encode would, before any file exists. */
static tsr_status check_args(tsr_ctx *ctx, tsr_format format, int width, int height, int bands,
                             const tsr_encode_options *opts) {
    if (width <= 0 || height <= 0 || bands < 1 || bands > TSR_MAX_BANDS)
        return tsr_error(ctx, TSR_ERR_USAGE, "writer: invalid image %dx%d with %d bands", width,
                         height, bands);
    if (!tsr_format_can_encode(format))
        return tsr_error(ctx, TSR_ERR_FORMAT, "writer: this build cannot write %s",
                         tsr_format_name(format));
    if (opts->quality < 0 || opts->quality > 100)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: quality %d is outside 1..100",
                         tsr_format_name(format), opts->quality);
    if (opts->compression < -1 || opts->compression > 9)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: compression %d is outside 0..9",
                         tsr_format_name(format), opts->compression);
    if (opts->layout == TSR_LAYOUT_PYRAMID && format != TSR_FORMAT_TIFF)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: a pyramid is written as TIFF only",
                         tsr_format_name(format));
    if (opts->layout == TSR_LAYOUT_DZI && format != TSR_FORMAT_JPEG && format != TSR_FORMAT_PNG)
        return tsr_error(ctx, TSR_ERR_USAGE, "dzi: tiles are JPEG or PNG, not %s",
                         tsr_format_name(format));
    if ((unsigned)opts->layout > TSR_LAYOUT_DZI)
        return tsr_error(ctx, TSR_ERR_USAGE, "writer: unknown layout %d", (int)opts->layout);
    if (opts->speed < 0 || opts->speed > 9)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: speed %d is outside 1..9",
                         tsr_format_name(format), opts->speed);
    return TSR_OK;
}

/* Creates the temporary file next to w->path. */
static tsr_status make_temp(tsr_row_writer *w) {
    size_t n = strlen(w->path) + 8;
    char *temp = malloc(n);
    if (!temp)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "%s: out of memory", w->path);
    snprintf(temp, n, "%s.XXXXXX", w->path);
    w->fd = mkstemp(temp);
    if (w->fd < 0) {
        tsr_status st = tsr_error(w->ctx, TSR_ERR_IO, "%s: cannot create a temporary file: %s",
                                  w->path, strerror(errno));
        free(temp);
        return st;
    }
    w->temp = temp;
    fchmod(w->fd, 0644);
    return TSR_OK;
}

/* Opens a writer to `path` (fd < 0: temp file + rename) or straight into a
 * duplicate of `fd` (then `path` only labels errors). */
static tsr_status writer_open(tsr_ctx *ctx, const char *path, int fd, tsr_format format, int width,
                              int height, int bands, const tsr_encode_options *opts,
                              tsr_row_writer **out) {
    static const tsr_encode_options defaults = {.quality = 0, .compression = -1};
    tsr_status st;
    bool fallback = false;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if ((st = check_args(ctx, format, width, height, bands, opts)))
        return st;
    tsr_row_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", path);
    }
    w->ctx = ctx, w->fd = -1, w->format = format, w->opts = *opts;
    w->width = width, w->height = height, w->bands = bands, w->streams = true;
    w->direct = fd >= 0;
    if (w->direct && (w->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
        st = tsr_error(ctx, TSR_ERR_IO, "%s: cannot duplicate the descriptor: %s", path,
                       strerror(errno));
    else if (!w->direct)
        st = make_temp(w);
    if (st)
        goto out;
    if (opts->layout != TSR_LAYOUT_SINGLE) { /* pyramid_internal.h */
        st = opts->layout == TSR_LAYOUT_DZI ? tsr_dzi_writer_open(w)
                                            : tsr_tiff_pyramid_writer_open(w);
        goto out;
    }
    switch (format) {
    case TSR_FORMAT_JPEG:
        st = tsr_jpeg_writer_open(w);
        break;
    case TSR_FORMAT_PNG:
        st = tsr_png_writer_open(w);
        break;
    case TSR_FORMAT_TIFF:
        st = tsr_tiff_writer_open(w);
        break;
    case TSR_FORMAT_PNM:
        st = tsr_pnm_writer_open(w);
        break;
    case TSR_FORMAT_BMP:
        st = tsr_bmp_writer_open(w, &fallback);
        break;
    default:
        fallback = true;
        break;
    }
    if (!st && fallback)
        st = open_fallback(w);
out:
    if (st) {
        tsr_row_writer_free(w);
        return st;
    }
    *out = w;
    return TSR_OK;
}

tsr_status tsr_row_writer_open(tsr_ctx *ctx, const char *path, tsr_format format, int width,
                               int height, int bands, const tsr_encode_options *opts,
                               tsr_row_writer **out) {
    return writer_open(ctx, path, -1, format, width, height, bands, opts, out);
}

tsr_status tsr_row_writer_open_fd(tsr_ctx *ctx, int fd, const char *name, tsr_format format,
                                  int width, int height, int bands, const tsr_encode_options *opts,
                                  tsr_row_writer **out) {
    if (fd < 0) {
        *out = NULL;
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: no file descriptor to write to", name);
    }
    return writer_open(ctx, name, fd, format, width, height, bands, opts, out);
}

/* Whether rows may still be written: the temp file exists, or a direct
 * writer is not finished. */
static bool writable(const tsr_row_writer *w) {
    return w->direct ? !w->finished : w->temp != NULL;
}

bool tsr_row_writer_streams(const tsr_row_writer *writer) {
    return writer->streams;
}

/* Every WRITEBACK_BYTES of pixels passed in, the kernel is asked to start
 * writing the file's dirty pages to disk (sync_file_range, asynchronous),
 * so the fsync at finish waits for the last part only: for a 228 MB TIFF
 * it was 0.2 s at the end, the disk's whole write time. Whatever the
 * encoder has written by then goes; a pipe or socket fails the call, which
 * is ignored. */
#define WRITEBACK_BYTES ((uint64_t)16 << 20)

static void early_writeback(tsr_row_writer *w, int rows) {
    w->unflushed += (uint64_t)rows * (uint64_t)w->width * (uint64_t)w->bands;
    if (w->unflushed < WRITEBACK_BYTES || !w->streams)
        return;
    w->unflushed = 0;
#ifdef SYNC_FILE_RANGE_WRITE
    (void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
}

tsr_status tsr_row_writer_write(tsr_row_writer *writer, const uint8_t *src, size_t stride,
                                int rows) {
    if (writer->error)
        return writer->error;
    if (!writable(writer) || rows < 0 || rows > writer->height - writer->rows_done) {
        writer->error =
            tsr_error(writer->ctx, TSR_ERR_INTERNAL, "%s: writing rows %d..%d of %d", writer->path,
                      writer->rows_done, writer->rows_done + rows - 1, writer->height);
        return writer->error;
    }
    if (rows == 0)
        return TSR_OK;
    writer->error = writer->write(writer, src, stride, rows);
    if (!writer->error) {
        writer->rows_done += rows;
        early_writeback(writer, rows);
    }
    return writer->error;
}

tsr_status tsr_row_writer_finish(tsr_row_writer *writer) {
    tsr_row_writer *w = writer;
    if (w->error)
        return w->error;
    if (!writable(w) || w->rows_done != w->height) {
        w->error = tsr_error(w->ctx, TSR_ERR_INTERNAL, "%s: finished after %d of %d rows", w->path,
                             w->rows_done, w->height);
        return w->error;
    }
    tsr_status st = w->finish ? w->finish(w) : TSR_OK;
    /* A pipe or socket (tsr_row_writer_open_fd) has nothing to sync: EINVAL/EROFS. */
    if (!st && fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS)
        st = tsr_error(w->ctx, TSR_ERR_IO, "%s: fsync: %s", w->path, strerror(errno));
    if (close(w->fd) != 0 && !st)
        st = tsr_error(w->ctx, TSR_ERR_IO, "%s: close: %s", w->path, strerror(errno));
    w->fd = -1;
    if (w->direct) {
        w->finished = !st;
        w->error = st;
        return st;
    }
    if (!st && rename(w->temp, w->path) != 0)
        st = tsr_error(w->ctx, TSR_ERR_IO, "%s: rename: %s", w->path, strerror(errno));
    if (!st) {
        free(w->temp);
        w->temp = NULL;
    }
    w->error = st;
    return st;
}

void tsr_row_writer_free(tsr_row_writer *writer) {
    if (!writer)
        return;
    if (writer->close)
        writer->close(writer);
    if (writer->fd >= 0)
        close(writer->fd);
    if (writer->temp)
        unlink(writer->temp);
    free(writer->temp);
    free(writer->path);
    tsr_image_free(writer->image);
    free(writer);
}
