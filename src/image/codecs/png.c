/* PNG through libspng: every colour type and depth decodes to 8-bit gray,
 * gray+alpha, RGB or RGBA; 16-bit samples keep their high byte (v >> 8, as
 * libpng's strip_16 and so OpenCV do; libspng's own 16->8 path rounds, so
 * 16-bit rows are read raw and narrowed here). */
#include <spng.h>
#include <stdlib.h>
#include <string.h>

#include "png_internal.h"

static bool sniff(const uint8_t *b, size_t len) {
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    return len >= 8 && memcmp(b, sig, 8) == 0;
}

/* The status a libspng error code stands for. */
static tsr_status status_of(int err) {
    switch (err) {
    case SPNG_EMEM:
        return TSR_ERR_NOMEM;
    case SPNG_EUSER_WIDTH:
    case SPNG_EUSER_HEIGHT:
    case SPNG_ECHUNK_LIMITS:
        return TSR_ERR_LIMIT;
    default:
        return TSR_ERR_CORRUPT;
    }
}

/* Whether a complete IEND chunk lies in the file's last 64 KiB (libspng
 * does not notice a file cut inside IEND's CRC). */
bool tsr_png_has_iend(const uint8_t *bytes, size_t len) {
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
    size_t tail = len < 65536 ? len : 65536;
    return memmem(bytes + len - tail, tail, iend, sizeof iend) != NULL;
}

tsr_status tsr_png_fail(tsr_ctx *ctx, int err, const char *doing) {
    return tsr_error(ctx, status_of(err), "png: %s: %s", doing, spng_strerror(err));
}

int tsr_png_set_limits(spng_ctx *dec, const tsr_limits *l) {
    /* spng rejects anything over its own 2^31-1 cap; ours is checked later. */
    uint32_t mw = l->max_width > 0x7fffffffu ? 0x7fffffffu : l->max_width;
    uint32_t mh = l->max_height > 0x7fffffffu ? 0x7fffffffu : l->max_height;
    int err = spng_set_image_limits(dec, mw, mh);
    if (!err)
        err = spng_set_chunk_limits(dec, CHUNK_SIZE_LIMIT, CHUNK_CACHE_LIMIT);
    return err;
}

/* Opens a decoder over `bytes` with tessera's limits. */
static tsr_status open_decoder(tsr_ctx *ctx, const uint8_t *bytes, size_t len, spng_ctx **out) {
    const tsr_limits *l = tsr_ctx_limits(ctx);
    spng_ctx *dec = spng_ctx_new(0);
    *out = NULL;
    if (!dec)
        return tsr_error(ctx, TSR_ERR_NOMEM, "png: out of memory");
    int err = spng_set_png_buffer(dec, bytes, len);
    if (!err)
        err = tsr_png_set_limits(dec, l);
    if (err) {
        spng_ctx_free(dec);
        return tsr_png_fail(ctx, err, "setting up the decoder");
    }
    *out = dec;
    return TSR_OK;
}

/* Reads IHDR/tRNS/eXIf and fills `info`; checks the dimension limits. */
tsr_status tsr_png_read_header(tsr_ctx *ctx, spng_ctx *dec, tsr_image_info *info,
                               struct spng_ihdr *ihdr) {
    int err = spng_get_ihdr(dec, ihdr);
    if (err == SPNG_EUSER_WIDTH || err == SPNG_EUSER_HEIGHT)
        return tsr_error(ctx, TSR_ERR_LIMIT, "png: dimensions are larger than the limit of %ux%u",
                         tsr_ctx_limits(ctx)->max_width, tsr_ctx_limits(ctx)->max_height);
    if (err)
        return tsr_png_fail(ctx, err, "reading the header");
    struct spng_trns trns;
    bool has_trns = spng_get_trns(dec, &trns) == 0;
    switch (ihdr->color_type) {
    case SPNG_COLOR_TYPE_GRAYSCALE:
        info->bands = has_trns ? 2 : 1;
        break;
    case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA:
        info->bands = 2;
        break;
    case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA:
        info->bands = 4;
        break;
    default:
        info->bands = has_trns ? 4 : 3;
        break;
    }
    info->width = (int)ihdr->width;
    info->height = (int)ihdr->height;
    info->bit_depth = ihdr->bit_depth;
    info->frames = 1;
    struct spng_exif exif;
    if (spng_get_exif(dec, &exif) == 0)
        info->orientation = tsr_exif_orientation((const uint8_t *)exif.data, exif.length);
    return tsr_limits_check(ctx, "png", ihdr->width, ihdr->height, info->bands);
}

