/* PNG row streaming through libspng: non-interlaced files decode row by
 * row from the file (SPNG_DECODE_PROGRESSIVE) with the same conversions as
 * png.c; interlaced files and an eXIf orientation other than 1 fall back to
 * the whole decode. Rows are encoded progressively into the temporary file. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "png_internal.h"
#include "stream_internal.h"

#define TAIL_BYTES 65536 /* where tsr_png_has_iend looks */

/* Decoder state of one reader. */
typedef struct png_reader {
    spng_ctx *dec;  /* the decoder, reading the fd through read_fn */
    int fd;         /* the input file, read sequentially */
    row_format rf;  /* how decoded rows become image rows */
    size_t row_len; /* bytes of one decoded row */
    uint8_t *buf;   /* one decoded row */
} png_reader;

/* libspng's read callback: exactly `length` bytes or an error. */
static int read_fn(spng_ctx *ctx, void *user, void *dst, size_t length) {
    png_reader *s = user;
    uint8_t *p = dst;
    (void)ctx;
    while (length) {
        ssize_t got = read(s->fd, p, length);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return SPNG_IO_ERROR;
        if (got == 0)
            return SPNG_IO_EOF;
        p += got, length -= (size_t)got;
    }
    return 0;
}

static void close_reader(tsr_row_reader *r) {
    png_reader *s = r->state;
    if (!s)
        return;
    spng_ctx_free(s->dec);
    free(s->buf);
    free(s);
}

/* After the last row: the chunks up to IEND, and a complete IEND at the end. */
static tsr_status finish_file(tsr_row_reader *r, png_reader *s) {
    int err = spng_decode_chunks(s->dec);
    if (err)
        return tsr_png_fail(r->ctx, err, "decoding");
    size_t tail = r->file_len < TAIL_BYTES ? (size_t)r->file_len : TAIL_BYTES;
    uint8_t *bytes = malloc(tail ? tail : 1);
    if (!bytes)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "png: out of memory");
    bool ok =
        tsr_stream_pread(r->fd, bytes, tail, r->file_len - tail) && tsr_png_has_iend(bytes, tail);
    free(bytes);
    return ok ? TSR_OK
              : tsr_error(r->ctx, TSR_ERR_CORRUPT, "png: truncated: no complete IEND chunk");
}

static tsr_status read_rows(tsr_row_reader *r, uint8_t *dst, size_t stride, int rows) {
    png_reader *s = r->state;
    for (int i = 0; i < rows; i++) {
        bool last = r->next_row + i + 1 == r->height;
        int err = spng_decode_row(s->dec, s->buf, s->row_len);
        if (err && !(err == SPNG_EOI && last))
            return tsr_png_fail(r->ctx, err, "decoding");
        tsr_png_store_row(s->buf, &s->rf, dst + (size_t)i * stride, r->bands, r->width);
    }
    if (r->next_row + rows == r->height)
        return finish_file(r, s);
    return TSR_OK;
}

tsr_status tsr_png_reader_open(tsr_row_reader *r, const tsr_decode_options *opts,
                               tsr_image_info *info, bool *fallback) {
    struct spng_ihdr ihdr;
    size_t image_len;
    png_reader *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "png: out of memory");
    r->state = s;
    r->close = close_reader;
    s->fd = r->fd;
    if (!(s->dec = spng_ctx_new(0)))
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "png: out of memory");
    int err = spng_set_png_stream(s->dec, read_fn, s);
    if (!err)
        err = tsr_png_set_limits(s->dec, tsr_ctx_limits(r->ctx));
    if (err)
        return tsr_png_fail(r->ctx, err, "setting up the decoder");
    tsr_status st = tsr_png_read_header(r->ctx, s->dec, info, &ihdr);
    if (st)
        return st;
    bool turned = !opts->no_autorotate && info->orientation > 1 && info->orientation <= 8;
    if (ihdr.interlace_method != SPNG_INTERLACE_NONE || turned) {
        *fallback = true;
        return TSR_OK;
    }
    tsr_png_pick_format(s->dec, &ihdr, info->bands, &s->rf);
    err = spng_decoded_image_size(s->dec, s->rf.fmt, &image_len);
    if (err)
        return tsr_png_fail(r->ctx, err, "sizing the image");
    s->row_len = image_len / ihdr.height;
    if (!(s->buf = malloc(s->row_len)))
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "png: out of memory");
    err = spng_decode_image(s->dec, NULL, 0, s->rf.fmt, SPNG_DECODE_TRNS | SPNG_DECODE_PROGRESSIVE);
    if (err)
        return tsr_png_fail(r->ctx, err, "decoding");
    r->width = info->width, r->height = info->height, r->bands = info->bands;
    r->read = read_rows;
    return TSR_OK;
}

/* libspng's write callback: all bytes to the temporary file. */
static int write_fn(spng_ctx *ctx, void *user, void *src, size_t length) {
    (void)ctx;
    return tsr_stream_write(user, src, length) ? SPNG_IO_ERROR : 0;
}

/* Records an encoder failure. */
static tsr_status write_failure(tsr_row_writer *w, int err) {
    tsr_status st = err == SPNG_EMEM       ? TSR_ERR_NOMEM
                    : err == SPNG_IO_ERROR ? TSR_ERR_IO
                                           : TSR_ERR_INTERNAL;
    return tsr_error(w->ctx, st, "png: %s: encoding failed: %s", w->path, spng_strerror(err));
}

static void close_writer(tsr_row_writer *w) {
    spng_ctx_free(w->state);
}

static tsr_status write_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    size_t row_len = (size_t)w->width * (size_t)w->bands;
    for (int i = 0; i < rows; i++) {
        int err = spng_encode_row(w->state, src + (size_t)i * stride, row_len);
        if (err && !(err == SPNG_EOI && w->rows_done + i + 1 == w->height))
            return write_failure(w, err);
    }
    return TSR_OK;
}

tsr_status tsr_png_writer_open(tsr_row_writer *w) {
    static const uint8_t color_types[5] = {
        0, SPNG_COLOR_TYPE_GRAYSCALE, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, SPNG_COLOR_TYPE_TRUECOLOR,
        SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};
    spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!enc)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "png: out of memory");
    w->state = enc;
    w->close = close_writer;
    w->write = write_rows;
    struct spng_ihdr ihdr = {
        .width = (uint32_t)w->width,
        .height = (uint32_t)w->height,
        .bit_depth = 8,
        .color_type = color_types[w->bands],
    };
    int level = w->opts.compression < 0 ? 6 : w->opts.compression;
    int err = spng_set_png_stream(enc, write_fn, w);
    if (!err)
        err = spng_set_option(enc, SPNG_IMG_COMPRESSION_LEVEL, level);
    if (!err)
        err = spng_set_ihdr(enc, &ihdr);
    if (!err)
        err = spng_encode_image(enc, NULL, 0, SPNG_FMT_PNG,
                                SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE);
    return err ? write_failure(w, err) : TSR_OK;
}
