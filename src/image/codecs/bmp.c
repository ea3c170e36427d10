/* BMP, parsed and written here (no library). Reads BITMAPCOREHEADER,
 * BITMAPINFOHEADER and V2..V5 headers: 1/4/8-bit palettes, 16/24/32-bit
 * BI_RGB and BI_BITFIELDS, bottom-up and top-down. RLE is refused.
 * Writes 8-bit gray palettes (1 band), 24-bit (3 bands) or 32-bit V4 with
 * alpha (2 and 4 bands), bottom-up; the header and the row conversion are
 * shared with the streaming writer in raw_stream.c. Every header field is
 * checked against the file. */
#include <stdlib.h>
#include <string.h>

#include "pnm_bmp_internal.h"

#define FILE_HEADER       14
#define BI_RGB            0
#define BI_BITFIELDS      3
#define BI_ALPHABITFIELDS 6

static bool sniff(const uint8_t *b, size_t len) {
    return len >= 2 && b[0] == 'B' && b[1] == 'M';
}

static uint32_t u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t u16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
}

static tsr_status corrupt(tsr_ctx *ctx, const char *why) {
    return tsr_error(ctx, TSR_ERR_CORRUPT, "bmp: %s", why);
}

/* Reads the palette of a <= 8 bpp file; notes whether it is all gray. */
static tsr_status read_palette(tsr_ctx *ctx, const uint8_t *b, size_t len, uint64_t at, int entry,
                               uint32_t used, bmp_header *h) {
    uint64_t max = 1u << h->bpp;
    uint64_t n = used ? used : max;
    if (n > max)
        n = max;
    if (at + n * (uint64_t)entry > len)
        return corrupt(ctx, "truncated in the palette");
    bool gray = true;
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *p = b + at + i * (uint64_t)entry;
        h->palette[i][0] = p[2], h->palette[i][1] = p[1], h->palette[i][2] = p[0];
        gray = gray && p[0] == p[1] && p[1] == p[2];
    }
    h->colors = (int)n;
    h->bands = gray ? 1 : 3;
    return TSR_OK;
}

/* Parses and checks both headers; checks limits before anything is allocated. */
tsr_status tsr_bmp_parse(tsr_ctx *ctx, const uint8_t *b, size_t len, uint64_t file_len,
                         bmp_header *h) {
    memset(h, 0, sizeof *h);
    if (len < FILE_HEADER + 12)
        return tsr_error(ctx, TSR_ERR_FORMAT, "bmp: %zu bytes is too short for a header", len);
    uint32_t hsize = u32(b + 14);
    h->data_offset = u32(b + 10);
    if (hsize != 12 && hsize != 40 && hsize != 52 && hsize != 56 && hsize != 108 && hsize != 124)
        return tsr_error(ctx, TSR_ERR_FORMAT, "bmp: unsupported header size %u", hsize);
    if (FILE_HEADER + (uint64_t)hsize > len)
        return corrupt(ctx, "truncated in the header");
    const uint8_t *ih = b + FILE_HEADER;
    int planes;
    uint32_t used = 0;
    if (hsize == 12) {
        h->width = u16(ih + 4);
        h->height = u16(ih + 6);
        planes = u16(ih + 8);
        h->bpp = u16(ih + 10);
    } else {
        h->width = (int32_t)u32(ih + 4);
        h->height = (int32_t)u32(ih + 8);
        planes = u16(ih + 12);
        h->bpp = u16(ih + 14);
        h->compression = u32(ih + 16);
        used = u32(ih + 32);
    }
    if (h->height < 0) {
        h->top_down = true;
        h->height = -h->height;
    }
    if (h->width <= 0 || h->height <= 0 || planes != 1)
        return corrupt(ctx, "invalid width, height or planes");
    int bpp = h->bpp;
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return tsr_error(ctx, TSR_ERR_FORMAT, "bmp: unsupported bit depth %d", bpp);
    bool fields = h->compression == BI_BITFIELDS || h->compression == BI_ALPHABITFIELDS;
    if (h->compression != BI_RGB && !(fields && (bpp == 16 || bpp == 32)))
        return tsr_error(ctx, TSR_ERR_FORMAT,
                         "bmp: compression %u (RLE or embedded JPEG/PNG) is not supported",
                         h->compression);
    uint64_t after = FILE_HEADER + (uint64_t)hsize;
    if (bpp <= 8) {
        tsr_status st = read_palette(ctx, b, len, after, hsize == 12 ? 3 : 4, used, h);
        if (st)
            return st;
    } else if (fields) {
        int n = h->compression == BI_ALPHABITFIELDS || hsize >= 56 ? 4 : 3;
        uint64_t at = hsize >= 52 ? FILE_HEADER + 40 : after;
        if (at + 4u * (uint64_t)n > len)
            return corrupt(ctx, "truncated in the bit masks");
        for (int i = 0; i < n; i++)
            h->masks[i] = u32(b + at + 4 * i);
        h->bands = h->masks[3] ? 4 : 3;
    } else if (bpp == 16) {
        h->masks[0] = 0x7C00, h->masks[1] = 0x03E0, h->masks[2] = 0x001F;
        h->bands = 3;
    } else {
        h->bands = 3;
    }
    tsr_status st = tsr_limits_check(ctx, "bmp", (uint64_t)h->width, (uint64_t)h->height, h->bands);
    if (st)
        return st;
    h->row_bytes = ((uint64_t)h->width * (uint64_t)bpp + 31) / 32 * 4;
    if (h->data_offset < after || h->data_offset > file_len ||
        file_len - h->data_offset < h->row_bytes * (uint64_t)h->height)
        return corrupt(ctx, "truncated: the pixel data is shorter than the header declares");
    return TSR_OK;
}

