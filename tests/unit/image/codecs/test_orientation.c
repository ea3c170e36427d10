/* EXIF orientation of TIFF (tag 274) and WebP (EXIF chunk of a VP8X file):
 * for orientations 1..8 and several TIFF layouts (strips, tiles, 16-bit,
 * separate planes and palette through libtiff's RGBA reader) and WebP
 * (lossless, lossy, little- and big-endian EXIF, with and without the
 * "Exif\0\0" prefix), the whole decode and the row reader give the stored
 * pixels turned upright (checked against flips and transposes written here,
 * not orientation.c), info reports the tag and the stored size, and
 * no_autorotate gives the stored pixels. Test files are made here. */
#include <tiffio.h>
#include <unistd.h>
#include <webp/mux.h>

#include "check.h"
#include "image/codecs/helpers.h"
#include "tessera/stream.h"

static char dir[256]; /* a scratch folder for this run */

/* A w x h image of `bands` bands whose pixels all differ (for small sizes). */
static tsr_image *pattern(int w, int h, int bands) {
    tsr_image *img = NULL;
    if (tsr_image_new(NULL, w, h, bands, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < bands; c++)
                img->data[(size_t)y * img->stride + (size_t)x * bands + c] =
                    (uint8_t)(x * 37 + y * 101 + x * y * 7 + c * 71);
    return img;
}

/* One primitive: 0 mirror left-right, 1 mirror top-bottom, 2 transpose. */
static tsr_image *step(const tsr_image *src, int kind) {
    int w = kind == 2 ? src->height : src->width, h = kind == 2 ? src->width : src->height;
    tsr_image *dst = NULL;
    if (tsr_image_new(NULL, w, h, src->bands, &dst))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int sx = kind == 0 ? src->width - 1 - x : kind == 2 ? y : x;
            int sy = kind == 1 ? src->height - 1 - y : kind == 2 ? x : y;
            memcpy(dst->data + (size_t)y * dst->stride + (size_t)x * src->bands,
                   src->data + (size_t)sy * src->stride + (size_t)sx * src->bands,
                   (size_t)src->bands);
        }
    return dst;
}

/* The stored image `src` shown upright for EXIF orientation `o` (as numpy:
 * 2 fliplr, 3 rot180, 4 flipud, 5 transpose, 6 rot90 clockwise, 7
 * transverse, 8 rot90 counter-clockwise). The caller frees the result. */
static tsr_image *upright(const tsr_image *src, int o) {
    static const int steps[9][3] = {{-1},        {-1},       {0, -1},   {0, 1, -1}, {1, -1},
                                    {2, -1, -1}, {2, 0, -1}, {2, 0, 1}, {2, 1, -1}};
    tsr_image *cur = NULL;
    if (tsr_image_new(NULL, src->width, src->height, src->bands, &cur))
        return NULL;
    for (int y = 0; y < src->height; y++)
        memcpy(cur->data + (size_t)y * cur->stride, src->data + (size_t)y * src->stride,
               (size_t)src->width * (size_t)src->bands);
    for (int i = 0; o >= 1 && o <= 8 && i < 3 && steps[o][i] >= 0; i++) {
        tsr_image *next = step(cur, steps[o][i]);
        tsr_image_free(cur);
        cur = next;
    }
    return cur;
}

/*
 * Checks one file against `stored` (its pixels as stored; NULL: take them
 * from a no_autorotate decode) for orientation `o` (the tag's value; an
 * invalid one reads as 1): info, whole decode, rows in chunks of 1 and 7,
 * and no_autorotate. `streams` is whether the unturned file streams.
 */
