/* Private interface between frames.c (the tessera/anim.h front door) and
 * the per-format frame readers and writers (GIF, WebP). */
#ifndef TESSERA_FRAMES_INTERNAL_H
#define TESSERA_FRAMES_INTERNAL_H

#include "codec_internal.h"
#include "tessera/anim.h"

/* A frame reader. The per-format part lives behind `state`. */
struct tsr_frame_reader {
    tsr_ctx *ctx;       /* where errors go; borrowed */
    tsr_buffer owned;   /* the file's bytes when opened from a path; else empty */
    tsr_anim_info info; /* the animation's facts, checked against the limits */
    int next;           /* index of the next frame */
    tsr_status error;   /* first failure; sticky */
    tsr_image *canvas;  /* the composed frame handed out; owned */
    void *state;        /* per-format decoder state */
    /* Composes the next frame on `canvas` (the caller checked the count). */
    tsr_status (*next_frame)(tsr_frame_reader *r, int *delay_ms);
    /* Frees `state`. */
    void (*close)(tsr_frame_reader *r);
};

/* A frame writer. The per-format part lives behind `state`. */
struct tsr_frame_writer {
    tsr_ctx *ctx;             /* where errors go; borrowed */
    tsr_format format;        /* GIF or WebP */
    int width, height, bands; /* every frame's shape */
    int loop_count;           /* plays, as in tsr_anim_info */
    bool still;               /* one still image (tsr_image_encode): no animation extensions */
    int frames;               /* frames added so far */
    tsr_status error;         /* first failure; sticky */
    tsr_encode_options opts;  /* encoder options, defaulted */
    void *state;              /* per-format encoder state */
    /* Encodes one frame (shape checked by the caller). */
    tsr_status (*add)(tsr_frame_writer *w, const tsr_image *frame, int delay_ms);
    /* Completes the file into `out`. */
    tsr_status (*finish)(tsr_frame_writer *w, tsr_buffer *out);
    /* Frees `state`. */
    void (*close)(tsr_frame_writer *w);
};

/* Per-format openers: read the headers into r->info (and check the limits
 * on them), allocate r->canvas and set next_frame/close/state. `bytes`
 * stay borrowed for the reader's life. */
tsr_status tsr_gif_frames_open(tsr_frame_reader *r, const uint8_t *bytes, size_t len);
tsr_status tsr_webp_frames_open(tsr_frame_reader *r, const uint8_t *bytes, size_t len);
/* Writer openers: set add/finish/close/state for w's fields. */
tsr_status tsr_gif_writer_open(tsr_frame_writer *w);
tsr_status tsr_webp_anim_writer_open(tsr_frame_writer *w);

/* tsr_anim_info_read for a GIF (gif.c). */
tsr_status tsr_gif_anim_info(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_anim_info *info,
                             int **delays_ms);
/* tsr_anim_info_read for a WebP (webp_anim.c). */
tsr_status tsr_webp_anim_info(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_anim_info *info,
                              int **delays_ms);

/* Opens a frame writer for one still image (the still GIF encoder). */
tsr_status tsr_frame_writer_open_still(tsr_ctx *ctx, tsr_format format, const tsr_image *image,
                                       const tsr_encode_options *opts, tsr_frame_writer **out);

#endif
