/*
 * The tile worker of a Redis fleet (`tessera worker`, and the local workers
 * of `tessera serve --redis`): N threads, each with its own Redis link and
 * task worker, take tasks from `tessera:<cluster>:tasks` (consumer group
 * `workers`), run them and post the results on the coordinator's results
 * stream, then XACK and XDEL the task. Tasks of dead or stalled workers are
 * taken over with XAUTOCLAIM after the lease; past the delivery limit a task
 * goes to `tessera:<cluster>:dead` and its coordinator is told. A keeper
 * thread extends the lease of tasks being computed (XCLAIM JUSTID every
 * lease/3). Protocol: docs/internals/redis.md.
 */
#ifndef TESSERA_FLEET_WORKER_H
#define TESSERA_FLEET_WORKER_H

#include <stdint.h>

#include "tessera/status.h"
#include "fleet/seal.h"

typedef struct tsr_worker tsr_worker;

typedef struct tsr_worker_config {
    const char *url;     /* redis://[user:pass@]host:port[/db]; required */
    const char *cluster; /* NULL or "" = "default" */
    int threads;         /* compute threads; 0 = one per core */
    int lease_ms;        /* a task idle this long is taken over; 0 = 15000 */
    int delivery_limit;  /* deliveries before the dead stream; 0 = 5 */
    int block_ms;        /* XREADGROUP BLOCK; 0 = 2000 (also bounds drain latency) */
    int compress_level;  /* zstd level of results; 0 = 1, < 0 = raw */
    const char *backend; /* compute backend; NULL = "cpu" (the only one) */
    int crash_tile;      /* TEST ONLY: abort() before running this tile index; -1 = never */
    int fail_tile;       /* TEST ONLY: post an error result for this tile index; -1 = never */
    int heartbeat;       /* register and heartbeat in Redis (fleet/heartbeat.h) */
    const tsr_cluster_key *key; /* seal payloads with it (fleet/seal.h); NULL = unsealed */
} tsr_worker_config;

/* Counters since start. */
typedef struct tsr_worker_stats {
    uint64_t tiles_done; /* results posted */
    uint64_t failures;   /* tasks that failed to run (error results posted) */
    uint64_t reclaimed;  /* tasks taken over from other consumers */
    uint64_t dead;       /* tasks moved to the dead stream */
    uint64_t rejected;   /* tasks dropped: tampered, foreign or (un)sealed unlike us */
} tsr_worker_stats;

/* Checks the config, connects once (TSR_ERR_IO naming the host when Redis
 * cannot be reached; later outages are retried forever) and starts the
 * threads. The caller stops it with tsr_worker_stop. */
tsr_status tsr_worker_start(tsr_ctx *ctx, const tsr_worker_config *cfg, tsr_worker **out);

/* Stops taking new tasks; tasks being computed are finished and posted.
 * Returns at once. Thread-safe (async-signal-unsafe). */
void tsr_worker_drain(tsr_worker *w);

/* Drains, waits for the threads, unregisters and frees. Accepts NULL. */
void tsr_worker_stop(tsr_worker *w);

/* The worker id (consumer names are "<id>/<thread>"). Borrowed. */
const char *tsr_worker_id(const tsr_worker *w);

void tsr_worker_get_stats(tsr_worker *w, tsr_worker_stats *out);

#endif
