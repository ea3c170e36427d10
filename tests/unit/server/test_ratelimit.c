/* The request rate limiter (src/server/ratelimit.c): refill arithmetic with
 * an injected clock, Retry-After values, peeks, eviction in a small table,
 * bounded memory under many keys, and the log throttle. */
#include <math.h>
#include <stdio.h>

#include "check.h"
#include "server/ratelimit.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

static void test_burst_then_refill(void) {
    tsr_ratelimit *rl = tsr_ratelimit_new(2.0, 5.0, 64);
    double retry = -1;
    CHECK(rl != NULL);
    for (int i = 0; i < 5; i++)
        CHECK(tsr_ratelimit_take(rl, "u:1", 100.0, &retry));
    CHECK(!tsr_ratelimit_take(rl, "u:1", 100.0, &retry));
    CHECK(NEAR(retry, 0.5)); /* one token at 2 per second */
    CHECK(!tsr_ratelimit_take(rl, "u:1", 100.4, &retry));
    CHECK(NEAR(retry, 0.1));
    CHECK(tsr_ratelimit_take(rl, "u:1", 100.5, &retry));
    CHECK(!tsr_ratelimit_take(rl, "u:1", 100.5, NULL));
    /* a long pause refills to the burst, never beyond */
    for (int i = 0; i < 5; i++)
        CHECK(tsr_ratelimit_take(rl, "u:1", 1000.0, NULL));
    CHECK(!tsr_ratelimit_take(rl, "u:1", 1000.0, NULL));
    tsr_ratelimit_stats s;
    tsr_ratelimit_get_stats(rl, &s);
    CHECK_EQ_INT(s.limited, 4);
    CHECK_EQ_INT(s.keys, 1);
    tsr_ratelimit_free(rl);
}

/* Two coordinators share the limits: each takes half the rate and burst;
 * back to one, the whole again; the burst never drops under one token. */
static void test_share(void) {
    tsr_ratelimit *rl = tsr_ratelimit_new(4.0, 10.0, 64);
    double retry = -1;
    tsr_ratelimit_set_share(rl, 2);
    for (int i = 0; i < 5; i++)
        CHECK(tsr_ratelimit_take(rl, "u:1", 1000.0, NULL));
    CHECK(!tsr_ratelimit_take(rl, "u:1", 1000.0, &retry));
    CHECK(NEAR(retry, 0.5)); /* one token at 2 per second */
    tsr_ratelimit_set_share(rl, 1);
    for (int i = 0; i < 10; i++)
        CHECK(tsr_ratelimit_take(rl, "u:1", 2000.0, NULL));
    CHECK(!tsr_ratelimit_take(rl, "u:1", 2000.0, NULL));
    tsr_ratelimit_set_share(rl, 50);
    CHECK(tsr_ratelimit_take(rl, "u:2", 3000.0, NULL));
    CHECK(!tsr_ratelimit_take(rl, "u:2", 3000.0, &retry));
    CHECK(NEAR(retry, 12.5));       /* 4 / 50 a second */
    tsr_ratelimit_set_share(rl, 0); /* as 1 */
    CHECK(tsr_ratelimit_take(rl, "u:2", 3000.25, NULL));
    tsr_ratelimit_free(rl);
}

static void test_keys_are_separate(void) {
    tsr_ratelimit *rl = tsr_ratelimit_new(1.0, 1.0, 64);
    CHECK(tsr_ratelimit_take(rl, "u:1", 0, NULL));
    CHECK(!tsr_ratelimit_take(rl, "u:1", 0, NULL));
    CHECK(tsr_ratelimit_take(rl, "u:2", 0, NULL));
    CHECK(tsr_ratelimit_take(rl, "a:127.0.0.1", 0, NULL));
    tsr_ratelimit_free(rl);
}

static void test_peek_takes_nothing(void) {
    tsr_ratelimit *rl = tsr_ratelimit_new(1.0, 2.0, 64);
    double retry = -1;
    CHECK(tsr_ratelimit_peek(rl, "a:x", 0, &retry)); /* unknown: full */
    CHECK(tsr_ratelimit_peek(rl, "a:x", 0, NULL));
    CHECK(tsr_ratelimit_take(rl, "a:x", 0, NULL));
    CHECK(tsr_ratelimit_peek(rl, "a:x", 0, NULL));
    CHECK(tsr_ratelimit_take(rl, "a:x", 0, NULL));
    CHECK(!tsr_ratelimit_peek(rl, "a:x", 0.25, &retry));
    CHECK(NEAR(retry, 0.75));
    CHECK(tsr_ratelimit_peek(rl, "a:x", 1.0, NULL));
    tsr_ratelimit_stats s;
    tsr_ratelimit_get_stats(rl, &s);
    CHECK_EQ_INT(s.limited, 0); /* peeks are not refusals */
    tsr_ratelimit_free(rl);
}

