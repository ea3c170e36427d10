/* Format detection, name tables and the decode/encode front door: byte cap,
 * dispatch to the per-format codec, EXIF orientation, atomic saves. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec_internal.h"
#include "util/units.h"

/* Indexed by tsr_format; NULL for UNKNOWN. */
static const tsr_codec *const codecs[TSR_FORMAT_COUNT] = {
    [TSR_FORMAT_JPEG] = &tsr_codec_jpeg, [TSR_FORMAT_PNG] = &tsr_codec_png,
    [TSR_FORMAT_GIF] = &tsr_codec_gif,   [TSR_FORMAT_WEBP] = &tsr_codec_webp,
    [TSR_FORMAT_TIFF] = &tsr_codec_tiff, [TSR_FORMAT_BMP] = &tsr_codec_bmp,
    [TSR_FORMAT_PNM] = &tsr_codec_pnm,   [TSR_FORMAT_HEIF] = &tsr_codec_heif,
    [TSR_FORMAT_AVIF] = &tsr_codec_avif,
};

static const tsr_codec *codec_of(tsr_format format) {
    if ((int)format <= TSR_FORMAT_UNKNOWN || format >= TSR_FORMAT_COUNT)
        return NULL;
    return codecs[format];
}

tsr_format tsr_format_detect(const uint8_t *bytes, size_t len) {
    if (!bytes)
        return TSR_FORMAT_UNKNOWN;
    for (int f = TSR_FORMAT_UNKNOWN + 1; f < TSR_FORMAT_COUNT; f++)
        if (codecs[f]->sniff(bytes, len))
            return (tsr_format)f;
    return TSR_FORMAT_UNKNOWN;
}

const char *tsr_format_name(tsr_format format) {
    const tsr_codec *c = codec_of(format);
    return c ? c->name : "unknown";
}

const char *tsr_format_mime(tsr_format format) {
    const tsr_codec *c = codec_of(format);
    return c ? c->mime : "application/octet-stream";
}

const char *tsr_format_extension(tsr_format format) {
    const tsr_codec *c = codec_of(format);
    return c ? c->extension : "";
}

/* Whether the space-separated `list` holds `word` (case-insensitive). */
static bool list_has(const char *list, const char *word) {
    size_t n = strlen(word);
    while (*list) {
        const char *end = strchr(list, ' ');
        size_t len = end ? (size_t)(end - list) : strlen(list);
        if (len == n && strncasecmp(list, word, n) == 0)
            return true;
        if (!end)
            break;
        list = end + 1;
    }
    return false;
}

tsr_format tsr_format_from_name(const char *name) {
    if (!name)
        return TSR_FORMAT_UNKNOWN;
    if (name[0] == '.')
        name++;
    for (int f = TSR_FORMAT_UNKNOWN + 1; f < TSR_FORMAT_COUNT; f++) {
        const tsr_codec *c = codecs[f];
        if (strcasecmp(name, c->name) == 0 || strcasecmp(name, c->extension) == 0 ||
            strcasecmp(name, c->mime) == 0 || list_has(c->aliases, name))
            return (tsr_format)f;
    }
    return TSR_FORMAT_UNKNOWN;
}

bool tsr_format_can_encode(tsr_format format) {
    const tsr_codec *c = codec_of(format);
    return c && c->encode;
}

/* The codec for `bytes`, or a FORMAT error. */
static tsr_status find_codec(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                             const tsr_codec **out) {
    *out = NULL;
    if (len > tsr_ctx_limits(ctx)->max_file_bytes) {
        char size[TSR_UNITS_TEXT], limit[TSR_UNITS_TEXT];
        tsr_units_pair(TSR_UNIT_BYTES, len, tsr_ctx_limits(ctx)->max_file_bytes, size, limit);
        return tsr_error(ctx, TSR_ERR_LIMIT, "input: %s is more than the limit of %s", size, limit);
    }
    if (len == 0)
        return tsr_error(ctx, TSR_ERR_FORMAT, "input: empty file (0 bytes)");
    tsr_format f = tsr_format_detect(bytes, len);
    if (f == TSR_FORMAT_UNKNOWN)
        return tsr_error(ctx, TSR_ERR_FORMAT,
                         "input: unrecognised image format (%zu bytes; not JPEG, PNG, GIF, WebP, "
                         "TIFF, BMP, PNM, HEIF or AVIF)",
                         len);
    *out = codecs[f];
    return TSR_OK;
}

static void info_init(tsr_image_info *info, tsr_format format) {
    memset(info, 0, sizeof *info);
    info->format = format;
    info->frames = 1;
    info->orientation = 1;
    info->bit_depth = 8;
}

tsr_status tsr_image_info_read(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                               tsr_image_info *info) {
    const tsr_codec *c;
    tsr_status st = find_codec(ctx, bytes, len, &c);
    if (st)
        return st;
    info_init(info, c->format);
    return c->info(ctx, bytes, len, info);
}

