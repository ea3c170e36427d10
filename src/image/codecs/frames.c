/* The tessera/anim.h front door: which formats animate, frame readers and
 * writers dispatched to gif_frames.c / gif_write.c and webp_anim.c, with
 * the shape and order checks done once here. */
#include <stdlib.h>
#include <string.h>

#include "frames_internal.h"

bool tsr_format_animates(tsr_format format) {
    return format == TSR_FORMAT_GIF || format == TSR_FORMAT_WEBP;
}

bool tsr_image_info_animated(const tsr_image_info *info) {
    return info && tsr_format_animates(info->format) && info->frames > 1;
}

tsr_status tsr_anim_info_read(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_anim_info *info,
                              int **delays_ms) {
    *delays_ms = NULL;
    tsr_format format = tsr_format_detect(bytes, len);
    if (len > tsr_ctx_limits(ctx)->max_file_bytes || !tsr_format_animates(format))
        return tsr_error(ctx, TSR_ERR_FORMAT, "input: not a GIF or WebP within the byte limit");
    return format == TSR_FORMAT_GIF ? tsr_gif_anim_info(ctx, bytes, len, info, delays_ms)
                                    : tsr_webp_anim_info(ctx, bytes, len, info, delays_ms);
}

tsr_status tsr_frame_reader_open(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                                 tsr_frame_reader **out, tsr_anim_info *info) {
    *out = NULL;
    if (len > tsr_ctx_limits(ctx)->max_file_bytes)
        return tsr_error(ctx, TSR_ERR_LIMIT, "input: %zu bytes is more than the limit of %llu", len,
                         (unsigned long long)tsr_ctx_limits(ctx)->max_file_bytes);
    tsr_format format = tsr_format_detect(bytes, len);
    if (!tsr_format_animates(format))
        return tsr_error(ctx, TSR_ERR_FORMAT, "input: %s holds no animation (only GIF and WebP do)",
                         tsr_format_name(format));
    tsr_frame_reader *r = calloc(1, sizeof *r);
    if (!r)
        return tsr_error(ctx, TSR_ERR_NOMEM, "input: out of memory");
    r->ctx = ctx;
    tsr_status st = format == TSR_FORMAT_GIF ? tsr_gif_frames_open(r, bytes, len)
                                             : tsr_webp_frames_open(r, bytes, len);
    if (st) {
        tsr_frame_reader_free(r);
        return st;
    }
    if (info)
        *info = r->info;
    *out = r;
    return TSR_OK;
}

tsr_status tsr_frame_reader_open_file(tsr_ctx *ctx, const char *path, tsr_frame_reader **out,
                                      tsr_anim_info *info) {
    tsr_buffer buf = {0};
    *out = NULL;
    tsr_status st = tsr_file_read(ctx, path, tsr_ctx_limits(ctx)->max_file_bytes, &buf);
    if (!st)
        st = tsr_frame_reader_open(ctx, buf.data, buf.len, out, info);
    if (st) {
        tsr_buffer_free(&buf);
        return st;
    }
    (*out)->owned = buf; /* the reader's bytes point into it; the struct moves, not the data */
    return TSR_OK;
}

const tsr_anim_info *tsr_frame_reader_info(const tsr_frame_reader *reader) {
    return &reader->info;
}

tsr_status tsr_frame_reader_next(tsr_frame_reader *reader, const tsr_image **frame, int *delay_ms) {
    int delay = 0;
    *frame = NULL;
    if (reader->error)
        return reader->error;
    if (reader->next >= reader->info.frames)
        return reader->error =
                   tsr_error(reader->ctx, TSR_ERR_INTERNAL, "frames: asked for frame %d of %d",
                             reader->next + 1, reader->info.frames);
    if ((reader->error = reader->next_frame(reader, &delay)))
        return reader->error;
    reader->next++;
    *frame = reader->canvas;
    if (delay_ms)
        *delay_ms = delay;
    return TSR_OK;
}

void tsr_frame_reader_free(tsr_frame_reader *reader) {
    if (!reader)
        return;
    if (reader->close)
        reader->close(reader);
    tsr_image_free(reader->canvas);
    tsr_buffer_free(&reader->owned);
    free(reader);
}

tsr_status tsr_frame_decode(tsr_ctx *ctx, const uint8_t *bytes, size_t len, int index,
                            tsr_image **out, tsr_anim_info *info) {
    tsr_frame_reader *r = NULL;
    const tsr_image *frame = NULL;
    *out = NULL;
    tsr_status st = tsr_frame_reader_open(ctx, bytes, len, &r, info);
    if (st)
        return st;
    if (index < 0 || index >= r->info.frames) {
        st = tsr_error(ctx, TSR_ERR_USAGE,
                       "frame %d does not exist: the input has %d frame%s (0..%d)", index,
                       r->info.frames, r->info.frames == 1 ? "" : "s", r->info.frames - 1);
        goto out;
    }
    for (int i = 0; i <= index && !st; i++)
        st = tsr_frame_reader_next(r, &frame, NULL);
    if (!st) {
        *out = r->canvas; /* handed over: the reader is freed next */
        r->canvas = NULL;
    }
out:
    tsr_frame_reader_free(r);
    return st;
}