static void check_file(const char *path, const tsr_image *stored, int o, int streams,
                       const char *what) {
    int want_o = o >= 1 && o <= 8 ? o : 1;
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_buffer buf = {0};
    tsr_image_info info;
    tsr_image *whole = NULL, *kept = NULL, *want = NULL;
    tsr_decode_options keep = {.no_autorotate = true};
    int failures = check_failures;
    CHECK_EQ_INT(tsr_file_read(ctx, path, 1u << 30, &buf), TSR_OK);
    CHECK_EQ_INT(tsr_image_info_read(ctx, buf.data, buf.len, &info), TSR_OK);
    CHECK_EQ_INT(info.orientation, want_o);
    CHECK_EQ_INT(tsr_image_decode(ctx, buf.data, buf.len, &keep, &kept, NULL), TSR_OK);
    if (stored)
        CHECK(same_pixels(kept, stored));
    else
        stored = kept;
    CHECK(kept && info.width == kept->width && info.height == kept->height);
    CHECK_EQ_INT(tsr_image_decode(ctx, buf.data, buf.len, NULL, &whole, &info), TSR_OK);
    CHECK_EQ_INT(info.orientation, want_o);
    want = stored ? upright(stored, want_o) : NULL;
    CHECK(same_pixels(whole, want));
    for (int chunk = 1; chunk <= 7; chunk += 6) {
        int s = -1;
        tsr_image_info rinfo;
        tsr_image *rows = read_rows_chunked(path, NULL, chunk, &s, &rinfo);
        CHECK(same_pixels(rows, want));
        CHECK_EQ_INT(rinfo.orientation, want_o);
        CHECK_EQ_INT(s, want_o == 1 ? streams : 0);
        tsr_image_free(rows);
        rows = read_rows_chunked(path, &keep, chunk, &s, &rinfo);
        CHECK(same_pixels(rows, stored));
        CHECK_EQ_INT(s, streams);
        tsr_image_free(rows);
    }
    if (check_failures != failures)
        fprintf(stderr, "  ^ %s, orientation %d\n", what, o);
    tsr_image_free(whole);
    tsr_image_free(kept);
    tsr_image_free(want);
    tsr_buffer_free(&buf);
    tsr_ctx_free(ctx);
}

/* TIFF layouts written below. */
enum { STRIPS_RGB, TILES_RGBA, GRAY16, PLANES_RGB, PALETTE, LAYOUTS };

static const char *const layout_names[LAYOUTS] = {"strips RGB", "tiles RGBA", "16-bit gray",
                                                  "separate planes RGB", "palette"};

/* Writes `img` as strips of 3 rows in `layout` (not tiles). */
static void write_strips(TIFF *t, const tsr_image *img, int layout, int spp) {
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 3u);
    uint16_t row[256 * 4];
    uint8_t *row8 = (uint8_t *)row;
    for (int s = 0; s < (layout == PLANES_RGB ? 3 : 1); s++)
        for (int y = 0; y < img->height; y++) {
            const uint8_t *src = img->data + (size_t)y * img->stride;
            for (int x = 0; x < img->width; x++)
                if (layout == GRAY16)
                    row[x] = (uint16_t)(src[x] * 257);
                else if (layout == PLANES_RGB)
                    row8[x] = src[x * 3 + s];
                else
                    memcpy(row8 + x * spp, src + x * img->bands, (size_t)spp);
            CHECK(TIFFWriteScanline(t, row, (uint32_t)y, (uint16_t)s) >= 0);
        }
}

/* Sets the value of the Orientation entry of IFD0 in the little-endian TIFF
 * at `path` (libtiff refuses to write a value outside 1..8). */
static void patch_orientation(const char *path, int value) {
    tsr_buffer buf = {0};
    CHECK_EQ_INT(tsr_file_read(NULL, path, 1u << 20, &buf), TSR_OK);
    const uint8_t *b = buf.data;
    bool patched = false;
    if (buf.len >= 8 && b[0] == 'I') {
        size_t ifd = b[4] | b[5] << 8 | (size_t)b[6] << 16 | (size_t)b[7] << 24;
        int count = ifd + 2 <= buf.len ? b[ifd] | b[ifd + 1] << 8 : 0;
        for (int i = 0; i < count && ifd + 2 + 12 * (size_t)(i + 1) <= buf.len; i++) {
            uint8_t *e = buf.data + ifd + 2 + 12 * (size_t)i;
            if (e[0] == 0x12 && e[1] == 0x01)
                e[8] = (uint8_t)value, e[9] = 0, patched = true;
        }
    }
    CHECK(patched);
    CHECK_EQ_INT(tsr_file_write_atomic(NULL, path, buf.data, buf.len), TSR_OK);
    tsr_buffer_free(&buf);
}

