/* TIFF row streaming through libtiff over the file descriptor (pread and
 * pwrite at a tracked position). Direct layouts (8/16-bit contiguous gray,
 * gray+alpha, RGB, RGBA) stream: strips one at a time (rows one at a time
 * when a strip is huge), tiles one row of tiles at a time into a band
 * buffer. Other layouts, and files whose Orientation tag is not 1 (unless
 * no_autorotate), fall back to the whole decode, which turns the image
 * upright as for JPEG. Writing uses the same tags and strips as tiff.c, so
 * the bytes are the same. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream_internal.h"
#include "tiff_internal.h"

#define MAX_STRIP_BYTES (8u << 20) /* larger strips are read row by row */

/* Decoder state of one reader. */
typedef struct tiff_reader {
    file_handle h;     /* libtiff's handle; first so the TIFF* can find it */
    TIFF *tif;         /* the open file */
    messages m;        /* libtiff's first message */
    layout l;          /* the first directory's layout */
    bool tiled;        /* tiles rather than strips */
    bool by_row;       /* strips too large: TIFFReadScanline */
    uint32_t chunk_h;  /* rows per strip or tile height */
    uint32_t tile_w;   /* tile width */
    tmsize_t chunk_sz; /* strip or tile buffer size */
    tmsize_t line;     /* bytes of one stored row (strips) */
    uint8_t *chunk;    /* one strip, tile or row of raw samples */
    uint8_t *band;     /* tiled: chunk_h converted rows */
    uint32_t band_y;   /* first row held in chunk (strips) or band (tiles) */
    uint32_t band_n;   /* rows held; 0 when none */
} tiff_reader;

static tmsize_t read_proc(thandle_t h, void *dst, tmsize_t n) {
    file_handle *f = h;
    if (n < 0)
        return -1;
    uint64_t left = f->pos < f->len ? f->len - f->pos : 0;
    size_t take = (uint64_t)n < left ? (size_t)n : (size_t)left;
    if (take && !tsr_stream_pread(f->fd, dst, take, f->pos))
        return -1;
    f->pos += take;
    return (tmsize_t)take;
}

static tmsize_t write_proc(thandle_t h, void *src, tmsize_t n) {
    file_handle *f = h;
    const uint8_t *p = src;
    size_t left = n < 0 ? 0 : (size_t)n;
    while (left) {
        ssize_t put = pwrite(f->fd, p, left, (off_t)f->pos);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0) {
            f->status = TSR_ERR_IO;
            return -1;
        }
        p += put, left -= (size_t)put, f->pos += (uint64_t)put;
    }
    if (f->pos > f->len)
        f->len = f->pos;
    return n;
}

static toff_t seek_proc(thandle_t h, toff_t off, int whence) {
    file_handle *f = h;
    uint64_t base = whence == SEEK_CUR ? f->pos : whence == SEEK_END ? f->len : 0;
    uint64_t target = base + off;
    if (target > ((uint64_t)1 << 40))
        return (toff_t)-1;
    f->pos = target;
    return target;
}

static toff_t size_proc(thandle_t h) {
    return ((file_handle *)h)->len;
}

const tiff_procs tsr_tiff_fd_procs = {read_proc, write_proc, seek_proc, size_proc, NULL};

static void close_reader(tsr_row_reader *r) {
    tiff_reader *s = r->state;
    if (!s)
        return;
    if (s->tif)
        TIFFClose(s->tif);
    free(s->chunk);
    free(s->band);
    free(s);
}

/* Loads the strip (or, for huge strips, the row) holding row y into chunk. */
static tsr_status load_strip(tsr_row_reader *r, tiff_reader *s, uint32_t y) {
    if (s->by_row) {
        if (TIFFReadScanline(s->tif, s->chunk, y, 0) < 0)
            return tsr_tiff_fail(r->ctx, TSR_ERR_CORRUPT, &s->m, "reading a row");
        s->band_y = y, s->band_n = 1;
        return TSR_OK;
    }
    uint32_t y0 = y / s->chunk_h * s->chunk_h;
    uint32_t rows = s->l.height - y0 < s->chunk_h ? s->l.height - y0 : s->chunk_h;
    tmsize_t want = s->line * (tmsize_t)rows;
    if (TIFFReadEncodedStrip(s->tif, TIFFComputeStrip(s->tif, y0, 0), s->chunk, want) < want)
        return tsr_tiff_fail(r->ctx, TSR_ERR_CORRUPT, &s->m, "reading a strip");
    s->band_y = y0, s->band_n = rows;
    return TSR_OK;
}