tsr_status tsr_image_decode(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                            const tsr_decode_options *opts, tsr_image **out, tsr_image_info *info) {
    static const tsr_decode_options defaults = {0};
    tsr_image_info local;
    tsr_image *image = NULL;
    const tsr_codec *c;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (!info)
        info = &local;
    tsr_status st = find_codec(ctx, bytes, len, &c);
    if (st)
        return st;
    info_init(info, c->format);
    st = c->decode(ctx, bytes, len, opts, &image, info);
    if (st)
        goto out;
    if (!image) {
        st = tsr_error(ctx, TSR_ERR_INTERNAL, "%s: decoder returned no image", c->name);
        goto out;
    }
    if (!opts->no_autorotate && info->orientation > 1 && info->orientation <= 8)
        st = tsr_image_orient(ctx, &image, info->orientation);
out:
    if (st) {
        tsr_image_free(image);
        return st;
    }
    *out = image;
    return TSR_OK;
}

tsr_status tsr_image_encode(tsr_ctx *ctx, const tsr_image *image, tsr_format format,
                            const tsr_encode_options *opts, tsr_buffer *out) {
    static const tsr_encode_options defaults = {.quality = 0, .compression = -1};
    const tsr_codec *c = codec_of(format);
    if (!opts)
        opts = &defaults;
    if (!image || image->width <= 0 || image->height <= 0 || image->bands < 1 ||
        image->bands > TSR_MAX_BANDS)
        return tsr_error(ctx, TSR_ERR_USAGE, "encode: invalid image");
    if (!c)
        return tsr_error(ctx, TSR_ERR_FORMAT, "encode: unknown output format");
    if (!c->encode)
        return tsr_error(ctx, TSR_ERR_FORMAT, "encode: this build cannot write %s", c->name);
    if (opts->quality < 0 || opts->quality > 100)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: quality %d is outside 1..100", c->name,
                         opts->quality);
    if (opts->compression < -1 || opts->compression > 9)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: compression %d is outside 0..9", c->name,
                         opts->compression);
    if (opts->layout != TSR_LAYOUT_SINGLE)
        return tsr_error(
            ctx, TSR_ERR_USAGE,
            "%s: a pyramid or Deep Zoom output needs a row writer (tsr_row_writer_open)", c->name);
    if (opts->speed < 0 || opts->speed > 9)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: speed %d is outside 1..9", c->name, opts->speed);
    return c->encode(ctx, image, opts, out);
}

tsr_status tsr_image_load(tsr_ctx *ctx, const char *path, const tsr_decode_options *opts,
                          tsr_image **out, tsr_image_info *info) {
    tsr_buffer buf = {0};
    *out = NULL;
    /* The file is held whole: the single-buffer cap bounds it too. */
    const tsr_limits *l = tsr_ctx_limits(ctx);
    uint64_t cap = l->max_file_bytes < l->max_alloc ? l->max_file_bytes : l->max_alloc;
    tsr_status st = tsr_file_read(ctx, path, cap, &buf);
    if (!st)
        st = tsr_image_decode(ctx, buf.data, buf.len, opts, out, info);
    tsr_buffer_free(&buf);
    return st;
}

tsr_status tsr_image_save(tsr_ctx *ctx, const tsr_image *image, const char *path, tsr_format format,
                          const tsr_encode_options *opts) {
    tsr_buffer buf = {0};
    tsr_status st = tsr_image_encode(ctx, image, format, opts, &buf);
    if (!st)
        st = tsr_file_write_atomic(ctx, path, buf.data, buf.len);
    tsr_buffer_free(&buf);
    return st;
}

tsr_status tsr_codec_append(tsr_ctx *ctx, tsr_buffer *out, const void *bytes, size_t n,
                            const char *what) {
    tsr_status st = tsr_buffer_append(out, bytes, n);
    if (st == TSR_ERR_LIMIT)
        return tsr_error(ctx, st, "%s: encoded output is larger than the buffer cap", what);
    if (st)
        return tsr_error(ctx, st, "%s: out of memory growing the output", what);
    return TSR_OK;
}

void tsr_codec_convert_row(const uint8_t *src, int src_bands, uint8_t *dst, int dst_bands,
                           int width) {
    bool src_color = src_bands >= 3, dst_color = dst_bands >= 3;
    bool src_alpha = src_bands == 2 || src_bands == 4;
    bool dst_alpha = dst_bands == 2 || dst_bands == 4;
    for (int x = 0; x < width; x++, src += src_bands, dst += dst_bands) {
        if (dst_color && src_color) {
            dst[0] = src[0], dst[1] = src[1], dst[2] = src[2];
        } else if (dst_color) {
            dst[0] = dst[1] = dst[2] = src[0];
        } else if (src_color) {
            dst[0] = (uint8_t)((src[0] * 4899 + src[1] * 9617 + src[2] * 1868 + 8192) >> 14);
        } else {
            dst[0] = src[0];
        }
        if (dst_alpha)
            dst[dst_bands - 1] = src_alpha ? src[src_bands - 1] : 255;
    }
}
