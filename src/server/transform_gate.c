/* Admission of transforms (POST /api/v1/transform): at most `slots` run at
 * once and at most `queue` more are admitted besides, while their body
 * comes in or while they wait for a slot; past that a request is refused
 * before its body is read (503). A freed slot passes straight to the
 * oldest waiter, so waiters run in arrival order and none is woken for
 * nothing. It also keeps the memfds of finished bodies for the next ones:
 * writing 289 KB into a new memfd and freeing it took 150 us, into a kept
 * one 28 us. docs/internals/transform.md. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <sys/mman.h> /* memfd_create (_GNU_SOURCE is set by the build) */
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"
#include "util/clock.h"

/* One request waiting for a slot; lives on its thread's stack. */
typedef struct waiter {
    pthread_cond_t cond; /* signalled when granted a slot or the gate closes */
    int granted;         /* a slot was passed to it */
    struct waiter *next; /* the next younger waiter */
} waiter;

#define IDLE_BODIES     8                /* memfds kept at most (and at most `slots`) */
#define IDLE_BODY_BYTES ((off_t)4 << 20) /* what a kept memfd keeps of its pages */

struct transform_gate {
    pthread_mutex_t lock;         /* guards everything below */
    unsigned slots;               /* transforms that may run at once */
    unsigned queue;               /* admitted besides the running ones */
    unsigned running;             /* holding a slot */
    unsigned admitted;            /* admitted and not yet left: running + waiting */
    int closed;                   /* the server is draining: no admissions, waiters leave */
    waiter *head, *tail;          /* waiters, oldest first */
    atomic_uint_fast64_t refused; /* admissions refused and waits given up (503) */
    int idle[IDLE_BODIES];        /* memfds of finished bodies, for the next ones */
    unsigned idle_count;          /* of idle[]; at most `slots` */
};

transform_gate *gate_new(unsigned slots, unsigned queue) {
    transform_gate *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    pthread_mutex_init(&g->lock, NULL);
    g->slots = slots ? slots : 1;
    g->queue = queue;
    return g;
}

void gate_free(transform_gate *g) {
    if (!g)
        return;
    while (g->idle_count)
        close(g->idle[--g->idle_count]);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

int gate_admit(transform_gate *g) {
    pthread_mutex_lock(&g->lock);
    int ok = !g->closed && g->admitted < g->slots + g->queue;
    if (ok)
        g->admitted++;
    pthread_mutex_unlock(&g->lock);
    if (!ok)
        atomic_fetch_add(&g->refused, 1);
    return ok;
}

/* Takes `w` out of the waiting list. Under lock. */
static void unlink_waiter(transform_gate *g, waiter *w) {
    waiter *prev = NULL;
    for (waiter *p = g->head; p; prev = p, p = p->next) {
        if (p != w)
            continue;
        if (prev)
            prev->next = w->next;
        else
            g->head = w->next;
        if (g->tail == w)
            g->tail = prev;
        return;
    }
}

int gate_run(transform_gate *g, double seconds) {
    pthread_mutex_lock(&g->lock);
    if (!g->closed && !g->head && g->running < g->slots) {
        g->running++;
        pthread_mutex_unlock(&g->lock);
        return 1;
    }
    waiter w = {.granted = 0};
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &attr);
    pthread_condattr_destroy(&attr);
    if (g->tail)
        g->tail->next = &w;
    else
        g->head = &w;
    g->tail = &w;
    struct timespec until = tsr_clock_deadline(CLOCK_MONOTONIC, (int64_t)ceil(seconds * 1000));
    int timed_out = 0;
    while (!w.granted && !g->closed && !timed_out)
        timed_out = pthread_cond_timedwait(&w.cond, &g->lock, &until) != 0;
    if (!w.granted)
        unlink_waiter(g, &w);
    pthread_mutex_unlock(&g->lock);
    pthread_cond_destroy(&w.cond);
    if (!w.granted)
        atomic_fetch_add(&g->refused, 1);
    return w.granted;
}

void gate_leave(transform_gate *g, int ran) {
    pthread_mutex_lock(&g->lock);
    g->admitted--;
    if (ran) {
        waiter *next = g->head;
        if (next && !g->closed) { /* the slot passes on: `running` stays */
            g->head = next->next;
            if (!g->head)
                g->tail = NULL;
            next->granted = 1;
            pthread_cond_signal(&next->cond);
        } else {
            g->running--;
        }
    }
    pthread_mutex_unlock(&g->lock);
}

void gate_close(transform_gate *g) {
    if (!g)
        return;
    pthread_mutex_lock(&g->lock);
    g->closed = 1;
    for (waiter *w = g->head; w; w = w->next)
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&g->lock);
}

void gate_stats(transform_gate *g, transform_gate_stats *out) {
    pthread_mutex_lock(&g->lock);
    out->slots = g->slots;
    out->queue = g->queue;
    out->running = g->running;
    out->waiting = g->admitted - g->running;
    pthread_mutex_unlock(&g->lock);
    out->refused = atomic_load(&g->refused);
}

int gate_body_fd(transform_gate *g) {
    pthread_mutex_lock(&g->lock);
    int fd = g->idle_count ? g->idle[--g->idle_count] : -1;
    pthread_mutex_unlock(&g->lock);
    if (fd >= 0 && lseek(fd, 0, SEEK_SET) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return memfd_create("tessera-transform", MFD_CLOEXEC);
}

void gate_body_fd_done(transform_gate *g, int fd) {
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_size > IDLE_BODY_BYTES && ftruncate(fd, IDLE_BODY_BYTES))) {
        close(fd);
        return;
    }
    pthread_mutex_lock(&g->lock);
    unsigned keep = g->slots < IDLE_BODIES ? g->slots : IDLE_BODIES;
    int kept = !g->closed && g->idle_count < keep;
    if (kept)
        g->idle[g->idle_count++] = fd;
    pthread_mutex_unlock(&g->lock);
    if (!kept)
        close(fd);
}
