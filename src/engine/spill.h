/* A stage boundary on disk: an uncompressed image in a temporary file, which
 * the spilling runner (run_spill.c) writes band by band and reads back one
 * tile's input rect at a time. Private to the engine. */
#ifndef TESSERA_ENGINE_SPILL_H
#define TESSERA_ENGINE_SPILL_H

#include "tessera/image.h"

/* One temporary image file: the part `stored` of an image_w x image_h
 * image (all of it, or only what the next stage reads). Rows are
 * stored.w * bands bytes, top to bottom, with no header. */
typedef struct tsr_spill {
    int fd;               /* the file, unlinked at once: nothing names it */
    tsr_rect stored;      /* the part of the image it holds */
    int image_w, image_h; /* the whole image's size */
    int bands;            /* image bands */
    size_t stride;        /* bytes per stored row */
    int rows;             /* rows written so far (tsr_spill_append) */
} tsr_spill;

/* Creates an empty file for part `stored` of an image_w x image_h x bands
 * image in $TMPDIR (else /tmp), unlinked at once, with its space reserved
 * where the file system can (so a full disk fails here, naming the folder
 * and the size). The caller frees *out with tsr_spill_free. */
tsr_status tsr_spill_new(tsr_ctx *ctx, tsr_rect stored, int image_w, int image_h, int bands,
                         tsr_spill **out);
/* Appends `n` rows of the stored part (row i's first stored pixel at
 * src + i*stride) after the rows already written. */
tsr_status tsr_spill_append(tsr_spill *spill, tsr_ctx *ctx, const uint8_t *src, size_t stride,
                            int n);
/* Reads rect `r` (inside the stored part) into dst (row i at dst + i*stride).
 * Thread-safe (pread): tiles read their inputs at once. */
tsr_status tsr_spill_read(const tsr_spill *spill, tsr_ctx *ctx, tsr_rect r, uint8_t *dst,
                          size_t stride);
/* Closes the file (its space goes back at once). Accepts NULL. */
void tsr_spill_free(tsr_spill *spill);

#endif
