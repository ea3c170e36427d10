/* Row streaming of the formats parsed here. Binary PNM (P5/P6, any maxval)
 * and every BMP the parser accepts (top-down and bottom-up) are read with
 * pread, up to READ_BYTES of stored rows at a time (a bottom-up BMP's are
 * walked backwards); ASCII PNM and bitmaps fall back to the whole decode.
 * PNM is written as the header then rows; BMP as the header at open, then
 * each row with pwrite at its stored (bottom-up) place, or collected and
 * encoded at finish when the descriptor cannot seek or appends. Both give
 * the same bytes as pnm.c and bmp.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pnm_bmp_internal.h"
#include "stream_internal.h"

#define HEAD_BYTES 65536     /* headers, BMP palettes and masks must fit here */
#define READ_BYTES (1 << 20) /* stored rows read at once (at least one row) */

/* Reader state of either format. */
typedef struct raw_reader {
    bool bmp;         /* BMP rather than PNM */
    bool bottom_up;   /* stored rows run from the last image row to the first */
    pnm_header pnm;   /* PNM header */
    bmp_header *bh;   /* BMP header (large: holds the palette) */
    uint64_t data;    /* offset of the first stored row */
    size_t row_bytes; /* bytes of one stored row */
    int chunk_rows;   /* stored rows `rows` holds */
    uint8_t *rows;    /* stored rows as read */
} raw_reader;

static void close_reader(tsr_row_reader *r) {
    raw_reader *s = r->state;
    if (!s)
        return;
    free(s->bh);
    free(s->rows);
    free(s);
}

/* One binary PNM row to 8 bits. */
static void pnm_row(const pnm_header *h, const uint8_t *p, uint8_t *dst) {
    size_t n = (size_t)h->width * (size_t)h->spp;
    for (size_t i = 0; i < n; i++) {
        uint32_t v = h->maxval > 255 ? (uint32_t)(p[2 * i] << 8 | p[2 * i + 1]) : p[i];
        dst[i] = tsr_pnm_scale(v, h->maxval);
    }
}

/* File offset of image row y. */
static uint64_t row_offset(const tsr_row_reader *r, const raw_reader *s, int y) {
    uint64_t stored = (uint64_t)(s->bottom_up ? r->height - 1 - y : y);
    return s->data + stored * s->row_bytes;
}

/* Image rows y..y+n-1 could not be read together: names the first that
 * cannot be read alone (a bottom-up file stores its top rows last). */
static tsr_status truncated(tsr_row_reader *r, raw_reader *s, int y, int n) {
    int bad = y;
    while (bad < y + n - 1 && tsr_stream_pread(r->fd, s->rows, s->row_bytes, row_offset(r, s, bad)))
        bad++;
    return tsr_error(r->ctx, TSR_ERR_CORRUPT, "%s: truncated at row %d%s", s->bmp ? "bmp" : "pnm",
                     bad, s->bottom_up ? " (bottom-up: the top rows are stored last)" : "");
}

/* Reads up to chunk_rows stored rows with one pread; the stored rows of
 * image rows y..y+n-1 are contiguous either way, reversed when bottom-up. */
static tsr_status read_rows(tsr_row_reader *r, uint8_t *dst, size_t stride, int rows) {
    raw_reader *s = r->state;
    for (int i = 0; i < rows;) {
        int y = r->next_row + i;
        int n = rows - i < s->chunk_rows ? rows - i : s->chunk_rows;
        uint64_t first = row_offset(r, s, s->bottom_up ? y + n - 1 : y);
        if (!tsr_stream_pread(r->fd, s->rows, (size_t)n * s->row_bytes, first))
            return truncated(r, s, y, n);
        for (int k = 0; k < n; k++, i++) {
            const uint8_t *src = s->rows + (size_t)(s->bottom_up ? n - 1 - k : k) * s->row_bytes;
            if (s->bmp)
                tsr_bmp_decode_row(s->bh, src, dst + (size_t)i * stride);
            else
                pnm_row(&s->pnm, src, dst + (size_t)i * stride);
        }
    }
    return TSR_OK;
}

