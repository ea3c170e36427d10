/* The job scheduler against a real store in a temp folder: run, progress,
 * per-image errors, cancel, admission, resume after a stop. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "test_db_env.h"
#include "service/jobs.h"

static char dir[64];

/* Uploads file `name` from the test data as `owner`'s image; id into `id`. */
static void upload(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *owner, const char *name,
                   char id[TSR_STORE_ID_LEN + 1]) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    tsr_buffer file = {0};
    CHECK_EQ_INT(tsr_file_read(ctx, path, 1 << 30, &file), TSR_OK);
    tsr_image_info info = {0};
    CHECK_EQ_INT(tsr_image_info_read(ctx, file.data, file.len, &info), TSR_OK);
    tsr_blob_writer *w = NULL;
    CHECK_EQ_INT(tsr_blob_writer_new(store, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, file.data, file.len), TSR_OK);
    tsr_store_image img = {0};
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, img.blob, img.sha256), TSR_OK);
    tsr_blob_writer_free(w);
    img.owner = owner->id;
    snprintf(img.format, sizeof img.format, "%s", tsr_format_name(info.format));
    img.width = (uint32_t)info.width;
    img.height = (uint32_t)info.height;
    img.bands = info.bands;
    img.frames = (uint32_t)info.frames;
    img.bytes = file.len;
    snprintf(img.name, sizeof img.name, "%s", name);
    CHECK_EQ_INT(tsr_store_image_insert(store, ctx, &img), TSR_OK);
    memcpy(id, img.id, TSR_STORE_ID_LEN + 1);
    tsr_buffer_free(&file);
}

static tsr_store_job *wait_done(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *u,
                                const char *id) {
    for (int i = 0; i < 600; i++) {
        tsr_store_job *job = NULL;
        tsr_store_job_get(store, ctx, u, id, &job);
        if (job && tsr_job_state_terminal(job->state))
            return job;
        tsr_store_job_free(job);
        usleep(50000);
    }
    return NULL;
}

static void setup(tsr_ctx *ctx, tsr_store **store, tsr_store_user *u) {
    snprintf(dir, sizeof dir, "/tmp/tessera-jobs-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ_INT(test_store_open(ctx, dir, store), TSR_OK);
    memset(u, 0, sizeof *u);
    CHECK_EQ_INT(tsr_store_user_create(*store, ctx, "alice", TSR_ROLE_USER, &u->id), TSR_OK);
    u->role = TSR_ROLE_USER;
}

static void teardown(tsr_store *store) {
    tsr_store_close(store);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* A 9x9 integer convolution: a small halo and real work per pixel, so that
 * a job lasts long enough (hundreds of ms) to be stopped or cancelled
 * mid-way now that the median is fast. */
#define CONVOLVE_9X9                                                                               \
    "convolve:kernel=1 2 3 4 5 4 3 2 1 2 3 4 5 6 5 4 3 2 3 4 5 6 7 6 5 4 3 "                       \
    "4 5 6 7 8 7 6 5 4 5 6 7 8 9 8 7 6 5 4 5 6 7 8 7 6 5 4 "                                       \
    "3 4 5 6 7 6 5 4 3 2 3 4 5 6 5 4 3 2 1 2 3 4 5 4 3 2 1"

static tsr_pipeline *pipe_of(tsr_ctx *ctx, const char *text) {
    tsr_pipeline *p = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, text, &p), TSR_OK);
    return p;
}

