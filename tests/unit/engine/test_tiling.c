/*
 * The tiling invariant: output bytes never depend on tile size or thread
 * count. Random pipelines over every registered op, random tile sizes
 * (16 px .. whole image) and thread counts, compared with the single-tile
 * reference run; median's windows up to 99 (halos larger than tiles). TSR_SEED picks another
 * sequence; TSR_ITERATIONS more cases.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tessera/tessera.h"

#include "random_steps.h"

static int n_checked;

static void check_one(tsr_ctx *ctx, tsr_executor **pools, const tsr_image *in, const char *text) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p)) {
        fprintf(stderr, "pipeline '%s' rejected: %s\n", text, tsr_ctx_message(ctx));
        CHECK(0);
        return;
    }
    tsr_image *ref = NULL;
    tsr_status st = tsr_pipeline_run_reference(ctx, p, in, &ref);
    if (st == TSR_ERR_USAGE) { /* e.g. a crop outside a shrunk image: fine */
        tsr_pipeline_free(p);
        return;
    }
    CHECK_EQ_INT(st, TSR_OK);
    static const int tiles[] = {16, 17, 23, 32, 37, 64, 100, 65536};
    for (int k = 0; k < 3 && ref; k++) {
        int tile = tiles[rnd(8)];
        int pool = (int)rnd(4);
        tsr_run_options opts = {.tile_size = tile};
        tsr_image *out = NULL;
        tsr_ctx_reset(ctx);
        st = tsr_pipeline_run(ctx, p, in, pools[pool], &opts, &out);
        CHECK_EQ_INT(st, TSR_OK);
        if (out && !same_image(ref, out)) {
            fprintf(stderr, "tiling changed the output: '%s' bands %d tile %d threads %d\n", text,
                    in->bands, tile, pool + 1);
            CHECK(0);
        }
        n_checked++;
        tsr_image_free(out);
    }
    tsr_image_free(ref);
    tsr_pipeline_free(p);
}

/* Every op alone, on every band count. */
static void test_each_op_alone(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *pools[4] = {0};
    for (int i = 0; i < 4; i++)
        tsr_executor_local_new(ctx, i + 1, &pools[i]);
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *in = load_input(ctx, bands);
        CHECK(in != NULL);
        if (!in)
            break;
        for (int c = 0; c < N_CANDIDATES; c++) {
            char step[256];
            if (random_step(candidates[c], step, sizeof step))
                check_one(ctx, pools, in, step);
        }
        tsr_image_free(in);
    }
    for (int i = 0; i < 4; i++)
        tsr_executor_free(pools[i]);
    tsr_ctx_free(ctx);
}

/* Checks each of `steps` `reps` times on every band count, on pools of
 * 1..4 threads. */
static void check_steps(const char *const *steps, size_t n, int reps) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *pools[4] = {0};
    for (int i = 0; i < 4; i++)
        tsr_executor_local_new(ctx, i + 1, &pools[i]);
    for (int bands = 1; bands <= 4; bands++) {
        tsr_image *in = load_input(ctx, bands);
        CHECK(in != NULL);
        for (size_t i = 0; in && i < n; i++)
            for (int rep = 0; rep < reps; rep++)
                check_one(ctx, pools, in, steps[i]);
        tsr_image_free(in);
    }
    for (int i = 0; i < 4; i++)
        tsr_executor_free(pools[i]);
    tsr_ctx_free(ctx);
}

/* median's large windows (halo up to 49, more than the smallest tiles
 * and, fused with other stencils, than the 97x83 input), alone and in
 * stages with other stencils, on every band count. random_steps.h keeps
 * median at 3 and 5, which the OpenCL tests expect on the device. */
static void test_median_large_halos(void) {
    static const char *const steps[] = {
        "median:ksize=7",
        "median:ksize=9",
        "median:ksize=15",
        "median:ksize=31",
        "median:ksize=51",
        "median:ksize=75",
        "median:ksize=99",
        "gaussian-blur:sigma=3|median:ksize=99|median:ksize=3",
        "median:ksize=51|box-blur:ksize=21|median:ksize=11",
        "rotate:angle=20|median:ksize=41|equalize|median:ksize=9",
    };
    check_steps(steps, sizeof steps / sizeof steps[0], 1);
}

/* A crop inside a stage is a view of the pixels before it (crop.c's
 * view()), not a copy: crops first, between stencils, in a row and last,
 * so the next op's scratch buffer is never the one the view reads. */
