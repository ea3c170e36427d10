/* TIFF through libtiff, from and to memory. 8/16-bit contiguous gray,
 * gray+alpha, RGB and RGBA decode strip by strip or tile by tile; every other
 * layout goes through libtiff's RGBA reader. 16-bit samples keep their high
 * byte. Pages count as frames; the first page is decoded. Every path returns
 * the stored rows: the Orientation tag (274) goes to info->orientation and
 * codec.c turns the image, as for JPEG's EXIF. libtiff's messages go to the
 * context through per-handle handlers (TIFFOpenOptions), never to the
 * process-wide ones. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "tiff_internal.h"

/* A cursor over bytes for libtiff's client procedures, reading or writing. */
typedef struct stream {
    const uint8_t *bytes; /* input bytes (decode) */
    tsr_buffer *out;      /* output buffer (encode), NULL when decoding */
    size_t len;           /* bytes in the stream */
    size_t pos;           /* current offset */
    tsr_status status;    /* first write failure */
} stream;

static bool sniff(const uint8_t *b, size_t len) {
    if (len < 4)
        return false;
    return (b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
           (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43));
}

static tmsize_t read_proc(thandle_t h, void *dst, tmsize_t n) {
    stream *s = h;
    const uint8_t *src = s->out ? s->out->data : s->bytes;
    size_t left = s->pos < s->len ? s->len - s->pos : 0;
    size_t take = n < 0 ? 0 : (size_t)n < left ? (size_t)n : left;
    if (take)
        memcpy(dst, src + s->pos, take);
    s->pos += take;
    return (tmsize_t)take;
}

static tmsize_t write_proc(thandle_t h, void *src, tmsize_t n) {
    stream *s = h;
    if (!s->out || n < 0)
        return -1;
    size_t end = s->pos + (size_t)n;
    if (end > s->out->len) {
        s->status = tsr_buffer_reserve(s->out, end - s->out->len);
        if (s->status)
            return -1;
        memset(s->out->data + s->out->len, 0, end - s->out->len);
        s->out->len = end;
    }
    memcpy(s->out->data + s->pos, src, (size_t)n);
    s->pos = end;
    if (end > s->len)
        s->len = end;
    return n;
}

static toff_t seek_proc(thandle_t h, toff_t off, int whence) {
    stream *s = h;
    uint64_t base = whence == SEEK_CUR ? s->pos : whence == SEEK_END ? s->len : 0;
    uint64_t target = base + off;
    if (target > ((uint64_t)1 << 40))
        return (toff_t)-1;
    s->pos = (size_t)target;
    return target;
}

static int close_proc(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t size_proc(thandle_t h) {
    return ((stream *)h)->len;
}

static int map_proc(thandle_t h, void **base, toff_t *size) {
    stream *s = h;
    if (s->out)
        return 0;
    *base = (void *)s->bytes;
    *size = s->len;
    return 1;
}

static int map_none(thandle_t h, void **base, toff_t *size) {
    (void)h, (void)base, (void)size;
    return 0;
}

static void unmap_proc(thandle_t h, void *base, toff_t size) {
    (void)h, (void)base, (void)size;
}

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    messages *m = user;
    (void)tif;
    if (m && !m->text[0]) {
        int n = snprintf(m->text, sizeof m->text, "%s: ", module ? module : "libtiff");
        if (n < 0 || (size_t)n >= sizeof m->text)
            n = 0;
        vsnprintf(m->text + n, sizeof m->text - (size_t)n, fmt, ap);
    }
    return 1;
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif, (void)user, (void)module, (void)fmt, (void)ap;
    return 1;
}

TIFF *tsr_tiff_open(tsr_ctx *ctx, thandle_t handle, const char *mode, messages *m,
                    const tiff_procs *p) {
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o)
        return NULL;
    uint64_t cap = tsr_ctx_limits(ctx)->max_alloc;
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)(cap > INT64_MAX ? INT64_MAX : cap));
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, m);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, NULL);
    TIFF *tif = TIFFClientOpenExt("tiff", mode, handle, p->read, p->write, p->seek, close_proc,
                                  p->size, p->map ? p->map : map_none, unmap_proc, o);
    TIFFOpenOptionsFree(o);
    return tif;
}

/* Opens the memory stream `s` with handlers that write into `m`; NULL on failure. */
static TIFF *open_stream(tsr_ctx *ctx, stream *s, const char *mode, messages *m) {
    static const tiff_procs procs = {read_proc, write_proc, seek_proc, size_proc, map_proc};
    return tsr_tiff_open(ctx, s, mode, m, &procs);
}

