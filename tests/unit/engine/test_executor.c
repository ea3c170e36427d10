/* The local executor: concurrent callers, round-robin fairness, failures, cancellation. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"
#include "engine/plan_internal.h"
#include "tessera/tessera.h"
#include "util/clock.h"

typedef struct counter {
    atomic_int ran;  /* tasks run */
    int sleep_us;    /* per task */
    int fail_at;     /* task index that fails, -1 none */
    tsr_ctx *cancel; /* cancelled at task cancel_at */
    int cancel_at;   /* see above */
} counter;

static tsr_status count_task(void *arg, size_t task, int worker) {
    counter *c = arg;
    (void)worker;
    if (c->sleep_us)
        usleep((useconds_t)c->sleep_us);
    atomic_fetch_add(&c->ran, 1);
    if ((int)task == c->fail_at)
        return TSR_ERR_CORRUPT;
    if (c->cancel && (int)task == c->cancel_at)
        tsr_ctx_cancel(c->cancel);
    return TSR_OK;
}

typedef struct big_job {
    tsr_executor *ex; /* the pool */
    tsr_ctx *ctx;     /* its context */
    counter c;        /* its tasks */
    double finished;  /* when run() returned */
} big_job;

static void *run_big(void *p) {
    big_job *j = p;
    j->ex->vt->run(j->ex, j->ctx, 400, count_task, &j->c);
    j->finished = tsr_clock_mono_s();
    return NULL;
}

static void test_small_job_not_starved(void) {
    tsr_ctx *ctx = tsr_ctx_new(), *ctx2 = tsr_ctx_new();
    tsr_executor *ex = NULL;
    CHECK_EQ_INT(tsr_executor_local_new(ctx, 2, &ex), TSR_OK);
    big_job big = {ex, ctx, {0, 2000, -1, NULL, 0}, 0};
    pthread_t t;
    pthread_create(&t, NULL, run_big, &big);
    usleep(50000);
    counter small = {0, 2000, -1, NULL, 0};
    double t0 = tsr_clock_mono_s();
    CHECK_EQ_INT(ex->vt->run(ex, ctx2, 10, count_task, &small), TSR_OK);
    double small_done = tsr_clock_mono_s();
    pthread_join(t, NULL);
    CHECK_EQ_INT(atomic_load(&small.ran), 10);
    CHECK_EQ_INT(atomic_load(&big.c.ran), 400);
    /* Alone the small batch takes ~10 ms on 2 threads; interleaved with the
     * big one ~20 ms. Behind it (FIFO) it would wait ~400 ms. */
    printf("     small batch: %.0f ms while the big one ran %.0f ms more\n",
           (small_done - t0) * 1000, (big.finished - small_done) * 1000);
    CHECK(small_done - t0 < 0.15);
    CHECK(big.finished > small_done);
    tsr_executor_free(ex);
    tsr_ctx_free(ctx);
    tsr_ctx_free(ctx2);
}

static void test_failure_stops_batch(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *ex = NULL;
    tsr_executor_local_new(ctx, 3, &ex);
    counter c = {0, 100, 5, NULL, 0};
    CHECK_EQ_INT(ex->vt->run(ex, ctx, 10000, count_task, &c), TSR_ERR_CORRUPT);
    CHECK(atomic_load(&c.ran) < 100);
    /* The pool is still usable. */
    counter ok = {0, 0, -1, NULL, 0};
    CHECK_EQ_INT(ex->vt->run(ex, ctx, 1000, count_task, &ok), TSR_OK);
    CHECK_EQ_INT(atomic_load(&ok.ran), 1000);
    tsr_executor_free(ex);
    tsr_ctx_free(ctx);
}

static void test_cancel_stops_batch(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *ex = NULL;
    tsr_executor_local_new(ctx, 2, &ex);
    counter c = {0, 100, -1, ctx, 20};
    CHECK_EQ_INT(ex->vt->run(ex, ctx, 100000, count_task, &c), TSR_ERR_CANCELLED);
    CHECK(atomic_load(&c.ran) < 100);
    tsr_executor_free(ex);
    tsr_ctx_free(ctx);
}

typedef struct many_arg {
    tsr_executor *ex; /* shared pool */
    int ok;           /* result */
} many_arg;

static void *run_many(void *p) {
    many_arg *m = p;
    tsr_ctx *ctx = tsr_ctx_new();
    counter c = {0, 0, -1, NULL, 0};
    m->ok = 1;
    for (int i = 0; i < 50; i++) {
        atomic_store(&c.ran, 0);
        if (m->ex->vt->run(m->ex, ctx, 97, count_task, &c) || atomic_load(&c.ran) != 97)
            m->ok = 0;
    }
    tsr_ctx_free(ctx);
    return NULL;
}

static void test_many_concurrent_callers(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *ex = NULL;
    tsr_executor_local_new(ctx, 4, &ex);
    pthread_t t[6];
    many_arg m[6];
    for (int i = 0; i < 6; i++) {
        m[i].ex = ex;
        pthread_create(&t[i], NULL, run_many, &m[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        CHECK(m[i].ok);
    }
    tsr_executor_free(ex);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_small_job_not_starved);
    RUN(test_failure_stops_batch);
    RUN(test_cancel_stops_batch);
    RUN(test_many_concurrent_callers);
    return check_finish();
}