static tsr_status info_png(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    spng_ctx *dec;
    struct spng_ihdr ihdr;
    tsr_status st = open_decoder(ctx, bytes, len, &dec);
    if (st)
        return st;
    st = tsr_png_read_header(ctx, dec, info, &ihdr);
    spng_ctx_free(dec);
    return st;
}

/*
 * Picks the libspng output format: 16-bit images come raw (big-endian) and
 * are narrowed here to their high byte, with a tRNS key applied here;
 * 8-bit-or-less gray without tRNS -> G8; 8-bit gray+alpha -> as stored;
 * everything else -> RGBA8 with tRNS applied by libspng.
 */
void tsr_png_pick_format(spng_ctx *dec, const struct spng_ihdr *ihdr, int bands, row_format *r) {
    static const int channels[7] = {1, 0, 3, 1, 2, 0, 4};
    struct spng_trns trns;
    memset(r, 0, sizeof *r);
    if (ihdr->bit_depth == 16) {
        r->fmt = SPNG_FMT_RAW;
        r->samples = channels[ihdr->color_type];
        r->sixteen = true;
        if (bands > r->samples && spng_get_trns(dec, &trns) == 0) {
            r->has_key = true;
            if (ihdr->color_type == SPNG_COLOR_TYPE_GRAYSCALE) {
                r->key[0] = trns.gray;
            } else {
                r->key[0] = trns.red, r->key[1] = trns.green, r->key[2] = trns.blue;
            }
        }
    } else if (bands == 1) {
        r->fmt = SPNG_FMT_G8;
        r->samples = 1;
    } else if (ihdr->color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA) {
        r->fmt = SPNG_FMT_PNG;
        r->samples = 2;
    } else {
        r->fmt = SPNG_FMT_RGBA8;
        r->samples = 4;
    }
}

/* Copies one decoded row into an image row of `bands` bands. */
void tsr_png_store_row(const uint8_t *src, const row_format *r, uint8_t *dst, int bands,
                       int width) {
    if (r->sixteen) {
        for (int x = 0; x < width; x++, src += 2 * r->samples, dst += bands) {
            bool keyed = r->has_key;
            for (int c = 0; c < r->samples; c++) {
                dst[c] = src[2 * c];
                keyed = keyed && (uint16_t)(src[2 * c] << 8 | src[2 * c + 1]) == r->key[c];
            }
            if (bands > r->samples)
                dst[bands - 1] = keyed ? 0 : 255;
        }
    } else if (r->samples == bands) {
        memcpy(dst, src, (size_t)width * (size_t)bands);
    } else if (bands == 2) {
        /* gray + tRNS decoded as RGBA */
        for (int x = 0; x < width; x++) {
            dst[2 * x] = src[4 * x];
            dst[2 * x + 1] = src[4 * x + 3];
        }
    } else {
        tsr_codec_convert_row(src, r->samples, dst, bands, width);
    }
}

