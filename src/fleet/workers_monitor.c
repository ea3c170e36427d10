/* The worker-fleet monitor: polls heartbeat hashes and queue lengths in
 * Redis (see workers_monitor.h). */
#include "fleet/workers_monitor.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/protocol.h"
#include "fleet/redis_conn.h"
#include "util/clock.h"

#define MAX_WORKERS 4096 /* listed workers; more ids in the set are ignored */

/* One known worker. */
typedef struct entry {
    char id[TSR_FLEET_NAME_MAX + 1]; /* worker id */
    json_t *fields;                  /* last known fields as API JSON (owned) */
    int64_t lost_since;              /* wall ms it was first seen expired; 0 = alive */
    int64_t last_seen_ms;            /* its last heartbeat (from the hash) */
} entry;

/* What one poll read from Redis, before it is merged into the table. */
typedef struct snapshot {
    size_t n;                            /* ids in the set (at most MAX_WORKERS) */
    char (*ids)[TSR_FLEET_NAME_MAX + 1]; /* the ids */
    json_t **fields;                     /* fields per id; NULL = hash expired */
    tsr_workers_counts q;                /* queue counters (worker counts unset) */
} snapshot;

struct tsr_workers_monitor {
    tsr_redis_url url;         /* where Redis is */
    tsr_fleet_keys keys;       /* the cluster's keys */
    int grace_ms;              /* lost workers stay listed this long */
    int poll_ms;               /* poll period */
    redisContext *conn;        /* the thread's connection; NULL = reconnect */
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t cond;       /* wakes the thread for stop */
    int stop;                  /* set by stop */
    entry *entries;            /* known workers, in first-seen order */
    size_t n_entries;          /* entries in use */
    tsr_workers_counts counts; /* of the last poll */
    pthread_t thread;          /* the polling thread */
    int started_thread;        /* thread was created */
};

/* A JSON string of an untrusted Redis value: at most 200 bytes, "?" when it
 * is not valid UTF-8. */
static json_t *text(const char *s, size_t n) {
    json_t *v = json_stringn(s, n > 200 ? 200 : n);
    return v ? v : json_string("?");
}

/* Integer value of s, or 0 when it is not one. */
static long long integer(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return (errno || end == s) ? 0 : v;
}

/* API JSON of a worker from its HGETALL reply (flat field/value array). */
static json_t *worker_json(const char *id, const redisReply *r) {
    static const char *const ints[][2] = {{"pid", "pid"},
                                          {"cores", "cores"},
                                          {"threads", "threads"},
                                          {"image_threads", "image_threads"},
                                          {"started", "started_ms"},
                                          {"last_seen", "last_seen_ms"},
                                          {"interval_ms", "interval_ms"},
                                          {"tiles_done", "tiles_done"},
                                          {"failures", "failures"},
                                          {"inflight", "inflight"}};
    /* Defaults first, so a partial hash still gives every documented field. */
    json_t *w =
        json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:[s], s:s, s:s, s:i, s:i, s:i, s:i, s:i}", "id",
                  id, "host", "", "pid", 0, "cores", 0, "threads", 0, "image_threads", 0,
                  "backends", "cpu", "device", "", "version", "", "started_ms", 0, "last_seen_ms",
                  0, "tiles_done", 0, "failures", 0, "inflight", 0);
    if (!w)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        for (size_t j = 0; j < sizeof ints / sizeof *ints; j++)
            if (!strcmp(k->str, ints[j][0]))
                json_object_set_new(w, ints[j][1], json_integer(integer(v->str)));
        if (!strcmp(k->str, "host") || !strcmp(k->str, "version") || !strcmp(k->str, "state") ||
            !strcmp(k->str, "device"))
            json_object_set_new(w, k->str, text(v->str, v->len));
        if (!strcmp(k->str, "backends")) {
            json_t *list = json_array();
            for (const char *p = v->str; list && *p && json_array_size(list) < 16;) {
                size_t n = strcspn(p, ",");
                if (n)
                    json_array_append_new(list, text(p, n));
                p += n + (p[n] == ',');
            }
            json_object_set_new(w, "backends", list);
        }
    }
    const char *state = json_string_value(json_object_get(w, "state"));
    if (!state || (strcmp(state, "running") && strcmp(state, "draining")))
        json_object_set_new(w, "state", json_string("running"));
    json_int_t threads = json_integer_value(json_object_get(w, "threads")) +
                         json_integer_value(json_object_get(w, "image_threads"));
    json_int_t inflight = json_integer_value(json_object_get(w, "inflight"));
    json_object_set_new(w, "load", json_real(threads > 0 ? (double)inflight / threads : 0.0));
    return w;
}

