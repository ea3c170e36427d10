/* Private interface of the multi-resolution writers: the 2x2 box halver
 * (halve.c) that both the pyramidal TIFF writer (tiff_pyramid.c) and the
 * Deep Zoom writer (dzi.c, dzi_sink.c) feed with rows, and the openers the
 * row writers dispatch to (stream_writer.c). Design: docs/internals/pyramid.md. */
#ifndef TESSERA_PYRAMID_INTERNAL_H
#define TESSERA_PYRAMID_INTERNAL_H

#include "stream_internal.h"

#define TSR_PYRAMID_MAX_LEVELS 40 /* levels of a 2^31 px side, with room */

/* The side of the next level: half, rounded up (an odd last column or row
 * is averaged with itself, as if the edge were copied). */
static inline int tsr_halve_side(int side) {
    return side / 2 + side % 2;
}

/* Receives row `y` of reduced level `level` (1 = half size): width x bands
 * bytes, valid during the call. A failure stops the halver. */
typedef tsr_status (*tsr_halver_emit)(void *user, int level, int y, const uint8_t *row);

/* Builds `levels` reduced levels of a width x height x bands image from its
 * rows, top to bottom. Each output pixel is the rounded mean of its 2x2
 * block ((a + b + c + d + 2) >> 2) with the edge copied at odd sides.
 * Memory: one row per level (about twice a level-0 row in all). */
typedef struct tsr_halver tsr_halver;

/* The caller frees *out with tsr_halver_free. */
tsr_status tsr_halver_new(tsr_ctx *ctx, int width, int height, int bands, int levels,
                          tsr_halver_emit emit, void *user, tsr_halver **out);
/* Takes the next level-0 row; emits the reduced rows it completes (an odd
 * last row is reduced on arrival). Returns the first emit failure. */
tsr_status tsr_halver_push(tsr_halver *h, const uint8_t *row);
void tsr_halver_free(tsr_halver *h);

/* Opens the pyramidal TIFF writer (w->opts.layout == TSR_LAYOUT_PYRAMID). */
tsr_status tsr_tiff_pyramid_writer_open(tsr_row_writer *w);
/* Opens the Deep Zoom writer (w->opts.layout == TSR_LAYOUT_DZI): a folder
 * beside w->path, or one zip through w->fd for a direct writer. */
tsr_status tsr_dzi_writer_open(tsr_row_writer *w);

/* Where the Deep Zoom writer puts its files. */
typedef struct tsr_dzi_sink tsr_dzi_sink;
/* A folder sink for `dzi_path` (NAME.dzi): NAME_files/ is built as a
 * temporary folder, synced and renamed into place at commit, which then
 * writes the XML into `fd` (borrowed: the row writer's temporary file,
 * renamed to NAME.dzi after). An existing NAME_files/ is an error (as vips
 * dzsave), not overwritten. */
tsr_status tsr_dzi_sink_dir(tsr_ctx *ctx, const char *dzi_path, int fd, tsr_dzi_sink **out);
/* A zip sink: a stored (uncompressed) zip written through `fd` from its
 * current offset, entries NAME.dzi and NAME_files/..., ZIP64 when large. */
tsr_status tsr_dzi_sink_zip(tsr_ctx *ctx, int fd, const char *name, tsr_dzi_sink **out);
/* Stores `n` bytes as `rel`, a path under NAME_files/ ("12/3_4.jpg"). */
tsr_status tsr_dzi_sink_tile(tsr_dzi_sink *s, const char *rel, const void *bytes, size_t n);
/* Stores the XML descriptor and completes the output. */
tsr_status tsr_dzi_sink_commit(tsr_dzi_sink *s, const char *xml, size_t n);
/* Frees the sink; an uncommitted folder output is removed. */
void tsr_dzi_sink_free(tsr_dzi_sink *s);

#endif
