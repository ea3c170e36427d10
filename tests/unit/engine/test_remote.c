/*
 * The remote-execution contract without a broker: a "loopback" executor
 * ships every tile as an encoded task to a task worker and applies the
 * encoded result, in a scrambled order and with duplicate deliveries. The
 * output must be byte-identical to the local executor's for pipelines over
 * every op kind; malformed tasks and results must be refused cleanly.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/task.h"
#include "tessera/tessera.h"

typedef struct loopback {
    tsr_executor base;       /* must be first */
    tsr_task_worker *worker; /* runs the tasks */
    int duplicates;          /* deliveries of every task (>= 1) */
    unsigned seed;           /* order scrambling */
    long tasks;              /* tasks shipped */
} loopback;

static tsr_status loop_run(tsr_executor *e, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg) {
    (void)e;
    for (size_t t = 0; t < n; t++) {
        tsr_status st = fn(arg, t, 0);
        if (st)
            return st;
        (void)ctx;
    }
    return TSR_OK;
}

static void loop_destroy(tsr_executor *e) {
    loopback *l = (loopback *)e;
    tsr_task_worker_free(l->worker);
    free(l);
}

static tsr_status loop_run_tiles(tsr_executor *e, const tsr_tile_batch *b) {
    loopback *l = (loopback *)e;
    int *order = malloc(sizeof(int) * (size_t)b->count);
    char *seen = calloc((size_t)b->count, 1);
    tsr_status st = TSR_OK;
    for (int i = 0; i < b->count; i++)
        order[i] = b->first + i;
    for (int i = b->count - 1; i > 0; i--) { /* shuffle */
        l->seed = l->seed * 1103515245u + 12345u;
        int j = (int)(l->seed % (unsigned)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    tsr_ctx *wctx = tsr_ctx_new();
    for (int i = 0; i < b->count && !st; i++) {
        tsr_buffer task = {0}, result = {0};
        st = tsr_task_encode(b, order[i], &task);
        CHECK_EQ_INT(tsr_task_tile_of(task.data, task.len), order[i]);
        for (int d = 0; d < l->duplicates && !st; d++) {
            result.len = 0;
            tsr_ctx_reset(wctx);
            st = tsr_task_execute(l->worker, wctx, task.data, task.len, &result);
            if (st) {
                fprintf(stderr, "worker: %s\n", tsr_ctx_message(wctx));
                break;
            }
            int tile;
            double cpu, dev;
            /* At-least-once delivery: the first result of a tile wins. */
            if (seen[tsr_task_tile_of(result.data, result.len) - b->first])
                continue;
            st = tsr_task_apply_result(b, result.data, result.len, &tile, &cpu, &dev);
            if (!st) {
                seen[tile - b->first] = 1;
                b->done(b->done_user, cpu);
            }
        }
        l->tasks++;
        tsr_buffer_free(&task);
        tsr_buffer_free(&result);
    }
    tsr_ctx_free(wctx);
    free(order);
    free(seen);
    return st;
}

static const tsr_executor_vtable loop_vt = {loop_run, loop_destroy, loop_run_tiles};

static loopback *loopback_new(int duplicates) {
    loopback *l = calloc(1, sizeof *l);
    l->base.vt = &loop_vt;
    l->base.threads = 1;
    l->duplicates = duplicates;
    l->seed = 7;
    tsr_task_worker_new(NULL, &l->worker);
    return l;
}

static tsr_image *photo(tsr_ctx *ctx, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    tsr_image *img = NULL;
    tsr_image_load(ctx, path, NULL, &img, NULL);
    return img;
}

static int same(const tsr_image *a, const tsr_image *b) {
    return a && b && a->width == b->width && a->height == b->height && a->bands == b->bands &&
           !memcmp(a->data, b->data, a->stride * (size_t)a->height);
}

static const char *const pipelines[] = {
    "invert|brightness:delta=-30|gamma:gamma=1.7",
    "grayscale|gaussian-blur:sigma=2.5|sharpen",
    "median:ksize=5|convolve:kernel=1 2 1 2 4 2 1 2 1,divisor=16|sobel",
    "rotate:angle=33|resize:scale=0.7,interp=lanczos",
    "crop:x=20,y=30,width=200,height=150|flip:axis=both|rotate90",
    "thumbnail:width=120|resize:width=300,interp=area",
    "equalize|threshold-otsu",
    "grayscale|equalize|gaussian-blur:sigma=1|threshold:value=100",
    "canny:low=50,high=150",
    "grayscale|canny|hough-lines:threshold=60,mode=draw",
    "rotate:angle=-12,expand=true|equalize|box-blur:ksize=5",
};

static void check_pipelines(const char *name, int tile, int duplicates) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = photo(ctx, name);
    CHECK(in != NULL);
    tsr_executor *local = NULL;
    tsr_executor_local_new(ctx, 2, &local);
    for (size_t i = 0; in && i < sizeof pipelines / sizeof pipelines[0]; i++) {
        tsr_pipeline *p = NULL;
        tsr_ctx_reset(ctx);
        if (tsr_pipeline_parse(ctx, pipelines[i], &p)) {
            fprintf(stderr, "%s: %s\n", pipelines[i], tsr_ctx_message(ctx));
            CHECK(0);
            continue;
        }
        tsr_run_options opts = {.tile_size = tile};
        tsr_image *want = NULL, *got = NULL;
        CHECK_EQ_INT(tsr_pipeline_run(ctx, p, in, local, &opts, &want), TSR_OK);
        loopback *l = loopback_new(duplicates);
        tsr_ctx_reset(ctx);
        tsr_status st = tsr_pipeline_run(ctx, p, in, &l->base, &opts, &got);
        if (st || !same(want, got)) {
            fprintf(stderr, "remote differs: '%s' on %s, tile %d: %s\n", pipelines[i], name, tile,
                    st ? tsr_ctx_message(ctx) : "bytes differ");
            CHECK(0);
        }
        CHECK(l->tasks > 0);
        tsr_executor_free(&l->base);
        tsr_image_free(want);
        tsr_image_free(got);
        tsr_pipeline_free(p);
    }
    tsr_image_free(in);
    tsr_executor_free(local);
    tsr_ctx_free(ctx);
}

static void test_remote_equals_local(void) {
    check_pipelines("chelsea.png", 64, 1);
    check_pipelines("hubble_deep_field.jpg", 100, 1);
}

static void test_duplicates_and_small_tiles(void) {
    check_pipelines("coffee.png", 37, 2);
}

/* Truncated or garbled tasks and results fail cleanly, never crash. */
static void test_malformed_bytes(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = photo(ctx, "chelsea.png");
    tsr_pipeline *p = NULL;
    tsr_pipeline_parse(ctx, "gaussian-blur:sigma=2|rotate:angle=10", &p);
    tsr_plan *plan = NULL;
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, 64, &plan), TSR_OK);
    tsr_image *out = NULL;
    tsr_image_new(ctx, in->width, in->height, in->bands, &out);
    tsr_region ir = tsr_image_region(in, tsr_rect_make(0, 0, in->width, in->height));
    tsr_region orr = tsr_image_region(out, tsr_rect_make(0, 0, out->width, out->height));
    tsr_tile_batch b = {ctx,  plan, 0,    TSR_TILE_APPLY, 0,    10,   &ir,
                        &orr, NULL, NULL, NULL,           NULL, NULL, NULL};
    tsr_buffer task = {0}, result = {0};
    CHECK_EQ_INT(tsr_task_encode(&b, 3, &task), TSR_OK);
    tsr_task_worker *w = NULL;
    tsr_task_worker_new(ctx, &w);
    int refused = 0;
    for (size_t cut = 0; cut < task.len; cut += task.len / 50 + 1) {
        result.len = 0;
        tsr_ctx_reset(ctx);
        refused += tsr_task_execute(w, ctx, task.data, cut, &result) == TSR_ERR_CORRUPT;
    }
    CHECK(refused > 40);
    for (size_t i = 0; i < 40; i++) { /* garble the header fields */
        uint8_t *copy = malloc(task.len);
        memcpy(copy, task.data, task.len);
        copy[4 + (i * 7) % 40] ^= (uint8_t)(0x5a + i);
        result.len = 0;
        tsr_ctx_reset(ctx);
        tsr_task_execute(w, ctx, copy, task.len, &result); /* any status; no crash */
        free(copy);
    }
    result.len = 0;
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_task_execute(w, ctx, task.data, task.len, &result), TSR_OK);
    int tile;
    double cpu, dev;
    CHECK_EQ_INT(tsr_task_apply_result(&b, result.data, result.len - 1, &tile, &cpu, &dev),
                 TSR_ERR_CORRUPT);
    tsr_tile_batch other = b;
    other.first = 5; /* tile 3 is not in this batch */
    CHECK_EQ_INT(tsr_task_apply_result(&other, result.data, result.len, &tile, &cpu, &dev),
                 TSR_ERR_CORRUPT);
    CHECK_EQ_INT(tsr_task_apply_result(&b, result.data, result.len, &tile, &cpu, &dev), TSR_OK);
    CHECK_EQ_INT(tile, 3);
    tsr_buffer_free(&task);
    tsr_buffer_free(&result);
    tsr_task_worker_free(w);
    tsr_image_free(out);
    tsr_image_free(in);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_remote_equals_local);
    RUN(test_duplicates_and_small_tiles);
    RUN(test_malformed_bytes);
    return check_finish();
}