static void test_job_runs_and_stores_results(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store *store = NULL;
    tsr_store_user u;
    setup(ctx, &store, &u);
    char a[33], b[33], id[33] = "";
    upload(store, ctx, &u, "chelsea.png", a);
    upload(store, ctx, &u, "hubble_deep_field.jpg", b);
    tsr_jobs *jobs = NULL;
    tsr_jobs_config cfg = {.threads = 2, .runners = 2, .tile = 64};
    CHECK_EQ_INT(tsr_jobs_start(ctx, store, &cfg, &jobs), TSR_OK);
    tsr_pipeline *p = pipe_of(ctx, "grayscale|resize:scale=0.5");
    const char *ids[2] = {a, b};
    int retry = -1;
    CHECK_EQ_INT(tsr_jobs_submit(jobs, ctx, &u, ids, 2, p, TSR_FORMAT_PNG, 0, id, &retry), TSR_OK);
    tsr_store_job *job = wait_done(store, ctx, &u, id);
    CHECK(job != NULL);
    if (job) {
        CHECK_EQ_INT(job->state, TSR_JOB_SUCCEEDED);
        CHECK(job->tiles_total > 0 && job->tiles_done == job->tiles_total);
        CHECK_STR_CONTAINS(job->pipeline_text, "resize@1:scale=0.5");
        CHECK(!strcmp(job->tessera_version, TESSERA_VERSION));
        CHECK_EQ_INT(job->tile, 64); /* recorded: the server's tile side */
        CHECK(job->saved_pipeline[0] == '\0' && job->saved_version == 0);
        CHECK_EQ_INT(job->item_count, 2);
        CHECK_EQ_INT(job->items[0].width, 226);
        CHECK_EQ_INT(job->items[1].width, 500);
        char path[PATH_MAX];
        CHECK_EQ_INT(tsr_blob_path(store, ctx, job->items[0].result_blob, path), TSR_OK);
        tsr_image *img = NULL;
        CHECK_EQ_INT(tsr_image_load(ctx, path, NULL, &img, NULL), TSR_OK);
        CHECK(img && img->width == 226 && img->height == 150 && img->bands == 1);
        tsr_image_free(img);
    }
    tsr_store_job_free(job);
    tsr_pipeline_free(p);
    tsr_jobs_stop(jobs);
    teardown(store);
    tsr_ctx_free(ctx);
}

static void test_bad_image_fails_its_item_only(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store *store = NULL;
    tsr_store_user u;
    setup(ctx, &store, &u);
    char a[33], id[33] = "";
    upload(store, ctx, &u, "chelsea.png", a);
    tsr_jobs *jobs = NULL;
    CHECK_EQ_INT(tsr_jobs_start(ctx, store, NULL, &jobs), TSR_OK);
    /* crop outside a 451x300 image fails at planning time. */
    tsr_pipeline *p = pipe_of(ctx, "crop:x=1000,y=0,width=10,height=10");
    const char *ids[1] = {a};
    int retry;
    CHECK_EQ_INT(tsr_jobs_submit(jobs, ctx, &u, ids, 1, p, TSR_FORMAT_PNG, 0, id, &retry), TSR_OK);
    tsr_store_job *job = wait_done(store, ctx, &u, id);
    CHECK(job && job->state == TSR_JOB_FAILED);
    if (job) {
        CHECK_STR_CONTAINS(job->error, "1 of 1 images failed");
        CHECK(job->items[0].state == TSR_JOB_FAILED && job->items[0].error);
    }
    tsr_store_job_free(job);
    tsr_pipeline_free(p);
    /* Unknown and foreign images are refused up front. */
    tsr_store_user mallory = {0};
    tsr_store_user_create(store, ctx, "mallory", TSR_ROLE_USER, &mallory.id);
    mallory.role = TSR_ROLE_USER;
    p = pipe_of(ctx, "invert");
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_jobs_submit(jobs, ctx, &mallory, ids, 1, p, TSR_FORMAT_PNG, 0, id, &retry),
                 TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "not found");
    tsr_pipeline_free(p);
    tsr_jobs_stop(jobs);
    teardown(store);
    tsr_ctx_free(ctx);
}

