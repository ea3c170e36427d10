/* AVIF (AV1, libheif's aom encoder) and HEIC (HEVC, libheif's x265
 * encoder) output: 8-bit RGB or RGBA (gray expanded, alpha as libheif's
 * alpha plane), sRGB with BT.601 full-range YCbCr 4:2:0 (lossless: 4:4:4
 * with the identity matrix and lossless alpha: RGBA comes back exactly). Quality 1..100
 * (libheif's scale, default 60) and speed 1..9 (aom's cpu-used; x265's
 * presets veryslow..ultrafast; default 6 = aom's default, x265 "faster"). */
#include <string.h>

#include "heif_internal.h"

#define DEFAULT_QUALITY 60
#define DEFAULT_SPEED   6

/* x265 presets from the fastest, so that speed s picks presets[9 - s]. */
static const char *const x265_presets[10] = {
    "ultrafast", "superfast", "veryfast", "faster",   "fast",
    "medium",    "slow",      "slower",   "veryslow", "placebo",
};

/* Where libheif's writer puts the file. */
typedef struct sink {
    tsr_ctx *ctx;    /* for the message */
    tsr_buffer *out; /* the caller's output */
    const char *what;
    tsr_status st; /* the first append failure */
} sink;

static struct heif_error write_out(struct heif_context *hc, const void *data, size_t size,
                                   void *user) {
    sink *s = user;
    (void)hc;
    if (!s->st)
        s->st = tsr_codec_append(s->ctx, s->out, data, size, s->what);
    struct heif_error e = {s->st ? heif_error_Encoding_error : heif_error_Ok,
                           heif_suberror_Unspecified, s->st ? "cannot store the output" : "ok"};
    return e;
}

/* A libheif picture of `image`: interleaved 8-bit RGB, or RGBA when it has alpha. */
static tsr_status make_picture(tsr_ctx *ctx, const char *what, const tsr_image *image,
                               struct heif_image **out) {
    bool alpha = image->bands == 2 || image->bands == 4;
    int bands = alpha ? 4 : 3, stride = 0;
    struct heif_error err =
        heif_image_create(image->width, image->height, heif_colorspace_RGB,
                          alpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, out);
    if (err.code)
        return tsr_heif_fail(ctx, what, err, "creating the picture");
    err = heif_image_add_plane(*out, heif_channel_interleaved, image->width, image->height, 8);
    uint8_t *plane =
        err.code ? NULL : heif_image_get_plane(*out, heif_channel_interleaved, &stride);
    if (!plane) {
        heif_image_release(*out);
        *out = NULL;
        return err.code ? tsr_heif_fail(ctx, what, err, "creating the picture")
                        : tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", what);
    }
    for (int y = 0; y < image->height; y++)
        tsr_codec_convert_row(image->data + (size_t)y * image->stride, image->bands,
                              plane + (size_t)y * (size_t)stride, bands, image->width);
    return TSR_OK;
}

/* Sets quality or lossless, and speed, on the encoder. */
static tsr_status configure(tsr_ctx *ctx, const char *what, bool av1, struct heif_encoder *enc,
                            const tsr_encode_options *opts) {
    int speed = opts->speed > 0 ? opts->speed : DEFAULT_SPEED;
    struct heif_error err = heif_encoder_set_logging_level(enc, 0);
    if (opts->lossless) {
        err = heif_encoder_set_lossless(enc, 1);
        if (!err.code)
            err = heif_encoder_set_parameter_string(enc, "chroma", "444");
        if (!err.code && av1) /* aom codes alpha lossy unless told */
            err = heif_encoder_set_parameter_boolean(enc, "lossless-alpha", 1);
    } else {
        err = heif_encoder_set_lossy_quality(enc,
                                             opts->quality > 0 ? opts->quality : DEFAULT_QUALITY);
    }
    if (!err.code && av1)
        err = heif_encoder_set_parameter_integer(enc, "speed", speed);
    else if (!err.code)
        err = heif_encoder_set_parameter_string(enc, "preset", x265_presets[9 - speed]);
    return err.code ? tsr_heif_fail(ctx, what, err, "setting up the encoder") : TSR_OK;
}

/* The encoder for AV1 or HEVC, set up; a clear FORMAT error when this
 * libheif has none. */
