/* The S3 client's retries against a real s3rver behind the fault proxy
 * (tests/s3/faultproxy.py): 500/503/429 bursts, connection resets before
 * and during an answer, stalls cut by the low-speed limit, no retry after a
 * 4xx, a failed multipart upload that leaves no object and no pending
 * upload, the store killed and restarted under a request, cancellation. */
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "s3_stack.h"

#define PREFIX "faults"
#define BIG    (40u << 20) /* 5 parts of 8 MiB */

static s3_stack stack;
static tsr_ctx *ctx;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A client through the proxy with quick backoff and cfg's other settings. */
static tsr_s3_client *proxied(tsr_s3_config cfg) {
    cfg.backoff_base_ms = cfg.backoff_base_ms ? cfg.backoff_base_ms : 20;
    tsr_s3_client *c = s3_stack_client(&stack, stack.endpoint, PREFIX, &cfg, ctx);
    CHECK(c != NULL);
    return c;
}

/* Puts n random bytes as name with c, then reads them back; 0 if all matched. */
static int put_get(tsr_s3_client *c, const char *name, size_t n) {
    uint8_t *bytes, *back;
    size_t len = 0;
    int fd = memfd_random(n, &bytes), out = memfd_create("out", MFD_CLOEXEC);
    int bad = tsr_s3_put_fd(c, ctx, name, fd, NULL) != TSR_OK;
    bad += tsr_s3_get_fd(c, ctx, name, out, NULL, NULL) != TSR_OK;
    back = fd_content(out, &len);
    bad += len != n || memcmp(back, bytes, n) != 0;
    if (bad)
        fprintf(stderr, "put_get %s: %s\n", name, tsr_ctx_message(ctx));
    free(bytes);
    free(back);
    close(fd);
    close(out);
    return bad;
}

static void test_5xx_bursts_retried(void) {
    tsr_s3_client *c = proxied((tsr_s3_config){0});
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=status&code=500&count=2"), 0);
    CHECK_EQ_INT(put_get(c, "burst/a", 1000), 0);
    CHECK_EQ_INT(tsr_s3_retries(c), 2);
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=status&code=503&count=3&skip=1"), 0);
    CHECK_EQ_INT(put_get(c, "burst/b", 5000), 0); /* the put passes, the get is retried */
    CHECK_EQ_INT(tsr_s3_retries(c), 5);
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=status&code=429&count=1"), 0);
    CHECK_EQ_INT(put_get(c, "burst/c", 10), 0);
    CHECK_EQ_INT(tsr_s3_retries(c), 6);
    /* a multipart upload: part 2 and the completion each answered 500 once */
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=status&code=500&count=1&skip=2"), 0);
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=status&code=500&count=1&skip=4"), 0);
    CHECK_EQ_INT(put_get(c, "burst/big", BIG), 0);
    CHECK_EQ_INT(tsr_s3_retries(c), 8);
    tsr_s3_client_free(c);
    tsr_ctx_reset(ctx);
}

static void test_retries_run_out(void) {
    tsr_s3_client *c = proxied((tsr_s3_config){.max_attempts = 3});
    uint8_t *bytes;
    int fd = memfd_random(100, &bytes);
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=status&code=503&count=3"), 0);
    CHECK_EQ_INT(tsr_s3_put_fd(c, ctx, "out/x", fd, NULL), TSR_ERR_IO);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "put out/x: HTTP 503 SlowDown, after 3 tries");
    tsr_ctx_reset(ctx);
    /* a 4xx is never retried: one request, no retry */
    tsr_s3_config wrong = {.secret_key = "wrong"};
    tsr_s3_client *w = proxied(wrong);
    long long before = s3_stack_stat(&stack, "requests");
    CHECK_EQ_INT(tsr_s3_put_fd(w, ctx, "out/y", fd, NULL), TSR_ERR_USAGE);
    CHECK_EQ_INT(s3_stack_stat(&stack, "requests") - before, 1);
    CHECK_EQ_INT(tsr_s3_retries(w), 0);
    tsr_ctx_reset(ctx);
    tsr_s3_client_free(c);
    tsr_s3_client_free(w);
    free(bytes);
    close(fd);
}

