/* Netpbm P1..P6, parsed and written here. Binary (P4/P5/P6) and ASCII
 * (P1/P2/P3); maxval 65535 keeps the high byte of each sample, other
 * maxvals are rescaled to 0..255 with rounding; bitmaps become gray 0/255.
 * Writes P5 (1 and 2 bands, alpha dropped) and P6 (3 and 4 bands). */
#include <stdio.h>
#include <string.h>

#include "pnm_bmp_internal.h"

#define MAX_HEADER_NUMBER 0x7fffffffu

/* A cursor for ASCII numbers. */
typedef struct cursor {
    const uint8_t *b; /* the file */
    size_t len;       /* its length */
    size_t pos;       /* next unread byte */
} cursor;

static bool is_space(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool sniff(const uint8_t *b, size_t len) {
    return len >= 3 && b[0] == 'P' && b[1] >= '1' && b[1] <= '6' && (is_space(b[2]) || b[2] == '#');
}

/* Skips whitespace and '#' comments. */
static void skip_blank(cursor *c) {
    while (c->pos < c->len) {
        if (c->b[c->pos] == '#') {
            while (c->pos < c->len && c->b[c->pos] != '\n' && c->b[c->pos] != '\r')
                c->pos++;
        } else if (is_space(c->b[c->pos])) {
            c->pos++;
        } else {
            break;
        }
    }
}

/* Reads one unsigned decimal (for P1 a single digit). False when none. */
static bool number(cursor *c, uint32_t *out, bool one_digit) {
    uint64_t v = 0;
    size_t start;
    skip_blank(c);
    start = c->pos;
    while (c->pos < c->len && c->b[c->pos] >= '0' && c->b[c->pos] <= '9') {
        v = v * 10 + (uint64_t)(c->b[c->pos++] - '0');
        if (v > MAX_HEADER_NUMBER)
            return false;
        if (one_digit)
            break;
    }
    *out = (uint32_t)v;
    return c->pos > start;
}

tsr_status tsr_pnm_parse(tsr_ctx *ctx, const uint8_t *b, size_t len, uint64_t file_len,
                         pnm_header *h) {
    cursor c = {b, len, 2};
    memset(h, 0, sizeof *h);
    h->kind = b[1] - '0';
    h->spp = h->kind == 3 || h->kind == 6 ? 3 : 1;
    h->maxval = 1;
    bool bitmap = h->kind == 1 || h->kind == 4;
    if (!number(&c, &h->width, false) || !number(&c, &h->height, false) ||
        (!bitmap && !number(&c, &h->maxval, false)))
        return tsr_error(ctx, c.pos >= len ? TSR_ERR_CORRUPT : TSR_ERR_FORMAT,
                         "pnm: malformed or truncated header");
    if (h->maxval == 0 || h->maxval > 65535)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "pnm: maxval %u is outside 1..65535", h->maxval);
    tsr_status st = tsr_limits_check(ctx, "pnm", h->width, h->height, h->spp);
    if (st)
        return st;
    /* Binary data starts after exactly one whitespace byte. */
    if (c.pos >= len || !is_space(b[c.pos]))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "pnm: truncated after the header");
    h->data = c.pos + (h->kind >= 4 ? 1 : 0);
    if (h->kind >= 4) {
        uint64_t bps = h->maxval > 255 ? 2 : 1;
        uint64_t need = h->kind == 4 ? ((uint64_t)h->width + 7) / 8 * h->height
                                     : (uint64_t)h->width * h->height * (uint64_t)h->spp * bps;
        if (file_len - h->data < need)
            return tsr_error(ctx, TSR_ERR_CORRUPT,
                             "pnm: truncated: %llu bytes of pixels needed, %llu present",
                             (unsigned long long)need, (unsigned long long)(file_len - h->data));
    }
    return TSR_OK;
}

