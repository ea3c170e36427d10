/*
 * The streaming runner's bands (src/engine/run_stream.c): with a pool, each
 * band's thread writes its own rows in band order while the caller's thread
 * decodes the next band. The output is the whole-image reference's for
 * point, stencil and geometric stages at several tile sizes and pools; the
 * `rows` callback is never entered by two threads at once and ends at the
 * image's height; the band threads' encoding CPU is reported through
 * write_cpu_seconds; a writer that fails mid-run (the file-size limit,
 * RLIMIT_FSIZE) stops the run with the writer's error and no hang.
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "check.h"
#include "tessera/tessera.h"

#include "random_steps.h"

static char dir[256];
static tsr_executor *pools[3]; /* 1..3 threads */

/* What the rows callback saw. */
typedef struct rows_seen {
    atomic_int inside; /* threads inside the callback now */
    int overlapped;    /* times two were */
    int calls, read, written, went_back;
} rows_seen;

static void on_rows(void *user, int rows_read, int rows_written) {
    rows_seen *s = user;
    if (atomic_fetch_add(&s->inside, 1) != 0)
        s->overlapped++;
    s->calls++;
    if (rows_read < s->read || rows_written < s->written)
        s->went_back++;
    s->read = rows_read;
    s->written = rows_written;
    usleep(50); /* widen the window an overlap would need */
    atomic_fetch_sub(&s->inside, 1);
}

/* Runs `text` on the file at in_path into dir/out.pnm by rows; *out is the
 * result loaded (NULL on failure). */
static tsr_status run_rows(tsr_ctx *ctx, const char *text, const char *in_path, int tile,
                           tsr_executor *exec, tsr_run_options *opts, tsr_image **out) {
    char out_path[512];
    snprintf(out_path, sizeof out_path, "%s/out.pnm", dir);
    *out = NULL;
    tsr_pipeline *p = NULL;
    tsr_plan *plan = NULL;
    tsr_row_reader *reader = NULL;
    tsr_row_writer *writer = NULL;
    int w, h, b;
    tsr_status st = tsr_pipeline_parse(ctx, text, &p);
    if (!st)
        st = tsr_row_reader_open(ctx, in_path, NULL, &reader, NULL);
    if (!st) {
        tsr_row_reader_shape(reader, &w, &h, &b);
        st = tsr_plan_new(ctx, p, w, h, b, tile, &plan);
    }
    if (!st) {
        tsr_plan_output(plan, &w, &h, &b);
        st = tsr_row_writer_open(ctx, out_path, TSR_FORMAT_PNM, w, h, b, NULL, &writer);
    }
    if (!st)
        st = tsr_plan_run_rows(ctx, plan, reader, writer, exec, opts);
    if (!st)
        st = tsr_row_writer_finish(writer);
    tsr_row_writer_free(writer);
    tsr_row_reader_free(reader);
    tsr_plan_free(plan);
    tsr_pipeline_free(p);
    if (!st)
        st = tsr_image_load(ctx, out_path, NULL, out, NULL);
    return st;
}

