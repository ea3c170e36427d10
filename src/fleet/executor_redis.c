/*
 * The Redis executor (see executor_redis.h and docs/internals/redis.md):
 * setup, counters and teardown. Sending is in executor_redis_send.c, the
 * result reader in executor_redis_results.c.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet/executor_redis_internal.h"
#include "util/random.h"

void tsr_redis_exec_say(redis_exec *x, const char *level, const char *msg, const char *detail) {
    if (x->log)
        x->log(x->log_user, level, msg, detail);
}

/* Deletes tasks left in `stream` by earlier runs of this coordinator id:
 * nobody would read their results. Best effort. */
static void purge_stale(redis_exec *x, tsr_redis_link *l, const char *stream) {
    char start[64] = "-";
    uint64_t purged = 0;
    for (int round = 0; round < 1000; round++) {
        const char *argv[] = {"XRANGE", stream, start, "+", "COUNT", "500"};
        redisReply *r = tsr_redis_link_cmd(l, 6, argv, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                continue;
            const char *coord = tsr_redis_field_str(e->element[1], TSR_FIELD_COORD, NULL);
            const char *key = tsr_redis_field_str(e->element[1], TSR_FIELD_KEY, NULL);
            char epoch[TSR_FLEET_EPOCH_HEX + 1];
            uint64_t seq;
            int tile;
            if (coord && !strcmp(coord, x->coord) && key &&
                tsr_fleet_tile_key_parse(key, epoch, &seq, &tile) && strcmp(epoch, x->epoch)) {
                const char *del[] = {"XDEL", stream, e->element[0]->str};
                freeReplyObject(tsr_redis_link_cmd(l, 3, del, NULL));
                purged++;
            }
        }
        /* Continue after the last id: "(" makes the range exclusive. */
        snprintf(start, sizeof start, "(%s", r->element[r->elements - 1]->element[0]->str);
        int last_page = r->elements < 500;
        freeReplyObject(r);
        if (last_page)
            break;
    }
    if (purged) {
        char detail[64];
        snprintf(detail, sizeof detail, "%llu tasks", (unsigned long long)purged);
        tsr_redis_exec_say(x, "info", "redis: removed tasks of a previous run of this coordinator",
                           detail);
    }
}

/* Work that is not tiles (decoding, encoding, merges) runs on the caller's
 * thread: the workers only take tile batches. */
static tsr_status redis_run(tsr_executor *e, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg) {
    (void)e;
    return tsr_executor_run_inline(ctx, n, fn, arg);
}

static void redis_destroy(tsr_executor *e) {
    redis_exec *x = (redis_exec *)e;
    atomic_store(&x->stopping, 1);
    if (x->reader_started)
        pthread_join(x->reader, NULL);
    for (int i = 0; i < x->pool_n; i++) {
        tsr_redis_link_close(x->pool[i]);
        free(x->pool[i]);
    }
    free(x->pool);
    pthread_mutex_destroy(&x->lock);
    pthread_cond_destroy(&x->changed);
    sodium_memzero(&x->key, sizeof x->key);
    free(x);
}

static const tsr_executor_vtable redis_vtable = {
    .run = redis_run, .destroy = redis_destroy, .run_tiles = tsr_redis_exec_run_tiles};

bool tsr_executor_is_redis(const tsr_executor *exec) {
    return exec && exec->vt == &redis_vtable;
}

void tsr_executor_redis_stats(tsr_executor *exec, tsr_redis_stats *out) {
    redis_exec *x = (redis_exec *)exec;
    pthread_mutex_lock(&x->lock);
    *out = x->stats;
    out->reconnects += x->reader_reconnects;
    out->in_flight = (uint64_t)x->in_flight_total;
    pthread_mutex_unlock(&x->lock);
}

