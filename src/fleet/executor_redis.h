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
    uint64_t tasks_sent;      /* XADDs of tasks, resends included */
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

/* A snapshot of the counters of a Redis executor. */
void tsr_executor_redis_stats(tsr_executor *exec, tsr_redis_stats *out);

#endif