static void test_bands_match_the_reference(void) {
    static const char *const pipelines[] = {"invert",
                                            "brightness:delta=-30|gamma:gamma=1.7",
                                            "grayscale",
                                            "sharpen",
                                            "gaussian-blur:sigma=2",
                                            "resize:scale=0.6",
                                            "crop:x=5,y=7,width=250,height=200"};
    static const int tiles[] = {16, 37, 256};
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = load_window(ctx, 3, 300, 260, 100, 150);
    char in_path[512];
    snprintf(in_path, sizeof in_path, "%s/in.pnm", dir);
    CHECK_EQ_INT(tsr_image_save(ctx, in, in_path, TSR_FORMAT_PNM, NULL), TSR_OK);
    int compared = 0;
    for (size_t i = 0; i < sizeof pipelines / sizeof pipelines[0]; i++) {
        tsr_pipeline *p = NULL;
        tsr_image *ref = NULL;
        CHECK_EQ_INT(tsr_pipeline_parse(ctx, pipelines[i], &p), TSR_OK);
        CHECK_EQ_INT(tsr_pipeline_run_reference(ctx, p, in, &ref), TSR_OK);
        for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
            for (int k = 0; k < 3; k++) {
                rows_seen seen = {0};
                double cpu = 0;
                tsr_run_options opts = {.tile_size = tiles[t],
                                        .rows = on_rows,
                                        .progress_user = &seen,
                                        .write_cpu_seconds = &cpu};
                tsr_image *out = NULL;
                tsr_status st =
                    run_rows(ctx, pipelines[i], in_path, tiles[t], pools[k], &opts, &out);
                if (st)
                    fprintf(stderr, "  '%s' tile %d: %s\n", pipelines[i], tiles[t],
                            tsr_ctx_message(ctx));
                CHECK_EQ_INT(st, TSR_OK);
                CHECK(out && ref && same_image(ref, out));
                CHECK_EQ_INT(seen.overlapped, 0);
                CHECK_EQ_INT(seen.went_back, 0);
                CHECK(seen.calls > 0 && seen.read > 0 && seen.read <= in->height);
                if (!strstr(pipelines[i], "crop")) /* a crop skips the rows under it */
                    CHECK_EQ_INT(seen.read, in->height);
                CHECK(ref && seen.written == ref->height);
                CHECK(cpu >= 0);
                compared++;
                tsr_image_free(out);
            }
        tsr_image_free(ref);
        tsr_pipeline_free(p);
    }
    printf("     %d streamed runs compared with the reference\n", compared);
    tsr_image_free(in);
    tsr_ctx_free(ctx);
}

/* A 480x400 RGB input saved at dir/big.pnm (its path into `path`): with
 * tile 16, many bands. */
static void save_big_input(tsr_ctx *ctx, char *path, size_t size) {
    tsr_image *in = load_window(ctx, 3, 480, 400, 0, 0);
    snprintf(path, size, "%s/big.pnm", dir);
    CHECK_EQ_INT(tsr_image_save(ctx, in, path, TSR_FORMAT_PNM, NULL), TSR_OK);
    tsr_image_free(in);
}

/* Encoding on the band threads is counted: a bigger image, many bands. */
static void test_write_cpu_is_counted(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char in_path[512];
    save_big_input(ctx, in_path, sizeof in_path);
    double cpu = 0;
    tsr_run_options opts = {.tile_size = 16, .write_cpu_seconds = &cpu};
    tsr_image *out = NULL;
    CHECK_EQ_INT(run_rows(ctx, "invert", in_path, 16, pools[1], &opts, &out), TSR_OK);
    CHECK(cpu > 0);
    tsr_image_free(out);
    tsr_ctx_free(ctx);
}

/* A writer that fails mid-run: the output file may not pass 64 kB. */
static void test_write_failure_stops_the_run(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char in_path[512];
    save_big_input(ctx, in_path, sizeof in_path);
    struct rlimit old, low = {64 << 10, 0};
    getrlimit(RLIMIT_FSIZE, &old);
    low.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN); /* write() fails with EFBIG instead */
    for (int k = 0; k < 3; k++) {
        CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &low), 0);
        tsr_run_options opts = {.tile_size = 16};
        tsr_image *out = NULL;
        tsr_status st = run_rows(ctx, "invert", in_path, 16, pools[k], &opts, &out);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(st != TSR_OK);
        CHECK(out == NULL);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "out.pnm: File too large"); /* the writer's */
        tsr_ctx_reset(ctx);
    }
    signal(SIGXFSZ, SIG_DFL);
    tsr_ctx_free(ctx);
}

int main(void) {
    (void)random_step; /* random_steps.h's helpers this test does not use */
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/tessera-bands-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    tsr_ctx *ctx = tsr_ctx_new();
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(tsr_executor_local_new(ctx, i + 1, &pools[i]), TSR_OK);
    RUN(test_bands_match_the_reference);
    RUN(test_write_cpu_is_counted);
    RUN(test_write_failure_stops_the_run);
    for (int i = 0; i < 3; i++)
        tsr_executor_free(pools[i]);
    tsr_ctx_free(ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK_EQ_INT(system(cmd), 0);
    return check_finish();
}
