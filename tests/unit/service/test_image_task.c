/* Image tasks, the service's side (src/service/image_task.c, image_run.c):
 * the result id rule, a task run by the worker's runner on a blobs-only
 * store (result written whole under the coordinator's id, a retry leaving
 * one identical blob, progress reported), an animated input (every frame
 * into GIF, a chosen frame into PNG, refused without one), an AVIF task's
 * speed, and malformed tasks and completions refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "service/image_task.h"

static tsr_ctx *ctx;
static char dir[] = "/tmp/tessera-image-task-XXXXXX";
static char input[TSR_STORE_ID_LEN + 1];
static char anim[TSR_STORE_ID_LEN + 1]; /* tests/data/anim.gif: 3 frames of 128x128 */

/* Puts tests/data's chelsea.png and anim.gif into a full store in dir/data
 * as `input` and `anim` (in one opening: an opening collects blobs that
 * no image record names). */
static void put_inputs(void) {
    static const char *const names[2] = {"chelsea.png", "anim.gif"};
    char *ids[2] = {input, anim};
    char data[256], path[512];
    snprintf(data, sizeof data, "%s/data", dir);
    tsr_store *s = NULL;
    CHECK_EQ_INT(tsr_store_open(ctx, data, &s), TSR_OK);
    for (int i = 0; i < 2; i++) {
        tsr_buffer bytes = {0};
        tsr_blob_writer *w = NULL;
        snprintf(path, sizeof path, "%s/%s", getenv("TSR_TEST_DATA"), names[i]);
        CHECK_EQ_INT(tsr_file_read(ctx, path, 1 << 24, &bytes), TSR_OK);
        CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
        CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, bytes.data, bytes.len), TSR_OK);
        CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, ids[i], NULL), TSR_OK);
        tsr_blob_writer_free(w);
        tsr_buffer_free(&bytes);
    }
    tsr_store_close(s);
}

static void test_result_id(void) {
    char a[TSR_STORE_ID_LEN + 1], b[TSR_STORE_ID_LEN + 1], c[TSR_STORE_ID_LEN + 1];
    tsr_image_result_id("0123456789abcdef0123456789abcdef", 0, a);
    tsr_image_result_id("0123456789abcdef0123456789abcdef", 0, b);
    tsr_image_result_id("0123456789abcdef0123456789abcdef", 1, c);
    CHECK(tsr_store_id_valid(a));
    CHECK(!strcmp(a, b));
    CHECK(strcmp(a, c) != 0);
}

static int progress_calls;
static uint64_t last_done, last_total;
static void on_progress(void *user, uint64_t done, uint64_t total) {
    (void)user;
    progress_calls++;
    last_done = done;
    last_total = total;
}

/* Encodes a task of `pipeline` from `in` to `result` taking `frame` of
 * animations (-1: none chosen). */
static void encode_frame(const char *pipeline, const char *in, const char *result,
                         const char *format, int frame, tsr_buffer *out) {
    tsr_pipeline *p = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, pipeline, &p), TSR_OK);
    char *json = tsr_pipeline_to_json(p);
    tsr_image_task_spec spec = {.input = in,
                                .result = result,
                                .pipeline_json = json,
                                .format = format,
                                .quality = 90,
                                .frame = frame,
                                .tile = 64,
                                .label = "test"};
    CHECK_EQ_INT(tsr_image_task_encode(ctx, &spec, out), TSR_OK);
    free(json);
    tsr_pipeline_free(p);
}

static void encode(const char *pipeline, const char *in, const char *result, const char *format,
                   tsr_buffer *out) {
    encode_frame(pipeline, in, result, format, -1, out);
}

/* The bytes of blob `id` in the files store dir/data/blobs; NULL when none. */
static tsr_buffer read_blob(const char *id) {
    char path[512];
    tsr_buffer b = {0};
    snprintf(path, sizeof path, "%s/data/blobs/%.2s/%s", dir, id, id);
    tsr_ctx *c = tsr_ctx_new();
    tsr_file_read(c, path, 1 << 26, &b);
    tsr_ctx_free(c);
    return b;
}