static void test_resets_retried(void) {
    tsr_s3_client *c = proxied((tsr_s3_config){0});
    /* reset while the put's body is being sent, twice */
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=reset&count=2"), 0);
    CHECK_EQ_INT(put_get(c, "reset/a", 1u << 20), 0);
    CHECK_EQ_INT(tsr_s3_retries(c), 2);
    /* reset half-way through the get's answer: the output is written anew */
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=reset&count=1&after=body&skip=1"), 0);
    CHECK_EQ_INT(put_get(c, "reset/b", 3u << 20), 0);
    CHECK_EQ_INT(tsr_s3_retries(c), 3);
    /* a part of a multipart upload reset; on a kept-alive connection curl
     * itself may resend it (it rewinds through the seek callback), so only
     * the fault and the outcome are certain, not who retried */
    long long faults = s3_stack_stat(&stack, "faults");
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=reset&count=1&skip=3"), 0);
    CHECK_EQ_INT(put_get(c, "reset/big", BIG), 0);
    CHECK_EQ_INT(s3_stack_stat(&stack, "faults") - faults, 1);
    tsr_s3_client_free(c);
    tsr_ctx_reset(ctx);
}

static void test_stalls_cut_and_retried(void) {
    tsr_s3_client *c = proxied((tsr_s3_config){.low_speed_bytes = 1024, .low_speed_seconds = 1});
    double start = now_s();
    /* no answer at all to the put */
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=stall&count=1&seconds=60"), 0);
    CHECK_EQ_INT(put_get(c, "stall/a", 1000), 0);
    CHECK_EQ_INT(tsr_s3_retries(c), 1);
    /* half of the get's answer, then nothing */
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=stall&count=1&seconds=60&after=body&skip=1"), 0);
    CHECK_EQ_INT(put_get(c, "stall/b", 2u << 20), 0);
    CHECK_EQ_INT(tsr_s3_retries(c), 2);
    double took = now_s() - start;
    CHECK(took < 15); /* two cuts of about a second each, not the 60 s stalls */
    tsr_s3_client_free(c);
    tsr_ctx_reset(ctx);
}

/* Object names on s3rver's disk and its pending uploads (none expected). */
static bool on_disk(const char *key) {
    json_t *keys = s3_stack_control(&stack, "/objects");
    bool found = false;
    for (size_t i = 0; i < json_array_size(keys); i++)
        found |= !strcmp(json_string_value(json_array_get(keys, i)), key);
    json_decref(keys);
    return found;
}

static size_t pending_uploads(void) {
    json_t *uploads = s3_stack_control(&stack, "/uploads");
    size_t n = json_is_array(uploads) ? json_array_size(uploads) : 99;
    json_decref(uploads);
    return n;
}

static void failed_upload(tsr_s3_client *c, const char *name, const char *fault) {
    uint8_t *bytes;
    char key[128];
    int fd = memfd_random(BIG, &bytes);
    CHECK_EQ_INT(s3_stack_do(&stack, fault), 0);
    CHECK_EQ_INT(tsr_s3_put_fd(c, ctx, name, fd, NULL), TSR_ERR_IO);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "after 2 tries; the upload was aborted");
    snprintf(key, sizeof key, PREFIX "/%s", name);
    CHECK(!on_disk(key));
    CHECK_EQ_INT(pending_uploads(), 0);
    tsr_ctx_reset(ctx);
    free(bytes);
    close(fd);
}