tsr_status tsr_tiff_fail(tsr_ctx *ctx, tsr_status st, const messages *m, const char *doing) {
    return tsr_error(ctx, st, "tiff: %s%s%s", doing, m->text[0] ? ": " : "", m->text);
}

static void read_layout(TIFF *tif, layout *l) {
    uint16_t *extra_types = NULL;
    memset(l, 0, sizeof *l);
    TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &l->width);
    TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &l->height);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &l->spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &l->bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &l->planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &l->format);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &l->extra, &extra_types);
    /* libtiff refuses values outside 1..8 while reading the directory. */
    if (!TIFFGetField(tif, TIFFTAG_ORIENTATION, &l->orientation) || l->orientation < 1 ||
        l->orientation > 8)
        l->orientation = ORIENTATION_TOPLEFT;
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &l->photometric))
        l->photometric = l->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    bool gray =
        l->photometric == PHOTOMETRIC_MINISBLACK || l->photometric == PHOTOMETRIC_MINISWHITE;
    bool contig = l->planar == PLANARCONFIG_CONTIG || l->spp == 1;
    l->direct =
        contig && (l->bps == 8 || l->bps == 16) && l->format == SAMPLEFORMAT_UINT &&
        ((gray && (l->spp == 1 || (l->spp == 2 && l->extra == 1))) ||
         (l->photometric == PHOTOMETRIC_RGB && (l->spp == 3 || (l->spp == 4 && l->extra == 1))));
    if (l->photometric == PHOTOMETRIC_MINISWHITE && l->spp != 1)
        l->direct = false;
    if (l->direct)
        l->bands = l->spp;
    else
        l->bands = gray && l->extra == 0 ? 1 : l->extra > 0 ? 4 : 3;
}

/* Fills `info` from the first directory and counts pages. */
tsr_status tsr_tiff_header(tsr_ctx *ctx, TIFF *tif, layout *l, tsr_image_info *info) {
    read_layout(tif, l);
    info->width = (int)l->width;
    info->height = (int)l->height;
    info->bands = l->bands;
    info->bit_depth = l->bps;
    info->orientation = l->orientation;
    tsr_status st = tsr_limits_check(ctx, "tiff", l->width, l->height, l->bands);
    if (st)
        return st;
    tdir_t pages = TIFFNumberOfDirectories(tif);
    info->frames = pages ? (int)pages : 1;
    if (pages > tsr_ctx_limits(ctx)->max_frames)
        return tsr_error(ctx, TSR_ERR_LIMIT, "tiff: %u pages is more than the limit of %u",
                         (unsigned)pages, tsr_ctx_limits(ctx)->max_frames);
    return TSR_OK;
}

static tsr_status open_for_read(tsr_ctx *ctx, stream *s, messages *m, TIFF **out) {
    *out = open_stream(ctx, s, "rm", m);
    if (!*out)
        return tsr_tiff_fail(ctx, s->len < 16 ? TSR_ERR_FORMAT : TSR_ERR_CORRUPT, m,
                             "cannot read the header");
    return TSR_OK;
}

static tsr_status info_tiff(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    stream s = {.bytes = bytes, .len = len};
    messages m = {{0}};
    layout l;
    TIFF *tif;
    tsr_status st = open_for_read(ctx, &s, &m, &tif);
    if (st)
        return st;
    st = tsr_tiff_header(ctx, tif, &l, info);
    TIFFClose(tif);
    return st;
}

/* Copies `w` pixels of decoded samples into an image row: 16-bit samples
 * keep their high byte, MINISWHITE is inverted. */
void tsr_tiff_store(const layout *l, const uint8_t *src, uint8_t *dst, uint32_t w) {
    size_t n = (size_t)w * l->spp;
    if (l->bps == 16) {
        const uint16_t *s16 = (const uint16_t *)(const void *)src;
        for (size_t i = 0; i < n; i++)
            dst[i] = (uint8_t)(s16[i] >> 8);
    } else {
        memcpy(dst, src, n);
    }
    if (l->photometric == PHOTOMETRIC_MINISWHITE)
        for (size_t i = 0; i < n; i++)
            dst[i] = (uint8_t)(255 - dst[i]);
}

