/*
 * Spilling (src/engine/run_spill.c): tsr_plan_run_rows with a memory budget
 * of one byte runs every plan that cannot stream by row windows through
 * temporary files. Its bytes must be those of the whole-image reference for
 * every op kind: rotations at several angles, crop|rotate, every GLOBAL op,
 * multi-stage chains and random pipelines, tile sizes 16..512, no pool and
 * pools of 1..4 threads, 1..4 bands. Progress and cancellation still work,
 * a spilling run holds no whole image (it passes under a single-buffer cap
 * the whole-image run fails), and a missing TMPDIR is a clear error.
 * TSR_SEED picks another random sequence, TSR_ITERATIONS more cases.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tessera/tessera.h"

#include "random_steps.h"

static char dir[256];          /* scratch folder: input and output files */
static tsr_executor *pools[4]; /* 1..4 threads */
static int n_compared;

/* Writes `img` as an uncompressed TIFF (a format that streams every band
 * count) at dir/name; returns the path (static buffer per name). */
static const char *save_input(tsr_ctx *ctx, const tsr_image *img, const char *name, char *path,
                              size_t size) {
    snprintf(path, size, "%s/%s", dir, name);
    tsr_encode_options e = {.compression = 0};
    CHECK_EQ_INT(tsr_image_save(ctx, img, path, TSR_FORMAT_TIFF, &e), TSR_OK);
    return path;
}

/* Runs `plan` from the file at `in_path` with tsr_plan_run_rows into a TIFF
 * and loads the result into *out (NULL on failure). */
static tsr_status run_rows(tsr_ctx *ctx, tsr_plan *plan, const char *in_path, tsr_executor *exec,
                           const tsr_run_options *opts, tsr_image **out) {
    char out_path[512];
    snprintf(out_path, sizeof out_path, "%s/out.tif", dir);
    *out = NULL;
    tsr_row_reader *reader = NULL;
    tsr_row_writer *writer = NULL;
    int w, h, b;
    tsr_plan_output(plan, &w, &h, &b);
    tsr_encode_options e = {.compression = 0};
    tsr_status st = tsr_row_reader_open(ctx, in_path, NULL, &reader, NULL);
    if (!st)
        st = tsr_row_writer_open(ctx, out_path, TSR_FORMAT_TIFF, w, h, b, &e, &writer);
    if (!st)
        st = tsr_plan_run_rows(ctx, plan, reader, writer, exec, opts);
    if (!st)
        st = tsr_row_writer_finish(writer);
    tsr_row_writer_free(writer);
    tsr_row_reader_free(reader);
    if (!st)
        st = tsr_image_load(ctx, out_path, NULL, out, NULL);
    return st;
}

/* Memory budgets of the runs: one byte spills every plan, every stage
 * boundary included; 150 kB lets a first stage of local ops stream by row
 * windows into its file, and holds none of the 300x260 images whole. */
static const uint64_t budgets[] = {1, 150000};

/* Checks `text` on `in` (saved at in_path): the spilled run at `tile` on
 * pool `pool` (-1: none) with budgets[budget] gives the reference's bytes. */
static void check_spill(tsr_ctx *ctx, const tsr_image *in, const char *in_path, const char *text,
                        int tile, int pool, int budget) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p)) {
        fprintf(stderr, "pipeline '%s' rejected: %s\n", text, tsr_ctx_message(ctx));
        CHECK(0);
        return;
    }
    tsr_image *ref = NULL, *out = NULL;
    tsr_plan *plan = NULL;
    tsr_status st = tsr_pipeline_run_reference(ctx, p, in, &ref);
    if (st == TSR_ERR_USAGE) { /* a crop outside a shrunk image: fine */
        tsr_pipeline_free(p);
        return;
    }
    CHECK_EQ_INT(st, TSR_OK);
    tsr_run_options opts = {.tile_size = tile, .memory_budget = budgets[budget]};
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, tile, &plan), TSR_OK);
    if (plan && ref) {
        st = run_rows(ctx, plan, in_path, pool < 0 ? NULL : pools[pool], &opts, &out);
        if (st)
            fprintf(stderr, "'%s': %s\n", text, tsr_ctx_message(ctx));
        CHECK_EQ_INT(st, TSR_OK);
        if (out && !same_image(ref, out)) {
            fprintf(stderr,
                    "spilling changed the output: '%s' bands %d tile %d threads %d budget %llu\n",
                    text, in->bands, tile, pool + 1, (unsigned long long)budgets[budget]);
            CHECK(0);
        }
        n_compared++;
    }
    tsr_image_free(out);
    tsr_image_free(ref);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
}