/* Sets the keys, caps and options of `x` from `cfg` (names already checked). */
static void configure(redis_exec *x, const tsr_redis_config *cfg, const char *cluster) {
    if (cfg->coordinator_id)
        snprintf(x->coord, sizeof x->coord, "%s", cfg->coordinator_id);
    else
        tsr_fleet_default_id(0, x->coord);
    tsr_random_hex(NULL, x->epoch, TSR_FLEET_EPOCH_HEX);
    tsr_fleet_keys_init(NULL, cluster, &x->keys);
    tsr_fleet_key_of(&x->keys, TSR_FLEET_KIND_RESULTS, x->coord, x->results_key);
    tsr_fleet_key_of(&x->keys, TSR_FLEET_KIND_SENT, x->coord, x->mark_key);
    int lease = cfg->lease_ms > 0 ? cfg->lease_ms : TSR_FLEET_LEASE_MS;
    x->cap_batch = cfg->in_flight_batch > 0 ? cfg->in_flight_batch : TSR_FLEET_IN_FLIGHT_BATCH;
    x->cap_total = cfg->in_flight_total > 0 ? cfg->in_flight_total : TSR_FLEET_IN_FLIGHT_TOTAL;
    x->resend_ms = cfg->resend_ms > 0                    ? cfg->resend_ms
                   : 4 * lease > TSR_FLEET_RESEND_MIN_MS ? 4 * lease
                                                         : TSR_FLEET_RESEND_MIN_MS;
    x->audit_ms = lease / 2 > 1000 ? lease / 2 : 1000;
    x->level = cfg->compress_level == 0 ? 1 : cfg->compress_level;
    if (cfg->key) {
        x->sealed = 1;
        x->key = *cfg->key;
    }
    x->log = cfg->log;
    x->log_user = cfg->log_user;
}

/* Creates the consumer group on the tasks and images streams (an existing
 * one is fine). */
static tsr_status create_group(tsr_ctx *ctx, redis_exec *x, tsr_redis_link *l) {
    const char *streams[] = {x->keys.tasks, x->keys.images};
    tsr_status st = TSR_OK;
    for (int i = 0; i < 2 && !st; i++) {
        const char *argv[] = {"XGROUP", "CREATE", streams[i], TSR_FLEET_GROUP, "0", "MKSTREAM"};
        redisReply *r = tsr_redis_link_cmd(l, 6, argv, NULL);
        if (!r || (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9)))
            st = tsr_error(ctx, TSR_ERR_IO, "redis: cannot create the consumer group on %s: %s",
                           streams[i], r ? r->str : "connection lost");
        freeReplyObject(r);
    }
    return st;
}

tsr_status tsr_executor_redis_new(tsr_ctx *ctx, const tsr_redis_config *cfg, tsr_executor **out) {
    *out = NULL;
    const char *cluster;
    tsr_status st = tsr_fleet_cluster(ctx, cfg->cluster, &cluster);
    if (st)
        return st;
    if (cfg->coordinator_id && !tsr_fleet_name_valid(cfg->coordinator_id))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "redis: coordinator id '%s' must be 1..%d bytes of [A-Za-z0-9._-]",
                         cfg->coordinator_id, TSR_FLEET_NAME_MAX);
    redis_exec *x = calloc(1, sizeof *x);
    if (!x)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    tsr_redis_link l = {.url = &x->url, .timeout_ms = TSR_FLEET_LINK_TIMEOUT_MS};
    st = tsr_redis_url_parse(ctx, cfg->url, &x->url);
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->changed, NULL);
    x->base.vt = &redis_vtable;
    x->base.threads = 1;
    if (st)
        goto out;
    configure(x, cfg, cluster);
    x->pool_cap = 64;
    if (!(x->pool = calloc((size_t)x->pool_cap, sizeof *x->pool))) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = tsr_redis_connect(ctx, &x->url, TSR_FLEET_LINK_TIMEOUT_MS, &l.c)) ||
        (st = create_group(ctx, x, &l)))
        goto out;
    purge_stale(x, &l, x->keys.tasks);
    purge_stale(x, &l, x->keys.images);
    if (pthread_create(&x->reader, NULL, tsr_redis_exec_reader_main, x)) {
        st = tsr_error(ctx, TSR_ERR_INTERNAL, "redis: could not start the result reader");
        goto out;
    }
    x->reader_started = 1;
out:
    tsr_redis_link_close(&l);
    if (st)
        redis_destroy(&x->base);
    else
        *out = &x->base;
    return st;
}
