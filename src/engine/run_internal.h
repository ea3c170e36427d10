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
                                      row-streaming run); its lock and count are used */
} run_state;

/* Task body of apply batches: output tile task_base + task of rs->stage. */
tsr_status tsr_run_apply_task(void *arg, size_t task, int worker);
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
/* Runs fn over n tasks on exec, or inline on this thread when exec is NULL. */
tsr_status tsr_run_tasks(tsr_executor *exec, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg);

#endif
