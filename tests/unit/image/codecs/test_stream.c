/* Row streaming: readers give exactly tsr_image_decode's pixels for every
 * format, layout and band count, read in chunks of 1, 7 and 64 rows (BMP:
 * every variant, top-down and bottom-up); writers give the same bytes as
 * tsr_image_encode (BMP also through descriptors at an offset, appending,
 * and pipes); truncated files fail while reading; limits are checked at
 * open; temporary files never stay behind; and a large image streams
 * without the process growing by it. */
#include <dirent.h>
#include <fcntl.h>
#include <spng.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include "check.h"
#include "image/codecs/helpers.h"
#include "tessera/stream.h"

static char dir[256];    /* a scratch folder for this run */
static tsr_ctx *scratch; /* a context for setup steps */

/* dir/name into buf. */
static const char *at(char *buf, size_t n, const char *name) {
    snprintf(buf, n, "%s/%s", dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(bytes, 1, n, f) == n);
        fclose(f);
    }
}

/* Number of entries in dir other than . and .. */
static int files_in_dir(void) {
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

/* Streams `path` in chunks of 1, 7 and 64 rows and compares with the whole decode. */
static void check_same(const char *path, const tsr_decode_options *opts, int expect_streams) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *whole = NULL;
    CHECK_EQ_INT(tsr_image_load(ctx, path, opts, &whole, NULL), TSR_OK);
    static const int chunks[] = {1, 7, 64};
    for (int i = 0; i < 3; i++) {
        int streams = -1;
        tsr_image *img = read_rows_chunked(path, opts, chunks[i], &streams, NULL);
        if (!same_pixels(whole, img))
            fprintf(stderr, "%s: chunk %d: streamed rows differ from the whole decode\n", path,
                    chunks[i]);
        CHECK(same_pixels(whole, img));
        if (expect_streams >= 0 && streams != expect_streams)
            fprintf(stderr, "%s: streams=%d, expected %d\n", path, streams, expect_streams);
        CHECK(expect_streams < 0 || streams == expect_streams);
        tsr_image_free(img);
    }
    tsr_image_free(whole);
    tsr_ctx_free(ctx);
}

static void check_data(const char *name, int expect_streams) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    check_same(path, NULL, expect_streams);
}

static void test_real_photos(void) {
    check_data("astronaut.png", 1);
    check_data("coffee.png", 1);
    check_data("chelsea.png", 1);
    check_data("palette_color.png", 1);
    check_data("hubble_deep_field.jpg", 1);
    check_data("rocket.jpg", 1);
    check_data("chelsea.gif", 0);
    check_data("anim.gif", 0);
    check_data("coffee.webp", 0);
}

static void test_jpeg_shrink(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/rocket.jpg", check_data_dir());
    for (int s = 2; s <= 8; s *= 2) {
        tsr_decode_options o = {.shrink = s};
        check_same(path, &o, 1);
    }
}

/* Writes `img` as `f` through a row writer, `chunk` rows at a time. */
static tsr_status write_streamed(const tsr_image *img, tsr_format f, const char *path,
                                 const tsr_encode_options *opts, int chunk, int *streams) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_writer *w = NULL;
    tsr_status st =
        tsr_row_writer_open(ctx, path, f, img->width, img->height, img->bands, opts, &w);
    if (!st && streams)
        *streams = tsr_row_writer_streams(w);
    for (int y = 0; !st && y < img->height; y += chunk) {
        int n = img->height - y < chunk ? img->height - y : chunk;
        st = tsr_row_writer_write(w, img->data + (size_t)y * img->stride, img->stride, n);
    }
    if (!st)
        st = tsr_row_writer_finish(w);
    if (st)
        fprintf(stderr, "%s: %s\n", path, tsr_ctx_message(ctx));
    tsr_row_writer_free(w);
    tsr_ctx_free(ctx);
    return st;
}

/* Whether the file at `path` holds exactly `buf`. */
static int same_file(const char *path, const tsr_buffer *buf) {
    tsr_buffer got = {0};
    tsr_ctx *ctx = tsr_ctx_new();
    int same = tsr_file_read(ctx, path, 1ull << 30, &got) == TSR_OK && got.len == buf->len &&
               memcmp(got.data, buf->data, buf->len) == 0;
    tsr_buffer_free(&got);
    tsr_ctx_free(ctx);
    return same;
}

/* For every format and band count: the streamed writer's file decodes like
 * the whole encoder's output (identical bytes where the encoder is the
 * same), and reading it back streams the same pixels as the whole decode. */
static void test_formats_and_bands(void) {
    tsr_image *photo = load_data("coffee.png");
    char path[1024], whole_path[1024];
    for (int f = TSR_FORMAT_UNKNOWN + 1; f < TSR_FORMAT_COUNT; f++) {
        for (int bands = 1; bands <= 4; bands++) {
            tsr_image *img = with_bands(photo, bands);
            tsr_encode_options opts = {.quality = 90, .compression = f == TSR_FORMAT_TIFF ? 6 : -1};
            for (int pass = 0; pass < (f == TSR_FORMAT_TIFF ? 2 : 1); pass++) {
                if (pass == 1)
                    opts.compression = 0;
                snprintf(path, sizeof path, "%s/w%d_%d.%s", dir, bands, pass,
                         tsr_format_extension((tsr_format)f));
                tsr_buffer buf = {0};
                tsr_ctx *ctx = tsr_ctx_new();
                CHECK_EQ_INT(tsr_image_encode(ctx, img, (tsr_format)f, &opts, &buf), TSR_OK);
                int streams = -1;
                CHECK_EQ_INT(write_streamed(img, (tsr_format)f, path, &opts, 13, &streams), TSR_OK);
                bool native = f == TSR_FORMAT_JPEG || f == TSR_FORMAT_PNG || f == TSR_FORMAT_TIFF ||
                              f == TSR_FORMAT_PNM || f == TSR_FORMAT_BMP;
                CHECK_EQ_INT(streams, native);
                /* Every writer here, streaming or not, yields the encoder's bytes. */
                if (!same_file(path, &buf))
                    fprintf(stderr, "%s: bytes differ from tsr_image_encode\n", path);
                CHECK(same_file(path, &buf));
                snprintf(whole_path, sizeof whole_path, "%s/e%d_%d.%s", dir, bands, pass,
                         tsr_format_extension((tsr_format)f));
                write_bytes(whole_path, buf.data, buf.len);
                int reads = f == TSR_FORMAT_JPEG || f == TSR_FORMAT_PNG || f == TSR_FORMAT_TIFF ||
                            f == TSR_FORMAT_PNM || f == TSR_FORMAT_BMP;
                check_same(path, NULL, reads);
                /* Lossless formats give the rows back (PNM/JPEG/GIF drop alpha, GIF
                 * quantises, BMP writes gray+alpha as BGRA). */
                if (f == TSR_FORMAT_PNG || f == TSR_FORMAT_TIFF ||
                    (f == TSR_FORMAT_BMP && bands != 2) ||
                    (f == TSR_FORMAT_PNM && (bands == 1 || bands == 3))) {
                    tsr_image *back = read_rows_chunked(path, NULL, 64, NULL, NULL);
                    CHECK(same_pixels(back, img));
                    tsr_image_free(back);
                }
                unlink(path);
                unlink(whole_path);
                tsr_buffer_free(&buf);
                tsr_ctx_free(ctx);
            }
            tsr_image_free(img);
        }
    }
    CHECK_EQ_INT(files_in_dir(), 0);
    tsr_image_free(photo);
}

