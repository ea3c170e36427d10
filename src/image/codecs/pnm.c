/* pnm: placeholder until the real codec lands. */
#include "codec_internal.h"

static bool sniff(const uint8_t *b, size_t len) {
    (void)b;
    (void)len;
    return false;
}

static tsr_status info_x(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    (void)bytes, (void)len, (void)info;
    return tsr_error(ctx, TSR_ERR_FORMAT, "pnm: not supported yet");
}

static tsr_status decode_x(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                           const tsr_decode_options *opts, tsr_image **out, tsr_image_info *info) {
    (void)bytes, (void)len, (void)info, (void)opts, (void)out;
    return tsr_error(ctx, TSR_ERR_FORMAT, "pnm: not supported yet");
}

const tsr_codec tsr_codec_pnm = {
    .format = TSR_FORMAT_PNM, .name = "pnm", .mime = "image/x-portable-anymap", .extension = "pnm", .aliases = "",
    .sniff = sniff, .info = info_x, .decode = decode_x, .encode = NULL,
};