/* Extracts the field under `mask` from `v`, rescaled to 0..255 with
 * rounding (5-bit 31 -> 255). */
static uint8_t field(uint32_t v, uint32_t mask) {
    if (!mask)
        return 0;
    int shift = __builtin_ctz(mask);
    uint64_t m = mask >> shift, x = (v & mask) >> shift;
    return (uint8_t)((x * 255 + m / 2) / m);
}

/* Decodes one stored row into an image row. */
void tsr_bmp_decode_row(const bmp_header *h, const uint8_t *src, uint8_t *dst) {
    for (int64_t x = 0; x < h->width; x++, dst += h->bands) {
        if (h->bpp <= 8) {
            int per = 8 / h->bpp;
            int shift = 8 - h->bpp * (int)(x % per + 1);
            int i = (src[x / per] >> shift) & ((1 << h->bpp) - 1);
            const uint8_t *c = i < h->colors ? h->palette[i] : h->palette[0];
            if (h->bands == 1)
                dst[0] = c[0];
            else
                memcpy(dst, c, 3);
        } else if (h->bpp == 24 || (h->bpp == 32 && h->compression == BI_RGB)) {
            const uint8_t *p = src + x * (h->bpp / 8);
            dst[0] = p[2], dst[1] = p[1], dst[2] = p[0];
        } else {
            uint32_t v = h->bpp == 16 ? u16(src + 2 * x) : u32(src + 4 * x);
            for (int c = 0; c < h->bands; c++)
                dst[c] = field(v, h->masks[c]);
        }
    }
}

static tsr_status info_bmp(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    bmp_header h;
    tsr_status st = tsr_bmp_parse(ctx, bytes, len, len, &h);
    if (st)
        return st;
    info->width = (int)h.width;
    info->height = (int)h.height;
    info->bands = h.bands;
    info->bit_depth = h.bpp <= 8 ? h.bpp : 8;
    return TSR_OK;
}

static tsr_status decode_bmp(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                             const tsr_decode_options *opts, tsr_image **out,
                             tsr_image_info *info) {
    bmp_header h;
    tsr_image *image;
    (void)opts;
    tsr_status st = info_bmp(ctx, bytes, len, info);
    if (st)
        return st;
    tsr_bmp_parse(ctx, bytes, len, len, &h);
    st = tsr_image_new(ctx, (int)h.width, (int)h.height, h.bands, &image);
    if (st)
        return st;
    for (int64_t y = 0; y < h.height; y++) {
        int64_t stored = h.top_down ? y : h.height - 1 - y;
        tsr_bmp_decode_row(&h, bytes + h.data_offset + (uint64_t)stored * h.row_bytes,
                           image->data + (size_t)y * image->stride);
    }
    *out = image;
    return TSR_OK;
}