/* Reads the first bytes of the file; the caller frees *out. */
static tsr_status read_head(tsr_row_reader *r, uint8_t **out, size_t *len) {
    *len = r->file_len < HEAD_BYTES ? (size_t)r->file_len : HEAD_BYTES;
    *out = malloc(*len ? *len : 1);
    if (!*out)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "input: out of memory");
    if (!tsr_stream_pread(r->fd, *out, *len, 0))
        return tsr_error(r->ctx, TSR_ERR_IO, "input: cannot read the header");
    return TSR_OK;
}

/* Common part of both openers once the header is known. */
static tsr_status start(tsr_row_reader *r, raw_reader *s, int width, int height, int bands) {
    size_t fit = s->row_bytes ? READ_BYTES / s->row_bytes : (size_t)height;
    s->chunk_rows = fit < 1 ? 1 : fit > (size_t)height ? height : (int)fit;
    if (!(s->rows = malloc(s->row_bytes ? (size_t)s->chunk_rows * s->row_bytes : 1)))
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "input: out of memory");
    r->width = width, r->height = height, r->bands = bands;
    r->read = read_rows;
    return TSR_OK;
}

/* Whether the PNM header parses from `head`, recording nothing in r->ctx. */
static bool parses_quietly(tsr_row_reader *r, const uint8_t *head, size_t len, pnm_header *h) {
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return false;
    tsr_ctx_set_limits(scratch, tsr_ctx_limits(r->ctx));
    bool ok = tsr_pnm_parse(scratch, head, len, r->file_len, h) == TSR_OK;
    tsr_ctx_free(scratch);
    return ok;
}

tsr_status tsr_pnm_reader_open(tsr_row_reader *r, tsr_image_info *info, bool *fallback) {
    uint8_t *head = NULL;
    size_t len;
    raw_reader *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "pnm: out of memory");
    r->state = s;
    r->close = close_reader;
    tsr_status st = read_head(r, &head, &len);
    if (st)
        goto out;
    pnm_header *h = &s->pnm;
    /* A header longer than HEAD_BYTES (huge comments), ASCII data or a
     * bitmap: let the whole decoder handle it. A silent parse decides. */
    if (len < r->file_len && !parses_quietly(r, head, len, h)) {
        *fallback = true;
        goto out;
    }
    if ((st = tsr_pnm_parse(r->ctx, head, len, r->file_len, h)))
        goto out;
    info->width = (int)h->width, info->height = (int)h->height, info->bands = h->spp;
    info->bit_depth = h->maxval > 255 ? 16 : h->kind == 1 || h->kind == 4 ? 1 : 8;
    if (h->kind != 5 && h->kind != 6) {
        *fallback = true;
        goto out;
    }
    s->data = h->data;
    s->row_bytes = (size_t)h->width * (size_t)h->spp * (h->maxval > 255 ? 2 : 1);
    st = start(r, s, (int)h->width, (int)h->height, h->spp);
out:
    free(head);
    return st;
}

tsr_status tsr_bmp_reader_open(tsr_row_reader *r, tsr_image_info *info, bool *fallback) {
    uint8_t *head = NULL;
    size_t len;
    raw_reader *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "bmp: out of memory");
    r->state = s;
    r->close = close_reader;
    s->bmp = true;
    tsr_status st = read_head(r, &head, &len);
    if (st)
        goto out;
    if (!(s->bh = malloc(sizeof *s->bh))) {
        st = tsr_error(r->ctx, TSR_ERR_NOMEM, "bmp: out of memory");
        goto out;
    }
    bmp_header *h = s->bh;
    if ((st = tsr_bmp_parse(r->ctx, head, len, r->file_len, h)))
        goto out;
    info->width = (int)h->width, info->height = (int)h->height, info->bands = h->bands;
    info->bit_depth = h->bpp <= 8 ? h->bpp : 8;
    /* Every layout tsr_bmp_parse accepts streams (it refuses RLE and
     * embedded JPEG/PNG), so there is no fallback. */
    (void)fallback;
    s->bottom_up = !h->top_down;
    s->data = h->data_offset;
    s->row_bytes = (size_t)h->row_bytes;
    st = start(r, s, (int)h->width, (int)h->height, h->bands);
