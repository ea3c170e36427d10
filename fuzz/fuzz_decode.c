/*
 * One decoder, chosen at build time by FUZZ_FORMAT (TSR_FORMAT_PNG, ...):
 * header inspection and full decode under small limits. Inputs that are
 * not of that format are skipped, so each target stays on its decoder.
 * GIF and WebP also go frame by frame (tessera/anim.h): every frame
 * composed, re-encoded as an animation, and the second frame decoded alone.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "tessera/anim.h"
#include "tessera/codec.h"

/* Reads every frame and writes them into an animation of the same format. */
static void frames(tsr_ctx *ctx, const uint8_t *data, size_t size) {
    tsr_frame_reader *r = NULL;
    tsr_frame_writer *w = NULL;
    tsr_anim_info a;
    tsr_buffer out = {0};
    tsr_ctx_reset(ctx);
    if (tsr_frame_reader_open(ctx, data, size, &r, &a))
        return;
    if (tsr_frame_writer_open(ctx, a.format, a.width, a.height, a.bands, a.loop_count, NULL, &w))
        abort(); /* a shape the reader accepts must be writable */
    for (int i = 0; i < a.frames; i++) {
        const tsr_image *frame;
        int delay;
        if (tsr_frame_reader_next(r, &frame, &delay))
            break;
        if (!frame || frame->width != a.width || frame->height != a.height)
            abort();
        if (tsr_frame_writer_add(w, frame, delay))
            break;
    }
    (void)tsr_frame_writer_finish(w, &out);
    tsr_buffer_free(&out);
    tsr_frame_writer_free(w);
    tsr_frame_reader_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (tsr_format_detect(data, size) != FUZZ_FORMAT)
        return 0;
    tsr_ctx *ctx = fuzz_ctx();
    if (!ctx)
        return 0;
    tsr_image_info info;
    (void)tsr_image_info_read(ctx, data, size, &info);
    tsr_ctx_reset(ctx);
    tsr_image *img = NULL;
    tsr_status st = tsr_image_decode(ctx, data, size, NULL, &img, &info);
    if (st == TSR_OK && (!img || img->width < 1 || img->height < 1))
        abort(); /* success must give an image */
    if (st != TSR_OK && img)
        abort(); /* failure must give none */
    tsr_image_free(img);
    if (FUZZ_FORMAT == TSR_FORMAT_JPEG) { /* shrink-on-load path */
        tsr_decode_options opts = {.shrink = 8, .no_autorotate = true};
        tsr_ctx_reset(ctx);
        img = NULL;
        (void)tsr_image_decode(ctx, data, size, &opts, &img, NULL);
        tsr_image_free(img);
    }
    if (FUZZ_FORMAT == TSR_FORMAT_GIF || FUZZ_FORMAT == TSR_FORMAT_WEBP) {
        tsr_decode_options opts = {.frame = 1};
        tsr_ctx_reset(ctx);
        img = NULL;
        if (tsr_image_decode(ctx, data, size, &opts, &img, NULL) == TSR_OK && !img)
            abort();
        tsr_image_free(img);
        frames(ctx, data, size);
    }
    tsr_ctx_free(ctx);
    return 0;
}
