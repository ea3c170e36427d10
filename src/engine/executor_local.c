/* The local executor: a pool of threads that run the tasks of one batch at a
 * time, pulling task indices from a shared counter (fast threads take more). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/plan_internal.h"

typedef struct local_executor {
    tsr_executor base;          /* must be first */
    pthread_t *threads;         /* the workers */
    pthread_mutex_t lock;       /* guards the fields below */
    pthread_cond_t work_ready;  /* a batch was posted or shutdown began */
    pthread_cond_t work_done;   /* a worker finished its part of a batch */
    pthread_mutex_t batch_lock; /* one batch at a time across callers */
    uint64_t generation;        /* bumped for each batch */
    int shutdown;               /* workers exit */
    int active;                 /* workers still in the current batch */
    /* The current batch. */
    tsr_task_fn fn;     /* task body */
    void *arg;          /* its argument */
    size_t n;           /* tasks in the batch */
    atomic_size_t next; /* next task index to take */
    atomic_int failed;  /* set by the first failing task */
    tsr_status status;  /* that failure (under lock) */
    tsr_ctx *ctx;       /* polled for cancellation */
} local_executor;

typedef struct worker_arg {
    local_executor *ex; /* the pool */
    int index;          /* worker number */
} worker_arg;

static void run_batch_part(local_executor *ex, int worker) {
    for (;;) {
        if (atomic_load(&ex->failed) || tsr_ctx_cancelled(ex->ctx))
            break;
        size_t t = atomic_fetch_add(&ex->next, 1);
        if (t >= ex->n)
            break;
        tsr_status st = ex->fn(ex->arg, t, worker);
        if (st) {
            pthread_mutex_lock(&ex->lock);
            if (!ex->status)
                ex->status = st;
            pthread_mutex_unlock(&ex->lock);
            atomic_store(&ex->failed, 1);
        }
    }
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    local_executor *ex = wa->ex;
    int index = wa->index;
    free(wa);
    uint64_t seen = 0;
    pthread_mutex_lock(&ex->lock);
    for (;;) {
        while (!ex->shutdown && ex->generation == seen)
            pthread_cond_wait(&ex->work_ready, &ex->lock);
        if (ex->shutdown)
            break;
        seen = ex->generation;
        pthread_mutex_unlock(&ex->lock);
        run_batch_part(ex, index);
        pthread_mutex_lock(&ex->lock);
        if (--ex->active == 0)
            pthread_cond_broadcast(&ex->work_done);
    }
    pthread_mutex_unlock(&ex->lock);
    return NULL;
}

static tsr_status local_run(tsr_executor *base, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg) {
    local_executor *ex = (local_executor *)base;
    if (n == 0)
        return TSR_OK;
    pthread_mutex_lock(&ex->batch_lock);
    pthread_mutex_lock(&ex->lock);
    ex->fn = fn;
    ex->arg = arg;
    ex->n = n;
    ex->ctx = ctx;
    atomic_store(&ex->next, 0);
    atomic_store(&ex->failed, 0);
    ex->status = TSR_OK;
    ex->active = base->threads;
    ex->generation++;
    pthread_cond_broadcast(&ex->work_ready);
    while (ex->active > 0)
        pthread_cond_wait(&ex->work_done, &ex->lock);
    tsr_status st = ex->status;
    pthread_mutex_unlock(&ex->lock);
    pthread_mutex_unlock(&ex->batch_lock);
    if (!st && tsr_ctx_cancelled(ctx))
        st = TSR_ERR_CANCELLED;
    return st;
}

static void local_destroy(tsr_executor *base) {
    local_executor *ex = (local_executor *)base;
    pthread_mutex_lock(&ex->lock);
    ex->shutdown = 1;
    pthread_cond_broadcast(&ex->work_ready);
    pthread_mutex_unlock(&ex->lock);
    for (int i = 0; i < base->threads; i++)
        if (ex->threads[i])
            pthread_join(ex->threads[i], NULL);
    free(ex->threads);
    pthread_mutex_destroy(&ex->lock);
    pthread_mutex_destroy(&ex->batch_lock);
    pthread_cond_destroy(&ex->work_ready);
    pthread_cond_destroy(&ex->work_done);
    free(ex);
}

static const tsr_executor_vtable local_vtable = {local_run, local_destroy};

tsr_status tsr_executor_local_new(tsr_ctx *ctx, int threads, tsr_executor **out) {
    *out = NULL;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > 1024)
        return tsr_error(ctx, TSR_ERR_USAGE, "too many threads (%d; the limit is 1024)", threads);
    local_executor *ex = calloc(1, sizeof *ex);
    if (!ex || !(ex->threads = calloc((size_t)threads, sizeof *ex->threads))) {
        free(ex);
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    }
    ex->base.vt = &local_vtable;
    ex->base.threads = threads;
    pthread_mutex_init(&ex->lock, NULL);
    pthread_mutex_init(&ex->batch_lock, NULL);
    pthread_cond_init(&ex->work_ready, NULL);
    pthread_cond_init(&ex->work_done, NULL);
    for (int i = 0; i < threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa || (wa->ex = ex, wa->index = i,
                    pthread_create(&ex->threads[i], NULL, worker_main, wa) != 0)) {
            free(wa);
            ex->base.threads = i;
            local_destroy(&ex->base);
            return tsr_error(ctx, TSR_ERR_INTERNAL, "could not start worker thread %d", i);
        }
    }
    *out = &ex->base;
    return TSR_OK;
}

void tsr_executor_free(tsr_executor *exec) {
    if (exec)
        exec->vt->destroy(exec);
}

int tsr_executor_threads(const tsr_executor *exec) {
    return exec->threads;
}