/* Decodes the row of tiles holding row y into the band buffer. */
static tsr_status load_tiles(tsr_row_reader *r, tiff_reader *s, uint32_t y) {
    uint32_t ty = y / s->chunk_h * s->chunk_h;
    uint32_t h = s->l.height - ty < s->chunk_h ? s->l.height - ty : s->chunk_h;
    size_t tile_row = (size_t)s->chunk_sz / s->chunk_h;
    size_t band_row = (size_t)s->l.width * s->l.spp;
    for (uint32_t tx = 0; tx < s->l.width; tx += s->tile_w) {
        if (TIFFReadEncodedTile(s->tif, TIFFComputeTile(s->tif, tx, ty, 0, 0), s->chunk,
                                s->chunk_sz) < 0)
            return tsr_tiff_fail(r->ctx, TSR_ERR_CORRUPT, &s->m, "reading a tile");
        uint32_t w = s->l.width - tx < s->tile_w ? s->l.width - tx : s->tile_w;
        for (uint32_t i = 0; i < h; i++)
            tsr_tiff_store(&s->l, s->chunk + i * tile_row,
                           s->band + i * band_row + (size_t)tx * s->l.spp, w);
    }
    s->band_y = ty, s->band_n = h;
    return TSR_OK;
}

static tsr_status read_rows(tsr_row_reader *r, uint8_t *dst, size_t stride, int rows) {
    tiff_reader *s = r->state;
    size_t band_row = (size_t)s->l.width * s->l.spp;
    for (int i = 0; i < rows; i++) {
        uint32_t y = (uint32_t)(r->next_row + i);
        if (s->band_n == 0 || y >= s->band_y + s->band_n) {
            tsr_status st = s->tiled ? load_tiles(r, s, y) : load_strip(r, s, y);
            if (st)
                return st;
        }
        uint8_t *out = dst + (size_t)i * stride;
        if (s->tiled)
            memcpy(out, s->band + (y - s->band_y) * band_row, band_row);
        else
            tsr_tiff_store(&s->l, s->chunk + (size_t)(y - s->band_y) * (size_t)s->line, out,
                           s->l.width);
    }
    return TSR_OK;
}

/* Sizes the strip or tile buffers of a direct layout. */
static tsr_status plan(tsr_row_reader *r, tiff_reader *s) {
    s->tiled = TIFFIsTiled(s->tif);
    if (s->tiled) {
        TIFFGetField(s->tif, TIFFTAG_TILEWIDTH, &s->tile_w);
        TIFFGetField(s->tif, TIFFTAG_TILELENGTH, &s->chunk_h);
        if (s->tile_w == 0 || s->chunk_h == 0)
            return tsr_error(r->ctx, TSR_ERR_CORRUPT, "tiff: invalid tile size %ux%u", s->tile_w,
                             s->chunk_h);
        s->chunk_sz = TIFFTileSize(s->tif);
        uint64_t band = (uint64_t)s->l.width * s->l.spp * s->chunk_h;
        if (band > tsr_ctx_limits(r->ctx)->max_alloc)
            return tsr_error(r->ctx, TSR_ERR_LIMIT, "tiff: a row of tiles needs %llu bytes",
                             (unsigned long long)band);
        if (!(s->band = malloc((size_t)band)))
            return tsr_error(r->ctx, TSR_ERR_NOMEM, "tiff: out of memory");
        return tsr_tiff_chunk_buffer(r->ctx, s->chunk_sz, &s->chunk);
    }
    s->chunk_h = s->l.height;
    TIFFGetFieldDefaulted(s->tif, TIFFTAG_ROWSPERSTRIP, &s->chunk_h);
    if (s->chunk_h == 0 || s->chunk_h > s->l.height)
        s->chunk_h = s->l.height;
    s->line = TIFFScanlineSize(s->tif);
    s->chunk_sz = TIFFStripSize(s->tif);
    s->by_row = s->chunk_sz > (tmsize_t)MAX_STRIP_BYTES;
    return tsr_tiff_chunk_buffer(r->ctx, s->by_row ? s->line : s->chunk_sz, &s->chunk);
}

