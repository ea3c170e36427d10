/*
 * The local executor: a pool of threads shared by every caller. Each call to
 * run() posts a batch of indexed tasks and waits for it; workers take one
 * task at a time from the active batches in round-robin order, so concurrent
 * jobs share the pool fairly (a small job behind a huge one is not starved),
 * and fast threads simply take more tasks.
 */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "engine/plan_internal.h"
#include "util/clock.h"

/* One caller's tasks. Lives on the caller's stack for the length of run(). */
typedef struct batch {
    tsr_task_fn fn;      /* task body */
    void *arg;           /* its argument */
    tsr_ctx *ctx;        /* polled for cancellation */
    size_t n;            /* tasks in the batch */
    size_t next;         /* next task index to hand out */
    int in_flight;       /* tasks being run right now */
    tsr_status status;   /* first failure, TSR_OK when none */
    pthread_cond_t done; /* signalled when the batch has finished */
    struct batch *prev;  /* active-list links */
    struct batch *succ;  /* next in the active list */
} batch;

typedef struct local_executor {
    tsr_executor base;         /* must be first */
    pthread_t *threads;        /* the workers */
    pthread_mutex_t lock;      /* guards everything below and every batch's fields */
    pthread_cond_t work_ready; /* a batch was posted or shutdown began */
    batch *head;               /* active batches, oldest first */
    batch *cursor;             /* where the round-robin scan starts */
    int shutdown;              /* workers exit */
} local_executor;

typedef struct worker_arg {
    local_executor *ex; /* the pool */
    int index;          /* worker number */
} worker_arg;

/* Whether b still has tasks to hand out (stops early on failure or cancel). */
static int batch_open(const batch *b) {
    return b->next < b->n && b->status == TSR_OK && !tsr_ctx_cancelled(b->ctx);
}

static int batch_finished(const batch *b) {
    return b->in_flight == 0 && !batch_open(b);
}

/* Picks the next batch with work, round-robin from the cursor. Under lock. */
static batch *pick(local_executor *ex) {
    batch *start = ex->cursor ? ex->cursor : ex->head;
    batch *b = start;
    while (b) {
        if (batch_open(b)) {
            ex->cursor = b->succ ? b->succ : ex->head;
            return b;
        }
        b = b->succ ? b->succ : ex->head;
        if (b == start)
            break;
    }
    return NULL;
}

/* Wakes the caller of every finished batch. Not only the one a task just
 * came from: a batch cancelled while none of its tasks ran has no task of
 * its own left to report, so whichever worker finishes a task next wakes
 * it. Under lock. */
static void wake_finished(local_executor *ex) {
    for (batch *b = ex->head; b; b = b->succ)
        if (batch_finished(b))
            pthread_cond_signal(&b->done);
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    local_executor *ex = wa->ex;
    int index = wa->index;
    free(wa);
    pthread_mutex_lock(&ex->lock);
    for (;;) {
        batch *b = NULL;
        while (!ex->shutdown && !(b = pick(ex)))
            pthread_cond_wait(&ex->work_ready, &ex->lock);
        if (ex->shutdown)
            break;
        size_t task = b->next++;
        b->in_flight++;
        pthread_mutex_unlock(&ex->lock);
        tsr_status st = b->fn(b->arg, task, index);
        pthread_mutex_lock(&ex->lock);
        b->in_flight--;
        if (st && b->status == TSR_OK)
            b->status = st;
        wake_finished(ex);
    }
    pthread_mutex_unlock(&ex->lock);
    return NULL;
}

static void unlink_batch(local_executor *ex, batch *b) {
    if (b->prev)
        b->prev->succ = b->succ;
    else
        ex->head = b->succ;
    if (b->succ)
        b->succ->prev = b->prev;
    if (ex->cursor == b)
        ex->cursor = b->succ;
}

static tsr_status local_run(tsr_executor *base, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg) {
    local_executor *ex = (local_executor *)base;
    if (n == 0)
        return TSR_OK;
    batch b = {.fn = fn, .arg = arg, .ctx = ctx, .n = n, .done = PTHREAD_COND_INITIALIZER};
    pthread_mutex_lock(&ex->lock);
    /* Append: the newest batch joins the end of the round-robin. */
    batch **tail = &ex->head;
    while (*tail) {
        b.prev = *tail;
        tail = &(*tail)->succ;
    }
    *tail = &b;
    /* Wake the workers with the lock released: woken while it is held, they
     * would only block on it again, and if this thread lost its CPU to them
     * (or to other work) just then, every worker waited for its next time
     * slice: 5 ms stalls of a 5 ms thumbnail, seen with perf trace. */
    pthread_mutex_unlock(&ex->lock);
    pthread_cond_broadcast(&ex->work_ready);
    pthread_mutex_lock(&ex->lock);
    /* Cancelling the ctx wakes nobody: when it lands while no task of this
     * batch runs and the workers are idle, no worker finishes a task to call
     * wake_finished. So the wait also looks again every 100 ms. */
    while (!batch_finished(&b)) {
        struct timespec until = tsr_clock_deadline(CLOCK_REALTIME, 100);
        pthread_cond_timedwait(&b.done, &ex->lock, &until);
    }
    unlink_batch(ex, &b);
    tsr_status st = b.status;
    pthread_mutex_unlock(&ex->lock);
    pthread_cond_destroy(&b.done);
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
        pthread_join(ex->threads[i], NULL);
    free(ex->threads);
    pthread_mutex_destroy(&ex->lock);
    pthread_cond_destroy(&ex->work_ready);
    free(ex);
}

static const tsr_executor_vtable local_vtable = {.run = local_run, .destroy = local_destroy};

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
    pthread_mutex_init(&ex->lock, NULL);
    pthread_cond_init(&ex->work_ready, NULL);
    for (int i = 0; i < threads; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (wa) {
            wa->ex = ex;
            wa->index = i;
        }
        if (!wa || pthread_create(&ex->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            ex->base.threads = i;
            local_destroy(&ex->base);
            return tsr_error(ctx, TSR_ERR_INTERNAL, "could not start worker thread %d", i);
        }
        ex->base.threads = i + 1;
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
