/*
 * State of the fleet worker, shared by its files: worker.c (start, stop,
 * the lease keeper), worker_loop.c (each compute thread's loop: reclaim,
 * read, run), worker_task.c (one task: open, run, report, bury) and
 * worker_post.c (posting results and finishing tasks on Redis).
 */
#ifndef TESSERA_FLEET_WORKER_INTERNAL_H
#define TESSERA_FLEET_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/task.h"
#include "fleet/heartbeat.h"
#include "fleet/protocol.h"
#include "fleet/redis_link.h"
#include "fleet/worker.h"

#define MAX_TASK ((size_t)1 << 31) /* largest decoded task accepted */

/* A thread's result post sent without waiting: its three replies (XADD,
 * XDEL, XACK) are read before the link carries anything else, and the post
 * is sent again from here if the connection failed meanwhile. */
typedef struct deferred_post {
    int replies;                        /* replies still unread: 3 after a post, 0 when settled */
    char id[32];                        /* the task's stream id */
    char coord[TSR_FLEET_NAME_MAX + 1]; /* its coordinator */
    char key[TSR_FLEET_KEY_MAX];        /* its key */
    tsr_buffer payload;                 /* the result as posted */
} deferred_post;

/* One compute thread. */
typedef struct wthread {
    tsr_worker *w;      /* its worker */
    int index;          /* thread number */
    int images;         /* takes image tasks (from `stream`) rather than tile tasks */
    const char *stream; /* the stream it takes tasks from: w->keys.tasks or .images */
    pthread_t th;       /* the thread */
    int started;        /* th is running */
    char consumer[160]; /* consumer name in the group */
    char current[32];   /* stream id of the task being computed, "" when idle (w->lock) */
    double current_at;  /* when it started or its lease was last extended (w->lock) */
    deferred_post post; /* the last result, posted without waiting */
    int asked;          /* an XREADGROUP for the next task is unanswered */
    redisReply *ahead;  /* its reply, once read */
} wthread;

struct tsr_worker {
    tsr_redis_url url;               /* where Redis is */
    char id[TSR_FLEET_NAME_MAX + 1]; /* worker id */
    tsr_fleet_keys keys;             /* the cluster's keys */
    int lease_ms;                    /* lease */
    int limit;                       /* delivery limit */
    int block_ms;                    /* XREADGROUP BLOCK */
    int level;                       /* result compression */
    int crash_tile;                  /* test-only failure injection; -1 = off */
    int fail_tile;                   /* test-only error injection; -1 = off */
    int n;                           /* threads, tile and image */
    tsr_image_runner_fn runner;      /* runs image tasks; NULL = none */
    void *runner_user;               /* passed to runner */
    const struct tsr_accel *accel;   /* where tiles run besides the CPU; NULL = CPU */
    wthread *threads;                /* owned */
    pthread_t keeper;                /* lease keeper */
    int keeper_started;              /* keeper is running */
    pthread_mutex_t lock;            /* guards wthread.current* and the keeper's wait */
    pthread_cond_t wake;             /* wakes the keeper to exit */
    atomic_int draining;             /* no new tasks */
    atomic_int quit;                 /* the keeper exits */
    atomic_int busy;                 /* tasks being computed now */
    tsr_heartbeat *hb;               /* may be NULL */
    _Atomic uint64_t done;           /* stats */
    _Atomic uint64_t failures;       /* stats */
    _Atomic uint64_t reclaimed;      /* stats */
    _Atomic uint64_t dead;           /* stats */
    _Atomic uint64_t rejected;       /* stats */
    int sealed;                      /* payloads are sealed with key */
    tsr_cluster_key key;             /* cluster key when sealed */
};

/* Counts one event in the cluster's stats hash (best effort). */
void tsr_worker_count(tsr_worker *w, tsr_redis_link *l, const char *field);

/* Records the task thread `t` computes now (NULL: none), for the keeper. */
void tsr_worker_set_current(wthread *t, const char *id);

/* XDEL + XACK of a finished task of thread `t`'s stream; retried through
 * outages (idempotent). */
void tsr_worker_finish_task(wthread *t, tsr_redis_link *l, const char *id);

/* Posts a result entry (fields argv[0..argc), at most 10) to coordinator
 * `coord`'s results stream, then XDELs and XACKs task `id`, all in one round
 * trip (Redis runs them in order, so the task only leaves once its result
 * is in). Retried through outages: a result posted twice is dropped by the
 * coordinator. With `next` (and `consumer`), the same round trip also asks
 * for the thread's next task (XREADGROUP without BLOCK): *next receives
 * that reply (NULL when none came). */
void tsr_worker_post_and_finish(wthread *t, tsr_redis_link *l, const char *coord, const char *id,
                                int argc, const char **argv, const size_t *lens, redisReply **next);

/* Reads what thread `t` sent without waiting: its deferred post's replies
 * (resending the post synchronously when they did not all come), then the
 * ask-ahead's reply (kept in t->ahead). After it the link carries no
 * unread reply. */
void tsr_worker_settle(wthread *t, tsr_redis_link *l);

/* Posts task `id`'s result without waiting for the replies (the next
 * settle reads them). `payload` is swapped into the thread's deferred post. */
void tsr_worker_post_async(wthread *t, tsr_redis_link *l, const char *coord, const char *id,
                           const char *key, tsr_buffer *payload);

/* Asks for thread `t`'s next task without waiting for the answer. */
void tsr_worker_ask_ahead(wthread *t, tsr_redis_link *l);

/* Posts a failure result ("error" with a message or "dead" with the attempt
 * count, sealed when sealing is on) for task `id` and finishes the task. */
void tsr_worker_post_failure(wthread *t, tsr_redis_link *l, const char *coord, const char *id,
                             const char *key, const char *field, const char *value);

/* Scratch buffers of one compute thread, reused across tasks. */
typedef struct task_scratch {
    tsr_task_worker *tw; /* runs tasks, keeps recent plans */
    tsr_ctx *ctx;        /* errors of the task being run */
    tsr_buffer task;     /* a decompressed task */
    tsr_buffer result;   /* an encoded result */
    tsr_buffer packed;   /* the result as posted (compressed or raw) */
} task_scratch;

/* Runs one task entry and posts its result (worker_task.c; image tasks in
 * worker_image.c). `claimed`: the entry was taken over from another
 * consumer (its deliveries are checked against the limit first). */
void tsr_worker_process(wthread *t, tsr_redis_link *l, task_scratch *s, const redisReply *entry,
                        int claimed);

/* Runs an opened image task's payload (`bytes`, `len`) through the
 * worker's runner, posting progress, and packs and seals its completion
 * into *post (worker_image.c). Errors are in s->ctx. */
tsr_status tsr_worker_run_image(wthread *t, tsr_redis_link *l, task_scratch *s, const char *coord,
                                const char *key, const uint8_t *bytes, size_t len,
                                tsr_buffer *sealed, tsr_buffer **post);

/* The result fields every entry a thread posts starts with: key, worker
 * and, for an image thread, kind. Fills f/n from index 0; returns the count. */
int tsr_worker_entry_head(const wthread *t, const char *key, const char **f, size_t *n);

/* A compute thread's body; `arg` is its wthread (worker_loop.c). */
void *tsr_worker_thread_main(void *arg);

#endif
