/* 8-bit images, rectangles and regions (views into part of an image). */
#ifndef TESSERA_IMAGE_H
#define TESSERA_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_MAX_BANDS 4

/* A rectangle in image coordinates: columns [x, x+w), rows [y, y+h). */
typedef struct tsr_rect {
    int x; /* left column */
    int y; /* top row */
    int w; /* width in pixels, >= 0 */
    int h; /* height in pixels, >= 0 */
} tsr_rect;

/* An owned 8-bit image, bands interleaved (gray, gray+alpha, RGB, RGBA). */
typedef struct tsr_image {
    int width;     /* columns */
    int height;    /* rows */
    int bands;     /* 1..4 */
    size_t stride; /* bytes from one row to the next */
    uint8_t *data; /* width*bands bytes per row; owned by the image */
} tsr_image;

/*
 * A borrowed view of the pixels of `rect` in some image. `data` points at
 * pixel (rect.x, rect.y); pixel (x, y) in image coordinates is at
 * data + (y - rect.y) * stride + (x - rect.x) * bands.
 */
typedef struct tsr_region {
    tsr_rect rect; /* the pixels this view covers, in image coordinates */
    int bands;     /* bands per pixel */
    size_t stride; /* bytes between rows */
    uint8_t *data; /* pixel (rect.x, rect.y); borrowed */
    int image_w;   /* width of the whole image the rect lies in */
    int image_h;   /* height of the whole image the rect lies in */
} tsr_region;

/* Address of image-coordinate pixel (x, y) inside region `r`. */
#define TSR_REGION_AT(reg, px, py)                                                                 \
    ((reg)->data + (size_t)((py) - (reg)->rect.y) * (reg)->stride +                                \
     (size_t)((px) - (reg)->rect.x) * (size_t)(reg)->bands)

/* Allocates a zeroed image; checks the allocation cap of `ctx`.
 * The caller must free the returned image with tsr_image_free. */
tsr_status tsr_image_new(tsr_ctx *ctx, int width, int height, int bands, tsr_image **out);
/* The same without zeroing: the pixels are undefined (a reused buffer may
 * hold an earlier image of this process), so only for an image the caller
 * writes in full before anything reads it, such as a stage's output that
 * its tiles cover. Saves a pass over the buffer. */
tsr_status tsr_image_new_overwritten(tsr_ctx *ctx, int width, int height, int bands,
                                     tsr_image **out);
void tsr_image_free(tsr_image *image);
/* A deep copy. The caller frees it. */
tsr_status tsr_image_copy(tsr_ctx *ctx, const tsr_image *src, tsr_image **out);
/* A region viewing `rect` of `image` (rect must lie inside the image). */
tsr_region tsr_image_region(const tsr_image *image, tsr_rect rect);
/* Copies the pixels of src's rect ∩ dst's rect from src into dst (same bands). */
void tsr_region_copy(const tsr_region *src, tsr_region *dst);

/* Rectangle helpers. */
tsr_rect tsr_rect_make(int x, int y, int w, int h);
tsr_rect tsr_rect_intersect(tsr_rect a, tsr_rect b);
tsr_rect tsr_rect_union(tsr_rect a, tsr_rect b); /* bounding box; empty inputs ignored */
bool tsr_rect_empty(tsr_rect r);
bool tsr_rect_contains(tsr_rect outer, tsr_rect inner);
/* Grows r by `left/top/right/bottom` pixels then clips to [0,w) x [0,h). */
tsr_rect tsr_rect_grow_clip(tsr_rect r, int left, int top, int right, int bottom, int w, int h);

/* A byte buffer that grows up to a cap; used by encoders and readers. */
typedef struct tsr_buffer {
    uint8_t *data; /* owned bytes */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
    size_t max;    /* growth cap; 0 = 4 GiB */
} tsr_buffer;

/* Appends n bytes; TSR_ERR_LIMIT past `max`, TSR_ERR_NOMEM on failure. */
tsr_status tsr_buffer_append(tsr_buffer *buf, const void *bytes, size_t n);
/* Ensures room for n more bytes. */
tsr_status tsr_buffer_reserve(tsr_buffer *buf, size_t n);
void tsr_buffer_free(tsr_buffer *buf);

/* Reads a whole file, refusing files over `max_bytes` (TSR_ERR_LIMIT).
 * The caller frees buf with tsr_buffer_free. */
tsr_status tsr_file_read(tsr_ctx *ctx, const char *path, uint64_t max_bytes, tsr_buffer *buf);
/* Writes a file atomically: temp file in the same folder, fsync, rename.
 * On failure nothing is left at `path`. */
tsr_status tsr_file_write_atomic(tsr_ctx *ctx, const char *path, const void *bytes, size_t n);

#ifdef __cplusplus
}
#endif
#endif