/* A top-down copy of a bottom-up BMP (negative height, rows reversed). */
static void test_bmp_top_down(void) {
    tsr_image *photo = load_data("coffee.png");
    char path[1024];
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *img = with_bands(photo, bands);
        tsr_buffer buf = {0};
        CHECK_EQ_INT(tsr_image_encode(scratch, img, TSR_FORMAT_BMP, NULL, &buf), TSR_OK);
        uint32_t off =
            buf.data[10] | buf.data[11] << 8 | buf.data[12] << 16 | (uint32_t)buf.data[13] << 24;
        size_t row = (buf.len - off) / (size_t)img->height;
        uint8_t *flip = malloc(buf.len);
        memcpy(flip, buf.data, off);
        for (int y = 0; y < img->height; y++)
            memcpy(flip + off + (size_t)y * row,
                   buf.data + off + (size_t)(img->height - 1 - y) * row, row);
        int32_t neg = -img->height;
        memcpy(flip + 22, &neg, 4);
        at(path, sizeof path, "top.bmp");
        write_bytes(path, flip, buf.len);
        check_same(path, NULL, 1);
        tsr_image *back = read_rows_chunked(path, NULL, 7, NULL, NULL);
        tsr_image *expect = NULL;
        CHECK_EQ_INT(tsr_image_decode(scratch, buf.data, buf.len, NULL, &expect, NULL), TSR_OK);
        CHECK(same_pixels(back, expect));
        tsr_image_free(back);
        tsr_image_free(expect);
        free(flip);
        tsr_buffer_free(&buf);
        tsr_image_free(img);
        unlink(path);
    }
    tsr_image_free(photo);
}

/* A sample pattern for generated images. */
static unsigned sample(int x, int y, int c) {
    return (unsigned)(x * 131 + y * 71 + c * 4099 + ((x * y) >> 3)) & 0xffff;
}

/* Writes a TIFF with libtiff: tiled or in strips of `rps` rows, 8 or 16 bits. */
static void make_tiff(const char *path, int w, int h, int spp, int bps, int tile, int rps,
                      int photometric, int compression) {
    TIFF *t = TIFFOpen(path, "w");
    uint16_t alpha[1] = {EXTRASAMPLE_UNASSALPHA};
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)bps);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photometric);
    TIFFSetField(t, TIFFTAG_COMPRESSION, compression);
    if (spp == 2 || spp == 4)
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, (uint16_t)1, alpha);
    size_t bytes = (size_t)bps / 8;
    uint8_t *buf = calloc((size_t)(tile ? tile * tile : w * rps) * (size_t)spp * bytes, 1);
    if (tile) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, (uint32_t)tile);
        TIFFSetField(t, TIFFTAG_TILELENGTH, (uint32_t)tile);
        for (int ty = 0; ty < h; ty += tile)
            for (int tx = 0; tx < w; tx += tile) {
                for (int y = 0; y < tile; y++)
                    for (int x = 0; x < tile; x++)
                        for (int c = 0; c < spp; c++) {
                            size_t i =
                                ((size_t)y * (size_t)tile + (size_t)x) * (size_t)spp + (size_t)c;
                            unsigned v = sample(tx + x, ty + y, c);
                            if (bps == 16)
                                ((uint16_t *)(void *)buf)[i] = (uint16_t)v;
                            else
                                buf[i] = (uint8_t)v;
                        }
                TIFFWriteTile(t, buf, (uint32_t)tx, (uint32_t)ty, 0, 0);
            }
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, (uint32_t)rps);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++)
                for (int c = 0; c < spp; c++) {
                    size_t i = (size_t)x * (size_t)spp + (size_t)c;
                    if (bps == 16)
                        ((uint16_t *)(void *)buf)[i] = (uint16_t)sample(x, y, c);
                    else
                        buf[i] = (uint8_t)sample(x, y, c);
                }
            TIFFWriteScanline(t, buf, (uint32_t)y, 0);
        }
    }
    TIFFClose(t);
    free(buf);
}

static void test_tiff_layouts(void) {
    char path[1024];
    at(path, sizeof path, "gen.tif");
    static const int spps[4] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
        int spp = spps[i];
        int photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
        for (int bps = 8; bps <= 16; bps += 8) {
            make_tiff(path, 300, 211, spp, bps, 64, 0, photo, COMPRESSION_NONE);
            check_same(path, NULL, 1);
            make_tiff(path, 300, 211, spp, bps, 32, 0, photo, COMPRESSION_ADOBE_DEFLATE);
            check_same(path, NULL, 1);
            make_tiff(path, 300, 211, spp, bps, 0, 17, photo, COMPRESSION_LZW);
            check_same(path, NULL, 1);
            make_tiff(path, 300, 211, spp, bps, 0, 211, photo, COMPRESSION_NONE);
            check_same(path, NULL, 1);
        }
    }
    make_tiff(path, 300, 211, 1, 8, 0, 5, PHOTOMETRIC_MINISWHITE, COMPRESSION_PACKBITS);
    check_same(path, NULL, 1);
    /* One huge Deflate strip is read row by row. */
    make_tiff(path, 3000, 1100, 3, 8, 0, 1100, PHOTOMETRIC_RGB, COMPRESSION_ADOBE_DEFLATE);
    check_same(path, NULL, 1);
    /* Palette layout: not direct, so the whole decode serves it. */
    TIFF *t = TIFFOpen(path, "w");
    uint16_t map[256];
    for (int v = 0; v < 256; v++)
        map[v] = (uint16_t)(v * 257);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 40u);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 30u);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)1);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_PALETTE);
    TIFFSetField(t, TIFFTAG_COLORMAP, map, map, map);
    uint8_t row[40];
    for (int y = 0; y < 30; y++) {
        for (int x = 0; x < 40; x++)
            row[x] = (uint8_t)(x * 6 + y);
        TIFFWriteScanline(t, row, (uint32_t)y, 0);
    }
    TIFFClose(t);
    check_same(path, NULL, 0);
    unlink(path);
}

