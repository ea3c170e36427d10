/*
 * Animated images (GIF, WebP), one frame at a time.
 *
 * A frame reader hands out each frame composed on the full canvas, the way
 * a browser shows it (the previous frames' disposal and each frame's
 * transparency applied), so every frame is an ordinary image a pipeline can
 * run on. A frame writer takes full-canvas frames with their delays and
 * writes an animated file that plays them back (GIF: each frame quantised to
 * its own palette; WebP: libwebp's WebPAnimEncoder, which finds the changed
 * rectangles itself). Memory: one canvas (two for GIF's "restore to
 * previous") while reading, and the encoded output while writing; never
 * every frame decoded at once.
 */
#ifndef TESSERA_ANIM_H
#define TESSERA_ANIM_H

#include "tessera/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What an animated file says about the whole animation. The loop count
 * counts plays, as WebP's loop_count and ImageMagick's "iterations" do
 * (0 = forever); a GIF's NETSCAPE2.0 value counts repeats after the first
 * play, so GIF n is n + 1 plays (n > 0), 0 is forever, and a GIF without
 * the extension plays once (the mapping of libwebp's gif2webp). */
typedef struct tsr_anim_info {
    tsr_format format; /* GIF or WebP */
    int width;         /* canvas width: every frame is this wide */
    int height;        /* canvas height */
    int bands;      /* bands of every composed frame: 3, or 4 when any pixel can be transparent */
    int frames;     /* frame count, >= 1 */
    int loop_count; /* times it plays: 0 = forever (see below) */
} tsr_anim_info;

/* Whether `format` can hold an animation (GIF, WebP). */
bool tsr_format_animates(tsr_format format);

/* Whether a file whose header gave `info` is an animation: a GIF or WebP
 * with more than one frame. A one-frame GIF is a still image. */
bool tsr_image_info_animated(const tsr_image_info *info);

/* How an input whose header gave `info` goes to format `output`, given a
 * frame choice (`frame` >= 0, the frame to take; -1: none made). Sets
 * *animate when every frame is to run into an animation (an animated
 * input, no choice, an animated output format). TSR_ERR_USAGE, with a
 * message naming `choose` (how the caller's user picks a frame, e.g.
 * "--frame N"): an animated input to a one-frame format with no choice
 * ("input has 12 frames; JPEG holds one: choose --frame N (0..11) or an
 * animated format (gif, webp)"), a frame past the last, or a frame above
 * 0 of a format without frames. */
tsr_status tsr_frame_choice_check(tsr_ctx *ctx, const tsr_image_info *info, tsr_format output,
                                  int frame, const char *choose, bool *animate);

/* The animation's facts and each frame's delay in milliseconds
 * (*delays_ms, info->frames entries, freed by the caller with free()),
 * from the headers without decoding any frame; the limits are checked as
 * by tsr_frame_reader_open. A still WebP is one frame of delay 0. */
tsr_status tsr_anim_info_read(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_anim_info *info,
                              int **delays_ms);

typedef struct tsr_frame_reader tsr_frame_reader;

/* Opens an animated GIF or WebP held in `bytes` (borrowed: they must outlive
 * the reader). Checks the byte cap, the canvas size, the frame count
 * (max_frames) and canvas pixels times frames (max_total_pixels) from the
 * headers before any pixel is decoded. `info` may be NULL. Other formats
 * fail with TSR_ERR_FORMAT. The caller frees *out. */
tsr_status tsr_frame_reader_open(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                                 tsr_frame_reader **out, tsr_anim_info *info);
/* The same for the file at `path` (read whole, under the byte cap); the
 * reader owns the bytes. */
tsr_status tsr_frame_reader_open_file(tsr_ctx *ctx, const char *path, tsr_frame_reader **out,
                                      tsr_anim_info *info);
/* The animation's facts (as tsr_frame_reader_open gave them). */
const tsr_anim_info *tsr_frame_reader_info(const tsr_frame_reader *reader);
/* Decodes the next frame. *frame (borrowed) is the composed canvas, valid
 * until the next call or the free; *delay_ms (may be NULL) is how long it
 * shows. TSR_ERR_CORRUPT on bad data, TSR_ERR_INTERNAL past the last frame;
 * errors are sticky. */
tsr_status tsr_frame_reader_next(tsr_frame_reader *reader, const tsr_image **frame, int *delay_ms);
void tsr_frame_reader_free(tsr_frame_reader *reader);

/* Decodes frame `index` (0 = the first) of an animation composed on its
 * canvas, as a still image. The caller frees *out. An index past the last
 * frame is TSR_ERR_USAGE naming the frame count. */
tsr_status tsr_frame_decode(tsr_ctx *ctx, const uint8_t *bytes, size_t len, int index,
                            tsr_image **out, tsr_anim_info *info);

typedef struct tsr_frame_writer tsr_frame_writer;

/* Starts an animation of width x height x bands frames in `format` (GIF or
 * WebP; TSR_ERR_FORMAT otherwise) that plays `loop_count` times (0..65535,
 * as in tsr_anim_info; a GIF that plays once gets no loop extension). `opts` may be NULL (WebP:
 * quality, lossless). The caller frees *out. */
tsr_status tsr_frame_writer_open(tsr_ctx *ctx, tsr_format format, int width, int height, int bands,
                                 int loop_count, const tsr_encode_options *opts,
                                 tsr_frame_writer **out);
/* Appends a frame (borrowed; the writer's size and bands) shown `delay_ms`
 * milliseconds (GIF keeps hundredths of a second, rounded to nearest). */
tsr_status tsr_frame_writer_add(tsr_frame_writer *writer, const tsr_image *frame, int delay_ms);
/* Completes the file and appends it to `out` (the caller's buffer). At
 * least one frame must have been added. */
tsr_status tsr_frame_writer_finish(tsr_frame_writer *writer, tsr_buffer *out);
void tsr_frame_writer_free(tsr_frame_writer *writer);

#ifdef __cplusplus
}
#endif
#endif
