/* HEIF (HEIC) and AVIF input through libheif: the primary image, decoded
 * whole to RGB or RGBA. libheif applies the file's clap, irot and imir
 * properties while decoding, so the image comes out upright and
 * info->orientation stays 1: an EXIF Orientation inside the file is not
 * applied on top (phones record the same turn in both; HEIF readers follow
 * irot/imir). 10- and 12-bit samples keep their high byte (v >> (bits - 8)),
 * as 16-bit PNG and TIFF keep theirs. Writing is in heif_encode.c. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "heif_internal.h"

/* Brands of the ftyp box, four characters each. */
static const char hevc_brands[] = "heicheixheimheishevchevxhevmhevs";
static const char av1_brands[] = "avifavisavio";
static const char generic_brands[] = "mif1msf1mif2";

/* Whether the 4-byte brand `b` is one of `list` (concatenated brands). */
static bool brand_in(const uint8_t *b, const char *list) {
    for (; *list; list += 4)
        if (memcmp(b, list, 4) == 0)
            return true;
    return false;
}

tsr_format tsr_heif_brand_format(const uint8_t *b, size_t len) {
    if (len < 16 || memcmp(b + 4, "ftyp", 4) != 0)
        return TSR_FORMAT_UNKNOWN;
    uint32_t size = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    if (size < 16)
        return TSR_FORMAT_UNKNOWN;
    if (brand_in(b + 8, av1_brands))
        return TSR_FORMAT_AVIF;
    if (brand_in(b + 8, hevc_brands))
        return TSR_FORMAT_HEIF;
    size_t end = size < len ? size : len;
    bool hevc = false, av1 = false, generic = brand_in(b + 8, generic_brands);
    for (size_t o = 16; o + 4 <= end; o += 4) {
        hevc |= brand_in(b + o, hevc_brands);
        av1 |= brand_in(b + o, av1_brands);
        generic |= brand_in(b + o, generic_brands);
    }
    if (hevc)
        return TSR_FORMAT_HEIF;
    if (av1)
        return TSR_FORMAT_AVIF;
    return generic ? TSR_FORMAT_HEIF : TSR_FORMAT_UNKNOWN;
}

static bool sniff_heif(const uint8_t *b, size_t len) {
    return tsr_heif_brand_format(b, len) == TSR_FORMAT_HEIF;
}