/* 16-bit PNGs written with libspng (gray, gray+alpha, RGB, RGBA, and RGB with a tRNS key). */
static void test_png16(void) {
    static const uint8_t types[5] = {0, SPNG_COLOR_TYPE_GRAYSCALE, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA,
                                     SPNG_COLOR_TYPE_TRUECOLOR, SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};
    char path[1024];
    at(path, sizeof path, "gen16.png");
    for (int spp = 1; spp <= 5; spp++) {
        int n = spp == 5 ? 3 : spp;
        int w = 123, h = 77;
        size_t len = (size_t)w * (size_t)h * (size_t)n * 2;
        uint8_t *px = malloc(len);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < n; c++) {
                    size_t i = (((size_t)y * (size_t)w + (size_t)x) * (size_t)n + (size_t)c) * 2;
                    unsigned v = (x < 10 && y < 10) ? 1000 : sample(x, y, c);
                    px[i] = (uint8_t)(v >> 8), px[i + 1] = (uint8_t)v;
                }
        spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
        FILE *f = fopen(path, "wb");
        struct spng_ihdr ihdr = {
            .width = (uint32_t)w, .height = (uint32_t)h, .bit_depth = 16, .color_type = types[n]};
        spng_set_png_file(enc, f);
        spng_set_ihdr(enc, &ihdr);
        if (spp == 5) {
            struct spng_trns trns = {.red = 1000, .green = 1000, .blue = 1000};
            spng_set_trns(enc, &trns);
        }
        CHECK_EQ_INT(spng_encode_image(enc, px, len, SPNG_FMT_PNG, SPNG_ENCODE_FINALIZE), 0);
        spng_ctx_free(enc);
        fclose(f);
        check_same(path, NULL, 1);
        free(px);
    }
    unlink(path);
}

static void test_pnm_variants(void) {
    char path[1024], head[64];
    at(path, sizeof path, "gen.pnm");
    int w = 97, h = 41;
    static const struct {
        int kind, maxval;
    } cases[] = {{5, 255}, {6, 255}, {5, 65535}, {6, 65535}, {5, 1000}, {6, 100}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int spp = cases[k].kind == 6 ? 3 : 1, bps = cases[k].maxval > 255 ? 2 : 1;
        int n = snprintf(head, sizeof head, "P%d\n# comment\n%d %d\n%d\n", cases[k].kind, w, h,
                         cases[k].maxval);
        size_t len = (size_t)n + (size_t)(w * h * spp * bps);
        uint8_t *b = malloc(len);
        memcpy(b, head, (size_t)n);
        for (size_t i = 0; i < (size_t)(w * h * spp); i++) {
            unsigned v = (unsigned)(i * 2654435761u >> 7) % ((unsigned)cases[k].maxval + 1);
            if (bps == 2)
                b[(size_t)n + 2 * i] = (uint8_t)(v >> 8), b[(size_t)n + 2 * i + 1] = (uint8_t)v;
            else
                b[(size_t)n + i] = (uint8_t)v;
        }
        write_bytes(path, b, len);
        check_same(path, NULL, 1);
        free(b);
    }
    const char *ascii = "P2\n3 2\n255\n0 1 2\n3 4 255\n";
    write_bytes(path, ascii, strlen(ascii));
    check_same(path, NULL, 0);
    unlink(path);
}

/* One hand-made BMP layout. */
typedef struct bmp_variant {
    const char *name;     /* for failure messages */
    int hsize;            /* info header size: 12, 40, 56, 108 or 124 */
    int bpp;              /* bits per pixel */
    uint32_t compression; /* 0 BI_RGB, 3 BI_BITFIELDS, 6 BI_ALPHABITFIELDS */
    uint32_t masks[4];    /* R, G, B, A for bit fields */
    int colors;           /* palette entries (<= 8 bpp) */
    int gray;             /* palette entries all gray */
} bmp_variant;

static const bmp_variant bmp_variants[] = {
    {"1-bit gray", 40, 1, 0, {0}, 2, 1},
    {"1-bit colour", 40, 1, 0, {0}, 2, 0},
    {"4-bit gray", 40, 4, 0, {0}, 16, 1},
    {"4-bit colour, 12 of 16 entries", 40, 4, 0, {0}, 12, 0},
    {"8-bit gray", 40, 8, 0, {0}, 256, 1},
    {"8-bit colour, 200 entries", 40, 8, 0, {0}, 200, 0},
    {"8-bit core header", 12, 8, 0, {0}, 256, 0},
    {"16-bit 555", 40, 16, 0, {0}, 0, 0},
    {"16-bit 565 bit fields", 40, 16, 3, {0xF800, 0x07E0, 0x001F, 0}, 0, 0},
    {"16-bit 4444 alpha bit fields", 40, 16, 6, {0x0F00, 0x00F0, 0x000F, 0xF000}, 0, 0},
    {"24-bit", 40, 24, 0, {0}, 0, 0},
    {"24-bit V5 header", 124, 24, 0, {0}, 0, 0},
    {"32-bit BI_RGB", 40, 32, 0, {0}, 0, 0},
    {"32-bit bit fields", 40, 32, 3, {0xFF0000, 0xFF00, 0xFF, 0}, 0, 0},
    {"32-bit 10-10-10-2 V3 header", 56, 32, 3, {0x3FF00000, 0xFFC00, 0x3FF, 0xC0000000}, 0, 0},
    {"32-bit V4 with alpha", 108, 32, 3, {0xFF0000, 0xFF00, 0xFF, 0xFF000000}, 0, 0},
};

