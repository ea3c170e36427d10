/* Worker registration and heartbeat thread (see heartbeat.h). */
#include "fleet/heartbeat.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tessera/tessera.h"
#include "fleet/protocol.h"
#include "fleet/redis_conn.h"
#include "util/clock.h"
#include "util/log.h"

#define FIELD_MAX 160 /* bytes of one field value */

struct tsr_heartbeat {
    tsr_redis_url url;               /* where Redis is */
    char id[TSR_FLEET_NAME_MAX + 1]; /* worker id */
    char key[TSR_FLEET_KEY_MAX];     /* tessera:<c>:workers:<id> */
    char set[TSR_FLEET_KEY_MAX];     /* tessera:<c>:workers */
    char host[FIELD_MAX];            /* host name */
    char backends[FIELD_MAX];        /* "cpu" */
    char device[FIELD_MAX];          /* "" or the OpenCL device */
    char version[32];                /* tessera version */
    int cores;                       /* machine cores */
    int threads;                     /* tile threads */
    int image_threads;               /* image task threads */
    int interval_ms;                 /* heartbeat period */
    int64_t started;                 /* ms since epoch */
    atomic_uint_fast64_t tiles;      /* tiles done */
    atomic_uint_fast64_t failures;   /* failed tasks */
    atomic_int inflight;             /* tasks being computed */
    atomic_int draining;             /* 1 once draining */
    redisContext *conn;              /* the thread's connection; NULL = reconnect */
    pthread_mutex_t lock;            /* guards stop, wake */
    pthread_cond_t cond;             /* signals stop / wake */
    int stop;                        /* set by tsr_heartbeat_stop */
    int wake;                        /* publish now */
    pthread_t thread;                /* the heartbeat thread */
    int started_thread;              /* thread was created */
};

/* Fills hb's identity from info, with the defaults of heartbeat.h. */
static tsr_status fill_identity(tsr_ctx *ctx, tsr_heartbeat *hb, const char *cluster,
                                const tsr_worker_info *info) {
    tsr_fleet_keys keys;
    tsr_status st = tsr_fleet_keys_init(ctx, cluster, &keys);
    if (st)
        return st;
    if (info->host && *info->host)
        snprintf(hb->host, sizeof hb->host, "%s", info->host);
    else if (gethostname(hb->host, sizeof hb->host - 1))
        snprintf(hb->host, sizeof hb->host, "unknown");
    if (info->id && *info->id) {
        if (!tsr_fleet_name_valid(info->id))
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "heartbeat: worker id must be 1..%d bytes of "
                             "[A-Za-z0-9._-]",
                             TSR_FLEET_NAME_MAX);
        snprintf(hb->id, sizeof hb->id, "%s", info->id);
    } else {
        tsr_fleet_default_id(1, hb->id);
    }
    snprintf(hb->set, sizeof hb->set, "%s", keys.workers);
    tsr_fleet_key_of(&keys, TSR_FLEET_KIND_WORKER, hb->id, hb->key);
    snprintf(hb->backends, sizeof hb->backends, "%s",
             info->backends && *info->backends ? info->backends : "cpu");
    snprintf(hb->device, sizeof hb->device, "%s", info->device ? info->device : "");
    snprintf(hb->version, sizeof hb->version, "%s",
             info->version && *info->version ? info->version : TESSERA_VERSION);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    hb->cores = info->cores > 0 ? info->cores : (online > 0 ? (int)online : 1);
    hb->threads = info->threads;
    hb->image_threads = info->image_threads;
    hb->interval_ms = info->interval_ms > 0 ? info->interval_ms : TSR_FLEET_HEARTBEAT_MS;
    hb->started = tsr_clock_wall_ms();
    return TSR_OK;
}

/* Writes the hash, its TTL and the set membership in one pipelined round
 * trip on hb->conn; false on any failure (the caller drops the connection). */
