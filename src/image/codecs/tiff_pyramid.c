/* Pyramidal TIFF through the row writer: page 0 is the full image in
 * 256x256 tiles, written as rows arrive (one band of 256 rows in memory);
 * pages 1.. are the levels the halver builds, each half the one before,
 * down to <= 256 px on the longer side, marked NewSubfileType = reduced
 * image (the layout of vips tiffsave --pyramid, read by OpenSlide, QuPath,
 * libvips, tiffinfo and ImageMagick). libtiff writes one directory at a
 * time, so the reduced levels are spooled raw to an unlinked scratch file
 * (a third of the full image's pixels in all) and tiled at finish. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyramid_internal.h"
#include "tiff_internal.h"

#define PYRAMID_TILE 256 /* tile side, and the longest side of the smallest level */

/* Encoder state of one pyramidal TIFF writer. */
typedef struct pyramid {
    file_handle h;                             /* libtiff's handle over w->fd */
    TIFF *tif;                                 /* the file; NULL once closed */
    messages m;                                /* libtiff's first message */
    tsr_ctx *ctx;                              /* where errors go; borrowed */
    int bands;                                 /* bands per pixel */
    int compression;                           /* Deflate level 1..9, else none */
    int pages;                                 /* full size + reduced levels */
    int width[TSR_PYRAMID_MAX_LEVELS];         /* each page's size */
    int height[TSR_PYRAMID_MAX_LEVELS];        /* ... */
    uint64_t spool_at[TSR_PYRAMID_MAX_LEVELS]; /* where a reduced level's rows start */
    int spool;                                 /* the scratch file; -1 when none */
    uint8_t *band;                             /* PYRAMID_TILE rows of the page being tiled */
    int band_rows;                             /* rows held in band */
    int band_y;                                /* row of the page that band starts at */
    uint8_t *tile;                             /* one tile */
    tsr_halver *halver;                        /* builds pages 1.. */
} pyramid;

static tsr_status tiff_error(pyramid *p, const char *doing) {
    return tsr_tiff_fail(p->ctx, p->h.status ? p->h.status : TSR_ERR_INTERNAL, &p->m, doing);
}

static void close_pyramid(tsr_row_writer *w) {
    pyramid *p = w->state;
    if (!p)
        return;
    if (p->tif)
        TIFFCleanup(p->tif);
    if (p->spool >= 0)
        close(p->spool);
    tsr_halver_free(p->halver);
    free(p->band);
    free(p->tile);
    free(p);
}

/* The folder for the scratch file: the output's own (it has room for the
 * output), the folder of a direct writer's file, else $TMPDIR or /tmp. */
static void spool_dir(const tsr_row_writer *w, char *dir, size_t n) {
    char link[64], target[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, n, "%s", tmp && *tmp ? tmp : "/tmp");
    if (!w->direct) {
        snprintf(target, sizeof target, "%s", w->path);
    } else {
        snprintf(link, sizeof link, "/proc/self/fd/%d", w->fd);
        ssize_t len = readlink(link, target, sizeof target - 1);
        if (len <= 0 || target[0] != '/')
            return;
        target[len] = 0;
    }
    char *d = dirname(target);
    if (access(d, W_OK) == 0)
        snprintf(dir, n, "%s", d);
}

/* Opens the unlinked scratch file that holds the reduced levels' rows. */
static tsr_status open_spool(tsr_row_writer *w, pyramid *p) {
    char dir[4096], path[4200];
    spool_dir(w, dir, sizeof dir);
    p->spool = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (p->spool < 0) {
        snprintf(path, sizeof path, "%s/.tessera-pyramid-XXXXXX", dir);
        p->spool = mkstemp(path);
        if (p->spool >= 0)
            unlink(path);
    }
    if (p->spool < 0)
        return tsr_error(w->ctx, TSR_ERR_IO, "tiff: cannot create a scratch file in %s: %s", dir,
                         strerror(errno));
    return TSR_OK;
}

/* Writes a reduced row to its place in the spool. */
static tsr_status spool_row(void *user, int level, int y, const uint8_t *row) {
    pyramid *p = user;
    size_t len = (size_t)p->width[level] * (size_t)p->bands;
    uint64_t at = p->spool_at[level] + (uint64_t)y * len;
    const uint8_t *src = row;
    while (len) {
        ssize_t put = pwrite(p->spool, src, len, (off_t)at);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return tsr_error(p->ctx, TSR_ERR_IO, "tiff: writing the scratch file: %s",
                             put < 0 ? strerror(errno) : "no space");
        src += put, len -= (size_t)put, at += (uint64_t)put;
    }
    return TSR_OK;
}

/* Sets the tags of page `page`: 8-bit contiguous tiles, reduced from page 1. */
static void set_page_tags(pyramid *p, int page) {
    uint16_t alpha[1] = {EXTRASAMPLE_UNASSALPHA};
    TIFF *tif = p->tif;
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)p->width[page]);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)p->height[page]);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)p->bands);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
                 p->bands >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
    if (p->bands == 2 || p->bands == 4)
        TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)1, alpha);
    TIFFSetField(tif, TIFFTAG_TILEWIDTH, (uint32_t)PYRAMID_TILE);
    TIFFSetField(tif, TIFFTAG_TILELENGTH, (uint32_t)PYRAMID_TILE);
    if (page > 0)
        TIFFSetField(tif, TIFFTAG_SUBFILETYPE, (uint32_t)FILETYPE_REDUCEDIMAGE);
    if (p->compression > 0) {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
        TIFFSetField(tif, TIFFTAG_ZIPQUALITY, p->compression);
    } else {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    }
}

/* Writes the band (band_rows rows of page `page` from band_y) as one row
 * of tiles, the parts past the image's edge zero. */