static void test_failed_multipart_leaves_nothing(void) {
    tsr_s3_client *c = proxied((tsr_s3_config){.max_attempts = 2});
    /* part 3 fails twice (initiate, parts 1-2 pass) */
    failed_upload(c, "abort/part", "/fault?kind=status&code=503&count=2&skip=3");
    /* the completion fails twice (initiate and 5 parts pass) */
    failed_upload(c, "abort/complete", "/fault?kind=status&code=500&count=2&skip=6");
    /* over an older object: the older one stays whole */
    CHECK_EQ_INT(put_get(c, "abort/older", 3000), 0);
    uint8_t *bytes;
    int fd = memfd_random(BIG, &bytes), out = memfd_create("out", MFD_CLOEXEC);
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=status&code=503&count=2&skip=2"), 0);
    CHECK_EQ_INT(tsr_s3_put_fd(c, ctx, "abort/older", fd, NULL), TSR_ERR_IO);
    tsr_ctx_reset(ctx);
    tsr_s3_object info = {0};
    CHECK_EQ_INT(tsr_s3_get_fd(c, ctx, "abort/older", out, NULL, &info), TSR_OK);
    CHECK_EQ_INT(info.size, 3000);
    CHECK_EQ_INT(pending_uploads(), 0);
    free(bytes);
    close(fd);
    close(out);
    tsr_s3_client_free(c);
}

static void *restart_later(void *arg) {
    (void)arg;
    usleep(1200 * 1000);
    return (void *)(intptr_t)s3_stack_do(&stack, "/restart");
}

static void test_store_killed_and_restarted(void) {
    /* straight to the store: connections refused while it is down */
    tsr_s3_config cfg = {.max_attempts = 10, .backoff_base_ms = 200, .backoff_max_ms = 800};
    tsr_s3_client *c = s3_stack_client(&stack, stack.direct, PREFIX, &cfg, ctx);
    CHECK_EQ_INT(put_get(c, "restart/before", 2000), 0);
    CHECK_EQ_INT(s3_stack_do(&stack, "/kill"), 0);
    pthread_t t;
    pthread_create(&t, NULL, restart_later, NULL);
    CHECK_EQ_INT(put_get(c, "restart/during", 2000), 0);
    void *restarted;
    pthread_join(t, &restarted);
    CHECK_EQ_INT((intptr_t)restarted, 0);
    CHECK(tsr_s3_retries(c) >= 1);
    bool found = false;
    CHECK_EQ_INT(tsr_s3_head(c, ctx, "restart/before", &found, NULL), TSR_OK);
    CHECK(found); /* same directory after the restart */
    tsr_s3_client_free(c);
    tsr_ctx_reset(ctx);
}

static void *cancel_later(void *arg) {
    usleep(300 * 1000);
    tsr_ctx_cancel(arg);
    return NULL;
}

static void test_cancel_ends_a_stalled_request(void) {
    tsr_s3_client *c = proxied((tsr_s3_config){0});
    uint8_t *bytes;
    int fd = memfd_random(100, &bytes);
    CHECK_EQ_INT(s3_stack_do(&stack, "/fault?kind=stall&count=1&seconds=30"), 0);
    pthread_t t;
    double start = now_s();
    pthread_create(&t, NULL, cancel_later, ctx);
    CHECK_EQ_INT(tsr_s3_put_fd(c, ctx, "cancel/x", fd, NULL), TSR_ERR_CANCELLED);
    pthread_join(t, NULL);
    CHECK(now_s() - start < 5);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(s3_stack_do(&stack, "/clear"), 0);
    tsr_s3_client_free(c);
    free(bytes);
    close(fd);
}

int main(void) {
    char why[2048];
    ctx = tsr_ctx_new();
    if (s3_stack_start(&stack, why, sizeof why)) {
        printf("FAIL s3_stack: %s\n", why);
        fprintf(stderr, "FAIL s3_stack: %s\n", why);
        return 1;
    }
    RUN(test_5xx_bursts_retried);
    RUN(test_retries_run_out);
    RUN(test_resets_retried);
    RUN(test_stalls_cut_and_retried);
    RUN(test_failed_multipart_leaves_nothing);
    RUN(test_store_killed_and_restarted);
    RUN(test_cancel_ends_a_stalled_request);
    s3_stack_stop(&stack);
    tsr_ctx_free(ctx);
    return check_finish();
}