/* Allocates a strip or tile buffer of `size` bytes under the cap. */
tsr_status tsr_tiff_chunk_buffer(tsr_ctx *ctx, tmsize_t size, uint8_t **out) {
    *out = NULL;
    if (size <= 0)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "tiff: invalid strip or tile size");
    if ((uint64_t)size > tsr_ctx_limits(ctx)->max_alloc)
        return tsr_error(ctx, TSR_ERR_LIMIT, "tiff: a strip or tile of %lld bytes is over the cap",
                         (long long)size);
    *out = malloc((size_t)size);
    return *out ? TSR_OK : tsr_error(ctx, TSR_ERR_NOMEM, "tiff: out of memory");
}

static tsr_status read_strips(tsr_ctx *ctx, TIFF *tif, const layout *l, const messages *m,
                              tsr_image *image) {
    uint32_t rps = l->height;
    uint8_t *buf;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
    if (rps == 0 || rps > l->height)
        rps = l->height;
    tmsize_t line = TIFFScanlineSize(tif);
    tsr_status st = tsr_tiff_chunk_buffer(ctx, TIFFStripSize(tif), &buf);
    if (st)
        return st;
    for (uint32_t y0 = 0; y0 < l->height && !st; y0 += rps) {
        uint32_t rows = l->height - y0 < rps ? l->height - y0 : rps;
        tmsize_t want = line * (tmsize_t)rows;
        tmsize_t got = TIFFReadEncodedStrip(tif, TIFFComputeStrip(tif, y0, 0), buf, want);
        if (got < want) {
            st = tsr_tiff_fail(ctx, TSR_ERR_CORRUPT, m, "reading a strip");
            break;
        }
        for (uint32_t r = 0; r < rows; r++)
            tsr_tiff_store(l, buf + (size_t)r * (size_t)line,
                           image->data + (y0 + r) * image->stride, l->width);
    }
    free(buf);
    return st;
}

static tsr_status read_tiles(tsr_ctx *ctx, TIFF *tif, const layout *l, const messages *m,
                             tsr_image *image) {
    uint32_t tw = 0, th = 0;
    uint8_t *buf;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    if (tw == 0 || th == 0)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "tiff: invalid tile size %ux%u", tw, th);
    tmsize_t tile_size = TIFFTileSize(tif);
    tsr_status st = tsr_tiff_chunk_buffer(ctx, tile_size, &buf);
    if (st)
        return st;
    size_t tile_row = (size_t)tile_size / th;
    for (uint32_t ty = 0; ty < l->height && !st; ty += th) {
        for (uint32_t tx = 0; tx < l->width; tx += tw) {
            if (TIFFReadEncodedTile(tif, TIFFComputeTile(tif, tx, ty, 0, 0), buf, tile_size) < 0) {
                st = tsr_tiff_fail(ctx, TSR_ERR_CORRUPT, m, "reading a tile");
                break;
            }
            uint32_t w = l->width - tx < tw ? l->width - tx : tw;
            uint32_t h = l->height - ty < th ? l->height - ty : th;
            for (uint32_t r = 0; r < h; r++)
                tsr_tiff_store(l, buf + r * tile_row,
                               image->data + (ty + r) * image->stride + (size_t)tx * l->spp, w);
        }
    }
    free(buf);
    return st;
}

/* Any other layout (palette, bilevel, YCbCr, CMYK, separate planes, ...).
 * Asking libtiff for the file's own orientation keeps the stored rows:
 * TIFFRGBAImage flips toward the requested orientation, and codec.c turns
 * the image afterwards, so it must not be turned twice. */
static tsr_status read_rgba(tsr_ctx *ctx, TIFF *tif, const layout *l, const messages *m,
                            tsr_image *image) {
    char why[1024] = "";
    if (!TIFFRGBAImageOK(tif, why))
        return tsr_error(ctx, TSR_ERR_FORMAT, "tiff: unsupported layout: %s", why);
    size_t n = (size_t)l->width * l->height;
    uint32_t *raster = malloc(n * sizeof *raster);
    if (!raster)
        return tsr_error(ctx, TSR_ERR_NOMEM, "tiff: out of memory");
    tsr_status st = TSR_OK;
    if (!TIFFReadRGBAImageOriented(tif, l->width, l->height, raster, l->orientation, 1)) {
        st = tsr_tiff_fail(ctx, TSR_ERR_CORRUPT, m, "decoding");
        goto out;
    }
    for (uint32_t y = 0; y < l->height; y++) {
        uint8_t *dst = image->data + y * image->stride;
        const uint32_t *src = raster + (size_t)y * l->width;
        for (uint32_t x = 0; x < l->width; x++, dst += image->bands) {
            uint32_t p = src[x];
            uint8_t px[4] = {TIFFGetR(p), TIFFGetG(p), TIFFGetB(p), TIFFGetA(p)};
            if (image->bands == 1)
                dst[0] = px[0];
            else
                memcpy(dst, px, (size_t)image->bands);
        }
    }
out:
    free(raster);
    return st;
}