static void put_le(uint8_t *p, uint32_t v, int n) {
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* A w x h BMP of variant `v` whose image row y holds the same pixels
 * whichever way it is stored; row padding is filled with junk. The caller
 * frees the bytes. */
static uint8_t *make_bmp(const bmp_variant *v, int w, int h, int top_down, size_t *len) {
    int core = v->hsize == 12;
    int entry = core ? 3 : 4;
    int colors = v->bpp > 8 ? 0 : core ? 1 << v->bpp : v->colors;
    int outside = v->hsize == 40 && v->compression ? (v->compression == 6 ? 4 : 3) : 0;
    size_t row = ((size_t)w * (size_t)v->bpp + 31) / 32 * 4;
    size_t data = 14 + (size_t)v->hsize + 4 * (size_t)outside + (size_t)(colors * entry);
    *len = data + row * (size_t)h;
    uint8_t *b = calloc(1, *len);
    b[0] = 'B', b[1] = 'M';
    put_le(b + 2, (uint32_t)*len, 4);
    put_le(b + 10, (uint32_t)data, 4);
    uint8_t *ih = b + 14;
    put_le(ih, (uint32_t)v->hsize, 4);
    if (core) {
        put_le(ih + 4, (uint32_t)w, 2), put_le(ih + 6, (uint32_t)h, 2);
        put_le(ih + 8, 1, 2), put_le(ih + 10, (uint32_t)v->bpp, 2);
    } else {
        put_le(ih + 4, (uint32_t)w, 4), put_le(ih + 8, (uint32_t)(top_down ? -h : h), 4);
        put_le(ih + 12, 1, 2), put_le(ih + 14, (uint32_t)v->bpp, 2);
        put_le(ih + 16, v->compression, 4);
        put_le(ih + 32, (uint32_t)colors, 4);
        uint8_t *m = v->hsize >= 52 ? ih + 40 : ih + v->hsize;
        for (int i = 0; i < (v->hsize >= 56 ? 4 : outside); i++)
            put_le(m + 4 * i, v->masks[i], 4);
    }
    uint8_t *pal = ih + v->hsize + 4 * outside;
    for (int i = 0; i < colors; i++) {
        uint8_t *e = pal + i * entry;
        e[0] = (uint8_t)(i * 37 + 5);
        e[1] = v->gray ? e[0] : (uint8_t)(i * 11 + 90);
        e[2] = v->gray ? e[0] : (uint8_t)(255 - i * 3);
    }
    for (int s = 0; s < h; s++) {
        int y = top_down ? s : h - 1 - s;
        uint8_t *r = b + data + (size_t)s * row;
        memset(r, 0xA5, row); /* padding junk, overwritten below where it is pixels */
        if (v->bpp < 8)
            memset(r, 0, ((size_t)w * (size_t)v->bpp + 7) / 8);
        for (int x = 0; x < w; x++) {
            uint32_t px = (uint32_t)sample(x, y, 0) * 2654435761u ^ (uint32_t)sample(x, y, 1);
            if (v->bpp < 8) {
                int per = 8 / v->bpp, shift = 8 - v->bpp * (x % per + 1);
                r[x / per] |= (uint8_t)((px & ((1u << v->bpp) - 1)) << shift);
            } else {
                put_le(r + (size_t)x * (size_t)(v->bpp / 8), px, v->bpp / 8);
            }
        }
    }
    return b;
}

/* The whole decode of `path`; NULL (and a message) on failure. */
static tsr_image *load_path(const char *path) {
    tsr_image *img = NULL;
    tsr_ctx *ctx = tsr_ctx_new();
    if (tsr_image_load(ctx, path, NULL, &img, NULL))
        fprintf(stderr, "cannot load %s: %s\n", path, tsr_ctx_message(ctx));
    tsr_ctx_free(ctx);
    return img;
}

/* Every BMP variant, top-down and bottom-up, padded and unpadded widths:
 * the rows stream (chunks of 1, 7, 64) exactly as the whole decode gives
 * them, and both orders decode to the same image. 9001 columns are wide
 * enough that a 64-row read takes several preads of stored rows. */
static void test_bmp_variants(void) {
    static const int widths[] = {1, 3, 37, 9001}, heights[] = {1, 19, 90};
    char top[1024], bottom[1024];
    at(top, sizeof top, "top.bmp");
    at(bottom, sizeof bottom, "bottom.bmp");
    for (size_t k = 0; k < sizeof bmp_variants / sizeof bmp_variants[0]; k++) {
        const bmp_variant *v = &bmp_variants[k];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 3; j++) {
                int w = widths[i], h = heights[j], before = check_failures;
                if ((w == 9001) != (h == 90))
                    continue;
                size_t len;
                uint8_t *b = make_bmp(v, w, h, 0, &len);
                write_bytes(bottom, b, len);
                free(b);
                check_same(bottom, NULL, 1);
                tsr_image *from_bottom = load_path(bottom);
                CHECK(from_bottom != NULL);
                if (v->hsize != 12) { /* the core header has no top-down form */
                    b = make_bmp(v, w, h, 1, &len);
                    write_bytes(top, b, len);
                    free(b);
                    check_same(top, NULL, 1);
                    tsr_image *from_top = load_path(top);
                    CHECK(same_pixels(from_top, from_bottom));
                    tsr_image_free(from_top);
                }
                tsr_image_free(from_bottom);
                if (check_failures != before)
                    fprintf(stderr, "  BMP %s, %dx%d\n", v->name, w, h);
            }
    }
    unlink(top);
    unlink(bottom);
}

/* An image of the sample pattern. */
static tsr_image *pattern(int w, int h, int bands) {
    tsr_image *img = NULL;
    if (tsr_image_new(NULL, w, h, bands, &img))
        return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < bands; c++)
                img->data[(size_t)y * img->stride + (size_t)x * (size_t)bands + (size_t)c] =
                    (uint8_t)sample(x, y, c);
    return img;
}

