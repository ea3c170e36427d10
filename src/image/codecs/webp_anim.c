/* Animated WebP: frames composed on the canvas by libwebpdemux's
 * WebPAnimDecoder (which applies each frame's blending and disposal; the
 * canvas starts transparent, the background colour is ignored as the spec
 * advises), and written by libwebpmux's WebPAnimEncoder from full-canvas
 * frames (it finds the changed rectangles, blending and disposal itself;
 * lossless stays exact). Delays are milliseconds in both directions. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "frames_internal.h"

/* The decoder between frames. */
typedef struct webp_in {
    WebPAnimDecoder *dec; /* libwebpdemux's decoder */
    int timestamp;        /* end time of the last frame handed out, ms */
} webp_in;

static void close_reader(tsr_frame_reader *r) {
    webp_in *s = r->state;
    if (!s)
        return;
    WebPAnimDecoderDelete(s->dec);
    free(s);
    r->state = NULL;
}

static tsr_status next_webp(tsr_frame_reader *r, int *delay_ms) {
    webp_in *s = r->state;
    uint8_t *rgba;
    int timestamp;
    if (!WebPAnimDecoderGetNext(s->dec, &rgba, &timestamp))
        return tsr_error(r->ctx, TSR_ERR_CORRUPT, "webp: cannot decode frame %d", r->next + 1);
    tsr_image *c = r->canvas;
    for (int y = 0; y < c->height; y++)
        tsr_codec_convert_row(rgba + (size_t)y * (size_t)c->width * 4, 4,
                              c->data + (size_t)y * c->stride, c->bands, c->width);
    *delay_ms = timestamp > s->timestamp ? timestamp - s->timestamp : 0;
    s->timestamp = timestamp;
    return TSR_OK;
}

tsr_status tsr_webp_anim_info(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_anim_info *info,
                              int **delays_ms) {
    tsr_image_info still;
    tsr_status st = tsr_image_info_read(ctx, bytes, len, &still); /* checks every limit */
    if (st)
        return st;
    WebPData data = {bytes, len};
    WebPDemuxer *dmux = WebPDemux(&data);
    int *delays = calloc((size_t)still.frames, sizeof *delays);
    WebPIterator it;
    if (!dmux || !delays) {
        WebPDemuxDelete(dmux);
        free(delays);
        return tsr_error(ctx, dmux ? TSR_ERR_NOMEM : TSR_ERR_CORRUPT, "webp: cannot read frames");
    }
    *info = (tsr_anim_info){.format = TSR_FORMAT_WEBP,
                            .width = still.width,
                            .height = still.height,
                            .bands = still.bands,
                            .frames = still.frames,
                            .loop_count = (int)WebPDemuxGetI(dmux, WEBP_FF_LOOP_COUNT)};
    if (still.frames > 1 && WebPDemuxGetFrame(dmux, 1, &it)) {
        do
            if (it.frame_num >= 1 && it.frame_num <= still.frames)
                delays[it.frame_num - 1] = it.duration;
        while (WebPDemuxNextFrame(&it));
        WebPDemuxReleaseIterator(&it);
    }
    WebPDemuxDelete(dmux);
    *delays_ms = delays;
    return TSR_OK;
}

tsr_status tsr_webp_frames_open(tsr_frame_reader *r, const uint8_t *bytes, size_t len) {
    tsr_image_info still;
    memset(&still, 0, sizeof still);
    still.format = TSR_FORMAT_WEBP;
    tsr_status st = tsr_image_info_read(r->ctx, bytes, len, &still); /* checks every limit */
    if (st)
        return st;
    WebPAnimDecoderOptions o;
    WebPData data = {bytes, len};
    WebPAnimInfo ai;
    if (!WebPAnimDecoderOptionsInit(&o))
        return tsr_error(r->ctx, TSR_ERR_INTERNAL, "webp: libwebpdemux version mismatch");
    o.color_mode = MODE_RGBA;
    o.use_threads = 0;
    webp_in *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "webp: out of memory");
    r->state = s;
    r->next_frame = next_webp;
    r->close = close_reader;
    if (!(s->dec = WebPAnimDecoderNew(&data, &o)) || !WebPAnimDecoderGetInfo(s->dec, &ai))
        return tsr_error(r->ctx, TSR_ERR_CORRUPT, "webp: cannot open the animation");
    if ((int)ai.canvas_width != still.width || (int)ai.canvas_height != still.height ||
        (int)ai.frame_count != still.frames)
        return tsr_error(r->ctx, TSR_ERR_CORRUPT, "webp: the animation's headers disagree");
    r->info = (tsr_anim_info){.format = TSR_FORMAT_WEBP,
                              .width = still.width,
                              .height = still.height,
                              .bands = still.bands,
                              .frames = still.frames,
                              .loop_count = (int)ai.loop_count};
    return tsr_image_new(r->ctx, still.width, still.height, still.bands, &r->canvas);
}

