/*
 * The Redis executor: ships every tile of every batch as a task on the
 * stream `tessera:<cluster>:tasks` (consumer group `workers`) and applies
 * the results that workers post on `tessera:<cluster>:results:<coordinator>`
 * (ARCHITECTURE.md section 6; protocol notes in docs/internals/redis.md).
 *
 * Delivery is at least once: the first result of a tile wins, later ones
 * (duplicates, late results of stalled workers) are dropped and counted.
 * Each batch keeps at most `in_flight_batch` tasks in Redis and the executor
 * at most `in_flight_total`, so Redis holds at most in_flight_total tasks
 * and as many results at once: memory <= in_flight_total x (largest task +
 * largest result), both bounded by the tile size (see the doc).
 */
#ifndef TESSERA_FLEET_EXECUTOR_REDIS_H
#define TESSERA_FLEET_EXECUTOR_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/engine.h"
#include "fleet/seal.h"

/* Optional log sink: level "info"/"warn", a message and a detail string. */
typedef void (*tsr_redis_log_fn)(void *user, const char *level, const char *msg,
                                 const char *detail);

typedef struct tsr_redis_config {
    const char *url;            /* redis://[user:pass@]host:port[/db]; required */
    const char *cluster;        /* key namespace tessera:<cluster>:; NULL = "default" */
    const char *coordinator_id; /* [A-Za-z0-9._-]{1,64}; NULL = "<host>-<pid>" */
    int lease_ms;               /* workers' lease; 0 = 15000 (only sizes resend_ms here) */
    int in_flight_batch;        /* tasks in Redis per batch; 0 = 64 */
    int in_flight_total;        /* tasks in Redis for the executor; 0 = 256 */
    int resend_ms;              /* resend a task unanswered this long; 0 = max(60 s, 4 leases) */
    int compress_level;         /* zstd level of task payloads; 0 = 1, < 0 = raw */
    tsr_redis_log_fn log;       /* may be NULL */
    void *log_user;             /* passed to log */
    const tsr_cluster_key *key; /* seal payloads with it (fleet/seal.h); NULL = unsealed */
} tsr_redis_config;

/* Counters since the executor started. */
typedef struct tsr_redis_stats {
    uint64_t tasks_sent;      /* XADDs of tasks (tile and image), resends included */
    uint64_t images_done;     /* image tasks completed */
    uint64_t progress_posts;  /* progress entries of image tasks read */
    uint64_t tasks_resent;    /* resends after resend_ms without a result */
    uint64_t results_applied; /* first results applied */
    uint64_t results_dropped; /* duplicate or late results dropped */
    uint64_t dead_tiles;      /* tiles reported dead by workers */
    uint64_t reconnects;      /* reconnections to Redis */
    uint64_t in_flight;       /* tasks in Redis now */
    uint64_t rejected;        /* results dropped: tampered, foreign or unsealed */
    uint64_t redis_losses;    /* Redis came back without acknowledged tasks: all resent */
    uint64_t tasks_lost;      /* tasks found gone from Redis by the audit and resent */
} tsr_redis_stats;

/* Connects to Redis (TSR_ERR_IO naming the host when it cannot be reached,
 * TSR_ERR_USAGE for a bad URL, cluster or id), creates the consumer group,
 * removes tasks a previous run of this coordinator id left behind, and
 * starts the result reader thread. The caller frees *out with
 * tsr_executor_free (which abandons nothing: it must not be running). */
tsr_status tsr_executor_redis_new(tsr_ctx *ctx, const tsr_redis_config *cfg, tsr_executor **out);

/* One image task: an opaque payload the service layer encoded (a whole
 * image from the blob store to the blob store), run by a worker's image
 * runner (fleet/worker.h). */
typedef struct tsr_image_task {
    tsr_ctx *ctx;           /* errors and cancellation */
    const char *label;      /* names it in messages ("image 3f2a..."); may be NULL */
    const uint8_t *payload; /* the task */
    size_t len;             /* its length */
    void (*progress)(void *user, uint64_t done, uint64_t total); /* may be NULL */
    void *progress_user;                                         /* passed to progress */
} tsr_image_task;

/* Sends `task` on `tessera:<cluster>:images` and waits until a worker's
 * completion arrives, appended to `completion`. The worker's progress
 * reports are passed to task->progress on the result reader's thread.
 * Delivery, leases, reclaim, the delivery limit, resends, the audit of lost
 * tasks and sealing work as for tiles; the first completion wins. A worker's
 * error fails with TSR_ERR_INTERNAL and its message; a cancelled ctx with
 * TSR_ERR_CANCELLED (the task is taken back from Redis). Any number may run
 * at once, from any threads. TSR_ERR_USAGE when `exec` is not a Redis
 * executor. */
tsr_status tsr_executor_redis_run_image(tsr_executor *exec, const tsr_image_task *task,
                                        tsr_buffer *completion);

/* Whether `exec` is a Redis executor. */
bool tsr_executor_is_redis(const tsr_executor *exec);

/* A snapshot of the counters of a Redis executor. */
void tsr_executor_redis_stats(tsr_executor *exec, tsr_redis_stats *out);

#endif