tsr_status tsr_tiff_reader_open(tsr_row_reader *r, const tsr_decode_options *opts,
                                tsr_image_info *info, bool *fallback) {
    tiff_reader *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "tiff: out of memory");
    r->state = s;
    r->close = close_reader;
    s->h = (file_handle){.fd = r->fd, .len = r->file_len};
    if (!(s->tif = tsr_tiff_open(r->ctx, &s->h, "rm", &s->m, &tsr_tiff_fd_procs)))
        return tsr_tiff_fail(r->ctx, r->file_len < 16 ? TSR_ERR_FORMAT : TSR_ERR_CORRUPT, &s->m,
                             "cannot read the header");
    tsr_status st = tsr_tiff_header(r->ctx, s->tif, &s->l, info);
    if (st)
        return st;
    bool turned = !opts->no_autorotate && info->orientation > 1 && info->orientation <= 8;
    if (!s->l.direct || turned) {
        *fallback = true;
        return TSR_OK;
    }
    if ((st = plan(r, s)))
        return st;
    r->width = (int)s->l.width, r->height = (int)s->l.height, r->bands = s->l.bands;
    r->read = read_rows;
    return TSR_OK;
}

/* Encoder state of one writer. */
typedef struct tiff_writer {
    file_handle h;  /* libtiff's handle over the temporary file */
    TIFF *tif;      /* the file being written; NULL once closed */
    messages m;     /* libtiff's first message */
    uint8_t *row;   /* a copy of the row (libtiff may scribble on it) */
    size_t row_len; /* bytes per row */
} tiff_writer;

static void close_writer(tsr_row_writer *w) {
    tiff_writer *s = w->state;
    if (!s)
        return;
    if (s->tif)
        TIFFCleanup(s->tif);
    free(s->row);
    free(s);
}

static tsr_status write_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    tiff_writer *s = w->state;
    for (int i = 0; i < rows; i++) {
        memcpy(s->row, src + (size_t)i * stride, s->row_len);
        if (TIFFWriteScanline(s->tif, s->row, (uint32_t)(w->rows_done + i), 0) < 0)
            return tsr_tiff_fail(w->ctx, s->h.status ? s->h.status : TSR_ERR_INTERNAL, &s->m,
                                 "writing");
    }
    return TSR_OK;
}

static tsr_status finish_file(tsr_row_writer *w) {
    tiff_writer *s = w->state;
    tsr_status st = TSR_OK;
    if (!TIFFWriteDirectory(s->tif))
        st = tsr_tiff_fail(w->ctx, s->h.status ? s->h.status : TSR_ERR_INTERNAL, &s->m,
                           "writing the directory");
    TIFFClose(s->tif);
    s->tif = NULL;
    if (!st && s->h.status)
        st = tsr_tiff_fail(w->ctx, s->h.status, &s->m, "writing");
    return st;
}

tsr_status tsr_tiff_writer_open(tsr_row_writer *w) {
    tiff_writer *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "tiff: out of memory");
    w->state = s;
    w->close = close_writer;
    w->write = write_rows;
    w->finish = finish_file;
    s->h = (file_handle){.fd = w->fd};
    s->row_len = (size_t)w->width * (size_t)w->bands;
    if (!(s->row = malloc(s->row_len)))
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "tiff: out of memory");
    const char *mode = tsr_tiff_write_mode(w->width, w->height, w->bands);
    if (!(s->tif = tsr_tiff_open(w->ctx, &s->h, mode, &s->m, &tsr_tiff_fd_procs)))
        return tsr_tiff_fail(w->ctx, TSR_ERR_INTERNAL, &s->m, "cannot start the encoder");
    tsr_tiff_set_tags(s->tif, w->width, w->height, w->bands, w->opts.compression);
    return TSR_OK;
}