static void test_eviction_lru(void) {
    /* one set of 8 ways: the 9th key evicts the least recently used */
    tsr_ratelimit *rl = tsr_ratelimit_new(1.0, 1.0, 8);
    char key[32];
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "a:10.0.0.%d", i);
        CHECK(tsr_ratelimit_take(rl, key, 10.0 + i * 0.01, NULL));
    }
    tsr_ratelimit_stats s;
    tsr_ratelimit_get_stats(rl, &s);
    CHECK_EQ_INT(s.keys, 8);
    CHECK_EQ_INT(s.slots, 8);
    CHECK(!tsr_ratelimit_take(rl, "a:10.0.0.0", 10.5, NULL)); /* still held, still empty */
    CHECK(tsr_ratelimit_take(rl, "a:new", 10.5, NULL));       /* evicts 10.0.0.1 (oldest) */
    tsr_ratelimit_get_stats(rl, &s);
    CHECK_EQ_INT(s.keys, 8);
    CHECK_EQ_INT(s.evictions, 1);
    CHECK(tsr_ratelimit_take(rl, "a:10.0.0.1", 10.5, NULL)); /* forgotten: full again */
    tsr_ratelimit_free(rl);
}

static void test_many_keys_bounded(void) {
    tsr_ratelimit *rl = tsr_ratelimit_new(10.0, 20.0, 1000);
    char key[48];
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "a:%d.%d.%d.%d", i >> 24, (i >> 16) & 255, (i >> 8) & 255,
                 i & 255);
        CHECK(tsr_ratelimit_take(rl, key, i * 1e-6, NULL));
    }
    tsr_ratelimit_stats s;
    tsr_ratelimit_get_stats(rl, &s);
    CHECK_EQ_INT(s.slots, 1000);
    CHECK(s.keys <= 1000);
    CHECK(s.keys > 900); /* the hash spreads keys over the sets */
    /* a busy key survives a flood of one-shot keys when it is used in between */
    for (int i = 0; i < 20; i++)
        CHECK(tsr_ratelimit_take(rl, "u:7", 1.0, NULL));
    CHECK(!tsr_ratelimit_take(rl, "u:7", 1.0, NULL));
    tsr_ratelimit_free(rl);
}

static void test_long_key_cut(void) {
    tsr_ratelimit *rl = tsr_ratelimit_new(1.0, 1.0, 16);
    char a[200], b[200];
    memset(a, 'x', sizeof a - 1), a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    b[150] = 'y'; /* differs only past the cut: same bucket */
    CHECK(tsr_ratelimit_take(rl, a, 0, NULL));
    CHECK(!tsr_ratelimit_take(rl, b, 0, NULL));
    tsr_ratelimit_free(rl);
}

static void test_log_due(void) {
    tsr_ratelimit *rl = tsr_ratelimit_new(1.0, 1.0, 16);
    CHECK(tsr_ratelimit_log_due(rl, "u:1", 5.0, 1.0));
    CHECK(!tsr_ratelimit_log_due(rl, "u:1", 5.5, 1.0));
    CHECK(tsr_ratelimit_log_due(rl, "u:2", 5.5, 1.0));
    CHECK(tsr_ratelimit_log_due(rl, "u:1", 6.0, 1.0));
    tsr_ratelimit_free(rl);
}

static void test_bad_arguments(void) {
    CHECK(tsr_ratelimit_new(0, 1, 8) == NULL);
    CHECK(tsr_ratelimit_new(1, 0.5, 8) == NULL);
    tsr_ratelimit *rl = tsr_ratelimit_new(1, 1, 0); /* rounds up to one set */
    CHECK(rl != NULL);
    tsr_ratelimit_free(rl);
    tsr_ratelimit_free(NULL);
}

int main(void) {
    RUN(test_burst_then_refill);
    RUN(test_share);
    RUN(test_keys_are_separate);
    RUN(test_peek_takes_nothing);
    RUN(test_eviction_lru);
    RUN(test_many_keys_bounded);
    RUN(test_long_key_cut);
    RUN(test_log_due);
    RUN(test_bad_arguments);
    return check_finish();
}