/* The encoder between frames. */
typedef struct webp_out {
    WebPAnimEncoder *enc; /* libwebpmux's encoder */
    WebPConfig config;    /* every frame's settings */
    int timestamp;        /* start time of the next frame, ms */
    tsr_image *rgb;       /* a gray frame expanded to RGB(A); NULL for colour frames */
} webp_out;

static tsr_status add_webp(tsr_frame_writer *w, const tsr_image *frame, int delay_ms) {
    webp_out *o = w->state;
    const tsr_image *src = frame;
    WebPPicture pic;
    if (o->rgb) { /* WebP has no gray mode */
        for (int y = 0; y < frame->height; y++)
            tsr_codec_convert_row(frame->data + (size_t)y * frame->stride, frame->bands,
                                  o->rgb->data + (size_t)y * o->rgb->stride, o->rgb->bands,
                                  frame->width);
        src = o->rgb;
    }
    if (!WebPPictureInit(&pic))
        return tsr_error(w->ctx, TSR_ERR_INTERNAL, "webp: libwebp version mismatch");
    pic.use_argb = 1;
    pic.width = src->width;
    pic.height = src->height;
    int ok = src->bands == 4 ? WebPPictureImportRGBA(&pic, src->data, (int)src->stride)
                             : WebPPictureImportRGB(&pic, src->data, (int)src->stride);
    tsr_status st = TSR_OK;
    if (!ok)
        st = tsr_error(w->ctx, TSR_ERR_NOMEM, "webp: out of memory importing frame %d",
                       w->frames + 1);
    else if (!WebPAnimEncoderAdd(o->enc, &pic, o->timestamp, &o->config))
        st = tsr_error(w->ctx, TSR_ERR_INTERNAL, "webp: encoding frame %d failed: %s",
                       w->frames + 1, WebPAnimEncoderGetError(o->enc));
    WebPPictureFree(&pic);
    if (!st && o->timestamp > INT32_MAX - delay_ms)
        st = tsr_error(w->ctx, TSR_ERR_USAGE, "webp: the animation is longer than 24 days");
    if (!st)
        o->timestamp += delay_ms;
    return st;
}

static tsr_status finish_webp(tsr_frame_writer *w, tsr_buffer *out) {
    webp_out *o = w->state;
    WebPData data;
    WebPDataInit(&data);
    if (!WebPAnimEncoderAdd(o->enc, NULL, o->timestamp, NULL) ||
        !WebPAnimEncoderAssemble(o->enc, &data))
        return tsr_error(w->ctx, TSR_ERR_INTERNAL, "webp: assembling the animation failed: %s",
                         WebPAnimEncoderGetError(o->enc));
    tsr_status st = tsr_codec_append(w->ctx, out, data.bytes, data.size, "webp");
    WebPDataClear(&data);
    return st;
}

static void close_writer(tsr_frame_writer *w) {
    webp_out *o = w->state;
    if (!o)
        return;
    WebPAnimEncoderDelete(o->enc);
    tsr_image_free(o->rgb);
    free(o);
    w->state = NULL;
}

tsr_status tsr_webp_anim_writer_open(tsr_frame_writer *w) {
    if (w->width > WEBP_MAX_DIMENSION || w->height > WEBP_MAX_DIMENSION)
        return tsr_error(w->ctx, TSR_ERR_USAGE, "webp: %dx%d is larger than WebP's %dx%d", w->width,
                         w->height, WEBP_MAX_DIMENSION, WEBP_MAX_DIMENSION);
    webp_out *o = calloc(1, sizeof *o);
    if (!o)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "webp: out of memory");
    w->state = o;
    w->add = add_webp, w->finish = finish_webp, w->close = close_writer;
    WebPAnimEncoderOptions eo;
    if (!WebPAnimEncoderOptionsInit(&eo) || !WebPConfigInit(&o->config))
        return tsr_error(w->ctx, TSR_ERR_INTERNAL, "webp: libwebpmux version mismatch");
    eo.anim_params.loop_count = w->loop_count; /* plays, 0 = forever */
    eo.anim_params.bgcolor = 0;                /* transparent black; players ignore it anyway */
    o->config.quality = (float)(w->opts.quality > 0 ? w->opts.quality : 85);
    o->config.lossless = w->opts.lossless ? 1 : 0;
    o->config.exact = w->opts.lossless ? 1 : 0; /* keep RGB under transparent pixels */
    if (!(o->enc = WebPAnimEncoderNew(w->width, w->height, &eo)))
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "webp: cannot start the animation encoder");
    if (w->bands < 3)
        return tsr_image_new(w->ctx, w->width, w->height, w->bands + 2, &o->rgb);
    return TSR_OK;
}
