/*
 * The autoscaling hook of `tessera serve --autoscale-cmd CMD --min-workers A
 * --max-workers B`: a thread that every few seconds turns the fleet's
 * backlog (tasks queued + pending in Redis) into a wanted worker count and,
 * when that count changes, runs CMD through `/bin/sh -c 'CMD "$@"' - N`
 * with N also in the environment as TESSERA_WANTED_WORKERS. CMD is spawned
 * (posix_spawn), never waited for synchronously: its exit status is logged
 * when it ends, and while it runs no second command starts (the latest
 * wanted count is run after it).
 *
 * The decision (tsr_autoscale_decide) is a pure function of the backlog
 * history kept in tsr_autoscale_state: wanted = ceil(backlog /
 * tasks_per_worker) clamped to [min, max]; more workers are asked for at
 * once, fewer only after the demand stayed below the current count for
 * down_delay_ms, and then the highest demand seen during that window.
 */
#ifndef TESSERA_SERVICE_AUTOSCALE_H
#define TESSERA_SERVICE_AUTOSCALE_H

#include <stdint.h>

#include "tessera/status.h"

/* Scaling policy. */
typedef struct tsr_autoscale_policy {
    int min_workers;      /* never fewer (>= 0) */
    int max_workers;      /* never more (>= min_workers) */
    int tasks_per_worker; /* backlog one worker should hold; 0 = 16 */
    int down_delay_ms;    /* low backlog must last this long to scale down; 0 = 30000 */
} tsr_autoscale_policy;

/* Backlog history the decision needs; zero-initialise before the first call. */
typedef struct tsr_autoscale_state {
    int initialized;   /* a first decision was made */
    int current;       /* the wanted count decided last */
    int low;           /* demand is below `current` since low_since */
    int64_t low_since; /* ms when demand first fell below `current` */
    int low_peak;      /* highest demand seen since low_since */
} tsr_autoscale_state;

/* Decides the wanted worker count for `backlog` tasks at time `now_ms`
 * (monotonic ms) and updates the history in *s. A negative backlog (not
 * known, e.g. Redis down) keeps the current count. */
int tsr_autoscale_decide(const tsr_autoscale_policy *p, tsr_autoscale_state *s, int64_t backlog,
                         int64_t now_ms);

/* Reports the backlog for the thread: tasks queued + pending, or -1 when
 * unknown. Called from the autoscale thread. */
typedef int64_t (*tsr_autoscale_backlog_fn)(void *user);
/* Logs an event: "run" (wanted, status -1), "exit" (wanted, exit status or
 * 128+signal), "error" (wanted, errno of a failed spawn). Called from the
 * autoscale thread. */
typedef void (*tsr_autoscale_log_fn)(void *user, const char *event, int wanted, int status);

typedef struct tsr_autoscale_config {
    const char *command;              /* CMD (copied) */
    tsr_autoscale_policy policy;      /* the decision */
    int period_ms;                    /* how often the backlog is read; 0 = 5000 */
    tsr_autoscale_backlog_fn backlog; /* backlog source (required) */
    tsr_autoscale_log_fn log;         /* may be NULL */
    void *user;                       /* passed to backlog and log */
} tsr_autoscale_config;

typedef struct tsr_autoscale tsr_autoscale;

/* Validates the policy (TSR_ERR_USAGE naming the bad flag) and starts the
 * thread. The caller stops it with tsr_autoscale_stop. */
tsr_status tsr_autoscale_start(tsr_ctx *ctx, const tsr_autoscale_config *config,
                               tsr_autoscale **out);
/* The count last asked of CMD; -1 before the first run. */
int tsr_autoscale_wanted(tsr_autoscale *as);
/* Stops the thread (a running CMD is waited for at most 2 s, then left to
 * finish on its own) and frees. Accepts NULL. */
void tsr_autoscale_stop(tsr_autoscale *as);

#endif
