/* Shared helpers of the codec tests: reading test files, comparing images. */
#ifndef TESSERA_TEST_CODEC_HELPERS_H
#define TESSERA_TEST_CODEC_HELPERS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/codec.h"
#include "tessera/stream.h"

/* Reads tests/data/<name> into buf (caller frees); 0 on success. */
static inline int read_data(const char *name, tsr_buffer *buf) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    tsr_ctx *ctx = tsr_ctx_new();
    memset(buf, 0, sizeof *buf);
    tsr_status st = tsr_file_read(ctx, path, 1ull << 30, buf);
    if (st)
        fprintf(stderr, "cannot read %s: %s\n", path, tsr_ctx_message(ctx));
    tsr_ctx_free(ctx);
    return st;
}

/* Decodes tests/data/<name>; NULL (and a message) on failure. */
static inline tsr_image *load_data(const char *name) {
    char path[1024];
    tsr_image *img = NULL;
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    tsr_ctx *ctx = tsr_ctx_new();
    if (tsr_image_load(ctx, path, NULL, &img, NULL))
        fprintf(stderr, "cannot load %s: %s\n", path, tsr_ctx_message(ctx));
    tsr_ctx_free(ctx);
    return img;
}

/* Reads `path` through a row reader, `chunk` rows at a time, and checks that
 * one row past the end is refused. *streams (when not NULL) receives whether
 * the reader streams, *info (when not NULL) what it read of the file. NULL
 * (and a message) on failure. */
static inline tsr_image *read_rows_chunked(const char *path, const tsr_decode_options *opts,
                                           int chunk, int *streams, tsr_image_info *info) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_row_reader *r = NULL;
    tsr_image *img = NULL;
    int w, h, b;
    if (tsr_row_reader_open(ctx, path, opts, &r, info)) {
        fprintf(stderr, "%s: %s\n", path, tsr_ctx_message(ctx));
        goto out;
    }
    tsr_row_reader_shape(r, &w, &h, &b);
    if (streams)
        *streams = tsr_row_reader_streams(r);
    if (tsr_image_new(ctx, w, h, b, &img))
        goto out;
    for (int y = 0; y < h; y += chunk) {
        int n = h - y < chunk ? h - y : chunk;
        if (tsr_row_reader_read(r, img->data + (size_t)y * img->stride, img->stride, n)) {
            fprintf(stderr, "%s: row %d: %s\n", path, y, tsr_ctx_message(ctx));
            tsr_image_free(img);
            img = NULL;
            goto out;
        }
    }
    uint8_t extra[64];
    CHECK_EQ_INT(tsr_row_reader_read(r, extra, sizeof extra, 1), TSR_ERR_INTERNAL);
out:
    tsr_row_reader_free(r);
    tsr_ctx_free(ctx);
    return img;
}

/* Whether two images have the same shape and pixels. */
static inline int same_pixels(const tsr_image *a, const tsr_image *b) {
    if (!a || !b || a->width != b->width || a->height != b->height || a->bands != b->bands)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride,
                   (size_t)a->width * (size_t)a->bands) != 0)
            return 0;
    return 1;
}

/* PSNR in dB over the first `bands` bands of two same-sized images. */
static inline double psnr(const tsr_image *a, const tsr_image *b, int bands) {
    double se = 0;
    size_t n = 0;
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++)
            for (int c = 0; c < bands; c++) {
                double d = (double)a->data[(size_t)y * a->stride + (size_t)x * a->bands + c] -
                           (double)b->data[(size_t)y * b->stride + (size_t)x * b->bands + c];
                se += d * d;
                n++;
            }
    if (se == 0)
        return 999;
    return 10 * log10(255.0 * 255.0 / (se / (double)n));
}

/* A copy of `src` with `bands` bands (gray expanded, alpha added or dropped;
 * an added alpha gets a gradient so it is not trivially 255). */
static inline tsr_image *with_bands(const tsr_image *src, int bands) {
    tsr_image *out = NULL;
    if (tsr_image_new(NULL, src->width, src->height, bands, &out))
        return NULL;
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < src->width; x++) {
            const uint8_t *s = src->data + (size_t)y * src->stride + (size_t)x * src->bands;
            uint8_t *d = out->data + (size_t)y * out->stride + (size_t)x * bands;
            int gray = src->bands >= 3 ? (s[0] * 299 + s[1] * 587 + s[2] * 114) / 1000 : s[0];
            if (bands >= 3) {
                d[0] = src->bands >= 3 ? s[0] : (uint8_t)gray;
                d[1] = src->bands >= 3 ? s[1] : (uint8_t)gray;
                d[2] = src->bands >= 3 ? s[2] : (uint8_t)gray;
            } else {
                d[0] = (uint8_t)gray;
            }
            if (bands == 2 || bands == 4)
                d[bands - 1] = (uint8_t)((x * 7 + y * 3) & 255);
        }
    return out;
}

/* `src` converted the way the codecs convert: gray expanded to RGB, alpha
 * dropped, or opaque alpha added. */
static inline tsr_image *convert(const tsr_image *src, int bands) {
    tsr_image *out = NULL;
    if (tsr_image_new(NULL, src->width, src->height, bands, &out))
        return NULL;
    for (int y = 0; y < src->height; y++)
        for (int x = 0; x < src->width; x++) {
            const uint8_t *s = src->data + (size_t)y * src->stride + (size_t)x * src->bands;
            uint8_t *d = out->data + (size_t)y * out->stride + (size_t)x * bands;
            int color = bands >= 3 ? 3 : 1;
            for (int c = 0; c < color; c++)
                d[c] = src->bands >= 3 ? s[c] : s[0];
            if (bands == 2 || bands == 4)
                d[bands - 1] = src->bands == 2 || src->bands == 4 ? s[src->bands - 1] : 255;
        }
    return out;
}

#endif
