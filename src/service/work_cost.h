/*
 * How much work one image of a job is, in work units (one unit = one
 * second of wall time on the reference machine), so that a job's percent
 * and ETA count decoding, compute and encoding in proportion to their
 * cost. Decoding and encoding run on one thread; tiles on all the
 * executor's threads, so their core-seconds are divided by its threads. The per-format and per-tile
 * constants were measured with bench/progress_costs.py; docs/internals/jobs.md has the table and
 * how.
 */
#ifndef TESSERA_SERVICE_WORK_COST_H
#define TESSERA_SERVICE_WORK_COST_H

#include <stdint.h>

#include "tessera/tessera.h"

/* The work of one image, in units. */
typedef struct tsr_work_cost {
    double decode;  /* decoding its input rows */
    double compute; /* all its tiles */
    double encode;  /* encoding its output rows */
} tsr_work_cost;

/* What the cost of one image depends on. Pointers are borrowed. */
typedef struct tsr_work_image {
    const char *in_format;    /* "jpeg", "png", ...; unknown formats cost like PNG */
    int in_w, in_h;           /* decoded size (after shrink-on-load) */
    const tsr_pipeline *pipe; /* its ops, each weighed by its measured cost per tile */
    int tile;                 /* tile side; 0 = TSR_DEFAULT_TILE */
    int threads;              /* threads running the tiles; < 1 = 1 */
    const char *out_format;   /* output format name */
    uint64_t out_pixels;      /* output pixels */
} tsr_work_image;

/* The work units of image `im`: decode, every op of the pipeline over the
 * input's tile grid, encode. */
tsr_work_cost tsr_work_cost_of(const tsr_work_image *im);

/* Total units of `c`. */
double tsr_work_cost_total(const tsr_work_cost *c);

/* Units done of `c` when `rows_read` of `in_h` input rows are decoded,
 * `tiles_done` of `tiles` computed and `rows_written` of `out_h` output rows
 * encoded; never more than the total. */
double tsr_work_cost_done(const tsr_work_cost *c, int rows_read, int in_h, int64_t tiles_done,
                          int64_t tiles, int rows_written, int out_h);

#endif