static tsr_status info_pnm(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    pnm_header h;
    tsr_status st = tsr_pnm_parse(ctx, bytes, len, len, &h);
    if (st)
        return st;
    info->width = (int)h.width;
    info->height = (int)h.height;
    info->bands = h.spp;
    info->bit_depth = h.maxval > 255 ? 16 : h.kind == 1 || h.kind == 4 ? 1 : 8;
    return TSR_OK;
}

/* A sample value scaled to 0..255 (clamped to maxval first). */
uint8_t tsr_pnm_scale(uint32_t v, uint32_t maxval) {
    if (v > maxval)
        v = maxval;
    if (maxval == 255)
        return (uint8_t)v;
    if (maxval == 65535)
        return (uint8_t)(v >> 8);
    return (uint8_t)((v * 255u + maxval / 2) / maxval);
}

static tsr_status decode_pnm(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                             const tsr_decode_options *opts, tsr_image **out,
                             tsr_image_info *info) {
    pnm_header h;
    tsr_image *image;
    (void)opts;
    tsr_status st = tsr_pnm_parse(ctx, bytes, len, len, &h);
    if (st)
        return st;
    info_pnm(ctx, bytes, len, info);
    st = tsr_image_new(ctx, (int)h.width, (int)h.height, h.spp, &image);
    if (st)
        return st;
    cursor c = {bytes, len, h.data};
    const uint8_t *p = bytes + h.data;
    size_t row_bytes = (h.width + 7) / 8;
    for (uint32_t y = 0; y < h.height; y++) {
        uint8_t *dst = image->data + (size_t)y * image->stride;
        for (uint32_t i = 0; i < h.width * (uint32_t)h.spp; i++) {
            uint32_t v;
            if (h.kind == 4) {
                v = (p[(size_t)y * row_bytes + i / 8] >> (7 - i % 8)) & 1;
            } else if (h.kind >= 5) {
                v = h.maxval > 255 ? (uint32_t)(p[0] << 8 | p[1]) : p[0];
                p += h.maxval > 255 ? 2 : 1;
            } else if (!number(&c, &v, h.kind == 1)) {
                tsr_image_free(image);
                return tsr_error(ctx, TSR_ERR_CORRUPT, "pnm: truncated or bad ASCII sample");
            }
            /* Bitmaps: 1 is black. */
            dst[i] = h.kind == 1 || h.kind == 4 ? (v ? 0 : 255) : tsr_pnm_scale(v, h.maxval);
        }
    }
    *out = image;
    return TSR_OK;
}

static tsr_status encode_pnm(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                             tsr_buffer *out) {
    char head[64];
    int bands = image->bands >= 3 ? 3 : 1;
    (void)opts;
    int n = snprintf(head, sizeof head, "P%c\n%d %d\n255\n", bands == 3 ? '6' : '5', image->width,
                     image->height);
    tsr_status st = tsr_codec_append(ctx, out, head, (size_t)n, "pnm");
    size_t row_len = (size_t)image->width * (size_t)bands;
    if (!st)
        st = tsr_buffer_reserve(out, row_len * (size_t)image->height)
                 ? tsr_error(ctx, TSR_ERR_LIMIT, "pnm: output too large")
                 : TSR_OK;
    for (int y = 0; y < image->height && !st; y++) {
        const uint8_t *src = image->data + (size_t)y * image->stride;
        if (bands == image->bands)
            memcpy(out->data + out->len, src, row_len);
        else
            tsr_codec_convert_row(src, image->bands, out->data + out->len, bands, image->width);
        out->len += row_len;
    }
    return st;
}

const tsr_codec tsr_codec_pnm = {
    .format = TSR_FORMAT_PNM,
    .name = "pnm",
    .mime = "image/x-portable-anymap",
    .extension = "pnm",
    .aliases = "ppm pgm pbm netpbm",
    .sniff = sniff,
    .info = info_pnm,
    .decode = decode_pnm,
    .encode = encode_pnm,
};