static tsr_status decode_tiff(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                              const tsr_decode_options *opts, tsr_image **out,
                              tsr_image_info *info) {
    stream s = {.bytes = bytes, .len = len};
    messages m = {{0}};
    layout l;
    tsr_image *image = NULL;
    TIFF *tif;
    (void)opts;
    tsr_status st = open_for_read(ctx, &s, &m, &tif);
    if (st)
        return st;
    st = tsr_tiff_header(ctx, tif, &l, info);
    if (!st)
        st = tsr_image_new(ctx, info->width, info->height, info->bands, &image);
    if (!st && !l.direct)
        st = read_rgba(ctx, tif, &l, &m, image);
    else if (!st && TIFFIsTiled(tif))
        st = read_tiles(ctx, tif, &l, &m, image);
    else if (!st)
        st = read_strips(ctx, tif, &l, &m, image);
    TIFFClose(tif);
    if (st) {
        tsr_image_free(image);
        return st;
    }
    *out = image;
    return TSR_OK;
}

void tsr_tiff_set_tags(TIFF *tif, int width, int height, int bands, int compression) {
    uint32_t rps = (uint32_t)(STRIP_BYTES / ((size_t)width * (size_t)bands));
    uint16_t alpha[1] = {EXTRASAMPLE_UNASSALPHA};
    TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)width);
    TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)height);
    TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)bands);
    TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, bands >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
    if (bands == 2 || bands == 4)
        TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)1, alpha);
    TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps ? rps : 1);
    if (compression > 0) {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
        TIFFSetField(tif, TIFFTAG_ZIPQUALITY, compression);
    } else {
        TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    }
}

const char *tsr_tiff_write_mode(int width, int height, int bands) {
    size_t row_len = (size_t)width * (size_t)bands;
    return row_len * (size_t)height > ((size_t)3 << 30) ? "w8" : "w";
}

/* Writes `image` as 8-bit contiguous strips; compression 1..9 selects
 * Deflate at that level, otherwise the file is uncompressed. */
static tsr_status encode_tiff(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                              tsr_buffer *out) {
    tsr_buffer file = {.max = out->max};
    stream s = {.out = &file};
    messages m = {{0}};
    tsr_status st = TSR_OK;
    size_t row_len = (size_t)image->width * (size_t)image->bands;
    uint8_t *row = malloc(row_len);
    TIFF *tif =
        row ? open_stream(ctx, &s, tsr_tiff_write_mode(image->width, image->height, image->bands),
                          &m)
            : NULL;
    if (!tif) {
        st = row ? tsr_tiff_fail(ctx, TSR_ERR_INTERNAL, &m, "cannot start the encoder")
                 : tsr_error(ctx, TSR_ERR_NOMEM, "tiff: out of memory");
        goto out;
    }
    tsr_tiff_set_tags(tif, image->width, image->height, image->bands, opts->compression);
    for (int y = 0; y < image->height; y++) {
        memcpy(row, image->data + (size_t)y * image->stride, row_len);
        if (TIFFWriteScanline(tif, row, (uint32_t)y, 0) < 0) {
            st = tsr_tiff_fail(ctx, s.status ? s.status : TSR_ERR_INTERNAL, &m, "writing");
            break;
        }
    }
    if (!st && !TIFFWriteDirectory(tif))
        st =
            tsr_tiff_fail(ctx, s.status ? s.status : TSR_ERR_INTERNAL, &m, "writing the directory");
    TIFFClose(tif);
    if (!st && s.status)
        st = tsr_tiff_fail(ctx, s.status, &m, "writing");
    if (!st)
        st = tsr_codec_append(ctx, out, file.data, file.len, "tiff");
out:
    tsr_buffer_free(&file);
    free(row);
    return st;
}

const tsr_codec tsr_codec_tiff = {
    .format = TSR_FORMAT_TIFF,
    .name = "tiff",
    .mime = "image/tiff",
    .extension = "tif",
    .aliases = "tiff",
    .sniff = sniff,
    .info = info_tiff,
    .decode = decode_tiff,
    .encode = encode_tiff,
};
