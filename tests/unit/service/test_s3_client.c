/* The S3 client (src/service/s3_client.h) against a real s3rver (tests/s3):
 * locations and configuration, the start-up check's three messages, round
 * trips of small, empty and multipart objects, ranged reads, head, list
 * over several pages, delete, a corrupted object caught by its SHA-256, and
 * one client shared by threads. Faults: test_s3_faults.c. */
#include <pthread.h>

#include "check.h"
#include "s3_stack.h"

#define PREFIX "unit"
#define BIG    (40u << 20) /* a multipart object: 5 parts of 8 MiB */

static s3_stack stack;
static tsr_ctx *ctx;
static tsr_s3_client *client; /* through the fault proxy (no faults here) */

static void test_location_parse(void) {
    tsr_s3_location loc;
    CHECK_EQ_INT(tsr_s3_location_parse(ctx, "s3://my-bucket.1/a/b/", &loc), TSR_OK);
    CHECK(!strcmp(loc.bucket, "my-bucket.1") && !strcmp(loc.prefix, "a/b"));
    CHECK_EQ_INT(tsr_s3_location_parse(ctx, "s3://abc", &loc), TSR_OK);
    CHECK(!strcmp(loc.bucket, "abc") && loc.prefix[0] == '\0');
    static const struct {
        const char *url, *says;
    } bad[] = {
        {"http://bucket", "s3://BUCKET"},
        {"s3://ab", "3 to 63"},
        {"s3://Bucket", "a-z, 0-9"},
        {"s3://-bucket", "start and end"},
        {"s3://a..b", "'..'"},
        {"s3://192.168.1.1", "IP address"},
        {"s3://xn--abc", "reserved"},
        {"s3://b-s3alias", "reserved"},
        {"s3://bucket/a//b", "empty, '.' or '..'"},
        {"s3://bucket/a/../b", "'..'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_s3_location_parse(ctx, bad[i].url, &loc), TSR_ERR_USAGE);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), bad[i].says);
    }
    tsr_ctx_reset(ctx);
}

static void test_config(void) {
    tsr_s3_location loc;
    tsr_s3_client *c = NULL;
    tsr_s3_location_parse(ctx, "s3://bucket", &loc);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_REGION");
    unsetenv(TSR_S3_ENV_ENDPOINT);
    CHECK_EQ_INT(tsr_s3_client_new(ctx, NULL, &loc, &c), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    tsr_ctx_reset(ctx);
    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
    setenv("AWS_REGION", "eu-west-3", 1);
    CHECK_EQ_INT(tsr_s3_client_new(ctx, NULL, &loc, &c), TSR_OK);
    CHECK(c && !strcmp(tsr_s3_client_endpoint(c), "https://s3.eu-west-3.amazonaws.com"));
    CHECK(c && !strcmp(tsr_s3_client_region(c), "eu-west-3"));
    tsr_s3_client_free(c);
    setenv(TSR_S3_ENV_ENDPOINT, "http://127.0.0.1:9000/", 1);
    CHECK_EQ_INT(tsr_s3_client_new(ctx, NULL, &loc, &c), TSR_OK);
    CHECK(c && !strcmp(tsr_s3_client_endpoint(c), "http://127.0.0.1:9000"));
    tsr_s3_client_free(c);
    setenv(TSR_S3_ENV_ENDPOINT, "ftp://host", 1);
    CHECK_EQ_INT(tsr_s3_client_new(ctx, NULL, &loc, &c), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "http:// or https://");
    unsetenv(TSR_S3_ENV_ENDPOINT);
    unsetenv("AWS_REGION");
    tsr_ctx_reset(ctx);
}

/* The message of a check through a client made with cfg (NULL on success). */
static const char *check_with(const char *endpoint, const char *bucket, tsr_s3_config *cfg,
                              tsr_status want) {
    s3_stack other = stack;
    if (bucket)
        snprintf(other.bucket, sizeof other.bucket, "%s", bucket);
    tsr_ctx_reset(ctx);
    tsr_s3_client *c = s3_stack_client(&other, endpoint, PREFIX, cfg, ctx);
    CHECK(c != NULL);
    CHECK_EQ_INT(tsr_s3_check(c, ctx), want);
    tsr_s3_client_free(c);
    return tsr_ctx_message(ctx);
}

static void test_check_messages(void) {
    CHECK(!*check_with(stack.endpoint, NULL, NULL, TSR_OK));
    tsr_s3_config wrong_secret = {.secret_key = "not-the-secret"};
    const char *m = check_with(stack.endpoint, NULL, &wrong_secret, TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(m, "wrong credentials");
    CHECK_STR_CONTAINS(m, "check AWS_SECRET_ACCESS_KEY");
    tsr_s3_config wrong_key = {.access_key = "NOBODY"};
    m = check_with(stack.endpoint, NULL, &wrong_key, TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(m, "does not know access key id 'NOBODY'");
    m = check_with(stack.endpoint, "no-such-bucket", NULL, TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(m, "bucket 'no-such-bucket' does not exist");
    tsr_s3_config fast = {.max_attempts = 2, .backoff_base_ms = 10};
    m = check_with("http://127.0.0.1:1", NULL, &fast, TSR_ERR_IO);
    CHECK_STR_CONTAINS(m, "endpoint http://127.0.0.1:1 is unreachable");
    m = check_with("http://no-such-host.invalid", NULL, &fast, TSR_ERR_IO);
    CHECK_STR_CONTAINS(m, "cannot resolve its host");
    tsr_ctx_reset(ctx);
}

/* Puts n random bytes as `name`, reads them back whole, compares. */
static void round_trip(const char *name, size_t n) {
    uint8_t *bytes, *back, digest[32];
    char hex[65];
    size_t len = 0;
    bool found = false;
    tsr_s3_object put = {0}, got = {0}, head = {0};
    int fd = memfd_random(n, &bytes), out = memfd_create("out", MFD_CLOEXEC);
    crypto_hash_sha256(digest, bytes, n);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    CHECK_EQ_INT(tsr_s3_put_fd(client, ctx, name, fd, &put), TSR_OK);
    CHECK(put.size == n && !strcmp(put.sha256, hex));
    CHECK_EQ_INT(tsr_s3_head(client, ctx, name, &found, &head), TSR_OK);
    CHECK(found && head.size == n && !strcmp(head.sha256, hex));
    CHECK_EQ_INT(write(out, "stale", 5), 5); /* truncated by the get */
    CHECK_EQ_INT(tsr_s3_get_fd(client, ctx, name, out, &found, &got), TSR_OK);
    back = fd_content(out, &len);
    CHECK(found && len == n && got.size == n && !memcmp(back, bytes, n));
    CHECK(!strcmp(got.sha256, hex));
    if (tsr_ctx_status(ctx))
        fprintf(stderr, "%s\n", tsr_ctx_message(ctx));
    free(bytes);
    free(back);
    close(fd);
    close(out);
}

static void test_round_trip_small(void) {
    round_trip("small/one", 1000);
    round_trip("small/empty", 0);
    round_trip("small/name with spaces & symbols+=!'()*~", 4097);
}

static void test_round_trip_multipart(void) {
    long long before = s3_stack_stat(&stack, "requests");
    round_trip("big/forty", BIG);
    /* head + initiate + 5 parts + complete + get, at least */
    CHECK(s3_stack_stat(&stack, "requests") - before >= 9);
}

static void test_ranged_reads(void) {
    uint8_t *bytes, *buf = malloc(3u << 20);
    size_t got = 0, n = 10u << 20;
    int fd = memfd_random(n, &bytes);
    CHECK_EQ_INT(tsr_s3_put_fd(client, ctx, "range/obj", fd, NULL), TSR_OK);
    const struct {
        uint64_t offset;
        size_t length, want;
    } cases[] = {{0, 100, 100},
                 {(8u << 20) - 1000, 2u << 20, 2u << 20},
                 {(8u << 20) - 1000, 3u << 20, n - (8u << 20) + 1000},
                 {n - 10, 100, 10},
                 {n, 100, 0},
                 {n + 5, 1, 0},
                 {12345, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(buf, 0, 3u << 20);
        CHECK_EQ_INT(
            tsr_s3_get_range(client, ctx, "range/obj", cases[i].offset, cases[i].length, buf, &got),
            TSR_OK);
        CHECK_EQ_INT(got, cases[i].want);
        CHECK(!got || !memcmp(buf, bytes + cases[i].offset, got));
    }
    CHECK_EQ_INT(tsr_s3_get_range(client, ctx, "range/missing", 0, 10, buf, &got), TSR_ERR_IO);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "no such object");
    tsr_ctx_reset(ctx);
    free(bytes);
    free(buf);
    close(fd);
}

typedef struct listed {
    char names[16][64]; /* what the listing gave */
    int count;          /* how many */
    int stop_after;     /* stop once this many came (0: never) */
} listed;

static int collect(void *arg, const char *name, uint64_t size) {
    listed *l = arg;
    if (l->count < 16)
        snprintf(l->names[l->count], sizeof l->names[0], "%s:%llu", name, (unsigned long long)size);
    l->count++;
    return l->stop_after && l->count >= l->stop_after;
}

static void test_list_pages(void) {
    tsr_s3_config small_pages = {.list_page = 3};
    tsr_s3_client *c = s3_stack_client(&stack, stack.endpoint, PREFIX, &small_pages, ctx);
    uint8_t *bytes;
    int fd = memfd_random(7, &bytes);
    char name[32];
    for (int i = 6; i >= 0; i--) { /* written out of order: listed sorted */
        snprintf(name, sizeof name, "list/k%d", i);
        CHECK_EQ_INT(tsr_s3_put_fd(c, ctx, name, fd, NULL), TSR_OK);
    }
    CHECK_EQ_INT(tsr_s3_put_fd(c, ctx, "listx", fd, NULL), TSR_OK);
    long long before = s3_stack_stat(&stack, "requests");
    listed all = {0}, some = {.stop_after = 4};
    CHECK_EQ_INT(tsr_s3_list(c, ctx, "list/", collect, &all), TSR_OK);
    CHECK_EQ_INT(s3_stack_stat(&stack, "requests") - before, 3); /* 3 pages */
    CHECK_EQ_INT(all.count, 7);
    for (int i = 0; i < 7 && i < all.count; i++) {
        snprintf(name, sizeof name, "list/k%d:7", i);
        CHECK(!strcmp(all.names[i], name));
    }
    CHECK_EQ_INT(tsr_s3_list(c, ctx, "list/", collect, &some), TSR_OK);
    CHECK_EQ_INT(some.count, 4);
    listed none = {0};
    CHECK_EQ_INT(tsr_s3_list(c, ctx, "nothing-here/", collect, &none), TSR_OK);
    CHECK_EQ_INT(none.count, 0);
    tsr_s3_client_free(c);
    free(bytes);
    close(fd);
}

static void test_delete(void) {
    uint8_t *bytes;
    bool found = true;
    int fd = memfd_random(100, &bytes), out = memfd_create("out", MFD_CLOEXEC);
    CHECK_EQ_INT(tsr_s3_put_fd(client, ctx, "del/x", fd, NULL), TSR_OK);
    CHECK_EQ_INT(tsr_s3_delete(client, ctx, "del/x"), TSR_OK);
    CHECK_EQ_INT(tsr_s3_head(client, ctx, "del/x", &found, NULL), TSR_OK);
    CHECK(!found);
    CHECK_EQ_INT(tsr_s3_delete(client, ctx, "del/x"), TSR_OK); /* idempotent */
    found = true;
    CHECK_EQ_INT(tsr_s3_get_fd(client, ctx, "del/x", out, &found, NULL), TSR_OK);
    CHECK(!found);
    CHECK_EQ_INT(tsr_s3_get_fd(client, ctx, "del/x", out, NULL, NULL), TSR_ERR_IO);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "get del/x: no such object");
    tsr_ctx_reset(ctx);
    free(bytes);
    close(fd);
    close(out);
}

static void test_sha256_mismatch(void) {
    uint8_t *bytes;
    size_t len = 99;
    int fd = memfd_random(5000, &bytes), out = memfd_create("out", MFD_CLOEXEC);
    CHECK_EQ_INT(tsr_s3_put_fd(client, ctx, "bad/flipped", fd, NULL), TSR_OK);
    CHECK_EQ_INT(s3_stack_do(&stack, "/corrupt?key=" PREFIX "/bad/flipped"), 0);
    CHECK_EQ_INT(tsr_s3_get_fd(client, ctx, "bad/flipped", out, NULL, NULL), TSR_ERR_CORRUPT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "object bad/flipped failed its SHA-256 check");
    free(fd_content(out, &len));
    CHECK_EQ_INT(len, 0); /* nothing unverified left for the caller */
    tsr_ctx_reset(ctx);
    free(bytes);
    close(fd);
    close(out);
}

static void *thread_work(void *arg) {
    int id = (int)(intptr_t)arg, failures = 0;
    tsr_ctx *own = tsr_ctx_new();
    char name[32];
    for (int round = 0; round < 3; round++) {
        uint8_t *bytes, *back;
        size_t n = (size_t)(64u << 10) * (size_t)(1 + id + round), len = 0;
        int fd = memfd_random(n, &bytes), out = memfd_create("out", MFD_CLOEXEC);
        snprintf(name, sizeof name, "threads/t%d-%d", id, round);
        failures += tsr_s3_put_fd(client, own, name, fd, NULL) != TSR_OK;
        failures += tsr_s3_get_fd(client, own, name, out, NULL, NULL) != TSR_OK;
        back = fd_content(out, &len);
        failures += len != n || memcmp(back, bytes, n) != 0;
        failures += tsr_s3_delete(client, own, name) != TSR_OK;
        free(bytes);
        free(back);
        close(fd);
        close(out);
    }
    if (failures)
        fprintf(stderr, "thread %d: %s\n", id, tsr_ctx_message(own));
    tsr_ctx_free(own);
    return (void *)(intptr_t)failures;
}

/* s3rver itself sometimes answers 500 to concurrent deletes in one folder
 * (it removes emptied folders): the client's retries cover it. */
static void test_threads_share_a_client(void) {
    /* An object that stays in threads/ while the threads run: s3rver creates
     * and removes a key's folder with each first put and last delete, and
     * races between those (not the client) once brought it down here. */
    uint8_t *keep_bytes;
    int keep = memfd_random(16, &keep_bytes);
    CHECK(tsr_s3_put_fd(client, ctx, "threads/keep", keep, NULL) == TSR_OK);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_work, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++) {
        void *failures;
        pthread_join(t[i], &failures);
        CHECK_EQ_INT((intptr_t)failures, 0);
    }
    CHECK(tsr_s3_delete(client, ctx, "threads/keep") == TSR_OK);
    free(keep_bytes);
    close(keep);
}

int main(void) {
    char why[2048];
    ctx = tsr_ctx_new();
    RUN(test_location_parse);
    RUN(test_config);
    if (s3_stack_start(&stack, why, sizeof why)) {
        printf("FAIL s3_stack: %s\n", why);
        fprintf(stderr, "FAIL s3_stack: %s\n", why);
        return 1;
    }
    client = s3_stack_client(&stack, stack.endpoint, PREFIX, NULL, ctx);
    RUN(test_check_messages);
    RUN(test_round_trip_small);
    RUN(test_round_trip_multipart);
    RUN(test_ranged_reads);
    RUN(test_list_pages);
    RUN(test_delete);
    RUN(test_sha256_mismatch);
    RUN(test_threads_share_a_client);
    tsr_s3_client_free(client);
    s3_stack_stop(&stack);
    tsr_ctx_free(ctx);
    return check_finish();
}