static int publish(tsr_heartbeat *hb) {
    char v[12][32];
    snprintf(v[0], sizeof v[0], "%ld", (long)getpid());
    snprintf(v[1], sizeof v[1], "%d", hb->cores);
    snprintf(v[2], sizeof v[2], "%d", hb->threads);
    snprintf(v[3], sizeof v[3], "%lld", (long long)hb->started);
    snprintf(v[4], sizeof v[4], "%lld", (long long)tsr_clock_wall_ms());
    snprintf(v[5], sizeof v[5], "%d", hb->interval_ms);
    snprintf(v[6], sizeof v[6], "%llu", (unsigned long long)atomic_load(&hb->tiles));
    snprintf(v[7], sizeof v[7], "%llu", (unsigned long long)atomic_load(&hb->failures));
    snprintf(v[8], sizeof v[8], "%d", atomic_load(&hb->inflight));
    snprintf(v[9], sizeof v[9], "%d", hb->interval_ms * 3);
    snprintf(v[10], sizeof v[10], "%d", hb->image_threads);
    const char *state = atomic_load(&hb->draining) ? "draining" : "running";
    const char *hset[] = {
        "HSET",          hb->key,      "id",          hb->id,      "host",       hb->host,
        "pid",           v[0],         "cores",       v[1],        "threads",    v[2],
        "backends",      hb->backends, "version",     hb->version, "started",    v[3],
        "last_seen",     v[4],         "interval_ms", v[5],        "tiles_done", v[6],
        "failures",      v[7],         "inflight",    v[8],        "state",      state,
        "image_threads", v[10],        "device",      hb->device};
    const char *expire[] = {"PEXPIRE", hb->key, v[9]};
    const char *sadd[] = {"SADD", hb->set, hb->id};
    redisContext *c = hb->conn;
    if (redisAppendCommandArgv(c, (int)(sizeof hset / sizeof *hset), hset, NULL) ||
        redisAppendCommandArgv(c, 3, expire, NULL) || redisAppendCommandArgv(c, 3, sadd, NULL))
        return 0;
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            return 0;
        ok &= tsr_redis_reply_ok(r);
        freeReplyObject(r);
    }
    return ok;
}

/* One tick: (re)connects when needed and publishes; on failure the
 * connection is dropped so the next tick reconnects. Errors go to `ctx`. */
static tsr_status tick(tsr_heartbeat *hb, tsr_ctx *ctx) {
    tsr_status st = TSR_OK;
    if (!hb->conn && (st = tsr_redis_connect(ctx, &hb->url, TSR_FLEET_QUICK_TIMEOUT_MS, &hb->conn)))
        return st;
    if (!publish(hb)) {
        st = tsr_error(ctx, TSR_ERR_IO, "heartbeat: cannot write %s: %s", hb->key,
                       hb->conn->err ? hb->conn->errstr : "error reply");
        redisFree(hb->conn);
        hb->conn = NULL;
    }
    return st;
}

/* The heartbeat thread: a tick every interval (or at once when woken)
 * until stopped. Failures are retried silently at the next tick; the first
 * failure after a success is logged once on stderr. */
static void *heartbeat_main(void *arg) {
    tsr_heartbeat *hb = arg;
    tsr_ctx *ctx = tsr_ctx_new();
    int failing = 0;
    pthread_mutex_lock(&hb->lock);
    while (!hb->stop) {
        struct timespec until = tsr_clock_deadline(CLOCK_MONOTONIC, hb->interval_ms);
        while (!hb->stop && !hb->wake &&
               pthread_cond_timedwait(&hb->cond, &hb->lock, &until) != ETIMEDOUT) {
        }
        if (hb->stop)
            break;
        hb->wake = 0;
        pthread_mutex_unlock(&hb->lock);
        if (ctx)
            tsr_ctx_reset(ctx);
        tsr_status st = ctx ? tick(hb, ctx) : TSR_ERR_NOMEM;
        if (st && !failing) {
            tsr_log_field f[] = {
                TSR_LOG_FIELD_STRING("error", ctx ? tsr_ctx_message(ctx) : "out of memory"),
                TSR_LOG_FIELD_INT("retry_ms", hb->interval_ms)};
            tsr_log(TSR_LOG_WARN, "worker: heartbeat to Redis failed", f, 2);
        } else if (!st && failing) {
            tsr_log(TSR_LOG_INFO, "worker: heartbeat to Redis restored", NULL, 0);
        }
        failing = st != TSR_OK;
        pthread_mutex_lock(&hb->lock);
    }
    pthread_mutex_unlock(&hb->lock);
    tsr_ctx_free(ctx);
    return NULL;
}