out:
    free(head);
    return st;
}

/* PNM writer: rows with alpha dropped and gray/RGB kept. */
static tsr_status write_pnm_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    int bands = w->bands >= 3 ? 3 : 1;
    size_t row_len = (size_t)w->width * (size_t)bands;
    for (int i = 0; i < rows; i++) {
        const uint8_t *line = src + (size_t)i * stride;
        if (bands != w->bands) {
            tsr_codec_convert_row(line, w->bands, w->state, bands, w->width);
            line = w->state;
        }
        tsr_status st = tsr_stream_write(w, line, row_len);
        if (st)
            return st;
    }
    return TSR_OK;
}

static void close_pnm(tsr_row_writer *w) {
    free(w->state);
}

tsr_status tsr_pnm_writer_open(tsr_row_writer *w) {
    char head[64];
    int bands = w->bands >= 3 ? 3 : 1;
    w->close = close_pnm;
    w->write = write_pnm_rows;
    if (!(w->state = malloc((size_t)w->width * 3)))
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "pnm: out of memory");
    int n = snprintf(head, sizeof head, "P%c\n%d %d\n255\n", bands == 3 ? '6' : '5', w->width,
                     w->height);
    return tsr_stream_write(w, head, (size_t)n);
}

/* BMP writer state: where the file starts and how it is laid out. */
typedef struct bmp_writer {
    uint64_t base;      /* the fd's offset at open: the file's first byte */
    uint64_t data;      /* offset of the first stored row from base */
    uint64_t row_bytes; /* stored row length, padded to 4 */
    uint64_t total;     /* bytes of the whole file */
    uint8_t *row;       /* one stored row; its padding stays zero */
} bmp_writer;

/* Image row y is stored (height - 1 - y) rows after the first stored row. */
static tsr_status write_bmp_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    bmp_writer *s = w->state;
    for (int i = 0; i < rows; i++) {
        uint64_t stored = (uint64_t)(w->height - 1 - (w->rows_done + i));
        tsr_bmp_encode_row(src + (size_t)i * stride, w->bands, w->width, s->row);
        tsr_status st = tsr_stream_pwrite(w, s->row, (size_t)s->row_bytes,
                                          s->base + s->data + stored * s->row_bytes);
        if (st)
            return st;
    }
    return TSR_OK;
}

/* Leaves the offset at the end of the file, as sequential writes would. */
static tsr_status finish_bmp(tsr_row_writer *w) {
    bmp_writer *s = w->state;
    if (lseek(w->fd, (off_t)(s->base + s->total), SEEK_SET) < 0)
        return tsr_error(w->ctx, TSR_ERR_IO, "%s: seek to the end: %s", w->path, strerror(errno));
    return TSR_OK;
}

static void close_bmp(tsr_row_writer *w) {
    bmp_writer *s = w->state;
    if (s)
        free(s->row);
    free(s);
}

tsr_status tsr_bmp_writer_open(tsr_row_writer *w, bool *fallback) {
    bmp_layout l;
    tsr_status st = tsr_bmp_layout(w->ctx, w->width, w->height, w->bands, &l);
    if (st)
        return st;
    /* Rows go to their places with pwrite, which a pipe cannot take and an
     * O_APPEND descriptor would put at the end. */
    off_t base = lseek(w->fd, 0, SEEK_CUR);
    int flags = fcntl(w->fd, F_GETFL);
    if (base < 0 || flags < 0 || (flags & O_APPEND)) {
        *fallback = true;
        return TSR_OK;
    }
    bmp_writer *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "bmp: out of memory");
    w->state = s;
    w->close = close_bmp;
    w->write = write_bmp_rows;
    w->finish = finish_bmp;
    s->base = (uint64_t)base, s->data = l.data_offset, s->row_bytes = l.row_bytes;
    s->total = l.total;
    if (!(s->row = calloc(1, (size_t)l.row_bytes)))
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "bmp: out of memory");
    return tsr_stream_pwrite(w, l.head, (size_t)l.data_offset, s->base);
}
