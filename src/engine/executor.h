/*
 * The executor interface: what the engine asks of whoever runs its tasks.
 *
 * The local thread pool (executor_local.c) runs tasks in this process; an
 * executor that ships tiles elsewhere (the Redis fleet, src/fleet/) also
 * implements run_tiles and receives whole tile batches, which it encodes
 * with engine/task.h. This header and engine/task.h are all such an
 * executor sees of the engine: the plan's layout stays private to it.
 */
#ifndef TESSERA_ENGINE_EXECUTOR_H
#define TESSERA_ENGINE_EXECUTOR_H

#include "tessera/engine.h"

/* Executor interface: run `n` tasks of fn(arg, task, worker) on the
 * executor's workers, returning the first failure. `worker` is in
 * [0, threads). Progress is reported by the caller through fn. */
typedef tsr_status (*tsr_task_fn)(void *arg, size_t task, int worker);

/* A batch of tile tasks of one stage: what an executor that runs tiles
 * elsewhere (remote workers) needs to ship them (see engine/task.h). */
typedef enum tsr_tile_kind {
    TSR_TILE_APPLY, /* output tiles of the stage */
    TSR_TILE_MAP    /* input tiles for the stage's GLOBAL op reduction */
} tsr_tile_kind;

typedef struct tsr_tile_batch {
    tsr_ctx *ctx;          /* errors and cancellation */
    const tsr_plan *plan;  /* the plan */
    int stage;             /* index into plan->stages */
    tsr_tile_kind kind;    /* apply or map */
    int first;             /* first tile index */
    int count;             /* tiles in the batch */
    const tsr_region *in;  /* the available stage input (covers every tile's input) */
    const tsr_region *out; /* APPLY: where output tiles are written */
    void *acc;             /* MAP: the summary each tile's partial is merged into */
    void (*done)(void *user, double cpu_seconds); /* called once per finished tile */
    void *done_user;                              /* passed to done and moved */
    void (*moved)(void *user, uint64_t bytes);    /* may be NULL: network bytes of the
                                                     batch's tasks and results */
    const char *label; /* names the run in messages ("image 3f2a..."); may be NULL */
    void (*device)(void *user, double seconds); /* may be NULL: a tile's time on a
                                                   worker's accelerator */
} tsr_tile_batch;

typedef struct tsr_executor_vtable {
    /* Runs n tasks of fn in this process (thread pools). */
    tsr_status (*run)(tsr_executor *exec, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg);
    void (*destroy)(tsr_executor *exec);
    /* Optional: runs a batch of tile tasks elsewhere. When set, the engine
     * hands every tile batch to it instead of calling run(). */
    tsr_status (*run_tiles)(tsr_executor *exec, const tsr_tile_batch *batch);
} tsr_executor_vtable;

/* Runs fn over tasks 0..n-1 on the calling thread, in order, as worker 0,
 * stopping at the first failure or when ctx is cancelled. For executors
 * whose run() has no threads of its own (one that ships tiles elsewhere). */
tsr_status tsr_executor_run_inline(tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg);

struct tsr_executor {
    const tsr_executor_vtable *vt; /* implementation */
    int threads;                   /* workers, >= 1 */
};

#endif