static bool sniff_avif(const uint8_t *b, size_t len) {
    return tsr_heif_brand_format(b, len) == TSR_FORMAT_AVIF;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_libheif(void) {
    /* Built-in codecs need nothing; a libheif built with plugins loads them here. */
    (void)heif_init(NULL);
}

void tsr_heif_init(void) {
    pthread_once(&init_once, init_libheif);
}

tsr_status tsr_heif_fail(tsr_ctx *ctx, const char *what, struct heif_error err, const char *doing) {
    tsr_status st;
    switch (err.code) {
    case heif_error_Memory_allocation_error:
        st = err.subcode == heif_suberror_Security_limit_exceeded ? TSR_ERR_LIMIT : TSR_ERR_NOMEM;
        break;
    case heif_error_Invalid_input:
    case heif_error_Decoder_plugin_error:
        st = TSR_ERR_CORRUPT;
        break;
    case heif_error_Unsupported_filetype:
    case heif_error_Unsupported_feature:
        st = TSR_ERR_FORMAT;
        break;
    default: /* an encoder refusing the size is the caller's (USAGE), like GIF's 65535 */
        st = err.subcode == heif_suberror_Invalid_image_size ? TSR_ERR_USAGE : TSR_ERR_INTERNAL;
        break;
    }
    char msg[320];
    snprintf(msg, sizeof msg, "%s", err.message && err.message[0] ? err.message : "no message");
    for (size_t n = strlen(msg); n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ');)
        msg[--n] = '\0';
    if (err.subcode == heif_suberror_End_of_data)
        return tsr_error(ctx, st, "%s: truncated or corrupt file: %s: %s", what, doing, msg);
    return tsr_error(ctx, st, "%s: %s: %s", what, doing, msg);
}

/* The primary image of a parsed file. */
typedef struct heif_file {
    struct heif_context *ctx;         /* libheif's parsed file; NULL when closed */
    struct heif_image_handle *handle; /* its primary image */
    bool alpha;                       /* the primary image has an alpha plane */
    int bits;                         /* luma bits per sample: 8, 10 or 12 */
    int coded_width, coded_height;    /* its ispe property */
} heif_file;

static void file_close(heif_file *f) {
    if (f->handle)
        heif_image_handle_release(f->handle);
    if (f->ctx)
        heif_context_free(f->ctx);
    memset(f, 0, sizeof *f);
}

/* libheif's side limit: ours when lower than its own ceiling. libheif
 * refuses a grid or overlay whose side equals its limit, hence the + 1. */
static int side_limit(const tsr_limits *l) {
    uint64_t side = (uint64_t)(l->max_width > l->max_height ? l->max_width : l->max_height) + 1;
    return side < TSR_HEIF_MAX_SIDE ? (int)side : TSR_HEIF_MAX_SIDE;
}

/* Refuses a file whose codec this libheif cannot decode, with a clear message. */
static tsr_status check_decoder(tsr_ctx *ctx, const char *what, tsr_format format) {
    bool av1 = format == TSR_FORMAT_AVIF;
    if (heif_have_decoder_for_format(av1 ? heif_compression_AV1 : heif_compression_HEVC))
        return TSR_OK;
    return tsr_error(ctx, TSR_ERR_FORMAT,
                     "%s: this libheif has no %s decoder (Debian's libheif1 decodes %s with %s)",
                     what, av1 ? "AV1" : "HEVC", av1 ? "AV1" : "HEVC",
                     av1 ? "dav1d or aom" : "libde265");
}

/* Fills `info` from the primary image of `f` and checks it against the
 * limits: the displayed size, and the coded size (ispe) either way round,
 * since libheif 1.15's own writer records the turned size there. */
static tsr_status read_header(tsr_ctx *ctx, const char *what, heif_file *f, tsr_image_info *info) {
    const tsr_limits *l = tsr_ctx_limits(ctx);
    int images = heif_context_get_number_of_top_level_images(f->ctx);
    int w = heif_image_handle_get_width(f->handle), h = heif_image_handle_get_height(f->handle);
    f->coded_width = heif_image_handle_get_ispe_width(f->handle);
    f->coded_height = heif_image_handle_get_ispe_height(f->handle);
    f->alpha = heif_image_handle_has_alpha_channel(f->handle) != 0;
    f->bits = heif_image_handle_get_luma_bits_per_pixel(f->handle);
    info->width = w;
    info->height = h;
    info->bands = f->alpha ? 4 : 3;
    info->bit_depth = f->bits;
    info->frames = images > 0 ? images : 1;
    info->orientation = 1; /* irot/imir are applied by libheif, EXIF never */
    if ((uint32_t)info->frames > l->max_frames)
        return tsr_error(ctx, TSR_ERR_LIMIT, "%s: %d images is more than the limit of %u", what,
                         info->frames, l->max_frames);
    if (f->bits < 8 || f->bits > 16)
        return tsr_error(ctx, TSR_ERR_FORMAT, "%s: unsupported bit depth %d", what, f->bits);
    uint64_t cw = f->coded_width > 0 ? (uint64_t)f->coded_width : 0;
    uint64_t ch = f->coded_height > 0 ? (uint64_t)f->coded_height : 0;
    tsr_status st =
        tsr_limits_check(ctx, what, w > 0 ? (uint64_t)w : 0, h > 0 ? (uint64_t)h : 0, info->bands);
    if (!st)
        st = tsr_limits_check(ctx, what, cw, ch, info->bands);
    if (!st)
        st = tsr_limits_check(ctx, what, ch, cw, info->bands);
    if (!st) /* decoded whole */
        st = tsr_limits_check_alloc(ctx, what, TSR_HEIF_DECODE_BYTES(cw, ch));
    return st;
}

/* Parses `bytes` and opens the primary image; fills `info` (the displayed
 * size) and checks it against the limits. */
static tsr_status file_open(tsr_ctx *ctx, tsr_format format, const uint8_t *bytes, size_t len,
                            heif_file *f, tsr_image_info *info) {
    const char *what = tsr_format_name(format);
    memset(f, 0, sizeof *f);
    tsr_heif_init();
    tsr_status st = check_decoder(ctx, what, format);
    if (!st)
        st = tsr_heif_check_derived(ctx, what, bytes, len);
    if (st)
        return st;
    if (!(f->ctx = heif_context_alloc()))
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", what);
    heif_context_set_maximum_image_size_limit(f->ctx, side_limit(tsr_ctx_limits(ctx)));
    struct heif_error err = heif_context_read_from_memory_without_copy(f->ctx, bytes, len, NULL);
    if (err.code)
        return tsr_heif_fail(ctx, what, err, "reading the file");
    err = heif_context_get_primary_image_handle(f->ctx, &f->handle);
    if (err.code)
        return tsr_heif_fail(ctx, what, err, "opening the primary image");
    return read_header(ctx, what, f, info);
}

/* Reads the header of format `format`; nothing is decoded. */
static tsr_status info_of(tsr_ctx *ctx, tsr_format format, const uint8_t *bytes, size_t len,
                          tsr_image_info *info) {
    heif_file f;
    tsr_status st = file_open(ctx, format, bytes, len, &f, info);
    file_close(&f);
    return st;
}

static tsr_status info_heif(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    return info_of(ctx, TSR_FORMAT_HEIF, bytes, len, info);
}

static tsr_status info_avif(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    return info_of(ctx, TSR_FORMAT_AVIF, bytes, len, info);
}

/* Copies the interleaved RGB(A) plane of `img` into `out` (same size);
 * samples of more than 8 bits (16-bit little-endian words) keep their high
 * byte. */
static void copy_pixels(const struct heif_image *img, int bits, tsr_image *out) {
    int stride = 0;
    const uint8_t *plane = heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride);
    size_t n = (size_t)out->width * (size_t)out->bands;
    for (int y = 0; y < out->height; y++) {
        const uint8_t *src = plane + (size_t)y * (size_t)stride;
        uint8_t *dst = out->data + (size_t)y * out->stride;
        if (bits == 8) {
            memcpy(dst, src, n);
            continue;
        }
        for (size_t i = 0; i < n; i++)
            dst[i] = (uint8_t)((src[2 * i] | src[2 * i + 1] << 8) >> (bits - 8));
    }
}

/* Checks what libheif decoded: the header's size (displayed), or with
 * `coded` the ispe size either way round, which becomes info's size. */
static tsr_status check_decoded(tsr_ctx *ctx, const char *what, const heif_file *f, bool coded,
                                const struct heif_image *img, tsr_image_info *info) {
    int w = heif_image_get_width(img, heif_channel_interleaved);
    int h = heif_image_get_height(img, heif_channel_interleaved);
    int bits = heif_image_get_bits_per_pixel_range(img, heif_channel_interleaved);
    int stride = 0;
    bool fits = coded ? (w == f->coded_width && h == f->coded_height) ||
                            (w == f->coded_height && h == f->coded_width)
                      : w == info->width && h == info->height;
    if (!heif_image_get_plane_readonly(img, heif_channel_interleaved, &stride) || !fits ||
        bits < 8 || bits > 16 || (bits > 8) != (f->bits > 8))
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "%s: decoded %dx%d (%d bits), but the header declares %dx%d (%d bits)",
                         what, w, h, bits, coded ? f->coded_width : info->width,
                         coded ? f->coded_height : info->height, f->bits);
    info->width = w;
    info->height = h;
    return TSR_OK;
}