static tsr_status open_encoder(tsr_ctx *ctx, const char *what, bool av1, struct heif_context *hc,
                               const tsr_encode_options *opts, struct heif_encoder **enc) {
    enum heif_compression_format cf = av1 ? heif_compression_AV1 : heif_compression_HEVC;
    *enc = NULL;
    if (!heif_have_encoder_for_format(cf))
        return tsr_error(ctx, TSR_ERR_FORMAT,
                         "%s: this libheif has no %s encoder (Debian's libheif1 writes %s with %s)",
                         what, av1 ? "AV1" : "HEVC", av1 ? "AV1" : "HEVC", av1 ? "aom" : "x265");
    struct heif_error err = heif_context_get_encoder_for_format(hc, cf, enc);
    if (err.code)
        return tsr_heif_fail(ctx, what, err, "opening the encoder");
    tsr_status st = configure(ctx, what, av1, *enc, opts);
    if (st) {
        heif_encoder_release(*enc);
        *enc = NULL;
    }
    return st;
}

/* Encodes `pic` into the context as sRGB with the matrix that fits. libheif
 * 1.15 converts RGB to YCbCr with the picture's own nclx profile (later
 * versions with output_nclx_profile: both are set), and by default leaves
 * the colr box out of HEIC files for old Apple decoders, which assume
 * BT.601: fine for lossy, but lossless needs the identity matrix written. */
static tsr_status encode_picture(tsr_ctx *ctx, const char *what, struct heif_context *hc,
                                 struct heif_encoder *enc, struct heif_image *pic, bool lossless) {
    struct heif_encoding_options *o = heif_encoding_options_alloc();
    struct heif_color_profile_nclx *nclx = heif_nclx_color_profile_alloc();
    tsr_status st = TSR_OK;
    if (!o || !nclx) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", what);
        goto out;
    }
    nclx->color_primaries = heif_color_primaries_ITU_R_BT_709_5;
    nclx->transfer_characteristics = heif_transfer_characteristic_IEC_61966_2_1;
    nclx->matrix_coefficients =
        lossless ? heif_matrix_coefficients_RGB_GBR : heif_matrix_coefficients_ITU_R_BT_601_6;
    nclx->full_range_flag = 1;
    struct heif_error err = heif_image_set_nclx_color_profile(pic, nclx);
    o->save_alpha_channel = 1;
    o->output_nclx_profile = nclx;
    o->macOS_compatibility_workaround_no_nclx_profile = lossless ? 0 : 1;
    if (!err.code)
        err = heif_context_encode_image(hc, pic, enc, o, NULL);
    if (err.code)
        st = tsr_heif_fail(ctx, what, err, "encoding");
out:
    heif_nclx_color_profile_free(nclx);
    heif_encoding_options_free(o);
    return st;
}

tsr_status tsr_heif_encode(tsr_ctx *ctx, tsr_format format, const tsr_image *image,
                           const tsr_encode_options *opts, tsr_buffer *out) {
    const char *what = tsr_format_name(format);
    bool av1 = format == TSR_FORMAT_AVIF;
    struct heif_encoder *enc = NULL;
    struct heif_image *pic = NULL;
    if (image->width > TSR_HEIF_MAX_SIDE || image->height > TSR_HEIF_MAX_SIDE)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "%s: %dx%d is larger than the %dx%d libheif reads back", what,
                         image->width, image->height, TSR_HEIF_MAX_SIDE, TSR_HEIF_MAX_SIDE);
    tsr_heif_init();
    struct heif_context *hc = heif_context_alloc();
    if (!hc)
        return tsr_error(ctx, TSR_ERR_NOMEM, "%s: out of memory", what);
    tsr_status st = open_encoder(ctx, what, av1, hc, opts, &enc);
    if (!st)
        st = make_picture(ctx, what, image, &pic);
    if (!st)
        st = encode_picture(ctx, what, hc, enc, pic, opts->lossless);
    if (!st) {
        sink s = {.ctx = ctx, .out = out, .what = what};
        struct heif_writer writer = {.writer_api_version = 1, .write = write_out};
        struct heif_error err = heif_context_write(hc, &writer, &s);
        st = s.st ? s.st : err.code ? tsr_heif_fail(ctx, what, err, "writing the file") : TSR_OK;
    }
    if (pic)
        heif_image_release(pic);
    if (enc)
        heif_encoder_release(enc);
    heif_context_free(hc);
    return st;
}