/* Writes `img` to `path` in `layout` with Orientation `o`: none when o < 0,
 * the raw value (patched in) when 0 or past 8. */
static void write_tiff(const char *path, const tsr_image *img, int layout, int o) {
    TIFF *t = TIFFOpen(path, "w");
    CHECK(t != NULL);
    if (!t)
        return;
    int spp = layout == PLANES_RGB ? 3 : layout == GRAY16 || layout == PALETTE ? 1 : img->bands;
    uint16_t alpha[1] = {EXTRASAMPLE_UNASSALPHA}, map[256];
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)img->width);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)img->height);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)(layout == GRAY16 ? 16 : 8));
    TIFFSetField(t, TIFFTAG_PLANARCONFIG,
                 layout == PLANES_RGB ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC,
                 layout == PALETTE ? PHOTOMETRIC_PALETTE
                 : spp >= 3        ? PHOTOMETRIC_RGB
                                   : PHOTOMETRIC_MINISBLACK);
    if (layout == TILES_RGBA)
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, (uint16_t)1, alpha);
    if (layout == PALETTE) {
        for (int v = 0; v < 256; v++)
            map[v] = (uint16_t)(v * 257);
        TIFFSetField(t, TIFFTAG_COLORMAP, map, map, map);
    }
    if (o >= 0)
        TIFFSetField(t, TIFFTAG_ORIENTATION, (uint16_t)(o >= 1 && o <= 8 ? o : 1));
    if (layout == TILES_RGBA) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, 16u);
        TIFFSetField(t, TIFFTAG_TILELENGTH, 16u);
        uint8_t tile[16 * 16 * 4];
        for (int ty = 0; ty < img->height; ty += 16)
            for (int tx = 0; tx < img->width; tx += 16) {
                memset(tile, 0, sizeof tile);
                for (int y = ty; y < ty + 16 && y < img->height; y++)
                    for (int x = tx; x < tx + 16 && x < img->width; x++)
                        memcpy(tile + ((y - ty) * 16 + (x - tx)) * 4,
                               img->data + (size_t)y * img->stride + (size_t)x * 4, 4);
                CHECK(TIFFWriteTile(t, tile, (uint32_t)tx, (uint32_t)ty, 0, 0) >= 0);
            }
    } else {
        write_strips(t, img, layout, spp);
    }
    TIFFClose(t);
    if (o == 0 || o > 8)
        patch_orientation(path, o);
}
static void test_tiff(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/o.tif", dir);
    for (int layout = 0; layout < LAYOUTS; layout++) {
        int bands = layout == TILES_RGBA ? 4 : layout == GRAY16 ? 1 : 3;
        /* 37x21: tiles with partial edges, strips of 3 rows with a short last one. */
        tsr_image *img = pattern(37, 21, bands);
        if (layout == PALETTE) /* a gray palette decodes to RGB with equal bands */
            for (int y = 0; y < img->height; y++)
                for (int x = 0; x < img->width; x++) {
                    uint8_t *p = img->data + (size_t)y * img->stride + (size_t)x * 3;
                    p[1] = p[2] = p[0];
                }
        bool direct = layout != PLANES_RGB && layout != PALETTE;
        for (int o = -1; o <= 9; o++) {
            write_tiff(path, img, layout, o);
            check_file(path, img, o, direct, layout_names[layout]);
        }
        tsr_image_free(img);
    }
    unlink(path);
}