/* Writes `img` as BMP into a duplicate of `fd`, 7 rows at a time. */
static tsr_status write_fd(const tsr_image *img, int fd, int *streams) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_writer *w = NULL;
    tsr_status st = tsr_row_writer_open_fd(ctx, fd, "fd", TSR_FORMAT_BMP, img->width, img->height,
                                           img->bands, NULL, &w);
    if (!st)
        *streams = tsr_row_writer_streams(w);
    for (int y = 0; !st && y < img->height; y += 7) {
        int n = img->height - y < 7 ? img->height - y : 7;
        st = tsr_row_writer_write(w, img->data + (size_t)y * img->stride, img->stride, n);
    }
    if (!st)
        st = tsr_row_writer_finish(w);
    if (st)
        fprintf(stderr, "write_fd: %s\n", tsr_ctx_message(ctx));
    tsr_row_writer_free(w);
    tsr_ctx_free(ctx);
    return st;
}

/* Writes `img` into `fd` after 100 bytes already there; the file must be
 * those bytes then exactly `enc`, with the offset left at its end. */
static void check_fd_at_offset(const tsr_image *img, int fd, const tsr_buffer *enc,
                               int expect_streams) {
    uint8_t prefix[100];
    memset(prefix, 'x', sizeof prefix);
    CHECK_EQ_INT(write(fd, prefix, sizeof prefix), sizeof prefix);
    int streams = -1;
    CHECK_EQ_INT(write_fd(img, fd, &streams), TSR_OK);
    CHECK_EQ_INT(streams, expect_streams);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_CUR), 100 + (long long)enc->len);
    struct stat sb;
    CHECK(fstat(fd, &sb) == 0 && sb.st_size == 100 + (off_t)enc->len);
    uint8_t *got = malloc(100 + enc->len);
    CHECK_EQ_INT(pread(fd, got, 100 + enc->len, 0), 100 + (long long)enc->len);
    CHECK(memcmp(got, prefix, 100) == 0);
    CHECK(memcmp(got + 100, enc->data, enc->len) == 0);
    free(got);
}

/* The BMP writer's bytes equal tsr_image_encode's for 1..4 bands, widths
 * with every row padding and height 1: to a path (streams), into an fd at
 * offset 100 of a file and of a memfd (streams), of an O_APPEND file and
 * of a pipe (both collect and encode at finish). */
static void test_bmp_writer(void) {
    static const int widths[] = {1, 2, 3, 5, 37}, heights[] = {1, 19};
    char path[1024];
    at(path, sizeof path, "w.bmp");
    for (int bands = 1; bands <= 4; bands++)
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 2; j++) {
                int w = widths[i], h = heights[j], before = check_failures;
                tsr_image *img = pattern(w, h, bands);
                tsr_buffer enc = {0};
                CHECK_EQ_INT(tsr_image_encode(scratch, img, TSR_FORMAT_BMP, NULL, &enc), TSR_OK);
                int streams = -1;
                CHECK_EQ_INT(write_streamed(img, TSR_FORMAT_BMP, path, NULL, 7, &streams), TSR_OK);
                CHECK_EQ_INT(streams, 1);
                CHECK(same_file(path, &enc));
                unlink(path);

                int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                check_fd_at_offset(img, fd, &enc, 1);
                close(fd);
                fd = memfd_create("bmp", MFD_CLOEXEC);
                check_fd_at_offset(img, fd, &enc, 1);
                close(fd);
                fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
                check_fd_at_offset(img, fd, &enc, 0);
                close(fd);
                unlink(path);

                /* The largest here (37x19x4) fits a pipe's 64 KiB buffer. */
                int p[2];
                CHECK(pipe(p) == 0);
                CHECK_EQ_INT(write_fd(img, p[1], &streams), TSR_OK);
                CHECK_EQ_INT(streams, 0);
                close(p[1]);
                uint8_t *got = malloc(enc.len + 1);
                size_t n = 0;
                for (ssize_t r; (r = read(p[0], got + n, enc.len + 1 - n)) > 0;)
                    n += (size_t)r;
                close(p[0]);
                CHECK(n == enc.len && memcmp(got, enc.data, n) == 0);
                free(got);
                if (check_failures != before)
                    fprintf(stderr, "  BMP writer: %dx%d, %d bands\n", w, h, bands);
                tsr_buffer_free(&enc);
                tsr_image_free(img);
            }
    /* Too large for BMP (over 4 GiB): refused at open, nothing left behind. */
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_writer *w = NULL;
    CHECK_EQ_INT(tsr_row_writer_open(ctx, path, TSR_FORMAT_BMP, 65500, 65500, 3, NULL, &w),
                 TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "too large for BMP");
    CHECK(w == NULL);
    tsr_ctx_reset(ctx);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK_EQ_INT(
        tsr_row_writer_open_fd(ctx, p[1], "pipe", TSR_FORMAT_BMP, 65500, 65500, 3, NULL, &w),
        TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "too large for BMP");
    close(p[0]);
    close(p[1]);
    tsr_ctx_free(ctx);
    CHECK_EQ_INT(files_in_dir(), 0);
}

/* Reads `chunk` rows at a time until a read fails; returns its status and
 * copies the message into msg. */
static tsr_status read_until_error(tsr_row_reader *r, tsr_ctx *ctx, int chunk, char *msg,
                                   size_t n) {
    int w, h, b;
    tsr_row_reader_shape(r, &w, &h, &b);
    uint8_t *row = malloc((size_t)w * (size_t)b * (size_t)chunk);
    tsr_status st = TSR_OK;
    for (int y = 0; !st && y < h; y += chunk)
        st = tsr_row_reader_read(r, row, (size_t)w * (size_t)b, h - y < chunk ? h - y : chunk);
    snprintf(msg, n, "%s", st ? tsr_ctx_message(ctx) : "");
    free(row);
    return st;
}

/* A BMP cut after open keeping stored rows 0..9: bottom-up, that is the
 * bottom of the image, so the first read (row 0) fails; top-down, row 10.
 * The same row is named whether rows are read one or 16 at a time. */
