/*
 * State of the Redis executor, shared by its three files: executor_redis.c
 * (setup, stats, teardown), executor_redis_send.c (run_tiles: sending,
 * resending, waiting) and executor_redis_results.c (the reader thread that
 * applies results and detects a Redis that lost tasks).
 */
#ifndef TESSERA_FLEET_EXECUTOR_REDIS_INTERNAL_H
#define TESSERA_FLEET_EXECUTOR_REDIS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "engine/task.h"
#include "fleet/executor_redis.h"
#include "fleet/protocol.h"
#include "fleet/redis_link.h"

#define SEND_CHUNK  16                /* tasks pipelined in one round trip */
#define MAX_PAYLOAD ((size_t)1 << 31) /* largest decoded result accepted */

enum { WAITING, SENT, APPLYING, DONE }; /* tile states */

/* One run_tiles() or run_image() call. Lives on the caller's stack while
 * it runs. An image task is a batch of one task whose payload and
 * completion are the service layer's bytes. */
typedef struct rbatch {
    const tsr_tile_batch *b;   /* the engine's batch (for an image: ctx, label, count 1) */
    const tsr_image_task *img; /* the image task, NULL for tiles */
    tsr_buffer *completion;    /* an image task's completion lands here */
    const char *stream;        /* the stream its tasks go to: keys.tasks or keys.images */
    uint64_t seq;              /* batch number in keys */
    uint8_t *state;            /* per tile: WAITING, SENT, APPLYING, DONE */
    double *sent_at;           /* per tile: when last sent (monotonic ms) */
    char (*entry)[32];         /* per tile: stream id of the last send, "" when none */
    int next_new;              /* tiles below this have been sent at least once */
    int reverted;              /* tiles below next_new back in WAITING after a failed send */
    int in_flight;             /* tiles in SENT state */
    int done;                  /* tiles in DONE state */
    int applying;              /* results being applied by the reader right now */
    int failed;                /* a result failed the batch (message in b->ctx) */
    tsr_status status;         /* the failure */
    double last_scan;          /* when overdue tiles were last looked for */
    uint8_t *missing;          /* per tile: its entry was gone at the last audit */
    double last_audit;         /* when the tasks in flight were last audited */
    struct rbatch *next;       /* active list */
} rbatch;

typedef struct redis_exec {
    tsr_executor base;                   /* must be first */
    tsr_redis_url url;                   /* where Redis is */
    char coord[TSR_FLEET_NAME_MAX + 1];  /* coordinator id */
    char epoch[TSR_FLEET_EPOCH_HEX + 1]; /* this run's random epoch (hex) */
    tsr_fleet_keys keys;                 /* the cluster's keys */
    char results_key[TSR_FLEET_KEY_MAX]; /* tessera:<c>:results:<coord> */
    char mark_key[TSR_FLEET_KEY_MAX];    /* tessera:<c>:sent:<coord>: INCR per round trip */
    long long mark_acked;                /* highest mark Redis has acknowledged */
    int cap_batch;                       /* in-flight tasks per batch */
    int cap_total;                       /* in-flight tasks in all */
    int resend_ms;                       /* resend timeout */
    int audit_ms;                        /* audit period of tasks in flight (half a lease) */
    int level;                           /* zstd level, <= 0 raw */
    int sealed;                          /* payloads are sealed with key */
    tsr_cluster_key key;                 /* cluster key when sealed */
    tsr_redis_log_fn log;                /* may be NULL */
    void *log_user;                      /* passed to log */
    pthread_mutex_t lock;                /* guards everything below and every rbatch */
    pthread_cond_t changed;              /* a result arrived or a batch left */
    rbatch *batches;                     /* active batches */
    uint64_t next_seq;                   /* last batch number given */
    int in_flight_total;                 /* tasks in SENT state over all batches */
    tsr_redis_link **pool;               /* idle sender links */
    int pool_n;                          /* links in pool */
    int pool_cap;                        /* pool capacity */
    tsr_redis_stats stats;               /* counters */
    uint64_t reader_reconnects;          /* the reader link's reconnects */
    pthread_t reader;                    /* the result reader */
    int reader_started;                  /* reader is running */
    atomic_int stopping;                 /* asks the reader to exit */
    atomic_int audit_plain;              /* Redis refused the audit's script: XRANGE each */
} redis_exec;

/* Passes a line to the configured log sink, if any. */
void tsr_redis_exec_say(redis_exec *x, const char *level, const char *msg, const char *detail);

/* The vtable's run_tiles (executor_redis_send.c). */
tsr_status tsr_redis_exec_run_tiles(tsr_executor *e, const tsr_tile_batch *b);

/* Runs batch `rb` (b, img, completion and stream set) to its end
 * (executor_redis_send.c). */
tsr_status tsr_redis_exec_run_batch(redis_exec *x, rbatch *rb);

/* The result reader thread's body; `arg` is the redis_exec
 * (executor_redis_results.c). */
void *tsr_redis_exec_reader_main(void *arg);

/* Every audit period, checks that the batch's tasks in flight are still in
 * Redis and has those gone twice in a row sent again
 * (executor_redis_audit.c). Under lock on entry and exit; unlocks while
 * talking to Redis on `l`. */
void tsr_redis_exec_audit(redis_exec *x, rbatch *rb, tsr_redis_link *l, double now);

/* Waits on x->changed for at most `ms`. Under lock. */
void tsr_redis_exec_wait(redis_exec *x, int ms);

#endif