tsr_status tsr_bmp_layout(tsr_ctx *ctx, int width, int height, int bands, bmp_layout *l) {
    memset(l, 0, sizeof *l);
    int bpp = bands == 1 ? 8 : bands == 3 ? 24 : 32;
    uint32_t hsize = bpp == 32 ? 108 : 40;
    uint32_t palette = bpp == 8 ? 1024 : 0;
    l->row_bytes = ((uint64_t)width * (uint64_t)bpp + 31) / 32 * 4;
    l->data_offset = FILE_HEADER + hsize + palette;
    l->total = l->data_offset + l->row_bytes * (uint64_t)height;
    if (l->total > UINT32_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "bmp: a %dx%d image is too large for BMP", width,
                         height);
    uint8_t *head = l->head;
    head[0] = 'B', head[1] = 'M';
    put32(head + 2, (uint32_t)l->total);
    put32(head + 10, (uint32_t)l->data_offset);
    uint8_t *ih = head + FILE_HEADER;
    put32(ih, hsize);
    put32(ih + 4, (uint32_t)width);
    put32(ih + 8, (uint32_t)height);
    put16(ih + 12, 1);
    put16(ih + 14, (uint16_t)bpp);
    put32(ih + 16, bpp == 32 ? BI_BITFIELDS : BI_RGB);
    put32(ih + 20, (uint32_t)(l->row_bytes * (uint64_t)height));
    put32(ih + 24, 2835), put32(ih + 28, 2835); /* 72 dpi */
    if (bpp == 8) {
        put32(ih + 32, 256);
        for (int i = 0; i < 256; i++)
            memset(ih + hsize + 4 * i, i, 3);
    }
    if (bpp == 32) {
        put32(ih + 40, 0x00FF0000), put32(ih + 44, 0x0000FF00);
        put32(ih + 48, 0x000000FF), put32(ih + 52, 0xFF000000);
        put32(ih + 56, 0x73524742); /* 'sRGB' */
    }
    return TSR_OK;
}

void tsr_bmp_encode_row(const uint8_t *restrict src, int bands, int width, uint8_t *restrict dst) {
    size_t n = (size_t)width;
    switch (bands) {
    case 1:
        memcpy(dst, src, n);
        break;
    case 2: /* gray + alpha -> BGRA */
        for (size_t x = 0; x < n; x++) {
            dst[4 * x] = dst[4 * x + 1] = dst[4 * x + 2] = src[2 * x];
            dst[4 * x + 3] = src[2 * x + 1];
        }
        break;
    case 3: /* RGB -> BGR */
        for (size_t x = 0; x < n; x++) {
            dst[3 * x] = src[3 * x + 2];
            dst[3 * x + 1] = src[3 * x + 1];
            dst[3 * x + 2] = src[3 * x];
        }
        break;
    default: /* RGBA -> BGRA */
        for (size_t x = 0; x < n; x++) {
            dst[4 * x] = src[4 * x + 2];
            dst[4 * x + 1] = src[4 * x + 1];
            dst[4 * x + 2] = src[4 * x];
            dst[4 * x + 3] = src[4 * x + 3];
        }
        break;
    }
}

static tsr_status encode_bmp(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                             tsr_buffer *out) {
    bmp_layout l;
    (void)opts;
    tsr_status st = tsr_bmp_layout(ctx, image->width, image->height, image->bands, &l);
    if (st)
        return st;
    st = tsr_codec_append(ctx, out, l.head, (size_t)l.data_offset, "bmp");
    uint8_t *row = calloc(1, (size_t)l.row_bytes); /* the padding stays zero */
    if (!st && !row)
        st = tsr_error(ctx, TSR_ERR_NOMEM, "bmp: out of memory");
    for (int y = image->height - 1; y >= 0 && !st; y--) {
        tsr_bmp_encode_row(image->data + (size_t)y * image->stride, image->bands, image->width,
                           row);
        st = tsr_codec_append(ctx, out, row, (size_t)l.row_bytes, "bmp");
    }
    free(row);
    return st;
}

const tsr_codec tsr_codec_bmp = {
    .format = TSR_FORMAT_BMP,
    .name = "bmp",
    .mime = "image/bmp",
    .extension = "bmp",
    .aliases = "dib",
    .sniff = sniff,
    .info = info_bmp,
    .decode = decode_bmp,
    .encode = encode_bmp,
};
