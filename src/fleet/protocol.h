/*
 * The Redis fleet's protocol, written once: key names, the consumer group,
 * entry field names, seal tags, name rules and shared defaults. Every other
 * file of src/fleet/ builds its keys and checks its names here, so the
 * coordinator, the workers, the heartbeat and the monitor cannot disagree
 * (docs/internals/redis.md describes the streams; ARCHITECTURE.md section 6).
 *
 * Keys, all under tessera:<cluster>: (a cluster is one fleet in one Redis):
 *   tasks                stream of tile tasks, consumer group `workers`
 *   images               stream of image tasks (a whole image from the blob
 *                        store to the blob store), consumer group `workers`;
 *                        read only by workers that have a store
 *   results:<coord>      stream of results for one coordinator
 *   sent:<coord>         the coordinator's send mark (lost-write check)
 *   dead                 stream of tasks past the delivery limit
 *   stats                hash of fleet counters (reclaims, dead_tiles, ...)
 *   workers              set of worker ids
 *   workers:<id>         one worker's heartbeat hash (with a TTL)
 *
 * A tile's key, in task and result entries, is <coord>:<epoch>:<seq>:<tile>;
 * sealed values are bound to "<tag>:<key>" so a value cannot move to another
 * tile or change kind.
 */
#ifndef TESSERA_FLEET_PROTOCOL_H
#define TESSERA_FLEET_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

#define TSR_FLEET_KEY_PREFIX      "tessera"
#define TSR_FLEET_DEFAULT_CLUSTER "default"
#define TSR_FLEET_GROUP           "workers" /* the consumer group on the tasks stream */

/* Cluster names, coordinator ids and worker ids: 1..TSR_FLEET_NAME_MAX
 * bytes of [A-Za-z0-9._-]. */
#define TSR_FLEET_NAME_MAX  64
#define TSR_FLEET_KEY_MAX   160 /* room for the longest key: prefix, cluster, kind, id */
#define TSR_FLEET_EPOCH_HEX 16  /* hex digits of a coordinator run's epoch */

/* Field names of task and result entries. */
#define TSR_FIELD_JOB      "job"      /* task: the job's label, for logs */
#define TSR_FIELD_KEY      "key"      /* task and result: the tile's key */
#define TSR_FIELD_COORD    "coord"    /* task: the coordinator to answer */
#define TSR_FIELD_PAYLOAD  "payload"  /* task: the task; result: the result */
#define TSR_FIELD_WORKER   "worker"   /* result: the worker that sent it */
#define TSR_FIELD_ERROR    "error"    /* result: a worker's failure message */
#define TSR_FIELD_DEAD     "dead"     /* result: attempts of a tile past the limit */
#define TSR_FIELD_KIND     "kind"     /* result: "image" for an image task's entries */
#define TSR_FIELD_PROGRESS "progress" /* result: "<done> <total>" tiles of an image task */
#define TSR_KIND_IMAGE     "image"    /* the value of TSR_FIELD_KIND */

/* Tags of the associated data a sealed value is bound to. */
typedef enum tsr_seal_tag {
    TSR_SEAL_TASK = 'T',    /* a task payload */
    TSR_SEAL_RESULT = 'R',  /* a result payload */
    TSR_SEAL_ERROR = 'E',   /* an error result's message */
    TSR_SEAL_DEAD = 'D',    /* a dead result's attempt count */
    TSR_SEAL_IMAGE = 'I',   /* an image task payload */
    TSR_SEAL_DONE = 'C',    /* an image task's completion payload */
    TSR_SEAL_PROGRESS = 'P' /* an image task's progress */
} tsr_seal_tag;

/* Defaults shared by the coordinator, the workers and the command line. */
enum {
    TSR_FLEET_LEASE_MS = 15000,             /* a task idle this long is taken over */
    TSR_FLEET_DELIVERY_LIMIT = 5,           /* deliveries before the dead stream */
    TSR_FLEET_BLOCK_MS = 2000,              /* a worker's XREADGROUP BLOCK */
    TSR_FLEET_IN_FLIGHT_BATCH = 64,         /* tasks in Redis per batch */
    TSR_FLEET_IN_FLIGHT_TOTAL = 256,        /* tasks in Redis per coordinator */
    TSR_FLEET_RESEND_MIN_MS = 60000,        /* resend unanswered tasks after max(this, 4 leases) */
    TSR_FLEET_LINK_TIMEOUT_MS = 10000,      /* connect and command timeout of a working link */
    TSR_FLEET_PROBE_TIMEOUT_MS = 5000,      /* the start-up probe, the lease keeper */
    TSR_FLEET_QUICK_TIMEOUT_MS = 2000,      /* the monitor's polls, clean-up at exit */
    TSR_FLEET_HEARTBEAT_MS = 2000,          /* heartbeat period; the hash lives 3 periods */
    TSR_FLEET_MONITOR_POLL_MS = 2000,       /* the workers monitor's poll period */
    TSR_FLEET_MONITOR_GRACE_MS = 60000,     /* a lost worker stays listed this long */
    TSR_FLEET_PROGRESS_MS = 1000,           /* an image task's progress period */
    TSR_FLEET_COORD_KEYS_REFRESH_MS = 10000 /* a coordinator's refresh of its keys' expiry */
};

