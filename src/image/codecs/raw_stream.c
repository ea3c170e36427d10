/* Row streaming of the formats parsed here: binary PNM (P5/P6, any maxval)
 * and top-down BMP are read a row at a time with pread; ASCII PNM, bitmaps
 * and bottom-up BMP fall back to the whole decode. PNM is written as the
 * header then rows (the same bytes as pnm.c); BMP writes fall back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pnm_bmp_internal.h"
#include "stream_internal.h"

#define HEAD_BYTES 65536 /* headers, BMP palettes and masks must fit here */

/* Reader state of either format. */
typedef struct raw_reader {
    bool bmp;         /* BMP rather than PNM */
    pnm_header pnm;   /* PNM header */
    bmp_header *bh;   /* BMP header (large: holds the palette) */
    uint64_t data;    /* offset of the first stored row */
    size_t row_bytes; /* bytes of one stored row */
    uint8_t *row;     /* one stored row */
} raw_reader;

static void close_reader(tsr_row_reader *r) {
    raw_reader *s = r->state;
    if (!s)
        return;
    free(s->bh);
    free(s->row);
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

static tsr_status read_rows(tsr_row_reader *r, uint8_t *dst, size_t stride, int rows) {
    raw_reader *s = r->state;
    for (int i = 0; i < rows; i++) {
        uint64_t at = s->data + (uint64_t)(r->next_row + i) * s->row_bytes;
        if (!tsr_stream_pread(r->fd, s->row, s->row_bytes, at))
            return tsr_error(r->ctx, TSR_ERR_CORRUPT, "%s: truncated at row %d",
                             s->bmp ? "bmp" : "pnm", r->next_row + i);
        if (s->bmp)
            tsr_bmp_decode_row(s->bh, s->row, dst + (size_t)i * stride);
        else
            pnm_row(&s->pnm, s->row, dst + (size_t)i * stride);
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
    if (!(s->row = malloc(s->row_bytes ? s->row_bytes : 1)))
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
    if (!h->top_down) {
        *fallback = true;
        goto out;
    }
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