static void test_crop_views(void) {
    static const char *const steps[] = {
        "crop:x=3,y=5,width=60,height=50|gaussian-blur:sigma=2",
        "invert|crop:x=7,y=2,width=70|sharpen|brightness:delta=9",
        "gaussian-blur|crop:x=1,y=1|crop:x=2,y=3|median:ksize=5|invert",
        "sharpen|crop:x=9,y=9,width=40,height=30",
        "invert|crop:x=5,y=5|rotate:angle=30|invert",
        "sharpen|crop:x=3,y=2|resize:scale=0.7,interp=cubic|gamma:gamma=0.8",
        "crop:x=4,y=4|rotate:angle=30|crop:x=5,y=6,width=50,height=40|box-blur:ksize=9",
        "crop:x=10,y=8|resize:scale=0.9,interp=linear|convolve:kernel=-1 -1 -1 -1 16 -1 -1 -1 -1",
    };
    check_steps(steps, sizeof steps / sizeof steps[0], 3);
}

/* Random chains of 2..5 ops. */
static void test_random_pipelines(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *pools[4] = {0};
    for (int i = 0; i < 4; i++)
        tsr_executor_local_new(ctx, i + 1, &pools[i]);
    int iterations = getenv("TSR_ITERATIONS") ? atoi(getenv("TSR_ITERATIONS")) : 120;
    tsr_image *inputs[4] = {0};
    for (int b = 0; b < 4; b++)
        inputs[b] = load_input(ctx, b + 1);
    for (int it = 0; it < iterations && inputs[0]; it++) {
        char text[2048] = "";
        int n = 2 + (int)rnd(4), have = 0;
        for (int k = 0; k < n; k++) {
            char step[256];
            if (!random_step(candidates[rnd(N_CANDIDATES)], step, sizeof step))
                continue;
            if (have++)
                strcat(text, "|");
            strcat(text, step);
        }
        if (have)
            check_one(ctx, pools, inputs[rnd(4)], text);
    }
    for (int b = 0; b < 4; b++)
        tsr_image_free(inputs[b]);
    for (int i = 0; i < 4; i++)
        tsr_executor_free(pools[i]);
    tsr_ctx_free(ctx);
    printf("     %d tiled runs compared with the reference\n", n_checked);
}

static uint64_t last_done, last_total, calls;
static void on_progress(void *user, uint64_t done, uint64_t total) {
    (void)user;
    last_done = done;
    last_total = total;
    calls++;
}

static void test_progress_and_cancel(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *pool = NULL;
    tsr_executor_local_new(ctx, 3, &pool);
    tsr_image *in = load_input(ctx, 3);
    tsr_pipeline *p = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, "invert|invert", &p), TSR_OK);
    tsr_plan *plan = NULL;
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, 16, &plan), TSR_OK);
    /* a stage of point ops only: tiles of whole rows, about 16x16 pixels
     * each but at least 16/4 rows */
    int rows = 16 * 16 / in->width < 4 ? 4 : 16 * 16 / in->width;
    uint64_t tiles = (uint64_t)((in->height + rows - 1) / rows);
    CHECK_EQ_INT(tsr_plan_task_count(plan), tiles);
    tsr_run_options opts = {.tile_size = 16, .progress = on_progress};
    tsr_image *out = NULL;
    CHECK_EQ_INT(tsr_plan_run(ctx, plan, in, pool, &opts, &out), TSR_OK);
    CHECK(last_done == tiles && last_total == tiles && calls == tiles);
    CHECK(out && same_image(in, out));
    tsr_image_free(out);
    out = NULL;
    tsr_ctx_cancel(ctx);
    CHECK_EQ_INT(tsr_plan_run(ctx, plan, in, pool, &opts, &out), TSR_ERR_CANCELLED);
    CHECK(out == NULL);
    tsr_ctx_reset(ctx);
    tsr_plan_free(plan);
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, 8, &plan), TSR_ERR_USAGE);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
    /* any other stage: square tiles */
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, "invert|sharpen", &p), TSR_OK);
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, 16, &plan), TSR_OK);
    CHECK_EQ_INT(tsr_plan_task_count(plan), 7 * 6);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
    tsr_image_free(in);
    tsr_executor_free(pool);
    tsr_ctx_free(ctx);
}

int main(void) {
    if (getenv("TSR_SEED"))
        rng_state = strtoull(getenv("TSR_SEED"), NULL, 10) | 1;
    RUN(test_each_op_alone);
    RUN(test_median_large_halos);
    RUN(test_crop_views);
    RUN(test_random_pipelines);
    RUN(test_progress_and_cancel);
    return check_finish();
}