/* Runs a command; NULL (and drops nothing) on failure. Caller frees. */
static redisReply *command(redisContext *c, int argc, const char **argv) {
    return redisCommandArgv(c, argc, argv, NULL);
}

/* Integer reply value, or `fallback`. */
static int64_t reply_int(const redisReply *r, int64_t fallback) {
    if (r && r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r && r->type == REDIS_REPLY_STRING)
        return integer(r->str);
    return fallback;
}

/* Reads pending and lag of group `workers` from XINFO GROUPS. */
static void read_group(const redisReply *r, tsr_workers_counts *q) {
    if (!r || r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t g = 0; g < r->elements; g++) {
        const redisReply *grp = r->element[g];
        int mine = 0;
        int64_t pending = -1, lag = -1;
        if (grp->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t i = 0; i + 1 < grp->elements; i += 2) {
            const redisReply *k = grp->element[i], *v = grp->element[i + 1];
            if (k->type != REDIS_REPLY_STRING && k->type != REDIS_REPLY_STATUS)
                continue;
            if (!strcmp(k->str, "name") && v->type == REDIS_REPLY_STRING)
                mine = !strcmp(v->str, TSR_FLEET_GROUP);
            else if (!strcmp(k->str, "pending"))
                pending = reply_int(v, -1);
            else if (!strcmp(k->str, "lag"))
                lag = reply_int(v, -1);
        }
        if (mine) {
            q->pending = pending;
            q->undelivered = lag;
        }
    }
}

/* Reads the fleet counters of the stats hash (HGETALL reply `r`) into q. */
static void read_stats(const redisReply *r, tsr_workers_counts *q) {
    q->reclaims = 0;
    q->rejected = 0;
    q->dead_tiles = q->dead;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING)
            continue;
        if (!strcmp(k->str, "reclaims"))
            q->reclaims = reply_int(v, 0);
        else if (!strcmp(k->str, "rejected_payloads"))
            q->rejected = reply_int(v, 0);
        else if (!strcmp(k->str, "dead_tiles") && reply_int(v, 0) > q->dead_tiles)
            q->dead_tiles = reply_int(v, 0);
    }
}