static void test_bmp_truncated(void) {
    tsr_image *img = pattern(37, 40, 3);
    tsr_buffer enc = {0};
    char path[1024], msg[512];
    at(path, sizeof path, "cut.bmp");
    CHECK_EQ_INT(tsr_image_encode(scratch, img, TSR_FORMAT_BMP, NULL, &enc), TSR_OK);
    size_t row = ((size_t)37 * 3 + 3) / 4 * 4, data = 54;
    for (int pass = 0; pass < 4; pass++) {
        int top_down = pass & 1, chunk = pass < 2 ? 1 : 16;
        if (top_down) { /* reverse the rows, negate the height */
            uint8_t *flip = malloc(enc.len);
            memcpy(flip, enc.data, data);
            for (int y = 0; y < 40; y++)
                memcpy(flip + data + (size_t)y * row, enc.data + data + (size_t)(39 - y) * row,
                       row);
            put_le(flip + 22, (uint32_t)-40, 4);
            write_bytes(path, flip, enc.len);
            free(flip);
        } else {
            write_bytes(path, enc.data, enc.len);
        }
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_row_reader *r = NULL;
        CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &r, NULL), TSR_OK);
        CHECK(r && tsr_row_reader_streams(r));
        CHECK_EQ_INT(truncate(path, (off_t)(data + 10 * row + 5)), 0);
        CHECK_EQ_INT(r ? read_until_error(r, ctx, chunk, msg, sizeof msg) : TSR_ERR_CORRUPT,
                     TSR_ERR_CORRUPT);
        CHECK_STR_CONTAINS(msg, top_down ? "bmp: truncated at row 10" : "bmp: truncated at row 0");
        tsr_row_reader_free(r);
        tsr_ctx_free(ctx);
    }
    unlink(path);
    tsr_buffer_free(&enc);
    tsr_image_free(img);
}

/* A JPEG with an EXIF orientation: falls back and turns, unless no_autorotate. */
static void test_jpeg_orientation(void) {
    static const uint8_t app1[] = {0xFF, 0xE1, 0x00, 0x22, 'E', 'x', 'i', 'f', 0,    0,    'I', 'I',
                                   42,   0,    8,    0,    0,   0,   1,   0,   0x12, 0x01, 3,   0,
                                   1,    0,    0,    0,    6,   0,   0,   0,   0,    0,    0,   0};
    tsr_buffer jpg = {0};
    char path[1024];
    CHECK_EQ_INT(read_data("rocket.jpg", &jpg), 0);
    uint8_t *b = malloc(jpg.len + sizeof app1);
    memcpy(b, jpg.data, 2);
    memcpy(b + 2, app1, sizeof app1);
    memcpy(b + 2 + sizeof app1, jpg.data + 2, jpg.len - 2);
    at(path, sizeof path, "turned.jpg");
    write_bytes(path, b, jpg.len + sizeof app1);
    check_same(path, NULL, 0);
    tsr_decode_options keep = {.no_autorotate = true};
    check_same(path, &keep, 1);
    tsr_image_info info;
    tsr_row_reader *r = NULL;
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &r, &info), TSR_OK);
    int w = 0, h = 0;
    if (r)
        tsr_row_reader_shape(r, &w, &h, NULL);
    CHECK_EQ_INT(info.orientation, 6);
    CHECK_EQ_INT(w, info.height);
    CHECK_EQ_INT(h, info.width);
    tsr_row_reader_free(r);
    tsr_ctx_free(ctx);
    free(b);
    tsr_buffer_free(&jpg);
    unlink(path);
}

/* Cut files fail with CORRUPT (at open or at a read), errors stay, nothing crashes. */
static void check_cut(const char *path, const tsr_buffer *buf, size_t cut, int must_open) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_reader *r = NULL;
    write_bytes(path, buf->data, cut);
    tsr_status st = tsr_row_reader_open(ctx, path, NULL, &r, NULL);
    if (must_open && st)
        fprintf(stderr, "%s cut at %zu: open failed: %s\n", path, cut, tsr_ctx_message(ctx));
    CHECK(!must_open || st == TSR_OK);
    if (!st) {
        int w, h, b;
        tsr_row_reader_shape(r, &w, &h, &b);
        uint8_t *rows = malloc((size_t)w * (size_t)b * 16);
        for (int y = 0; !st && y < h; y += 16)
            st = tsr_row_reader_read(r, rows, (size_t)w * (size_t)b, h - y < 16 ? h - y : 16);
        CHECK(st != TSR_OK);
        CHECK_EQ_INT(tsr_row_reader_read(r, rows, (size_t)w * (size_t)b, 1), st);
        free(rows);
    }
    if (st != TSR_ERR_CORRUPT)
        fprintf(stderr, "%s cut at %zu of %zu: status %d: %s\n", path, cut, buf->len, st,
                tsr_ctx_message(ctx));
    CHECK_EQ_INT(st, TSR_ERR_CORRUPT);
    tsr_row_reader_free(r);
    unlink(path);
    tsr_ctx_free(ctx);
}

/* Opens a reader on `img` saved as `f`, then cuts the file to half. */
static void shrink_while_reading(tsr_format f, const tsr_image *img) {
    char path[1024];
    snprintf(path, sizeof path, "%s/shrink.%s", dir, tsr_format_extension(f));
    CHECK_EQ_INT(tsr_image_save(scratch, img, path, f, NULL), TSR_OK);
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_reader *r = NULL;
    CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &r, NULL), TSR_OK);
    FILE *fp = fopen(path, "rb+");
    fseek(fp, 0, SEEK_END);
    CHECK_EQ_INT(ftruncate(fileno(fp), ftell(fp) / 2), 0);
    fclose(fp);
    size_t stride = (size_t)img->width * 4;
    uint8_t *rows = malloc(stride * 16);
    tsr_status st = TSR_OK;
    for (int y = 0; r && !st && y < img->height; y += 16)
        st = tsr_row_reader_read(r, rows, stride, img->height - y < 16 ? img->height - y : 16);
    if (st != TSR_ERR_CORRUPT)
        fprintf(stderr, "%s shrunk while reading: status %d: %s\n", path, st, tsr_ctx_message(ctx));
    CHECK_EQ_INT(st, TSR_ERR_CORRUPT);
    free(rows);
    tsr_row_reader_free(r);
    tsr_ctx_free(ctx);
    unlink(path);
}

