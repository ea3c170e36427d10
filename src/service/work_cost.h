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

/* The work of one image, in units. */
typedef struct tsr_work_cost {
    double decode;  /* decoding its input rows */
    double compute; /* all its tiles */
    double encode;  /* encoding its output rows */
} tsr_work_cost;

/* The cost of an image whose input (`in_format`, "jpeg", "png", ...) decodes
 * to `in_pixels`, whose plan has `tiles` tiles of side `tile` (0 = default)
 * run on `threads` threads (< 1 = 1), and whose output is `out_pixels` in
 * `out_format`. Unknown formats cost like PNG. */
tsr_work_cost tsr_work_cost_of(const char *in_format, uint64_t in_pixels, int64_t tiles, int tile,
                               int threads, const char *out_format, uint64_t out_pixels);

/* Total units of `c`. */
double tsr_work_cost_total(const tsr_work_cost *c);

/* Units done of `c` when `rows_read` of `in_h` input rows are decoded,
 * `tiles_done` of `tiles` computed and `rows_written` of `out_h` output rows
 * encoded; never more than the total. */
double tsr_work_cost_done(const tsr_work_cost *c, int rows_read, int in_h, int64_t tiles_done,
                          int64_t tiles, int rows_written, int out_h);

#endif