/* Reads everything one poll needs into *s; false on a connection error. */
static int read_redis(tsr_workers_monitor *mon, snapshot *s) {
    const char *set = mon->keys.workers, *tasks = mon->keys.tasks, *dead = mon->keys.dead,
               *stats = mon->keys.stats;
    char key[TSR_FLEET_KEY_MAX];
    redisContext *c = mon->conn;
    const char *smembers[] = {"SMEMBERS", set};
    redisReply *r = command(c, 2, smembers);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return 0;
    }
    size_t n = r->elements < MAX_WORKERS ? r->elements : MAX_WORKERS;
    s->ids = calloc(n ? n : 1, sizeof *s->ids);
    s->fields = calloc(n ? n : 1, sizeof *s->fields);
    if (!s->ids || !s->fields) {
        freeReplyObject(r);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (r->element[i]->type == REDIS_REPLY_STRING && r->element[i]->len < sizeof *s->ids)
            snprintf(s->ids[s->n++], sizeof *s->ids, "%s", r->element[i]->str);
    freeReplyObject(r);
    for (size_t i = 0; i < s->n; i++) {
        tsr_fleet_key_of(&mon->keys, TSR_FLEET_KIND_WORKER, s->ids[i], key);
        const char *argv[] = {"HGETALL", key};
        if (redisAppendCommandArgv(c, 2, argv, NULL))
            return 0;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            return 0;
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2)
            s->fields[i] = worker_json(s->ids[i], r);
        freeReplyObject(r);
    }
    const char *images = mon->keys.images;
    const char *xlen[] = {"XLEN", tasks}, *xinfo[] = {"XINFO", "GROUPS", tasks},
               *xlen_dead[] = {"XLEN", dead}, *hstats[] = {"HGETALL", stats},
               *xlen_img[] = {"XLEN", images}, *xinfo_img[] = {"XINFO", "GROUPS", images};
    if (redisAppendCommandArgv(c, 2, xlen, NULL) || redisAppendCommandArgv(c, 3, xinfo, NULL) ||
        redisAppendCommandArgv(c, 2, xlen_dead, NULL) ||
        redisAppendCommandArgv(c, 2, hstats, NULL) ||
        redisAppendCommandArgv(c, 2, xlen_img, NULL) ||
        redisAppendCommandArgv(c, 3, xinfo_img, NULL))
        return 0;
    redisReply *rs[6] = {0};
    int ok = 1;
    for (int i = 0; i < 6; i++)
        ok &= redisGetReply(c, (void **)&rs[i]) == REDIS_OK;
    if (ok) {
        /* the queue is both streams: tile tasks and image tasks */
        tsr_workers_counts img = {.pending = 0, .undelivered = -1};
        read_group(rs[5], &img);
        s->q.images = reply_int(rs[4], 0);
        s->q.tasks = reply_int(rs[0], 0) + s->q.images;
        s->q.pending = 0;      /* no stream or group yet: nothing pending */
        s->q.undelivered = -1; /* no group, or a lag Redis cannot tell: unknown */
        read_group(rs[1], &s->q);
        s->q.pending += img.pending > 0 ? img.pending : 0;
        if (s->q.undelivered >= 0 && img.undelivered > 0)
            s->q.undelivered += img.undelivered;
        s->q.dead = reply_int(rs[2], 0);
        read_stats(rs[3], &s->q);
    }
    for (int i = 0; i < 6; i++)
        freeReplyObject(rs[i]);
    return ok;
}

static void snapshot_free(snapshot *s) {
    for (size_t i = 0; s->fields && i < s->n; i++)
        json_decref(s->fields[i]);
    free(s->fields);
    free(s->ids);
}

/* Index of `id` in the table, or -1. Caller holds the lock. */
static long find(const tsr_workers_monitor *mon, const char *id) {
    for (size_t i = 0; i < mon->n_entries; i++)
        if (!strcmp(mon->entries[i].id, id))
            return (long)i;
    return -1;
}

static void remove_at(tsr_workers_monitor *mon, size_t i) {
    json_decref(mon->entries[i].fields);
    memmove(&mon->entries[i], &mon->entries[i + 1],
            (mon->n_entries - i - 1) * sizeof *mon->entries);
    mon->n_entries--;
}

/* Merges a snapshot into the table and recounts; the ids to SREM (lost past
 * their grace) are flagged in `drop`. Caller holds the lock. */
