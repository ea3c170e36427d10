/* A small fixed tile batch shared by the task fuzz target and the seed
 * generator: a 64x48 RGB gradient, "gaussian-blur:sigma=2|rotate:angle=10",
 * 16-px tiles, stage 0, every apply tile. */
#ifndef TESSERA_FUZZ_TASK_FIXTURE_H
#define TESSERA_FUZZ_TASK_FIXTURE_H

#include <stdlib.h>

#include "engine/plan_internal.h"
#include "engine/task.h"
#include "tessera/tessera.h"

#define FIXTURE_PIPELINE "gaussian-blur:sigma=2|rotate:angle=10"

typedef struct task_fixture {
    tsr_ctx *ctx;         /* errors of the coordinator side */
    tsr_pipeline *pipe;   /* the parsed pipeline */
    tsr_plan *plan;       /* planned for the image */
    tsr_image *in, *out;  /* stage input and output */
    tsr_region in_r;      /* the whole input */
    tsr_region out_r;     /* the whole output */
    tsr_tile_batch batch; /* every apply tile of stage 0 */
} task_fixture;

static inline void task_fixture_free(task_fixture *f) {
    if (!f)
        return;
    tsr_image_free(f->in);
    tsr_image_free(f->out);
    tsr_plan_free(f->plan);
    tsr_pipeline_free(f->pipe);
    tsr_ctx_free(f->ctx);
    free(f);
}

/* Builds the fixture; NULL on failure. */
static inline task_fixture *task_fixture_new(void) {
    task_fixture *f = calloc(1, sizeof *f);
    int w = 64, h = 48, ow, oh, ob;
    if (!f || !(f->ctx = tsr_ctx_new()) || tsr_pipeline_parse(f->ctx, FIXTURE_PIPELINE, &f->pipe) ||
        tsr_plan_new(f->ctx, f->pipe, w, h, 3, 16, &f->plan) ||
        tsr_image_new(f->ctx, w, h, 3, &f->in))
        goto fail;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w * 3; x++)
            f->in->data[(size_t)y * f->in->stride + (size_t)x] = (uint8_t)(x * 5 + y * 3);
    tsr_plan_output(f->plan, &ow, &oh, &ob);
    if (tsr_plan_stage_count(f->plan) != 1 || tsr_image_new(f->ctx, ow, oh, ob, &f->out))
        goto fail;
    f->in_r = tsr_image_region(f->in, tsr_rect_make(0, 0, w, h));
    f->out_r = tsr_image_region(f->out, tsr_rect_make(0, 0, ow, oh));
    const tsr_stage *s = &f->plan->stages[0];
    f->batch =
        (tsr_tile_batch){f->ctx,   f->plan,   0,    TSR_TILE_APPLY, 0,    s->tiles_x * s->tiles_y,
                         &f->in_r, &f->out_r, NULL, NULL,           NULL, NULL,
                         NULL,     NULL};
    return f;
fail:
    task_fixture_free(f);
    return NULL;
}

#endif
