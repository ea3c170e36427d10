/* Deep Zoom (DZI) through the row writer, in the layout of vips dzsave:
 * NAME.dzi (TileSize 254, Overlap 1, Format jpg or png, Size) and
 * NAME_files/LEVEL/COL_ROW.EXT, level L holding the image at
 * ceil(size / 2^(max - L)) with max = ceil(log2(longest side)), so level 0
 * is 1x1. Tile (c, r) of a level covers columns c*254 - 1 .. (c+1)*254
 * (one pixel of overlap inside the image on each side) and likewise rows.
 * Rows stream: every level keeps the rows of its current row of tiles
 * (at most 256) and encodes the tiles as soon as the row of tiles fills;
 * the halver makes the smaller levels from the rows as they pass. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyramid_internal.h"

#define DZI_TILE    254                          /* tile side without overlap */
#define DZI_OVERLAP 1                            /* pixels each tile shares with its neighbour */
#define DZI_BAND    (DZI_TILE + 2 * DZI_OVERLAP) /* most rows a row of tiles spans */

/* One level of the output, depth 0 being the full size. */
typedef struct dzi_level {
    int number;        /* the DZI level number (max - depth) */
    int width, height; /* its size */
    int cols, rows;    /* tiles across and down */
    uint8_t *band;     /* rows band_y .. band_y + band_n - 1 */
    int band_y;        /* row held first */
    int band_n;        /* rows held */
    int tile_row;      /* the next row of tiles to encode */
} dzi_level;

/* Encoder state of one Deep Zoom writer. */
typedef struct dzi {
    tsr_ctx *ctx;                            /* where errors go; borrowed */
    int bands;                               /* bands per pixel */
    tsr_format format;                       /* tile format: JPEG or PNG */
    tsr_encode_options tile_opts;            /* the tiles' encoder options */
    int count;                               /* levels: max + 1 */
    dzi_level level[TSR_PYRAMID_MAX_LEVELS]; /* by depth */
    tsr_halver *halver;                      /* makes depths 1.. */
    tsr_dzi_sink *sink;                      /* where tiles go */
    int width, height;                       /* the full size */
} dzi;

static void close_dzi(tsr_row_writer *w) {
    dzi *d = w->state;
    if (!d)
        return;
    for (int i = 0; i < d->count; i++)
        free(d->level[i].band);
    tsr_halver_free(d->halver);
    tsr_dzi_sink_free(d->sink);
    free(d);
}

/* The rows (or columns) tile i of a side of `side` px spans: [*start, *end). */
static void tile_span(int i, int side, int *start, int *end) {
    *start = i * DZI_TILE - (i > 0 ? DZI_OVERLAP : 0);
    long e = (long)(i + 1) * DZI_TILE + DZI_OVERLAP;
    *end = e < side ? (int)e : side;
}

/* Encodes and stores the tiles of the level's current row of tiles. */
static tsr_status emit_tiles(dzi *d, dzi_level *l) {
    int y0, y1;
    tile_span(l->tile_row, l->height, &y0, &y1);
    size_t row_len = (size_t)l->width * (size_t)d->bands;
    const char *ext = tsr_format_extension(d->format);
    for (int c = 0; c < l->cols; c++) {
        int x0, x1;
        tile_span(c, l->width, &x0, &x1);
        tsr_image view = {.width = x1 - x0,
                          .height = y1 - y0,
                          .bands = d->bands,
                          .stride = row_len,
                          .data = l->band + (size_t)(y0 - l->band_y) * row_len +
                                  (size_t)x0 * (size_t)d->bands};
        tsr_buffer buf = {0};
        char rel[64];
        snprintf(rel, sizeof rel, "%d/%d_%d.%s", l->number, c, l->tile_row, ext);
        tsr_status st = tsr_image_encode(d->ctx, &view, d->format, &d->tile_opts, &buf);
        if (!st)
            st = tsr_dzi_sink_tile(d->sink, rel, buf.data, buf.len);
        tsr_buffer_free(&buf);
        if (st)
            return st;
    }
    return TSR_OK;
}

/* Adds the next row of depth `depth`; encodes each row of tiles it completes
 * and keeps the overlap rows the next one starts with. */