static void merge(tsr_workers_monitor *mon, snapshot *s, char *drop, int64_t now) {
    for (size_t i = mon->n_entries; i-- > 0;) {
        int listed = 0;
        for (size_t j = 0; j < s->n && !listed; j++)
            listed = !strcmp(s->ids[j], mon->entries[i].id);
        if (!listed) /* left cleanly (SREM'd by its heartbeat) */
            remove_at(mon, i);
    }
    tsr_workers_counts c = s->q;
    c.running = c.draining = c.lost = c.image_capable = 0;
    for (size_t j = 0; j < s->n; j++) {
        long i = find(mon, s->ids[j]);
        if (i < 0) {
            if (mon->n_entries >= MAX_WORKERS)
                continue;
            i = (long)mon->n_entries++;
            mon->entries[i] = (entry){.fields = NULL};
            snprintf(mon->entries[i].id, sizeof mon->entries[i].id, "%s", s->ids[j]);
        }
        entry *e = &mon->entries[i];
        if (s->fields[j]) {
            json_decref(e->fields);
            e->fields = s->fields[j];
            s->fields[j] = NULL;
            e->lost_since = 0;
            e->last_seen_ms = json_integer_value(json_object_get(e->fields, "last_seen_ms"));
        } else {
            if (!e->fields) /* never seen alive by this monitor: what is known */
                e->fields = json_pack("{s:s, s:s, s:i, s:i, s:[], s:s, s:s, s:i, s:i, s:i, s:f}",
                                      "id", e->id, "host", "", "cores", 0, "threads", 0, "backends",
                                      "device", "", "version", "", "tiles_done", 0, "failures", 0,
                                      "inflight", 0, "load", 0.0);
            if (!e->lost_since)
                e->lost_since = now;
            if (now - e->lost_since >= mon->grace_ms) {
                drop[j] = 1;
                remove_at(mon, (size_t)i);
                continue;
            }
        }
        const char *state = json_string_value(json_object_get(e->fields, "state"));
        if (e->lost_since)
            c.lost++;
        else if (state && !strcmp(state, "draining"))
            c.draining++;
        else
            c.running++;
        if (!e->lost_since && (!state || strcmp(state, "draining")) &&
            json_integer_value(json_object_get(e->fields, "image_threads")) > 0)
            c.image_capable++;
    }
    c.redis_up = 1;
    c.polled_ms = now;
    mon->counts = c;
}

/* One poll: read, merge, SREM the dropped. False on a Redis failure. */
static int poll_once(tsr_workers_monitor *mon, tsr_ctx *ctx) {
    snapshot s = {0};
    int ok = 0;
    char *drop = NULL;
    if (!mon->conn && tsr_redis_connect(ctx, &mon->url, TSR_FLEET_QUICK_TIMEOUT_MS, &mon->conn))
        goto out;
    if (!read_redis(mon, &s) || !(drop = calloc(s.n ? s.n : 1, 1)))
        goto out;
    pthread_mutex_lock(&mon->lock);
    merge(mon, &s, drop, tsr_clock_wall_ms());
    pthread_mutex_unlock(&mon->lock);
    for (size_t j = 0; j < s.n; j++) {
        const char *argv[] = {"SREM", mon->keys.workers, s.ids[j]};
        if (drop[j])
            freeReplyObject(command(mon->conn, 3, argv));
    }
    ok = !mon->conn->err;
out:
    if (!ok && mon->conn) {
        redisFree(mon->conn);
        mon->conn = NULL;
    }
    free(drop);
    snapshot_free(&s);
    return ok;
}