static tsr_status decode_png(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                             const tsr_decode_options *opts, tsr_image **out,
                             tsr_image_info *info) {
    spng_ctx *dec;
    struct spng_ihdr ihdr;
    tsr_image *image = NULL;
    uint8_t *buf = NULL;
    row_format rf;
    (void)opts;
    tsr_status st = open_decoder(ctx, bytes, len, &dec);
    if (st)
        return st;
    st = tsr_png_read_header(ctx, dec, info, &ihdr);
    if (st)
        goto out;
    tsr_png_pick_format(dec, &ihdr, info->bands, &rf);
    int fmt = rf.fmt;
    size_t image_len;
    int err = spng_decoded_image_size(dec, fmt, &image_len);
    if (err) {
        st = tsr_png_fail(ctx, err, "sizing the image");
        goto out;
    }
    st = tsr_image_new(ctx, info->width, info->height, info->bands, &image);
    if (st)
        goto out;
    size_t row_len = image_len / ihdr.height;
    if (ihdr.interlace_method == SPNG_INTERLACE_NONE) {
        buf = malloc(row_len);
        if (!buf) {
            st = tsr_error(ctx, TSR_ERR_NOMEM, "png: out of memory");
            goto out;
        }
        err = spng_decode_image(dec, NULL, 0, fmt, SPNG_DECODE_TRNS | SPNG_DECODE_PROGRESSIVE);
        for (uint32_t y = 0; !err && y < ihdr.height; y++) {
            err = spng_decode_row(dec, buf, row_len);
            if (err == SPNG_EOI && y + 1 == ihdr.height)
                err = 0;
            if (!err || err == SPNG_EOI)
                tsr_png_store_row(buf, &rf, image->data + y * image->stride, image->bands,
                                  image->width);
        }
    } else {
        /* Adam7: passes revisit rows, so decode the whole image first. */
        if ((uint64_t)image_len > tsr_ctx_limits(ctx)->max_alloc) {
            st = tsr_error(ctx, TSR_ERR_LIMIT, "png: interlaced image needs %zu bytes", image_len);
            goto out;
        }
        buf = malloc(image_len);
        if (!buf) {
            st = tsr_error(ctx, TSR_ERR_NOMEM, "png: out of memory (%zu bytes)", image_len);
            goto out;
        }
        err = spng_decode_image(dec, buf, image_len, fmt, SPNG_DECODE_TRNS);
        for (uint32_t y = 0; !err && y < ihdr.height; y++)
            tsr_png_store_row(buf + y * row_len, &rf, image->data + y * image->stride, image->bands,
                              image->width);
    }
    /* Read up to IEND so a truncated tail is caught too. */
    if (!err)
        err = spng_decode_chunks(dec);
    if (err) {
        st = tsr_png_fail(ctx, err, "decoding");
        goto out;
    }
    if (!tsr_png_has_iend(bytes, len))
        st = tsr_error(ctx, TSR_ERR_CORRUPT, "png: truncated: no complete IEND chunk");
out:
    free(buf);
    spng_ctx_free(dec);
    if (st) {
        tsr_image_free(image);
        return st;
    }
    *out = image;
    return TSR_OK;
}

static tsr_status encode_png(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                             tsr_buffer *out) {
    static const uint8_t color_types[5] = {
        0, SPNG_COLOR_TYPE_GRAYSCALE, SPNG_COLOR_TYPE_GRAYSCALE_ALPHA, SPNG_COLOR_TYPE_TRUECOLOR,
        SPNG_COLOR_TYPE_TRUECOLOR_ALPHA};
    tsr_status st = TSR_OK;
    void *png = NULL;
    size_t png_len = 0;
    spng_ctx *enc = spng_ctx_new(SPNG_CTX_ENCODER);
    if (!enc)
        return tsr_error(ctx, TSR_ERR_NOMEM, "png: out of memory");
    struct spng_ihdr ihdr = {
        .width = (uint32_t)image->width,
        .height = (uint32_t)image->height,
        .bit_depth = 8,
        .color_type = color_types[image->bands],
    };
    int level = opts->compression < 0 ? 6 : opts->compression;
    size_t row_len = (size_t)image->width * (size_t)image->bands;
    int err = spng_set_option(enc, SPNG_ENCODE_TO_BUFFER, 1);
    if (!err)
        err = spng_set_option(enc, SPNG_IMG_COMPRESSION_LEVEL, level);
    if (!err)
        err = spng_set_ihdr(enc, &ihdr);
    if (!err)
        err = spng_encode_image(enc, NULL, 0, SPNG_FMT_PNG,
                                SPNG_ENCODE_PROGRESSIVE | SPNG_ENCODE_FINALIZE);
    for (int y = 0; !err && y < image->height; y++) {
        err = spng_encode_row(enc, image->data + (size_t)y * image->stride, row_len);
        if (err == SPNG_EOI && y + 1 == image->height)
            err = 0;
    }
    if (!err)
        png = spng_get_png_buffer(enc, &png_len, &err);
    if (err || !png) {
        st = tsr_error(ctx, err == SPNG_EMEM ? TSR_ERR_NOMEM : TSR_ERR_INTERNAL,
                       "png: encoding failed: %s", spng_strerror(err));
        goto out;
    }
    st = tsr_codec_append(ctx, out, png, png_len, "png");
out:
    free(png);
    spng_ctx_free(enc);
    return st;
}

const tsr_codec tsr_codec_png = {
    .format = TSR_FORMAT_PNG,
    .name = "png",
    .mime = "image/png",
    .extension = "png",
    .aliases = "",
    .sniff = sniff,
    .info = info_png,
    .decode = decode_png,
    .encode = encode_png,
};
