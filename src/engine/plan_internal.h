/* The plan's layout, shared by the planner, the executors and the runner. */
#ifndef TESSERA_ENGINE_PLAN_INTERNAL_H
#define TESSERA_ENGINE_PLAN_INTERNAL_H

#include "engine/accel.h"
#include "engine/executor.h"

/* A run of fused ops between two GLOBAL ops. */
typedef struct tsr_stage {
    int first;        /* index of its first op in plan->ops (a GLOBAL op, or 0) */
    int count;        /* ops in the stage */
    int in_w, in_h;   /* stage input size */
    int in_bands;     /* stage input bands */
    int out_w, out_h; /* stage output size */
    int out_bands;    /* stage output bands */
    int tile_w;      /* output tile width: the plan's tile side, or whole rows (stage_tile_shape) */
    int tile_h;      /* output tile height, also the height of a band of tiles */
    int tiles_x;     /* output tile columns */
    int tiles_y;     /* output tile rows */
    int map_tiles_x; /* input tile columns for a GLOBAL op's map, 0 when none */
    int map_tiles_y; /* input tile rows for the map */
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

/* Per-worker scratch for fused tiles: two growing buffers reused across
 * tiles, and the device tiles may run on. */
typedef struct tsr_scratch {
    uint8_t *buf[2];        /* ping-pong intermediates */
    size_t size[2];         /* bytes allocated in each */
    const tsr_accel *accel; /* NULL: the CPU only; not owned */
    int on_device;          /* whether the last tile ran on the device */
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
 * gives the same bytes. Stops between ops with TSR_ERR_CANCELLED once
 * `cancel` (may be NULL) is cancelled: a tile of a long fused stage (forty
 * blurs) can take seconds. */
tsr_status tsr_stage_run_tile(const tsr_plan *plan, const tsr_stage *s, const tsr_region *in,
                              const tsr_region *out, int index, tsr_scratch *scratch,
                              const tsr_ctx *cancel);
/* The stage-input rect that output tile `index` of stage `s` reads. */
tsr_rect tsr_stage_tile_input(const tsr_plan *plan, const tsr_stage *s, int index);

#endif
