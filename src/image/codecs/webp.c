/* WebP through libwebp: still images decode straight into the image (RGB or
 * RGBA), animations give the chosen frame composed on the canvas
 * (webp_anim.c, libwebpdemux's WebPAnimDecoder).
 * The EXIF chunk of an extended (VP8X) file gives info->orientation, which
 * codec.c applies (needs libwebpdemux; without it WebP reads as stored).
 * Encode: lossy with a quality or lossless, RGB or RGBA (gray expanded). */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/encode.h>
#if __has_include(<webp/demux.h>)
#include <webp/demux.h>
#define HAVE_DEMUX 1
#endif

#include "frames_internal.h"

#define WEBP_MAX_DIMENSION 16383

static bool sniff(const uint8_t *b, size_t len) {
    return len >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0;
}

#ifdef HAVE_DEMUX
/* EXIF orientation (1..8) from the EXIF chunk of an extended file; 1 for a
 * simple file, no EXIF chunk, no Orientation tag or a container that does
 * not parse (the decoder reports that one). */
static int exif_orientation(const uint8_t *bytes, size_t len) {
    if (len < 16 || memcmp(bytes + 12, "VP8X", 4) != 0)
        return 1;
    WebPData data = {bytes, len};
    WebPDemuxer *dmux = WebPDemux(&data);
    if (!dmux)
        return 1;
    WebPChunkIterator it;
    int orientation = 1;
    if (WebPDemuxGetChunk(dmux, "EXIF", 1, &it)) {
        orientation = tsr_exif_orientation(it.chunk.bytes, it.chunk.size);
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(dmux);
    return orientation;
}
#endif

/* Bands of an animation's composed frames (WebPAnimDecoder starts from a
 * transparent canvas): 4 when a pixel can end up transparent (the first
 * frame has alpha or leaves part of the canvas uncovered, a frame before
 * the last is disposed to background, or a later frame with alpha replaces
 * rather than blends), else 3. Frames with alpha that blend over an opaque
 * canvas (what WebPAnimEncoder writes for changed rectangles) keep it
 * opaque. */
static int animation_bands(WebPDemuxer *dmux, const tsr_image_info *info) {
    WebPIterator it;
    int bands = 3;
    if (!WebPDemuxGetFrame(dmux, 1, &it))
        return 4;
    do {
        bool first = it.frame_num == 1;
        if (first && (it.has_alpha || it.x_offset || it.y_offset || it.width < info->width ||
                      it.height < info->height))
            bands = 4;
        if (it.dispose_method == WEBP_MUX_DISPOSE_BACKGROUND && it.frame_num < it.num_frames)
            bands = 4;
        if (!first && it.has_alpha && it.blend_method == WEBP_MUX_NO_BLEND)
            bands = 4;
    } while (bands == 3 && WebPDemuxNextFrame(&it));
    WebPDemuxReleaseIterator(&it);
    return bands;
}

/* Reads the features and the EXIF orientation, and checks the RIFF size
 * against the data we hold. */
static tsr_status features(tsr_ctx *ctx, const uint8_t *bytes, size_t len, WebPBitstreamFeatures *f,
                           tsr_image_info *info) {
    uint64_t riff = (uint64_t)bytes[4] | (uint64_t)bytes[5] << 8 | (uint64_t)bytes[6] << 16 |
                    (uint64_t)bytes[7] << 24;
    if (riff + 8 > len)
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "webp: truncated: the RIFF header declares %llu bytes, %zu present",
                         (unsigned long long)(riff + 8), len);
    VP8StatusCode rc = WebPGetFeatures(bytes, len, f);
    if (rc != VP8_STATUS_OK)
        return tsr_error(ctx,
                         rc == VP8_STATUS_UNSUPPORTED_FEATURE ? TSR_ERR_FORMAT : TSR_ERR_CORRUPT,
                         "webp: cannot read the header (libwebp status %d)", (int)rc);
    info->width = f->width;
    info->height = f->height;
    info->bands = f->has_alpha ? 4 : 3;
    info->bit_depth = 8;
    info->frames = 1;
#ifdef HAVE_DEMUX
    info->orientation = exif_orientation(bytes, len);
    if (f->has_animation) {
        WebPData data = {bytes, len};
        WebPDemuxer *dmux = WebPDemux(&data);
        if (!dmux)
            return tsr_error(ctx, TSR_ERR_CORRUPT, "webp: cannot parse the animation");
        uint32_t frames = WebPDemuxGetI(dmux, WEBP_FF_FRAME_COUNT);
        info->width = (int)WebPDemuxGetI(dmux, WEBP_FF_CANVAS_WIDTH);
        info->height = (int)WebPDemuxGetI(dmux, WEBP_FF_CANVAS_HEIGHT);
        info->bands = frames <= tsr_ctx_limits(ctx)->max_frames ? animation_bands(dmux, info) : 4;
        WebPDemuxDelete(dmux);
        info->frames = (int)frames;
    }
#endif
    tsr_status st =
        tsr_limits_check(ctx, "webp", (uint64_t)info->width, (uint64_t)info->height, info->bands);
    if (!st && f->has_animation)
        st = tsr_limits_check_frames(ctx, "webp", (uint64_t)info->width, (uint64_t)info->height,
                                     (uint64_t)info->frames);
    return st;
}