static void test_truncated(void) {
    tsr_image *photo = load_data("coffee.png");
    tsr_image *img = with_bands(photo, 3);
    char path[1024];
    static const tsr_format formats[] = {TSR_FORMAT_JPEG, TSR_FORMAT_PNG, TSR_FORMAT_TIFF,
                                         TSR_FORMAT_PNM,  TSR_FORMAT_BMP, TSR_FORMAT_GIF,
                                         TSR_FORMAT_WEBP};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        tsr_format f = formats[i];
        tsr_encode_options opts = {.compression = f == TSR_FORMAT_TIFF ? 6 : -1};
        tsr_buffer buf = {0};
        CHECK_EQ_INT(tsr_image_encode(scratch, img, f, &opts, &buf), TSR_OK);
        snprintf(path, sizeof path, "%s/cut.%s", dir, tsr_format_extension(f));
        /* Streaming formats open fine and fail during the reads. */
        int streams = f == TSR_FORMAT_JPEG || f == TSR_FORMAT_PNG || f == TSR_FORMAT_TIFF;
        check_cut(path, &buf, buf.len / 2, streams && f != TSR_FORMAT_TIFF);
        check_cut(path, &buf, buf.len * 9 / 10, streams && f != TSR_FORMAT_TIFF);
        check_cut(path, &buf, buf.len - 1, 0);
        tsr_buffer_free(&buf);
    }
    /* Corrupt Deflate data in the middle strips of a TIFF fails at a read. */
    at(path, sizeof path, "bad.tif");
    make_tiff(path, 300, 211, 3, 8, 0, 9, PHOTOMETRIC_RGB, COMPRESSION_ADOBE_DEFLATE);
    tsr_buffer tif = {0};
    tsr_file_read(scratch, path, 1 << 30, &tif);
    memset(tif.data + tif.len / 2, 0xFF, 64);
    check_cut(path, &tif, tif.len, 1);
    tsr_buffer_free(&tif);
    /* Files cut while being read (after open) fail at the read that meets the cut. */
    shrink_while_reading(TSR_FORMAT_TIFF, img);
    shrink_while_reading(TSR_FORMAT_PNM, img);
    shrink_while_reading(TSR_FORMAT_BMP, img);
    shrink_while_reading(TSR_FORMAT_PNG, img);
    /* The JPEG reader reads 256 KiB ahead: its file is noise, a few times that. */
    tsr_image *noise = pattern(1024, 1024, 3);
    uint32_t seed = 1;
    for (size_t i = 0; i < noise->stride * 1024; i++) {
        seed = seed * 1664525u + 1013904223u;
        noise->data[i] = (uint8_t)(seed >> 24);
    }
    shrink_while_reading(TSR_FORMAT_JPEG, noise);
    tsr_image_free(noise);
    at(path, sizeof path, "truncated.jpg");
    char data[1024];
    snprintf(data, sizeof data, "%s/truncated.jpg", check_data_dir());
    tsr_buffer t = {0};
    tsr_file_read(scratch, data, 1 << 30, &t);
    check_cut(path, &t, t.len, 0);
    tsr_buffer_free(&t);
    unlink(path);
    tsr_image_free(img);
    tsr_image_free(photo);
    CHECK_EQ_INT(files_in_dir(), 0);
}

/* A JPEG whose file refuses the bytes (/dev/full: ENOSPC) fails as I/O,
 * both when the 256 KiB buffer fills mid-image and when the rest goes out
 * at finish. */
static void test_jpeg_write_refused(void) {
    static const int sides[] = {1024, 64}; /* noise: over 256 KiB; under it */
    for (size_t i = 0; i < 2; i++) {
        int side = sides[i], fd = open("/dev/full", O_WRONLY);
        tsr_image *img = pattern(side, side, 3);
        uint32_t seed = 7;
        for (size_t k = 0; k < img->stride * (size_t)side; k++) {
            seed = seed * 1664525u + 1013904223u;
            img->data[k] = (uint8_t)(seed >> 24);
        }
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_row_writer *w = NULL;
        tsr_status st =
            tsr_row_writer_open_fd(ctx, fd, "full", TSR_FORMAT_JPEG, side, side, 3, NULL, &w);
        for (int y = 0; !st && y < side; y += 16)
            st = tsr_row_writer_write(w, img->data + (size_t)y * img->stride, img->stride,
                                      side - y < 16 ? side - y : 16);
        if (!st)
            st = tsr_row_writer_finish(w);
        CHECK_EQ_INT(st, TSR_ERR_IO);
        CHECK(strstr(tsr_ctx_message(ctx), "write") != NULL);
        tsr_row_writer_free(w);
        tsr_ctx_free(ctx);
        tsr_image_free(img);
        close(fd);
    }
}

/* Writers: nothing at the path before finish; the temp file goes when freed unfinished. */
static void test_writer_temp_files(void) {
    tsr_image *photo = load_data("coffee.png");
    char path[1024];
    at(path, sizeof path, "out.file");
    for (int f = TSR_FORMAT_UNKNOWN + 1; f < TSR_FORMAT_COUNT; f++) {
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_row_writer *w = NULL;
        CHECK_EQ_INT(
            tsr_row_writer_open(ctx, path, (tsr_format)f, photo->width, photo->height, 3, NULL, &w),
            TSR_OK);
        CHECK_EQ_INT(tsr_row_writer_write(w, photo->data, photo->stride, 100), TSR_OK);
        CHECK_EQ_INT(files_in_dir(), 1);
        CHECK(access(path, F_OK) != 0);
        /* Finishing early is refused and sticky; nothing appears. */
        CHECK_EQ_INT(tsr_row_writer_finish(w), TSR_ERR_INTERNAL);
        CHECK_EQ_INT(tsr_row_writer_write(w, photo->data, photo->stride, 1), TSR_ERR_INTERNAL);
        tsr_row_writer_free(w);
        CHECK_EQ_INT(files_in_dir(), 0);
        tsr_ctx_free(ctx);
    }
    /* Too many rows is an error. */
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_writer *w = NULL;
    CHECK_EQ_INT(tsr_row_writer_open(ctx, path, TSR_FORMAT_PNG, photo->width, 10, 3, NULL, &w),
                 TSR_OK);
    CHECK_EQ_INT(tsr_row_writer_write(w, photo->data, photo->stride, 11), TSR_ERR_INTERNAL);
    tsr_row_writer_free(w);
    /* Bad arguments fail before any file exists. */
    tsr_encode_options bad = {.quality = 101};
    CHECK_EQ_INT(tsr_row_writer_open(ctx, path, TSR_FORMAT_JPEG, 10, 10, 3, &bad, &w),
                 TSR_ERR_USAGE);
    CHECK_EQ_INT(tsr_row_writer_open(ctx, path, TSR_FORMAT_PNG, 0, 10, 3, NULL, &w), TSR_ERR_USAGE);
    CHECK(w == NULL);
    CHECK_EQ_INT(
        tsr_row_writer_open(ctx, "/nonexistent/dir/x.png", TSR_FORMAT_PNG, 10, 10, 3, NULL, &w),
        TSR_ERR_IO);
    CHECK_EQ_INT(files_in_dir(), 0);
    tsr_ctx_free(ctx);
    tsr_image_free(photo);
}