tsr_status tsr_heartbeat_start(tsr_ctx *ctx, const char *redis_url, const char *cluster,
                               const tsr_worker_info *info, tsr_heartbeat **out) {
    static const tsr_worker_info none = {0};
    tsr_status st;
    *out = NULL;
    tsr_heartbeat *hb = calloc(1, sizeof *hb);
    if (!hb)
        return tsr_error(ctx, TSR_ERR_NOMEM, "heartbeat: out of memory");
    pthread_mutex_init(&hb->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&hb->cond, &attr);
    pthread_condattr_destroy(&attr);
    if ((st = tsr_redis_url_parse(ctx, redis_url, &hb->url)) ||
        (st = fill_identity(ctx, hb, cluster, info ? info : &none)) || (st = tick(hb, ctx)))
        goto out;
    if (pthread_create(&hb->thread, NULL, heartbeat_main, hb)) {
        st = tsr_error(ctx, TSR_ERR_INTERNAL, "heartbeat: cannot start its thread");
        goto out;
    }
    hb->started_thread = 1;
out:
    if (st) {
        tsr_heartbeat_stop(hb);
        return st;
    }
    *out = hb;
    return TSR_OK;
}

void tsr_heartbeat_add_tiles(tsr_heartbeat *hb, uint64_t n) {
    if (hb)
        atomic_fetch_add(&hb->tiles, n);
}

void tsr_heartbeat_add_failure(tsr_heartbeat *hb) {
    if (hb)
        atomic_fetch_add(&hb->failures, 1);
}

void tsr_heartbeat_set_inflight(tsr_heartbeat *hb, int n) {
    if (hb)
        atomic_store(&hb->inflight, n < 0 ? 0 : n);
}

void tsr_heartbeat_set_state(tsr_heartbeat *hb, const char *state) {
    if (!hb || !state || (strcmp(state, "running") && strcmp(state, "draining")))
        return;
    atomic_store(&hb->draining, !strcmp(state, "draining"));
    pthread_mutex_lock(&hb->lock);
    hb->wake = 1;
    pthread_cond_signal(&hb->cond);
    pthread_mutex_unlock(&hb->lock);
}

const char *tsr_heartbeat_id(const tsr_heartbeat *hb) {
    return hb ? hb->id : "";
}

/* Deletes the hash and the set member; best effort. */
static void unregister(tsr_heartbeat *hb) {
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return;
    if (!hb->conn)
        tsr_redis_connect(ctx, &hb->url, 1000, &hb->conn);
    if (hb->conn) {
        const char *del[] = {"DEL", hb->key};
        const char *srem[] = {"SREM", hb->set, hb->id};
        freeReplyObject(redisCommandArgv(hb->conn, 2, del, NULL));
        if (!hb->conn->err)
            freeReplyObject(redisCommandArgv(hb->conn, 3, srem, NULL));
    }
    tsr_ctx_free(ctx);
}

void tsr_heartbeat_stop(tsr_heartbeat *hb) {
    if (!hb)
        return;
    if (hb->started_thread) {
        pthread_mutex_lock(&hb->lock);
        hb->stop = 1;
        pthread_cond_signal(&hb->cond);
        pthread_mutex_unlock(&hb->lock);
        pthread_join(hb->thread, NULL);
        unregister(hb);
    }
    if (hb->conn)
        redisFree(hb->conn);
    pthread_cond_destroy(&hb->cond);
    pthread_mutex_destroy(&hb->lock);
    free(hb);
}