static tsr_status info_webp(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    WebPBitstreamFeatures f;
    return features(ctx, bytes, len, &f, info);
}

static tsr_status decode_webp(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                              const tsr_decode_options *opts, tsr_image **out,
                              tsr_image_info *info) {
    WebPBitstreamFeatures f;
    tsr_image *image = NULL;
    tsr_status st = features(ctx, bytes, len, &f, info);
    if (st)
        return st;
    if (f.has_animation) /* the chosen frame composed on the canvas (webp_anim.c) */
        return tsr_frame_decode(ctx, bytes, len, opts->frame, out, NULL);
    if (opts->frame != 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "frame %d does not exist: the input has 1 frame (0..0)", opts->frame);
    st = tsr_image_new(ctx, info->width, info->height, info->bands, &image);
    if (st)
        return st;
    size_t size = image->stride * (size_t)image->height;
    uint8_t *p = info->bands == 4
                     ? WebPDecodeRGBAInto(bytes, len, image->data, size, (int)image->stride)
                     : WebPDecodeRGBInto(bytes, len, image->data, size, (int)image->stride);
    if (!p)
        st = tsr_error(ctx, TSR_ERR_CORRUPT, "webp: corrupt or truncated image data");
    if (st) {
        tsr_image_free(image);
        return st;
    }
    *out = image;
    return TSR_OK;
}

static tsr_status encode_webp(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                              tsr_buffer *out) {
    tsr_image *tmp = NULL;
    tsr_status st = TSR_OK;
    if (image->width > WEBP_MAX_DIMENSION || image->height > WEBP_MAX_DIMENSION)
        return tsr_error(ctx, TSR_ERR_USAGE, "webp: %dx%d is larger than WebP's %dx%d",
                         image->width, image->height, WEBP_MAX_DIMENSION, WEBP_MAX_DIMENSION);
    const tsr_image *src = image;
    if (image->bands < 3) {
        /* WebP has no gray mode: expand to RGB or RGBA. */
        if ((st = tsr_image_new(ctx, image->width, image->height, image->bands + 2, &tmp)))
            return st;
        for (int y = 0; y < image->height; y++)
            tsr_codec_convert_row(image->data + (size_t)y * image->stride, image->bands,
                                  tmp->data + (size_t)y * tmp->stride, tmp->bands, tmp->width);
        src = tmp;
    }
    WebPConfig config;
    WebPPicture pic;
    WebPMemoryWriter writer;
    WebPMemoryWriterInit(&writer);
    if (!WebPConfigInit(&config) || !WebPPictureInit(&pic)) {
        st = tsr_error(ctx, TSR_ERR_INTERNAL, "webp: libwebp version mismatch");
        goto out;
    }
    config.quality = (float)(opts->quality > 0 ? opts->quality : 85);
    config.lossless = opts->lossless ? 1 : 0;
    config.exact = opts->lossless ? 1 : 0; /* keep RGB under transparent pixels */
    pic.use_argb = opts->lossless ? 1 : 0;
    pic.width = src->width;
    pic.height = src->height;
    pic.writer = WebPMemoryWrite;
    pic.custom_ptr = &writer;
    int ok = src->bands == 4 ? WebPPictureImportRGBA(&pic, src->data, (int)src->stride)
                             : WebPPictureImportRGB(&pic, src->data, (int)src->stride);
    if (!ok || !WebPEncode(&config, &pic))
        st = tsr_error(
            ctx, pic.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY ? TSR_ERR_NOMEM : TSR_ERR_INTERNAL,
            "webp: encoding failed (libwebp error %d)", (int)pic.error_code);
    else
        st = tsr_codec_append(ctx, out, writer.mem, writer.size, "webp");
    WebPPictureFree(&pic);
    WebPMemoryWriterClear(&writer);
out:
    tsr_image_free(tmp);
    return st;
}

const tsr_codec tsr_codec_webp = {
    .format = TSR_FORMAT_WEBP,
    .name = "webp",
    .mime = "image/webp",
    .extension = "webp",
    .aliases = "",
    .sniff = sniff,
    .info = info_webp,
    .decode = decode_webp,
    .encode = encode_webp,
};
