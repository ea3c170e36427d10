/*
 * Worker registration and heartbeat (ARCHITECTURE.md section 6).
 *
 * A heartbeat thread keeps the hash `tessera:<cluster>:workers:<id>` alive
 * in Redis: every interval (default 2 s) it writes all fields with HSET and
 * sets a TTL of 3 intervals with PEXPIRE, and SADDs the id to the set
 * `tessera:<cluster>:workers` (so a monitor can list workers whose hash
 * expired: those are lost). When Redis goes away it reconnects at the next
 * tick and rewrites everything, so a Redis restart loses nothing for long.
 *
 * Hash fields (all strings, as Redis stores them):
 *   id, host, pid, cores, threads, image_threads, backends ("cpu" or "opencl"),
 *   device (the OpenCL device, "" on the CPU), version,
 *   started (ms since the epoch), last_seen (ms since the epoch),
 *   interval_ms (the heartbeat period), tiles_done, failures,
 *   inflight (tasks being computed now), state ("running" | "draining").
 *
 * The worker updates the counters through the lock-free calls below from any
 * thread; they are published at the next tick (a state change at once).
 * tsr_heartbeat_stop deletes the hash and SREMs the id: a clean exit is not
 * reported as lost.
 *
 * API (final):
 *   tsr_heartbeat_start(ctx, redis_url, cluster, &info, &hb)
 *   tsr_heartbeat_add_tiles(hb, n) / _add_failure(hb) / _set_inflight(hb, n)
 *   tsr_heartbeat_set_state(hb, "running" | "draining")
 *   tsr_heartbeat_id(hb)   -> the worker id (also a good consumer name)
 *   tsr_heartbeat_stop(hb)
 */
#ifndef TESSERA_FLEET_HEARTBEAT_H
#define TESSERA_FLEET_HEARTBEAT_H

#include <stdint.h>

#include "fleet/protocol.h"
#include "tessera/status.h"

typedef struct tsr_heartbeat tsr_heartbeat;

/* What a worker says about itself. Strings are copied by start. */
typedef struct tsr_worker_info {
    const char *id;       /* unique worker id; NULL = "<host>-<pid>-<random hex>" */
    const char *host;     /* host name; NULL = gethostname() */
    int cores;            /* CPU cores of the machine; 0 = online cores */
    int threads;          /* tile threads of this worker */
    int image_threads;    /* image task threads (0: it has no blob store) */
    const char *backends; /* compute backends, comma-separated; NULL = "cpu" */
    const char *device;   /* the OpenCL device in use ("name (platform, version)"); NULL = "" */
    const char *version;  /* tessera version; NULL = the library's */
    int interval_ms;      /* heartbeat period; 0 = 2000 (TTL is 3 periods) */
} tsr_worker_info;

/* Parses `redis_url` (see fleet/redis_conn.h), registers the worker once
 * synchronously (so a Redis that cannot be reached at start is an error:
 * TSR_ERR_IO naming the host) and starts the heartbeat thread. `cluster`
 * NULL or "" = "default". TSR_ERR_USAGE for a malformed URL, cluster or id
 * (ids and clusters follow the name rule of fleet/protocol.h). The caller stops it
 * with tsr_heartbeat_stop. */
tsr_status tsr_heartbeat_start(tsr_ctx *ctx, const char *redis_url, const char *cluster,
                               const tsr_worker_info *info, tsr_heartbeat **out);

/* Counts `n` finished tiles. Thread-safe, never blocks. */
void tsr_heartbeat_add_tiles(tsr_heartbeat *hb, uint64_t n);
/* Counts one failed task. Thread-safe, never blocks. */
void tsr_heartbeat_add_failure(tsr_heartbeat *hb);
/* Sets the number of tasks being computed now. Thread-safe, never blocks. */
void tsr_heartbeat_set_inflight(tsr_heartbeat *hb, int n);
/* Sets the state ("running" or "draining"; anything else is ignored) and
 * wakes the thread to publish it at once. Thread-safe. */
void tsr_heartbeat_set_state(tsr_heartbeat *hb, const char *state);
/* The worker id (borrowed; valid until stop). */
const char *tsr_heartbeat_id(const tsr_heartbeat *hb);
/* Stops the thread, deletes the hash and removes the id from the set (best
 * effort: when Redis is down the hash simply expires), frees. Accepts NULL. */
void tsr_heartbeat_stop(tsr_heartbeat *hb);

#endif
