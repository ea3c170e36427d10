/* State shared by the whole-image runner (run.c) and the row-streaming
 * runner (run_stream.c). */
#ifndef TESSERA_ENGINE_RUN_INTERNAL_H
#define TESSERA_ENGINE_RUN_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/plan_internal.h"

/* Shared state of one batch of tasks. */
typedef struct run_state {
    tsr_ctx *ctx;                  /* errors */
    const tsr_plan *plan;          /* the plan */
    const tsr_stage *stage;        /* current stage */
    const tsr_image *in;           /* stage input */
    tsr_image *out;                /* stage output (apply batches) */
    tsr_region in_region;          /* the available stage input */
    tsr_region out_region;         /* where output tiles go */
    int task_base;                 /* tile index of task 0 (row bands) */
    tsr_scratch *scratch;          /* one per worker */
    uint8_t *partials;             /* map batches: one partial per worker */
    size_t partial_size;           /* bytes per partial */
    const tsr_run_options *opts;   /* progress callback */
    pthread_mutex_t progress_lock; /* serialises the callback */
    atomic_uint_fast64_t done;     /* tasks finished over the whole run */
    struct run_state *parent;      /* reports progress there when set (a band of a
                                      row-streaming run, a stage of a spilling one): the
                                      root's lock and count are used */
} run_state;

/* Task body of apply batches: output tile task_base + task of rs->stage. */
tsr_status tsr_run_apply_task(void *arg, size_t task, int worker);
/* Runs output tile task_base + task of rs->stage from `in` (which covers the
 * tile's input) into rs->out_region on `worker`'s scratch, then reports it
 * with the CPU time since `t0` (thread CPU seconds). Errors name the tile. */
tsr_status tsr_run_tile(run_state *rs, const tsr_region *in, size_t task, int worker, double t0);
/* Runs output tiles [first, first+count) of rs->stage on exec: through its
 * run_tiles when it ships tiles elsewhere, else as local tasks. */
tsr_status tsr_run_apply_tiles(run_state *rs, tsr_executor *exec, int first, int count);
/* A batch of `count` tiles of rs->stage from tile `first`, reading
 * rs->in_region and writing rs->out_region, reporting progress to rs. */
tsr_tile_batch tsr_run_make_batch(run_state *rs, tsr_tile_kind kind, int first, int count);
/* Counts one finished task and calls the progress callbacks. Thread-safe. */
void tsr_run_report(run_state *rs, double cpu_seconds);
/* Adds map tile `in` of GLOBAL op `op` into `partial`: on the device when
 * `accel` takes the op, else (or when the device fails) on the CPU.
 * Returns 1 when the device did it. */
int tsr_run_map_tile(const tsr_accel *accel, const tsr_op *op, const tsr_region *in, void *partial);
/* Reports `seconds` of device wall time to the run's device_done. */
void tsr_run_device_time(run_state *rs, double seconds);
/* Gives each of the n scratches the run's device (opts may be NULL). */
void tsr_run_scratch_accel(tsr_scratch *scratch, int n, const tsr_run_options *opts);
/* After a stage: frees its GLOBAL head's summary and finalize state unless
 * the op describes what it found (tsr_plan_results_json reads them). */
void tsr_run_stage_done(tsr_op *head);
/* Runs fn over n tasks on exec, or inline on this thread when exec is NULL. */
tsr_status tsr_run_tasks(tsr_executor *exec, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg);

/* Row streaming (run_stream.c) and spilling (run_spill.c). */
struct tsr_spill;

/* The run's row reader and writer, counting the rows for opts->rows. */
typedef struct rows_io {
    tsr_ctx *ctx;                /* errors */
    tsr_row_reader *reader;      /* borrowed */
    tsr_row_writer *writer;      /* borrowed */
    const tsr_run_options *opts; /* may be NULL */
    int read;                    /* input rows read (or skipped) so far */
    int written;                 /* output rows written so far */
    pthread_mutex_t *lock;       /* when set, held while counting and reporting: rows are
                                    read on one thread and written on another */
    struct tsr_spill *sink;      /* when set, output rows go to this stage boundary
                                    (borrowed), not to the writer, and are not counted */
} rows_io;

/* Rows whole-image and spilling runs read or write at a time, so that
 * progress moves while they decode and encode. */
#define WHOLE_ROWS_STEP 256

/* Reads the next n input rows, counting them. */
tsr_status tsr_rows_read(rows_io *io, uint8_t *dst, size_t stride, int n);
/* Writes the next n output rows (to io->sink when set), counting them. */
tsr_status tsr_rows_write(rows_io *io, const uint8_t *src, size_t stride, int n);
/* The memory budget of a run on exec (tsr_run_options.memory_budget, or
 * its default); unbounded on a remote executor, which cannot spill. */
uint64_t tsr_run_budget(const tsr_executor *exec, const tsr_run_options *opts);
/* Whether stage s can run by row windows: no GLOBAL head, a tiled plan,
 * bands of output tiles whose input rows advance down the image in a window
 * much smaller than it, and windows and output bands in flight on exec
 * within `budget` bytes. */
int tsr_stage_streams(const tsr_plan *plan, const tsr_stage *s, const tsr_executor *exec,
                      uint64_t budget);
/* Runs stage s (tsr_stage_streams) from io's reader to io's writer or sink
 * by row windows. Progress goes to `parent` when set (a stage of a longer
 * run), else to a count of this run's own. */
tsr_status tsr_run_stream_stage(tsr_ctx *ctx, tsr_plan *plan, const tsr_stage *s, rows_io *io,
                                tsr_executor *exec, const tsr_run_options *opts, run_state *parent);
/* Bytes a whole-image run of the plan holds at its peak: the input, a
 * stage's input and output, a GLOBAL summary. */
uint64_t tsr_plan_whole_bytes(const tsr_plan *plan);
/* Runs the plan through temporary files at its stage boundaries
 * (run_spill.c): the input rows are copied to one (unless the first stage
 * streams by row windows, then its output is), each stage runs tile by tile
 * reading each tile's input rect from the file before it, and the last
 * stage writes bands of output rows in order. Local executors only. */
tsr_status tsr_run_spill(tsr_ctx *ctx, tsr_plan *plan, rows_io *io, tsr_executor *exec,
                         const tsr_run_options *opts);

#endif
