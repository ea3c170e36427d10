/* The plan's layout, shared by the planner, the executors and the runner. */
#ifndef TESSERA_ENGINE_PLAN_INTERNAL_H
#define TESSERA_ENGINE_PLAN_INTERNAL_H

#include "tessera/engine.h"

/* A run of fused ops between two GLOBAL ops. */
typedef struct tsr_stage {
    int first;        /* index of its first op in plan->ops (a GLOBAL op, or 0) */
    int count;        /* ops in the stage */
    int in_w, in_h;   /* stage input size */
    int in_bands;     /* stage input bands */
    int out_w, out_h; /* stage output size */
    int out_bands;    /* stage output bands */
    int tiles_x;      /* output tile columns */
    int tiles_y;      /* output tile rows */
    int map_tiles_x;  /* input tile columns for a GLOBAL op's map, 0 when none */
    int map_tiles_y;  /* input tile rows for the map */
} tsr_stage;

struct tsr_plan {
    int n_ops;         /* ops after expansion */
    tsr_op *ops;       /* owned, prepared */
    int n_stages;      /* stages */
    tsr_stage *stages; /* owned */
    int tile;          /* tile side; -1 = one tile per stage */
    uint64_t tasks;    /* map + apply tasks of one run */
    char *pipeline;    /* owned: normalized JSON of the source pipeline (remote workers re-plan) */
    int in_w, in_h;    /* the plan's input size */
    int in_bands;      /* the plan's input bands */
};

/* Per-worker scratch for fused tiles: two growing buffers reused across tiles. */
typedef struct tsr_scratch {
    uint8_t *buf[2]; /* ping-pong intermediates */
    size_t size[2];  /* bytes allocated in each */
} tsr_scratch;

void tsr_scratch_release(tsr_scratch *s);

/* Output rect of apply tile `index` of stage `s`. */
tsr_rect tsr_stage_tile_rect(const tsr_plan *plan, const tsr_stage *s, int index);
/* Input rect of map tile `index` of stage `s`. */
tsr_rect tsr_stage_map_rect(const tsr_plan *plan, const tsr_stage *s, int index);

/* Computes one output tile of stage `s`: walks the ops backwards to find the
 * input rect, then runs them forwards through scratch into `out` (the stage
 * output; `out` must cover the tile). `in` is the part of the stage input
 * that is available (must cover tsr_stage_tile_input). Pure: the same tile always
 * gives the same bytes. */
tsr_status tsr_stage_run_tile(const tsr_plan *plan, const tsr_stage *s, const tsr_region *in,
                              const tsr_region *out, int index, tsr_scratch *scratch);
/* The stage-input rect that output tile `index` of stage `s` reads. */
tsr_rect tsr_stage_tile_input(const tsr_plan *plan, const tsr_stage *s, int index);

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
    void *done_user;                              /* passed to done */
    const char *label; /* names the run in messages ("image 3f2a..."); may be NULL */
} tsr_tile_batch;

typedef struct tsr_executor_vtable {
    /* Runs n tasks of fn in this process (thread pools). */
    tsr_status (*run)(tsr_executor *exec, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg);
    void (*destroy)(tsr_executor *exec);
    /* Optional: runs a batch of tile tasks elsewhere. When set, the engine
     * hands every tile batch to it instead of calling run(). */
    tsr_status (*run_tiles)(tsr_executor *exec, const tsr_tile_batch *batch);
} tsr_executor_vtable;

struct tsr_executor {
    const tsr_executor_vtable *vt; /* implementation */
    int threads;                   /* workers, >= 1 */
};

#endif
