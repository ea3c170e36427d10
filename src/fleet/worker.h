/*
 * The tile worker of a Redis fleet (`tessera worker`, and the local workers
 * of `tessera serve --redis`): N threads, each with its own Redis link and
 * task worker, take tasks from `tessera:<cluster>:tasks` (consumer group
 * `workers`), run them and post the results on the coordinator's results
 * stream, then XACK and XDEL the task. Tasks of dead or stalled workers are
 * taken over with XAUTOCLAIM after the lease; past the delivery limit a task
 * goes to `tessera:<cluster>:dead` and its coordinator is told. A keeper
 * thread extends the lease of tasks being computed (XCLAIM JUSTID every
 * lease/3). With an image runner, further threads take image tasks from
 * `tessera:<cluster>:images` the same way (one image per thread at a time)
 * and post the image's progress every second while it runs.
 * Protocol: docs/internals/redis.md.
 */
#ifndef TESSERA_FLEET_WORKER_H
#define TESSERA_FLEET_WORKER_H

#include <stdint.h>

#include "fleet/seal.h"
#include "tessera/status.h"
#include "tessera/image.h" /* tsr_buffer */

typedef struct tsr_worker tsr_worker;

/* Reports the tiles an image task has done so far (of `total`); any
 * thread's runner may call it as often as it likes: the worker posts it
 * once per TSR_FLEET_PROGRESS_MS while the image runs (the first after one
 * period; an image done sooner posts none). */
typedef void (*tsr_image_progress_fn)(void *user, uint64_t done, uint64_t total);

/* Runs one image task on the calling thread: `task` is the payload the
 * coordinator's service layer encoded (opened and unpacked), the runner
 * appends its completion bytes to `result`. Failures return non-zero with
 * the message on ctx (posted to the coordinator as the task's error). The
 * fleet knows nothing of what an image task means: the service layer
 * encodes, runs and decodes them (service/image_task.h). */
typedef tsr_status (*tsr_image_runner_fn)(void *user, tsr_ctx *ctx, const uint8_t *task, size_t len,
                                          tsr_image_progress_fn progress, void *progress_user,
                                          tsr_buffer *result);

typedef struct tsr_worker_config {
    const char *url;               /* redis://[user:pass@]host:port[/db]; required */
    const char *cluster;           /* NULL or "" = "default" */
    int threads;                   /* compute threads; 0 = one per core */
    int lease_ms;                  /* a task idle this long is taken over; 0 = 15000 */
    int delivery_limit;            /* deliveries before the dead stream; 0 = 5 */
    int block_ms;                  /* XREADGROUP BLOCK; 0 = 2000 (also bounds drain latency) */
    int compress_level;            /* zstd level of results; 0 = 1, < 0 = raw */
    const char *backend;           /* compute backend's name for the heartbeat; NULL = "cpu" */
    const char *device;            /* its device ("" or NULL for the CPU), for the heartbeat */
    const struct tsr_accel *accel; /* where tiles run besides the CPU; NULL = the CPU */
    int crash_tile; /* TEST ONLY: abort() before running this tile index; -1 = never */
    int fail_tile;  /* TEST ONLY: post an error result for this tile index; -1 = never */
    int heartbeat;  /* register and heartbeat in Redis (fleet/heartbeat.h) */
    const tsr_cluster_key *key;       /* seal payloads with it (fleet/seal.h); NULL = unsealed */
    tsr_image_runner_fn image_runner; /* runs image tasks; NULL = tile tasks only */
    void *image_runner_user;          /* passed to image_runner */
    int image_threads;                /* threads taking image tasks; 0 = `threads` */
} tsr_worker_config;

/* Counters since start. */
typedef struct tsr_worker_stats {
    uint64_t tiles_done; /* results posted (tile and image tasks) */
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