static tsr_status write_band(pyramid *p, int page) {
    size_t bn = (size_t)p->bands, tile_row = PYRAMID_TILE * bn;
    size_t band_row = (size_t)p->width[page] * bn, tile_bytes = tile_row * PYRAMID_TILE;
    for (int tx = 0; tx < p->width[page]; tx += PYRAMID_TILE) {
        int tw = p->width[page] - tx < PYRAMID_TILE ? p->width[page] - tx : PYRAMID_TILE;
        memset(p->tile, 0, tile_bytes);
        for (int i = 0; i < p->band_rows; i++)
            memcpy(p->tile + (size_t)i * tile_row, p->band + (size_t)i * band_row + tx * bn,
                   (size_t)tw * bn);
        ttile_t t = TIFFComputeTile(p->tif, (uint32_t)tx, (uint32_t)p->band_y, 0, 0);
        if (TIFFWriteEncodedTile(p->tif, t, p->tile, (tmsize_t)tile_bytes) < 0)
            return tiff_error(p, "writing a tile");
    }
    p->band_y += p->band_rows;
    p->band_rows = 0;
    return TSR_OK;
}

static tsr_status write_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    pyramid *p = w->state;
    size_t len = (size_t)w->width * (size_t)w->bands;
    for (int i = 0; i < rows; i++) {
        const uint8_t *row = src + (size_t)i * stride;
        memcpy(p->band + (size_t)p->band_rows++ * len, row, len);
        tsr_status st = tsr_halver_push(p->halver, row);
        if (!st && (p->band_rows == PYRAMID_TILE || w->rows_done + i + 1 == w->height))
            st = write_band(p, 0);
        if (st)
            return st;
    }
    return TSR_OK;
}

/* Tiles reduced page `page` from its spooled rows. */
static tsr_status write_reduced(pyramid *p, int page) {
    size_t len = (size_t)p->width[page] * (size_t)p->bands;
    set_page_tags(p, page);
    p->band_y = 0;
    while (p->band_y < p->height[page]) {
        int rows = p->height[page] - p->band_y;
        p->band_rows = rows < PYRAMID_TILE ? rows : PYRAMID_TILE;
        uint64_t at = p->spool_at[page] + (uint64_t)p->band_y * len;
        if (!tsr_stream_pread(p->spool, p->band, len * (size_t)p->band_rows, at))
            return tsr_error(p->ctx, TSR_ERR_IO, "tiff: reading the scratch file back");
        tsr_status st = write_band(p, page);
        if (st)
            return st;
    }
    return TSR_OK;
}

static tsr_status finish_pyramid(tsr_row_writer *w) {
    pyramid *p = w->state;
    tsr_status st = TSR_OK;
    for (int page = 0; page < p->pages && !st; page++) {
        if (page > 0)
            st = write_reduced(p, page);
        if (!st && !TIFFWriteDirectory(p->tif))
            st = tiff_error(p, "writing a directory");
    }
    TIFFClose(p->tif);
    p->tif = NULL;
    if (!st && p->h.status)
        st = tsr_tiff_fail(w->ctx, p->h.status, &p->m, "writing");
    return st;
}

/* Sizes the pages and the spool regions; returns the pixel bytes of all pages. */
static uint64_t plan_pages(pyramid *p, int width, int height) {
    uint64_t total = 0, spooled = 0;
    p->pages = 0;
    for (;;) {
        p->width[p->pages] = width, p->height[p->pages] = height;
        uint64_t bytes = (uint64_t)width * (uint64_t)height * (uint64_t)p->bands;
        if (p->pages > 0) {
            p->spool_at[p->pages] = spooled;
            spooled += bytes;
        }
        total += bytes;
        p->pages++;
        if ((width <= PYRAMID_TILE && height <= PYRAMID_TILE) || p->pages == TSR_PYRAMID_MAX_LEVELS)
            return total;
        width = tsr_halve_side(width), height = tsr_halve_side(height);
    }
}

tsr_status tsr_tiff_pyramid_writer_open(tsr_row_writer *w) {
    pyramid *p = calloc(1, sizeof *p);
    if (!p)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "tiff: out of memory");
    w->state = p, w->close = close_pyramid, w->write = write_rows, w->finish = finish_pyramid;
    p->h = (file_handle){.fd = w->fd};
    p->ctx = w->ctx, p->spool = -1, p->bands = w->bands, p->compression = w->opts.compression;
    uint64_t total = plan_pages(p, w->width, w->height);
    uint64_t band = (uint64_t)PYRAMID_TILE * (uint64_t)w->width * (uint64_t)w->bands;
    if (band > tsr_ctx_limits(w->ctx)->max_alloc)
        return tsr_error(w->ctx, TSR_ERR_LIMIT, "tiff: a row of tiles needs %llu bytes",
                         (unsigned long long)band);
    if (!(p->band = malloc((size_t)band)) ||
        !(p->tile = malloc((size_t)PYRAMID_TILE * PYRAMID_TILE * (size_t)w->bands)))
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "tiff: out of memory");
    tsr_status st = p->pages > 1 ? open_spool(w, p) : TSR_OK;
    if (!st)
        st = tsr_halver_new(w->ctx, w->width, w->height, w->bands, p->pages - 1, spool_row, p,
                            &p->halver);
    if (st)
        return st;
    const char *mode = total > ((uint64_t)3 << 30) ? "w8" : "w";
    if (!(p->tif = tsr_tiff_open(w->ctx, &p->h, mode, &p->m, &tsr_tiff_fd_procs)))
        return tsr_tiff_fail(w->ctx, TSR_ERR_INTERNAL, &p->m, "cannot start the encoder");
    set_page_tags(p, 0);
    return TSR_OK;
}