/* Decodes the primary image of `f` into a new image; `coded`: without
 * clap, irot and imir (libheif's ignore_transformations). */
static tsr_status decode_primary(tsr_ctx *ctx, const char *what, heif_file *f, bool coded,
                                 tsr_image_info *info, tsr_image **out) {
    struct heif_decoding_options *o = heif_decoding_options_alloc();
    struct heif_image *img = NULL;
    if (!o)
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", what);
    o->ignore_transformations = coded ? 1 : 0;
    o->convert_hdr_to_8bit = 0; /* narrowed in copy_pixels, the way 16-bit PNGs are */
    enum heif_chroma chroma =
        f->bits > 8
            ? (f->alpha ? heif_chroma_interleaved_RRGGBBAA_LE : heif_chroma_interleaved_RRGGBB_LE)
            : (f->alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB);
    struct heif_error err = heif_decode_image(f->handle, &img, heif_colorspace_RGB, chroma, o);
    heif_decoding_options_free(o);
    if (err.code)
        return tsr_heif_fail(ctx, what, err, "decoding the image");
    tsr_status st = check_decoded(ctx, what, f, coded, img, info);
    if (!st)
        st = tsr_image_new(ctx, info->width, info->height, info->bands, out);
    if (!st)
        copy_pixels(img, heif_image_get_bits_per_pixel_range(img, heif_channel_interleaved), *out);
    heif_image_release(img);
    return st;
}

static tsr_status decode_of(tsr_ctx *ctx, tsr_format format, const uint8_t *bytes, size_t len,
                            const tsr_decode_options *opts, tsr_image **out, tsr_image_info *info) {
    heif_file f;
    tsr_status st = file_open(ctx, format, bytes, len, &f, info);
    if (!st)
        st = decode_primary(ctx, tsr_format_name(format), &f, opts->no_autorotate, info, out);
    file_close(&f);
    return st;
}

static tsr_status decode_heif(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                              const tsr_decode_options *opts, tsr_image **out,
                              tsr_image_info *info) {
    return decode_of(ctx, TSR_FORMAT_HEIF, bytes, len, opts, out, info);
}

static tsr_status decode_avif(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                              const tsr_decode_options *opts, tsr_image **out,
                              tsr_image_info *info) {
    return decode_of(ctx, TSR_FORMAT_AVIF, bytes, len, opts, out, info);
}

static tsr_status encode_heif(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                              tsr_buffer *out) {
    return tsr_heif_encode(ctx, TSR_FORMAT_HEIF, image, opts, out);
}

static tsr_status encode_avif(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                              tsr_buffer *out) {
    return tsr_heif_encode(ctx, TSR_FORMAT_AVIF, image, opts, out);
}

const tsr_codec tsr_codec_heif = {
    .format = TSR_FORMAT_HEIF,
    .name = "heif",
    .mime = "image/heic",
    .extension = "heic",
    .aliases = "hif heics image/heif",
    .sniff = sniff_heif,
    .info = info_heif,
    .decode = decode_heif,
    .encode = encode_heif,
};

const tsr_codec tsr_codec_avif = {
    .format = TSR_FORMAT_AVIF,
    .name = "avif",
    .mime = "image/avif",
    .extension = "avif",
    .aliases = "avifs",
    .sniff = sniff_avif,
    .info = info_avif,
    .decode = decode_avif,
    .encode = encode_avif,
};