/* A 300x260 window of the astronaut, so tiles 16..512 cut it many ways. */
static tsr_image *input_of(tsr_ctx *ctx, int bands) {
    return load_window(ctx, bands, 300, 260, 100, 150);
}

/* The plans that cannot stream, each on every band count, over tile sizes
 * and pools in turn. */
static void test_fixed_pipelines(void) {
    static const char *const pipelines[] = {
        "rotate:angle=30",
        "rotate:angle=-0.5",
        "rotate:angle=90",
        "rotate:angle=137,expand=true",
        "rotate:angle=180",
        "crop:x=20,y=10,width=200,height=180|rotate:angle=30",
        "crop:x=50,y=0,width=250,height=260|rotate:angle=-75,expand=true|gaussian-blur",
        "equalize",
        "threshold-otsu",
        "canny",
        "canny:low=20,high=60",
        "hough-lines:threshold=40,mode=draw",
        "hough-lines:threshold=30,mode=data",
        "invert|equalize|brightness:delta=20",
        "gaussian-blur:sigma=2|sharpen|equalize",
        "grayscale|gaussian-blur|threshold-otsu|invert",
        "gaussian-blur|equalize|rotate:angle=10|canny",
        "equalize|threshold-otsu|canny|rotate:angle=200",
        "resize:scale=0.7|equalize|median:ksize=5|rotate:angle=5",
        "rotate:angle=20|rotate:angle=-20|crop:x=30,y=30,width=200,height=150",
        "box-blur:ksize=7|rotate90|equalize|flip:axis=both",
    };
    static const int tiles[] = {16, 23, 64, 100, 256, 512};
    tsr_ctx *ctx = tsr_ctx_new();
    int k = 0;
    for (int bands = 1; bands <= 4; bands++) {
        char path[512];
        tsr_image *in = input_of(ctx, bands);
        CHECK(in != NULL);
        if (!in)
            break;
        save_input(ctx, in, "in.tif", path, sizeof path);
        for (size_t i = 0; i < sizeof pipelines / sizeof pipelines[0]; i++, k++)
            check_spill(ctx, in, path, pipelines[i], tiles[k % 6], k % 5 - 1, k % 2);
        tsr_image_free(in);
    }
    tsr_ctx_free(ctx);
}

/* Random chains of 2..5 ops (those that stream as well: a chain with a
 * GLOBAL op or a rotation in it spills). */
static void test_random_pipelines(void) {
    static const int tiles[] = {16, 17, 32, 37, 64, 128, 256, 512};
    tsr_ctx *ctx = tsr_ctx_new();
    int iterations = getenv("TSR_ITERATIONS") ? atoi(getenv("TSR_ITERATIONS")) : 60;
    tsr_image *inputs[4] = {0};
    char paths[4][512];
    for (int b = 0; b < 4; b++) {
        char name[32];
        snprintf(name, sizeof name, "in%d.tif", b + 1);
        if ((inputs[b] = input_of(ctx, b + 1)))
            save_input(ctx, inputs[b], name, paths[b], sizeof paths[b]);
    }
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
        int b = (int)rnd(4);
        if (have)
            check_spill(ctx, inputs[b], paths[b], text, tiles[rnd(8)], (int)rnd(5) - 1,
                        (int)rnd(2));
    }
    for (int b = 0; b < 4; b++)
        tsr_image_free(inputs[b]);
    tsr_ctx_free(ctx);
    printf("     %d spilled runs compared with the reference\n", n_compared);
}

/* Progress of a spilling run, and a cancel from inside it. */
typedef struct watch {
    uint64_t done, total, calls; /* tile progress */
    int monotonic;               /* done never went down */
    int rows_read, rows_written; /* last rows callback */
    tsr_ctx *cancel_at_half;     /* cancel this context half-way */
} watch;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    watch *w = user;
    if (done < w->done)
        w->monotonic = 0;
    w->done = done;
    w->total = total;
    w->calls++;
    if (w->cancel_at_half && done * 2 >= total)
        tsr_ctx_cancel(w->cancel_at_half);
}

static void on_rows(void *user, int read, int written) {
    watch *w = user;
    w->rows_read = read;
    w->rows_written = written;
}

