/* Shared by gif.c (header walk, still decode and encode), gif_frames.c
 * (frame by frame composition) and gif_write.c (quantising writer). */
#ifndef TESSERA_GIF_INTERNAL_H
#define TESSERA_GIF_INTERNAL_H

#include <gif_lib.h>

#include "frames_internal.h"

/* A read cursor over the input bytes for giflib's callback. */
typedef struct tsr_gif_cursor {
    const uint8_t *bytes; /* the whole file */
    size_t len;           /* its length */
    size_t pos;           /* next byte to hand out */
} tsr_gif_cursor;

/* What walking every record of a GIF found (without decoding any frame). */
typedef struct tsr_gif_facts {
    int width, height; /* logical screen (the first frame's extent when it declares none) */
    int bands;         /* 4 when any composed pixel can be transparent, else 3 */
    int frames;        /* image descriptors */
    int loop_count;    /* plays, as in tsr_anim_info (NETSCAPE2.0 repeats + 1; 1 without) */
    int bit_depth;     /* bits of the global colour table (8 without one) */
    bool want_delays;  /* set before the scan: collect `delays` */
    int *delays;       /* each frame's delay in ms when want_delays; owned, free() */
} tsr_gif_facts;

/* giflib's read callback over a tsr_gif_cursor in UserData. */
int tsr_gif_read(GifFileType *g, GifByteType *dst, int n);

/* Records giflib error `code` while `doing` something; NOMEM or CORRUPT. */
tsr_status tsr_gif_fail(tsr_ctx *ctx, int code, const char *doing);

/* Walks every record of the GIF in `bytes`: screen, frames (each checked
 * against the dimension limits, their count against max_frames and the
 * canvas pixels of all frames against max_total_pixels as they are
 * counted), transparency and disposal (for the bands), loop count. */
tsr_status tsr_gif_scan(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_gif_facts *facts);

#endif