static void test_runner_on_a_blobs_only_store(void) {
    char work[256], url[256], result[TSR_STORE_ID_LEN + 1];
    snprintf(work, sizeof work, "%s/work", dir);
    snprintf(url, sizeof url, "file:%s/data/blobs", dir);
    tsr_store_options opts = {.store_url = url};
    tsr_store *s = NULL;
    CHECK_EQ_INT(tsr_store_open_blobs(ctx, work, NULL, &s), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "--store");
    CHECK_EQ_INT(tsr_store_open_blobs(ctx, work, &opts, &s), TSR_OK);
    tsr_store_image img;
    tsr_store_user admin = {.role = TSR_ROLE_ADMIN};
    int found = 0;
    CHECK_EQ_INT(tsr_store_image_get(s, ctx, &admin, input, &img, &found), TSR_ERR_USAGE);
    tsr_executor *pool = NULL;
    CHECK_EQ_INT(tsr_executor_local_new(ctx, 2, &pool), TSR_OK);
    tsr_image_runner runner = {.store = s, .exec = pool};
    tsr_image_result_id("00112233445566778899aabbccddeeff", 3, result);
    tsr_buffer task = {0}, done = {0}, first = {0};
    encode("invert|gaussian-blur:sigma=2", input, result, "png", &task);
    for (int attempt = 0; attempt < 2; attempt++) { /* a retry rewrites the same blob */
        done.len = 0;
        progress_calls = 0;
        CHECK_EQ_INT(
            tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
            TSR_OK);
        tsr_image_completion c;
        CHECK_EQ_INT(tsr_image_completion_decode(ctx, done.data, done.len, &c), TSR_OK);
        CHECK(!strcmp(c.blob, result));
        CHECK_EQ_INT(c.width, 451);
        CHECK_EQ_INT(c.height, 300);
        CHECK(c.tiles > 0 && c.cpu_seconds >= 0);
        CHECK(progress_calls > 0 && last_done == last_total);
        tsr_buffer b = read_blob(result);
        CHECK_EQ_INT(b.len, c.bytes);
        if (attempt == 0)
            first = b;
        else {
            CHECK(b.len == first.len && !memcmp(b.data, first.data, b.len));
            tsr_buffer_free(&b);
        }
    }
    /* a missing input, then a malformed task: errors, no result */
    char missing[TSR_STORE_ID_LEN + 1], other[TSR_STORE_ID_LEN + 1];
    tsr_image_result_id("00112233445566778899aabbccddeeff", 4, missing);
    tsr_image_result_id("00112233445566778899aabbccddeeff", 5, other);
    task.len = 0;
    encode("invert", missing, other, "png", &task);
    CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
                 TSR_ERR_IO);
    tsr_buffer none = read_blob(other);
    CHECK_EQ_INT(none.len, 0);
    const char *bad[] = {"", "[]", "{\"v\":1}", "{not json",
                         "{\"v\":2,\"input\":\"x\",\"result\":\"y\",\"pipeline\":\"[]\","
                         "\"format\":\"png\",\"quality\":90,\"tile\":64,\"label\":\"\","
                         "\"limits\":{}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, (const uint8_t *)bad[i], strlen(bad[i]),
                                          on_progress, NULL, &done),
                     TSR_ERR_CORRUPT);
    task.len = 0;
    encode("invert", input, other, "nosuchformat", &task);
    CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
                 TSR_ERR_CORRUPT);
    tsr_buffer_free(&first);
    tsr_buffer_free(&task);
    tsr_buffer_free(&done);
    tsr_executor_free(pool);
    tsr_store_close(s);
}

/* An AVIF task carries its encoder speed ("s", sent only when set): the
 * result is AVIF; a speed outside 0..9 is a malformed task. */
static void test_avif_speed_travels(void) {
    char work[256], url[256], result[TSR_STORE_ID_LEN + 1];
    snprintf(work, sizeof work, "%s/work", dir);
    snprintf(url, sizeof url, "file:%s/data/blobs", dir);
    tsr_store_options opts = {.store_url = url};
    tsr_store *s = NULL;
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_open_blobs(ctx, work, &opts, &s), TSR_OK);
    tsr_executor *pool = NULL;
    CHECK_EQ_INT(tsr_executor_local_new(ctx, 2, &pool), TSR_OK);
    tsr_image_runner runner = {.store = s, .exec = pool};
    tsr_image_result_id("00112233445566778899aabbccddeeff", 9, result);
    tsr_image_task_spec spec = {.input = input,
                                .result = result,
                                .pipeline_json = "[{\"op\":\"invert\"}]",
                                .format = "avif",
                                .quality = 50,
                                .speed = 9,
                                .tile = 64};
    tsr_buffer task = {0}, done = {0};
    CHECK_EQ_INT(tsr_image_task_encode(ctx, &spec, &task), TSR_OK);
    CHECK(memmem(task.data, task.len, "\"s\":9", 5) != NULL);
    CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
                 TSR_OK);
    tsr_buffer b = read_blob(result);
    CHECK(b.len > 12 && memcmp(b.data + 4, "ftypavif", 8) == 0);
    tsr_buffer_free(&b);
    spec.speed = 12;
    task.len = 0;
    CHECK_EQ_INT(tsr_image_task_encode(ctx, &spec, &task), TSR_OK);
    CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
                 TSR_ERR_CORRUPT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "speed");
    tsr_ctx_reset(ctx);
    tsr_buffer_free(&task);
    tsr_buffer_free(&done);
    tsr_executor_free(pool);
    tsr_store_close(s);
}