/* A bare EXIF (TIFF) structure with IFD0 holding one SHORT entry; `prefix`
 * puts "Exif\0\0" first. Returns its length. */
static size_t make_exif(uint8_t *out, int tag, int value, bool big_endian, bool prefix) {
    static const uint8_t head[6] = {'E', 'x', 'i', 'f', 0, 0};
    size_t n = 0;
    if (prefix)
        memcpy(out, head, 6), n = 6;
    uint8_t *p = out + n;
    uint8_t le[26] = {'I',
                      'I',
                      42,
                      0,
                      8,
                      0,
                      0,
                      0,
                      1,
                      0,
                      (uint8_t)tag,
                      (uint8_t)(tag >> 8),
                      3,
                      0,
                      1,
                      0,
                      0,
                      0,
                      (uint8_t)value,
                      0,
                      0,
                      0,
                      0,
                      0,
                      0,
                      0};
    uint8_t be[26] = {'M',
                      'M',
                      0,
                      42,
                      0,
                      0,
                      0,
                      8,
                      0,
                      1,
                      (uint8_t)(tag >> 8),
                      (uint8_t)tag,
                      0,
                      3,
                      0,
                      0,
                      0,
                      1,
                      0,
                      (uint8_t)value,
                      0,
                      0,
                      0,
                      0,
                      0,
                      0};
    memcpy(p, big_endian ? be : le, 26);
    return n + 26;
}

/* Writes a VP8X WebP of `webp` (a simple file) with an EXIF chunk to `path`. */
static void write_webp_exif(const char *path, const tsr_buffer *webp, const uint8_t *exif,
                            size_t exif_len) {
    WebPData image = {webp->data, webp->len}, chunk = {exif, exif_len}, out = {0};
    WebPMux *mux = WebPMuxCreate(&image, 1);
    CHECK(mux != NULL);
    if (!mux)
        return;
    CHECK_EQ_INT(WebPMuxSetChunk(mux, "EXIF", &chunk, 1), WEBP_MUX_OK);
    CHECK_EQ_INT(WebPMuxAssemble(mux, &out), WEBP_MUX_OK);
    CHECK(out.size > 16 && memcmp(out.bytes + 12, "VP8X", 4) == 0);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(out.bytes, 1, out.size, f) == out.size);
        fclose(f);
    }
    WebPDataClear(&out);
    WebPMuxDelete(mux);
}

static void test_webp(void) {
    char path[300];
    uint8_t exif[64];
    snprintf(path, sizeof path, "%s/o.webp", dir);
    for (int bands = 3; bands <= 4; bands++)
        for (int lossless = 1; lossless >= 0; lossless--) {
            tsr_image *img = pattern(37, 21, bands);
            tsr_buffer webp = {0};
            tsr_ctx *ctx = tsr_ctx_new();
            tsr_encode_options opts = {.quality = 90, .compression = -1, .lossless = lossless};
            CHECK_EQ_INT(tsr_image_encode(ctx, img, TSR_FORMAT_WEBP, &opts, &webp), TSR_OK);
            tsr_ctx_free(ctx);
            for (int o = 0; o <= 9; o++) {
                int variant = o % 4; /* endianness and prefix vary with o */
                size_t n = make_exif(exif, 0x0112, o, variant & 1, variant & 2);
                write_webp_exif(path, &webp, exif, n);
                check_file(path, lossless ? img : NULL, o, 0,
                           lossless ? "webp lossless" : "webp lossy");
            }
            /* An EXIF chunk without an Orientation entry (a SHORT tag 0x0128). */
            size_t n = make_exif(exif, 0x0128, 6, false, false);
            write_webp_exif(path, &webp, exif, n);
            check_file(path, lossless ? img : NULL, 1, 0, "webp without orientation");
            tsr_buffer_free(&webp);
            tsr_image_free(img);
        }
    unlink(path);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/tsr_orient_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    RUN(test_tiff);
    RUN(test_webp);
    rmdir(dir);
    return check_finish();
}