/* Opens a writer with every field set; `still` for tsr_image_encode. */
static tsr_status writer_open(tsr_ctx *ctx, tsr_format format, int width, int height, int bands,
                              int loop_count, bool still, const tsr_encode_options *opts,
                              tsr_frame_writer **out) {
    static const tsr_encode_options defaults = {.quality = 0, .compression = -1};
    *out = NULL;
    if (!tsr_format_animates(format))
        return tsr_error(ctx, TSR_ERR_FORMAT, "%s holds one frame: animations are GIF or WebP",
                         tsr_format_name(format));
    if (width <= 0 || height <= 0 || bands < 1 || bands > TSR_MAX_BANDS || loop_count < 0 ||
        loop_count > 65535)
        return tsr_error(ctx, TSR_ERR_USAGE, "frames: bad animation shape %dx%dx%d, loop %d", width,
                         height, bands, loop_count);
    tsr_frame_writer *w = calloc(1, sizeof *w);
    if (!w)
        return tsr_error(ctx, TSR_ERR_NOMEM, "frames: out of memory");
    *w = (tsr_frame_writer){.ctx = ctx,
                            .format = format,
                            .width = width,
                            .height = height,
                            .bands = bands,
                            .loop_count = loop_count,
                            .still = still,
                            .opts = opts ? *opts : defaults};
    tsr_status st =
        format == TSR_FORMAT_GIF ? tsr_gif_writer_open(w) : tsr_webp_anim_writer_open(w);
    if (st) {
        tsr_frame_writer_free(w);
        return st;
    }
    *out = w;
    return TSR_OK;
}

tsr_status tsr_frame_writer_open(tsr_ctx *ctx, tsr_format format, int width, int height, int bands,
                                 int loop_count, const tsr_encode_options *opts,
                                 tsr_frame_writer **out) {
    return writer_open(ctx, format, width, height, bands, loop_count, false, opts, out);
}

tsr_status tsr_frame_writer_open_still(tsr_ctx *ctx, tsr_format format, const tsr_image *image,
                                       const tsr_encode_options *opts, tsr_frame_writer **out) {
    return writer_open(ctx, format, image->width, image->height, image->bands, 1, true, opts, out);
}

tsr_status tsr_frame_writer_add(tsr_frame_writer *writer, const tsr_image *frame, int delay_ms) {
    if (writer->error)
        return writer->error;
    if (!frame || frame->width != writer->width || frame->height != writer->height ||
        frame->bands != writer->bands || delay_ms < 0)
        return writer->error =
                   tsr_error(writer->ctx, TSR_ERR_USAGE,
                             "frames: frame %d does not match the animation's %dx%dx%d",
                             writer->frames + 1, writer->width, writer->height, writer->bands);
    if (writer->still && writer->frames == 1)
        return writer->error =
                   tsr_error(writer->ctx, TSR_ERR_INTERNAL, "frames: a still image has one frame");
    if ((writer->error = writer->add(writer, frame, delay_ms)))
        return writer->error;
    writer->frames++;
    return TSR_OK;
}

tsr_status tsr_frame_writer_finish(tsr_frame_writer *writer, tsr_buffer *out) {
    if (writer->error)
        return writer->error;
    if (writer->frames == 0)
        return writer->error =
                   tsr_error(writer->ctx, TSR_ERR_USAGE, "frames: an animation needs a frame");
    return writer->error = writer->finish(writer, out);
}

void tsr_frame_writer_free(tsr_frame_writer *writer) {
    if (!writer)
        return;
    if (writer->close)
        writer->close(writer);
    free(writer);
}

/* `name` in capitals ("JPEG") into `out` (16 bytes). */
static void upper(const char *name, char out[16]) {
    size_t i = 0;
    for (; name[i] && i < 15; i++)
        out[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 'a' + 'A' : name[i]);
    out[i] = '\0';
}

tsr_status tsr_frame_choice_check(tsr_ctx *ctx, const tsr_image_info *info, tsr_format output,
                                  int frame, const char *choose, bool *animate) {
    *animate = false;
    if (frame > 0 && !tsr_format_animates(info->format))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "frame %d: only GIF and WebP inputs have frames to choose from", frame);
    int frames = tsr_format_animates(info->format) ? info->frames : 1;
    if (frame >= frames)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "frame %d does not exist: the input has %d frame%s (0..%d)", frame, frames,
                         frames == 1 ? "" : "s", frames - 1);
    if (frame >= 0 || !tsr_image_info_animated(info))
        return TSR_OK;
    if (tsr_format_animates(output)) {
        *animate = true;
        return TSR_OK;
    }
    char name[16];
    upper(tsr_format_name(output), name);
    return tsr_error(ctx, TSR_ERR_USAGE,
                     "input has %d frames; %s holds one: choose %s (0..%d) or an animated format "
                     "(gif, webp)",
                     frames, name, choose, frames - 1);
}