/* Limits are checked at open from the header, before pixels are allocated. */
static void test_limits_at_open(void) {
    tsr_image *photo = load_data("coffee.png");
    char path[1024];
    static const tsr_format formats[] = {TSR_FORMAT_JPEG, TSR_FORMAT_PNG, TSR_FORMAT_TIFF,
                                         TSR_FORMAT_PNM,  TSR_FORMAT_BMP, TSR_FORMAT_GIF,
                                         TSR_FORMAT_WEBP};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        snprintf(path, sizeof path, "%s/lim.%s", dir, tsr_format_extension(formats[i]));
        CHECK_EQ_INT(tsr_image_save(scratch, photo, path, formats[i], NULL), TSR_OK);
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_row_reader *r = NULL;
        tsr_limits small = {.max_width = 100};
        tsr_ctx_set_limits(ctx, &small);
        CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &r, NULL), TSR_ERR_LIMIT);
        CHECK(r == NULL);
        tsr_ctx_reset(ctx);
        tsr_limits few = {.max_file_bytes = 1000};
        tsr_ctx_set_limits(ctx, &few);
        CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &r, NULL), TSR_ERR_LIMIT);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "kB is more than the limit of 1 kB");
        tsr_ctx_reset(ctx);
        tsr_limits none = {0};
        tsr_ctx_set_limits(ctx, &none);
        tsr_image_info info;
        CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &r, &info), TSR_OK);
        CHECK_EQ_INT(info.format, formats[i]);
        CHECK_EQ_INT(info.width, photo->width);
        tsr_row_reader_free(r);
        tsr_ctx_free(ctx);
        unlink(path);
    }
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_reader *r = NULL;
    CHECK_EQ_INT(tsr_row_reader_open(ctx, "/nonexistent.png", NULL, &r, NULL), TSR_ERR_IO);
    at(path, sizeof path, "junk.bin");
    write_bytes(path, "hello world, not an image", 25);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &r, NULL), TSR_ERR_FORMAT);
    unlink(path);
    tsr_ctx_free(ctx);
    tsr_image_free(photo);
}

static long max_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* Writes then reads an 8000x6000 RGB image 64 rows at a time; the peak
 * resident size may not grow by anything near its 144 MB (BMP: bottom-up
 * both ways). */
static void test_memory(void) {
    const int w = 8000, h = 6000, bands = 3, chunk = 64;
    const size_t stride = (size_t)w * bands;
    static const tsr_format formats[] = {TSR_FORMAT_JPEG, TSR_FORMAT_PNG, TSR_FORMAT_TIFF,
                                         TSR_FORMAT_BMP};
    uint8_t *rows = malloc(stride * chunk), *got = malloc(stride * chunk);
    char path[1024];
    long before = max_rss_kib();
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        tsr_format f = formats[i];
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_row_writer *wr = NULL;
        tsr_row_reader *rd = NULL;
        tsr_encode_options opts = {.quality = 80, .compression = 1};
        snprintf(path, sizeof path, "%s/big.%s", dir, tsr_format_extension(f));
        CHECK_EQ_INT(tsr_row_writer_open(ctx, path, f, w, h, bands, &opts, &wr), TSR_OK);
        for (int y = 0; wr && y < h; y += chunk) {
            int n = h - y < chunk ? h - y : chunk;
            for (int r = 0; r < n; r++)
                for (size_t x = 0; x < stride; x++)
                    rows[(size_t)r * stride + x] =
                        (uint8_t)sample((int)(x / 3), y + r, (int)(x % 3));
            CHECK_EQ_INT(tsr_row_writer_write(wr, rows, stride, n), TSR_OK);
        }
        CHECK_EQ_INT(tsr_row_writer_finish(wr), TSR_OK);
        tsr_row_writer_free(wr);
        CHECK_EQ_INT(tsr_row_reader_open(ctx, path, NULL, &rd, NULL), TSR_OK);
        CHECK(rd && tsr_row_reader_streams(rd));
        int mismatched = 0;
        for (int y = 0; rd && y < h; y += chunk) {
            int n = h - y < chunk ? h - y : chunk;
            CHECK_EQ_INT(tsr_row_reader_read(rd, got, stride, n), TSR_OK);
            if (f == TSR_FORMAT_JPEG)
                continue;
            for (int r = 0; r < n; r++)
                for (size_t x = 0; x < stride; x += 997)
                    mismatched += got[(size_t)r * stride + x] !=
                                  (uint8_t)sample((int)(x / 3), y + r, (int)(x % 3));
        }
        CHECK_EQ_INT(mismatched, 0);
        tsr_row_reader_free(rd);
        tsr_ctx_free(ctx);
        long after = max_rss_kib();
        printf("     %s 8000x6000x3 (144000 KB): peak RSS grew %ld KB\n", tsr_format_name(f),
               after - before);
        CHECK((after - before) * 1024 < (long)(stride * (size_t)h / 4));
        unlink(path);
    }
    free(rows);
    free(got);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/tsr_stream_XXXXXX");
    if (!mkdtemp(dir) || !(scratch = tsr_ctx_new()))
        return 1;
    RUN(test_memory); /* first: the peak RSS has not been raised by other tests yet */
    RUN(test_real_photos);
    RUN(test_jpeg_shrink);
    RUN(test_formats_and_bands);
    RUN(test_bmp_top_down);
    RUN(test_bmp_variants);
    RUN(test_bmp_writer);
    RUN(test_bmp_truncated);
    RUN(test_tiff_layouts);
    RUN(test_png16);
    RUN(test_pnm_variants);
    RUN(test_jpeg_orientation);
    RUN(test_truncated);
    RUN(test_jpeg_write_refused);
    RUN(test_writer_temp_files);
    RUN(test_limits_at_open);
    rmdir(dir);
    tsr_ctx_free(scratch);
    return check_finish();
}