/* An animated input runs whole on the worker: every frame into a GIF;
 * into PNG only with a frame chosen. */
static void test_animated_task(void) {
    char work[256], url[256], result[TSR_STORE_ID_LEN + 1];
    snprintf(work, sizeof work, "%s/work-anim", dir);
    snprintf(url, sizeof url, "file:%s/data/blobs", dir);
    tsr_store_options opts = {.store_url = url};
    tsr_store *s = NULL;
    tsr_executor *pool = NULL;
    CHECK_EQ_INT(tsr_store_open_blobs(ctx, work, &opts, &s), TSR_OK);
    CHECK_EQ_INT(tsr_executor_local_new(ctx, 2, &pool), TSR_OK);
    tsr_image_runner runner = {.store = s, .exec = pool};
    tsr_image_result_id("00112233445566778899aabbccddeeff", 7, result);
    tsr_buffer task = {0}, done = {0};
    encode("equalize", anim, result, "gif", &task);
    CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
                 TSR_OK);
    tsr_buffer b = read_blob(result);
    tsr_anim_info a;
    int *delays = NULL;
    CHECK_EQ_INT(tsr_anim_info_read(ctx, b.data, b.len, &a, &delays), TSR_OK);
    CHECK(a.frames == 3 && a.width == 128 && a.loop_count == 0 && delays && delays[2] == 200);
    free(delays);
    tsr_buffer_free(&b);
    task.len = done.len = 0;
    tsr_ctx_reset(ctx);
    encode("equalize", anim, result, "png", &task);
    CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
                 TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "choose output.frame (0..2)");
    task.len = done.len = 0;
    tsr_ctx_reset(ctx);
    encode_frame("equalize", anim, result, "png", 1, &task);
    CHECK_EQ_INT(tsr_image_runner_run(&runner, ctx, task.data, task.len, on_progress, NULL, &done),
                 TSR_OK);
    tsr_buffer_free(&task);
    tsr_buffer_free(&done);
    tsr_executor_free(pool);
    tsr_store_close(s);
}

static void test_completion_refused_when_malformed(void) {
    tsr_image_completion c;
    const char *bad[] = {"", "{}",
                         "{\"v\":1,\"blob\":\"zz\",\"bytes\":1,\"width\":1,\"height\":1,"
                         "\"tiles\":1,\"cpu_seconds\":0,\"seconds\":0}",
                         "{\"v\":1,\"blob\":\"0123456789abcdef0123456789abcdef\",\"bytes\":-1,"
                         "\"width\":1,\"height\":1,\"tiles\":1,\"cpu_seconds\":0,\"seconds\":0}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_EQ_INT(tsr_image_completion_decode(ctx, (const uint8_t *)bad[i], strlen(bad[i]), &c),
                     TSR_ERR_CORRUPT);
    const char *good = "{\"v\":1,\"blob\":\"0123456789abcdef0123456789abcdef\",\"bytes\":10,"
                       "\"width\":3,\"height\":2,\"tiles\":4,\"cpu_seconds\":0.5,\"seconds\":1}";
    CHECK_EQ_INT(tsr_image_completion_decode(ctx, (const uint8_t *)good, strlen(good), &c), TSR_OK);
    CHECK_EQ_INT(c.bytes, 10);
    CHECK_EQ_INT(c.tiles, 4);
}

int main(void) {
    ctx = tsr_ctx_new();
    if (!ctx || !mkdtemp(dir))
        return 1;
    put_inputs();
    RUN(test_result_id);
    RUN(test_runner_on_a_blobs_only_store);
    RUN(test_animated_task);
    RUN(test_avif_speed_travels);
    RUN(test_completion_refused_when_malformed);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ_INT(system(cmd), 0);
    tsr_ctx_free(ctx);
    return check_finish();
}
