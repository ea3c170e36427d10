/* The previews running now (POST /api/v1/images/{id}/preview), so that they
 * stay cancellable: a newer preview of the same account cancels the older
 * ones (the editor changed, the old picture is no use), and a watchdog
 * thread cancels any that runs past its deadline. Each run has its own
 * context; cancelling it makes the engine stop between tiles with
 * TSR_ERR_CANCELLED, and `stop` says why. */
#include <math.h>
#include <stdlib.h>

#include "server/server_internal.h"
#include "util/clock.h"

struct preview_runs {
    pthread_mutex_t lock; /* guards everything below and each run's deadline */
    pthread_cond_t wake;  /* a deadline was set, or shutdown began */
    pthread_t watchdog;   /* cancels runs past their deadline */
    preview_run *head;    /* the runs registered now, newest first */
    int shutdown;         /* the watchdog exits */
};

/* Cancels every run past its deadline; returns the earliest deadline still
 * ahead (INFINITY when none). Under lock. */
static double expire(preview_runs *runs) {
    double now = tsr_clock_mono_s(), next = INFINITY;
    for (preview_run *run = runs->head; run; run = run->next) {
        if (atomic_load(&run->stop))
            continue;
        if (run->deadline <= now) {
            atomic_store(&run->stop, PREVIEW_TIMED_OUT);
            tsr_ctx_cancel(run->ctx);
        } else if (run->deadline < next) {
            next = run->deadline;
        }
    }
    return next;
}

static void *watchdog_main(void *p) {
    preview_runs *runs = p;
    pthread_mutex_lock(&runs->lock);
    while (!runs->shutdown) {
        double next = expire(runs);
        if (isinf(next)) {
            pthread_cond_wait(&runs->wake, &runs->lock);
        } else {
            int64_t ms = (int64_t)ceil((next - tsr_clock_mono_s()) * 1000);
            struct timespec until = tsr_clock_deadline(CLOCK_MONOTONIC, ms > 0 ? ms : 0);
            pthread_cond_timedwait(&runs->wake, &runs->lock, &until);
        }
    }
    pthread_mutex_unlock(&runs->lock);
    return NULL;
}

preview_runs *preview_runs_new(void) {
    preview_runs *runs = calloc(1, sizeof *runs);
    if (!runs)
        return NULL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&runs->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&runs->lock, NULL);
    if (pthread_create(&runs->watchdog, NULL, watchdog_main, runs) != 0) {
        pthread_cond_destroy(&runs->wake);
        pthread_mutex_destroy(&runs->lock);
        free(runs);
        return NULL;
    }
    return runs;
}

void preview_runs_free(preview_runs *runs) {
    if (!runs)
        return;
    pthread_mutex_lock(&runs->lock);
    runs->shutdown = 1;
    pthread_cond_signal(&runs->wake);
    pthread_mutex_unlock(&runs->lock);
    pthread_join(runs->watchdog, NULL);
    pthread_cond_destroy(&runs->wake);
    pthread_mutex_destroy(&runs->lock);
    free(runs);
}

void preview_runs_start(preview_runs *runs, preview_run *run) {
    pthread_mutex_lock(&runs->lock);
    run->deadline = INFINITY;
    atomic_store(&run->stop, PREVIEW_RUNNING);
    for (preview_run *old = runs->head; old; old = old->next) {
        if (old->user != run->user || atomic_load(&old->stop))
            continue;
        atomic_store(&old->stop, PREVIEW_SUPERSEDED);
        tsr_ctx_cancel(old->ctx);
    }
    run->next = runs->head;
    runs->head = run;
    pthread_mutex_unlock(&runs->lock);
}

void preview_runs_arm(preview_runs *runs, preview_run *run, double seconds) {
    pthread_mutex_lock(&runs->lock);
    run->deadline = tsr_clock_mono_s() + seconds;
    pthread_cond_signal(&runs->wake);
    pthread_mutex_unlock(&runs->lock);
}

void preview_runs_end(preview_runs *runs, preview_run *run) {
    pthread_mutex_lock(&runs->lock);
    for (preview_run **p = &runs->head; *p; p = &(*p)->next) {
        if (*p == run) {
            *p = run->next;
            break;
        }
    }
    pthread_mutex_unlock(&runs->lock);
}