/* The polling thread: one poll per period until stopped. */
static void *monitor_main(void *arg) {
    tsr_workers_monitor *mon = arg;
    tsr_ctx *ctx = tsr_ctx_new();
    pthread_mutex_lock(&mon->lock);
    while (!mon->stop) {
        pthread_mutex_unlock(&mon->lock);
        if (ctx)
            tsr_ctx_reset(ctx);
        int ok = ctx && poll_once(mon, ctx);
        pthread_mutex_lock(&mon->lock);
        if (!ok)
            mon->counts.redis_up = 0;
        struct timespec until = tsr_clock_deadline(CLOCK_MONOTONIC, mon->poll_ms);
        while (!mon->stop && pthread_cond_timedwait(&mon->cond, &mon->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&mon->lock);
    tsr_ctx_free(ctx);
    return NULL;
}

tsr_status tsr_workers_monitor_start(tsr_ctx *ctx, const char *redis_url, const char *cluster,
                                     tsr_workers_monitor **out) {
    tsr_status st = TSR_OK;
    *out = NULL;
    tsr_fleet_keys keys;
    if ((st = tsr_fleet_keys_init(ctx, cluster, &keys)))
        return st;
    tsr_workers_monitor *mon = calloc(1, sizeof *mon);
    if (!mon || !(mon->entries = calloc(MAX_WORKERS, sizeof *mon->entries))) {
        free(mon);
        return tsr_error(ctx, TSR_ERR_NOMEM, "workers monitor: out of memory");
    }
    mon->keys = keys;
    mon->grace_ms = TSR_FLEET_MONITOR_GRACE_MS;
    mon->poll_ms = TSR_FLEET_MONITOR_POLL_MS;
    mon->counts = (tsr_workers_counts){.tasks = -1,
                                       .images = -1,
                                       .pending = -1,
                                       .undelivered = -1,
                                       .dead = -1,
                                       .reclaims = -1,
                                       .rejected = -1,
                                       .dead_tiles = -1};
    pthread_mutex_init(&mon->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&mon->cond, &attr);
    pthread_condattr_destroy(&attr);
    if ((st = tsr_redis_url_parse(ctx, redis_url, &mon->url)))
        goto out;
    if (pthread_create(&mon->thread, NULL, monitor_main, mon)) {
        st = tsr_error(ctx, TSR_ERR_INTERNAL, "workers monitor: cannot start its thread");
        goto out;
    }
    mon->started_thread = 1;
out:
    if (st) {
        tsr_workers_monitor_stop(mon);
        return st;
    }
    *out = mon;
    return TSR_OK;
}

void tsr_workers_monitor_set_timing(tsr_workers_monitor *mon, int grace_ms, int poll_ms) {
    if (!mon)
        return;
    pthread_mutex_lock(&mon->lock);
    if (grace_ms >= 0)
        mon->grace_ms = grace_ms;
    if (poll_ms > 0)
        mon->poll_ms = poll_ms;
    pthread_cond_signal(&mon->cond);
    pthread_mutex_unlock(&mon->lock);
}

json_t *tsr_workers_monitor_json(tsr_workers_monitor *mon) {
    json_t *list = json_array();
    int64_t now = tsr_clock_wall_ms();
    if (!list || !mon)
        return list;
    pthread_mutex_lock(&mon->lock);
    for (size_t i = 0; i < mon->n_entries; i++) {
        const entry *e = &mon->entries[i];
        json_t *w = json_deep_copy(e->fields);
        if (!w)
            continue;
        if (e->lost_since) {
            json_object_set_new(w, "state", json_string("lost"));
            json_object_set_new(w, "lost_since_ms", json_integer(e->lost_since));
        } else {
            json_object_set_new(w, "lost_since_ms", json_null());
        }
        json_object_set_new(w, "seen_ago_s",
                            e->last_seen_ms ? json_real((double)(now - e->last_seen_ms) / 1000.0)
                                            : json_null());
        json_array_append_new(list, w);
    }
    pthread_mutex_unlock(&mon->lock);
    return list;
}

void tsr_workers_monitor_counts(tsr_workers_monitor *mon, tsr_workers_counts *out) {
    pthread_mutex_lock(&mon->lock);
    *out = mon->counts;
    pthread_mutex_unlock(&mon->lock);
}

const char *tsr_workers_monitor_cluster(const tsr_workers_monitor *mon) {
    return mon->keys.cluster;
}

void tsr_workers_monitor_stop(tsr_workers_monitor *mon) {
    if (!mon)
        return;
    if (mon->started_thread) {
        pthread_mutex_lock(&mon->lock);
        mon->stop = 1;
        pthread_cond_signal(&mon->cond);
        pthread_mutex_unlock(&mon->lock);
        pthread_join(mon->thread, NULL);
    }
    if (mon->conn)
        redisFree(mon->conn);
    for (size_t i = 0; i < mon->n_entries; i++)
        json_decref(mon->entries[i].fields);
    free(mon->entries);
    pthread_cond_destroy(&mon->cond);
    pthread_mutex_destroy(&mon->lock);
    free(mon);
}