static void test_cancel_and_admission(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store *store = NULL;
    tsr_store_user u;
    setup(ctx, &store, &u);
    char a[33], id[33] = "", id2[33] = "";
    upload(store, ctx, &u, "hubble_deep_field.jpg", a);
    tsr_jobs *jobs = NULL;
    /* Budget for about one image of 872 000 px at a time. */
    tsr_jobs_config cfg = {.threads = 1, .runners = 1, .tile = 16, .pixel_budget = 1000000};
    CHECK_EQ_INT(tsr_jobs_start(ctx, store, &cfg, &jobs), TSR_OK);
    tsr_pipeline *p = pipe_of(ctx, "gaussian-blur:sigma=8|median:ksize=5|rotate:angle=7|"
                                   "gaussian-blur:sigma=8|median:ksize=5|" CONVOLVE_9X9);
    const char *ids[1] = {a};
    int retry = 0;
    CHECK_EQ_INT(tsr_jobs_submit(jobs, ctx, &u, ids, 1, p, TSR_FORMAT_PNG, 0, id, &retry), TSR_OK);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_jobs_submit(jobs, ctx, &u, ids, 1, p, TSR_FORMAT_PNG, 0, id2, &retry),
                 TSR_ERR_LIMIT);
    CHECK(retry > 0);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "busy");
    usleep(200000);
    tsr_job_live live;
    CHECK(tsr_jobs_live(jobs, id, &live));
    int found = 0;
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_jobs_cancel(jobs, ctx, &u, id, &found), TSR_OK);
    CHECK(found);
    tsr_store_job *job = wait_done(store, ctx, &u, id);
    CHECK(job && job->state == TSR_JOB_CANCELLED);
    tsr_store_job_free(job);
    /* Once the first left, the budget is free again. */
    for (int i = 0; i < 100 && tsr_jobs_live(jobs, id, &live); i++)
        usleep(20000);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_jobs_submit(jobs, ctx, &u, ids, 1, p, TSR_FORMAT_PNG, 0, id2, &retry), TSR_OK);
    tsr_jobs_cancel(jobs, ctx, &u, id2, &found);
    tsr_pipeline_free(p);
    tsr_jobs_stop(jobs);
    teardown(store);
    tsr_ctx_free(ctx);
}

static void test_resume_after_stop(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store *store = NULL;
    tsr_store_user u;
    setup(ctx, &store, &u);
    char a[33], id[33] = "";
    upload(store, ctx, &u, "astronaut.png", a);
    tsr_jobs *jobs = NULL;
    tsr_jobs_config cfg = {.threads = 1, .runners = 1, .tile = 16};
    CHECK_EQ_INT(tsr_jobs_start(ctx, store, &cfg, &jobs), TSR_OK);
    tsr_pipeline *p = pipe_of(ctx, "gaussian-blur:sigma=6|median:ksize=5|sharpen|" CONVOLVE_9X9
                                   "|" CONVOLVE_9X9 "|" CONVOLVE_9X9 "|" CONVOLVE_9X9);
    const char *ids[1] = {a};
    int retry;
    CHECK_EQ_INT(tsr_jobs_submit(jobs, ctx, &u, ids, 1, p, TSR_FORMAT_PNG, 0, id, &retry), TSR_OK);
    usleep(100000);
    tsr_jobs_stop(jobs); /* like a shutdown mid-job */
    tsr_store_job *job = NULL;
    tsr_store_job_get(store, ctx, &u, id, &job);
    CHECK(job && !tsr_job_state_terminal(job->state));
    tsr_store_job_free(job);
    CHECK_EQ_INT(tsr_jobs_start(ctx, store, &cfg, &jobs), TSR_OK);
    job = wait_done(store, ctx, &u, id);
    CHECK(job && job->state == TSR_JOB_SUCCEEDED);
    /* Same bytes as a direct run of the engine. */
    if (job && job->state == TSR_JOB_SUCCEEDED) {
        char path[PATH_MAX], src[PATH_MAX];
        tsr_blob_path(store, ctx, job->items[0].result_blob, path);
        snprintf(src, sizeof src, "%s/astronaut.png", check_data_dir());
        tsr_image *got = NULL, *in = NULL, *want = NULL;
        tsr_image_load(ctx, path, NULL, &got, NULL);
        tsr_image_load(ctx, src, NULL, &in, NULL);
        CHECK_EQ_INT(tsr_pipeline_run_reference(ctx, p, in, &want), TSR_OK);
        CHECK(got && want && got->width == want->width &&
              !memcmp(got->data, want->data, want->stride * (size_t)want->height));
        tsr_image_free(got);
        tsr_image_free(in);
        tsr_image_free(want);
    }
    tsr_store_job_free(job);
    tsr_pipeline_free(p);
    tsr_jobs_stop(jobs);
    teardown(store);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_job_runs_and_stores_results);
    RUN(test_bad_image_fails_its_item_only);
    RUN(test_cancel_and_admission);
    RUN(test_resume_after_stop);
    return check_finish();
}
