/*
 * The coordinator's view of the worker fleet (ARCHITECTURE.md section 6).
 *
 * A monitor thread polls Redis every 2 s: it lists the set
 * `tessera:<cluster>:workers`, reads each worker's hash (written by the
 * worker's heartbeat, fleet/heartbeat.h) and keeps a table of workers with
 * their last known fields. A worker whose hash expired (it stopped
 * heartbeating) is marked "lost" and kept, with its last known data, for a
 * grace period (default 60 s); then it is dropped and SREM'd. A worker that
 * left cleanly (its id left the set) is dropped at once. A lost worker whose
 * hash comes back (SIGCONT, network healed) is running again.
 *
 * It also reads the queue: XLEN and XINFO GROUPS of `tessera:<c>:tasks` and
 * `tessera:<c>:images`, summed
 * (group `workers`: pending = delivered, not acknowledged; lag = not yet
 * delivered), XLEN of `tessera:<c>:dead`, and the counters of the hash
 * `tessera:<c>:stats` (fields `reclaims`, `dead_tiles`, `rejected_payloads`, HINCRBY'd by the
 * workers or the executor: the hook for those counters).
 *
 * While Redis cannot be reached the table is frozen (nobody is marked lost
 * for Redis' own outage) and `redis_up` is 0.
 */
#ifndef TESSERA_FLEET_WORKERS_MONITOR_H
#define TESSERA_FLEET_WORKERS_MONITOR_H

#include <jansson.h>
#include <stdint.h>

#include "tessera/status.h"

typedef struct tsr_workers_monitor tsr_workers_monitor;

/* Fleet counters for /metrics and the autoscaler; -1 = not known yet. */
typedef struct tsr_workers_counts {
    int running;         /* workers heartbeating in state running */
    int draining;        /* workers heartbeating in state draining */
    int lost;            /* workers whose heartbeat stopped, in their grace period */
    int image_capable;   /* running workers that take image tasks (image_threads > 0) */
    int64_t tasks;       /* XLEN of the tasks and images streams */
    int64_t images;      /* XLEN of the images stream (image tasks) */
    int64_t pending;     /* tasks (both kinds) delivered to a worker and not acknowledged */
    int64_t undelivered; /* tasks (both kinds) not yet delivered (group lags) */
    int64_t dead;        /* XLEN of the dead stream */
    int64_t reclaims;    /* tasks reclaimed from dead or stalled workers (stats hash) */
    int64_t dead_tiles;  /* tiles moved to the dead stream, ever (stats hash; else `dead`) */
    int64_t rejected;    /* sealed payloads rejected (stats hash `rejected_payloads`) */
    int redis_up;        /* the last poll reached Redis */
    int64_t polled_ms;   /* wall ms of the last successful poll; 0 = none */
} tsr_workers_counts;

/* Parses `redis_url` (fleet/redis_conn.h) and starts the polling thread;
 * `cluster` NULL or "" = "default". A Redis that cannot be reached is not an
 * error (the thread keeps trying); a malformed URL or cluster name is
 * TSR_ERR_USAGE. The caller stops it with tsr_workers_monitor_stop. */
tsr_status tsr_workers_monitor_start(tsr_ctx *ctx, const char *redis_url, const char *cluster,
                                     tsr_workers_monitor **out);
/* Sets how long a lost worker stays listed (default 60000 ms) and the poll
 * period (default 2000 ms; 0 keeps it). Call right after start. */
void tsr_workers_monitor_set_timing(tsr_workers_monitor *mon, int grace_ms, int poll_ms);
/* The workers as a new JSON array (owned by the caller), oldest first:
 * [{"id","host","pid","cores","threads","image_threads","backends":[..],"device","version",
 *   "started_ms","last_seen_ms","seen_ago_s","tiles_done","failures",
 *   "inflight","load","state","lost_since_ms"}...]; state is "running",
 * "draining" or "lost". NULL when out of memory. */
json_t *tsr_workers_monitor_json(tsr_workers_monitor *mon);
/* Copies the counters of the last poll into *out. */
void tsr_workers_monitor_counts(tsr_workers_monitor *mon, tsr_workers_counts *out);
/* The cluster name (borrowed). */
const char *tsr_workers_monitor_cluster(const tsr_workers_monitor *mon);
/* Stops the thread and frees. Accepts NULL. */
void tsr_workers_monitor_stop(tsr_workers_monitor *mon);

#endif