static void test_progress_and_cancel(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = input_of(ctx, 3);
    char path[512];
    save_input(ctx, in, "in.tif", path, sizeof path);
    tsr_pipeline *p = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, "gaussian-blur|equalize|rotate:angle=10|canny", &p),
                 TSR_OK);
    tsr_plan *plan = NULL;
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, 32, &plan), TSR_OK);
    watch w = {.monotonic = 1};
    tsr_run_options opts = {.tile_size = 32,
                            .progress = on_progress,
                            .rows = on_rows,
                            .progress_user = &w,
                            .memory_budget = 1};
    tsr_image *out = NULL;
    CHECK_EQ_INT(run_rows(ctx, plan, path, pools[2], &opts, &out), TSR_OK);
    CHECK(w.monotonic && w.total == tsr_plan_task_count(plan) && w.done == w.total);
    CHECK(w.calls == w.total);
    CHECK_EQ_INT(w.rows_read, in->height);
    CHECK_EQ_INT(w.rows_written, out ? out->height : -1);
    tsr_image_free(out);
    w = (watch){.monotonic = 1, .cancel_at_half = ctx};
    CHECK_EQ_INT(run_rows(ctx, plan, path, pools[2], &opts, &out), TSR_ERR_CANCELLED);
    CHECK(out == NULL && w.done < w.total);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "cancelled");
    tsr_ctx_free(ctx);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
    tsr_image_free(in);
}

/* Under a single-buffer cap below the image's size, a whole-image run (one
 * tile per image: tile -1) is refused before reading a row, with a message
 * naming the cap; a tiled run spills, even with a budget that would hold
 * the images, and gives the reference's bytes: it never holds a whole image. */
static void test_no_whole_image(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = input_of(ctx, 3);
    char path[512];
    save_input(ctx, in, "in.tif", path, sizeof path);
    tsr_pipeline *p = NULL;
    const char *text = "equalize|rotate:angle=33|canny|gaussian-blur";
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, text, &p), TSR_OK);
    tsr_image *ref = NULL, *out = NULL;
    CHECK_EQ_INT(tsr_pipeline_run_reference(ctx, p, in, &ref), TSR_OK);
    tsr_limits cap = {.max_alloc = (uint64_t)in->width * (uint64_t)in->height * 3 - 1};
    tsr_ctx_set_limits(ctx, &cap);
    tsr_plan *plan = NULL;
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, -1, &plan), TSR_OK);
    tsr_run_options whole = {.tile_size = -1, .memory_budget = 1};
    CHECK_EQ_INT(run_rows(ctx, plan, path, pools[1], &whole, &out), TSR_ERR_LIMIT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "cannot stream by rows and runs on whole images "
                                             "(one tile per image)");
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "single-buffer limit");
    tsr_plan_free(plan);
    plan = NULL;
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, 64, &plan), TSR_OK);
    for (int k = 0; k < 2; k++) {
        tsr_run_options spill = {.tile_size = 64, .memory_budget = k ? 1ull << 40 : 1};
        CHECK_EQ_INT(run_rows(ctx, plan, path, pools[1], &spill, &out), TSR_OK);
        CHECK(out && ref && same_image(ref, out));
        tsr_image_free(out);
        out = NULL;
    }
    tsr_image_free(ref);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
    tsr_image_free(in);
    tsr_ctx_free(ctx);
}

/* A TMPDIR that does not exist: the run fails naming it. */
static void test_missing_tmpdir(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = input_of(ctx, 1);
    char path[512], missing[300];
    save_input(ctx, in, "in.tif", path, sizeof path);
    snprintf(missing, sizeof missing, "%s/no-such-folder", dir);
    const char *saved = getenv("TMPDIR");
    char *keep = saved ? strdup(saved) : NULL;
    setenv("TMPDIR", missing, 1);
    tsr_pipeline *p = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, "rotate:angle=30", &p), TSR_OK);
    tsr_plan *plan = NULL;
    CHECK_EQ_INT(tsr_plan_new(ctx, p, in->width, in->height, in->bands, 64, &plan), TSR_OK);
    tsr_run_options opts = {.memory_budget = 1};
    tsr_image *out = NULL;
    CHECK_EQ_INT(run_rows(ctx, plan, path, pools[0], &opts, &out), TSR_ERR_IO);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "no-such-folder (TMPDIR)");
    if (keep)
        setenv("TMPDIR", keep, 1);
    else
        unsetenv("TMPDIR");
    free(keep);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
    tsr_image_free(in);
    tsr_ctx_free(ctx);
}

int main(void) {
    if (getenv("TSR_SEED"))
        rng_state = strtoull(getenv("TSR_SEED"), NULL, 10) | 1;
    snprintf(dir, sizeof dir, "%s/tessera-spill-test-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    tsr_ctx *ctx = tsr_ctx_new();
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(tsr_executor_local_new(ctx, i + 1, &pools[i]), TSR_OK);
    tsr_ctx_free(ctx);
    RUN(test_fixed_pipelines);
    RUN(test_random_pipelines);
    RUN(test_progress_and_cancel);
    RUN(test_no_whole_image);
    RUN(test_missing_tmpdir);
    for (int i = 0; i < 4; i++)
        tsr_executor_free(pools[i]);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return check_finish();
}