static tsr_status add_row(dzi *d, int depth, const uint8_t *row) {
    dzi_level *l = &d->level[depth];
    size_t len = (size_t)l->width * (size_t)d->bands;
    memcpy(l->band + (size_t)l->band_n++ * len, row, len);
    for (;;) {
        int start, end;
        tile_span(l->tile_row, l->height, &start, &end);
        if (l->tile_row >= l->rows || l->band_y + l->band_n < end)
            return TSR_OK;
        tsr_status st = emit_tiles(d, l);
        if (st)
            return st;
        if (++l->tile_row >= l->rows)
            return TSR_OK;
        tile_span(l->tile_row, l->height, &start, &end);
        int keep = l->band_y + l->band_n - start;
        memmove(l->band, l->band + (size_t)(start - l->band_y) * len, (size_t)keep * len);
        l->band_y = start, l->band_n = keep;
    }
}

static tsr_status reduced_row(void *user, int level, int y, const uint8_t *row) {
    (void)y;
    return add_row(user, level, row);
}

static tsr_status write_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    dzi *d = w->state;
    for (int i = 0; i < rows; i++) {
        const uint8_t *row = src + (size_t)i * stride;
        tsr_status st = add_row(d, 0, row);
        if (!st)
            st = tsr_halver_push(d->halver, row);
        if (st)
            return st;
    }
    return TSR_OK;
}

static tsr_status finish_dzi(tsr_row_writer *w) {
    dzi *d = w->state;
    for (int i = 0; i < d->count; i++)
        if (d->level[i].tile_row != d->level[i].rows)
            return tsr_error(w->ctx, TSR_ERR_INTERNAL, "dzi: level %d is missing tiles",
                             d->level[i].number);
    char xml[512];
    int n = snprintf(xml, sizeof xml,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<Image xmlns=\"http://schemas.microsoft.com/deepzoom/2008\" Format=\"%s\" "
                     "Overlap=\"%d\" TileSize=\"%d\">\n"
                     "  <Size Width=\"%d\" Height=\"%d\"/>\n"
                     "</Image>\n",
                     tsr_format_extension(d->format), DZI_OVERLAP, DZI_TILE, d->width, d->height);
    return tsr_dzi_sink_commit(d->sink, xml, (size_t)n);
}

/* Sizes the levels and allocates their bands. */
static tsr_status plan_levels(tsr_row_writer *w, dzi *d) {
    int longest = w->width > w->height ? w->width : w->height, max = 0;
    while (((int64_t)1 << max) < longest)
        max++;
    d->count = max + 1;
    int width = w->width, height = w->height;
    uint64_t band = (uint64_t)DZI_BAND * (uint64_t)width * (uint64_t)w->bands;
    if (band > tsr_ctx_limits(w->ctx)->max_alloc)
        return tsr_error(w->ctx, TSR_ERR_LIMIT, "dzi: a row of tiles needs %llu bytes",
                         (unsigned long long)band);
    for (int i = 0; i < d->count; i++) {
        dzi_level *l = &d->level[i];
        l->number = max - i, l->width = width, l->height = height;
        l->cols = (width + DZI_TILE - 1) / DZI_TILE, l->rows = (height + DZI_TILE - 1) / DZI_TILE;
        if (!(l->band = malloc((size_t)DZI_BAND * (size_t)width * (size_t)w->bands)))
            return tsr_error(w->ctx, TSR_ERR_NOMEM, "dzi: out of memory");
        width = tsr_halve_side(width), height = tsr_halve_side(height);
    }
    return TSR_OK;
}

/* The name inside a zip: the writer's base name without ".dzi". */
static void zip_name(const char *path, char *name, size_t n) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".dzi"))
        len -= 4;
    snprintf(name, n, "%.*s", (int)(len ? len : 5), len ? base : "image");
}

tsr_status tsr_dzi_writer_open(tsr_row_writer *w) {
    dzi *d = calloc(1, sizeof *d);
    if (!d)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "dzi: out of memory");
    w->state = d, w->close = close_dzi, w->write = write_rows, w->finish = finish_dzi;
    d->ctx = w->ctx, d->bands = w->bands, d->format = w->format;
    d->width = w->width, d->height = w->height;
    d->tile_opts = w->opts;
    d->tile_opts.layout = TSR_LAYOUT_SINGLE;
    tsr_status st = plan_levels(w, d);
    if (st)
        return st;
    if (w->direct) {
        char name[256];
        zip_name(w->path, name, sizeof name);
        st = tsr_dzi_sink_zip(w->ctx, w->fd, name, &d->sink);
    } else {
        st = tsr_dzi_sink_dir(w->ctx, w->path, w->fd, &d->sink);
    }
    if (!st)
        st = tsr_halver_new(w->ctx, w->width, w->height, w->bands, d->count - 1, reduced_row, d,
                            &d->halver);
    return st;
}