/* A coordinator's results stream and send mark expire this long (ms) after
 * the coordinator last refreshed them (every TSR_FLEET_COORD_KEYS_REFRESH_MS
 * while it runs) or a worker last posted to the stream: a coordinator gone
 * for good (a pod replaced under a new id) leaves nothing in Redis. One
 * that comes back later under its id finds its mark gone, takes Redis for
 * one that lost tasks and sends what it had in flight again. */
#define TSR_FLEET_COORD_KEYS_TTL_MS "3600000"

/* Approximate lengths the results and dead streams are trimmed to. */
#define TSR_FLEET_RESULTS_KEEP "100000"
#define TSR_FLEET_DEAD_KEEP    "10000"

/* Whether `s` is a valid cluster name or id (see TSR_FLEET_NAME_MAX). */
int tsr_fleet_name_valid(const char *s);

/* Checks a cluster name: NULL or "" is TSR_FLEET_DEFAULT_CLUSTER, anything
 * else must be a valid name (TSR_ERR_USAGE naming the rule otherwise).
 * *out receives the name to use (borrowed: `cluster` or the default). */
tsr_status tsr_fleet_cluster(tsr_ctx *ctx, const char *cluster, const char **out);

/* A default id for this process: "<host>-<pid>", with the host name cut to
 * 32 bytes and its bytes outside [A-Za-z0-9-] replaced by '-', and with
 * `random_suffix` a "-<8 random hex digits>" tail (worker ids, which must
 * differ between processes of one host and pid namespace). Always a valid
 * name. */
void tsr_fleet_default_id(int random_suffix, char out[TSR_FLEET_NAME_MAX + 1]);

/* The keys of one cluster. */
typedef struct tsr_fleet_keys {
    char cluster[TSR_FLEET_NAME_MAX + 1]; /* the cluster's name */
    char prefix[TSR_FLEET_KEY_MAX];       /* tessera:<cluster>: */
    char tasks[TSR_FLEET_KEY_MAX];        /* tessera:<cluster>:tasks */
    char images[TSR_FLEET_KEY_MAX];       /* tessera:<cluster>:images */
    char dead[TSR_FLEET_KEY_MAX];         /* tessera:<cluster>:dead */
    char stats[TSR_FLEET_KEY_MAX];        /* tessera:<cluster>:stats */
    char workers[TSR_FLEET_KEY_MAX];      /* tessera:<cluster>:workers (the set) */
} tsr_fleet_keys;

/* Fills *out for `cluster` (checked as tsr_fleet_cluster does). */
tsr_status tsr_fleet_keys_init(tsr_ctx *ctx, const char *cluster, tsr_fleet_keys *out);

/* Keys that name one coordinator or worker: tessera:<cluster>:<kind>:<id>,
 * `kind` one of the TSR_FLEET_KIND_ names. `out` holds TSR_FLEET_KEY_MAX. */
#define TSR_FLEET_KIND_RESULTS "results"
#define TSR_FLEET_KIND_SENT    "sent"
#define TSR_FLEET_KIND_WORKER  "workers"
void tsr_fleet_key_of(const tsr_fleet_keys *keys, const char *kind, const char *id,
                      char out[TSR_FLEET_KEY_MAX]);

/* A tile's key: <coord>:<epoch>:<seq>:<tile>. `out` holds TSR_FLEET_KEY_MAX. */
void tsr_fleet_tile_key(const char *coord, const char *epoch, uint64_t seq, int tile,
                        char out[TSR_FLEET_KEY_MAX]);
/* Splits a tile's key; 0 when malformed (the coordinator part is not
 * returned: it may itself hold no ':' and is checked by the caller). */
int tsr_fleet_tile_key_parse(const char *key, char epoch[TSR_FLEET_EPOCH_HEX + 1], uint64_t *seq,
                             int *tile);

/* The associated data a sealed value of kind `tag` for tile `key` is bound
 * to: "<tag>:<key>". Returns 0 (and an empty `out`) when `key`, which may
 * come from the broker, is longer than any key this protocol makes: such a
 * value is refused rather than bound to a cut key. */
#define TSR_FLEET_AD_MAX (TSR_FLEET_KEY_MAX + 2)
int tsr_fleet_seal_ad(tsr_seal_tag tag, const char *key, char out[TSR_FLEET_AD_MAX]);

#endif
