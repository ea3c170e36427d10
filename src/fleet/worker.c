/* The Redis fleet worker: start, drain, stop and the lease keeper (see
 * worker.h and docs/internals/redis.md). A compute thread's loop is in
 * worker_loop.c, one task in worker_task.c, posting in worker_post.c. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fleet/worker_internal.h"
#include "util/clock.h"

/* Extends the lease of tasks being computed: XCLAIM <id> JUSTID with min
 * idle 0 resets their idle time without counting a delivery. */
static void *keeper_main(void *arg) {
    tsr_worker *w = arg;
    tsr_redis_link l = {.url = &w->url, .timeout_ms = TSR_FLEET_PROBE_TIMEOUT_MS};
    int period = w->lease_ms / 3 > 10 ? w->lease_ms / 3 : 10;
    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&w->quit)) {
        struct timespec ts = tsr_clock_deadline(CLOCK_REALTIME, period);
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        double now = (double)tsr_clock_mono_ms();
        for (int i = 0; i < w->n && !atomic_load(&w->quit); i++) {
            wthread *t = &w->threads[i];
            if (!t->current[0] || now - t->current_at < period)
                continue;
            char id[32], consumer[160];
            memcpy(id, t->current, sizeof id);
            memcpy(consumer, t->consumer, sizeof consumer);
            t->current_at = now;
            pthread_mutex_unlock(&w->lock);
            const char *a[] = {"XCLAIM", t->stream, TSR_FLEET_GROUP, consumer, "0", id, "JUSTID"};
            if (tsr_redis_link_ensure(&l, NULL))
                freeReplyObject(tsr_redis_link_cmd(&l, 7, a, NULL));
            pthread_mutex_lock(&w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
    tsr_redis_link_close(&l);
    return NULL;
}

tsr_status tsr_worker_start(tsr_ctx *ctx, const tsr_worker_config *cfg, tsr_worker **out) {
    *out = NULL;
    tsr_worker *w = calloc(1, sizeof *w);
    if (!w)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : TSR_FLEET_LEASE_MS;
    w->limit = cfg->delivery_limit > 0 ? cfg->delivery_limit : TSR_FLEET_DELIVERY_LIMIT;
    w->block_ms = cfg->block_ms > 0 ? cfg->block_ms : TSR_FLEET_BLOCK_MS;
    w->level = cfg->compress_level == 0 ? 1 : cfg->compress_level;
    w->crash_tile = cfg->crash_tile;
    w->fail_tile = cfg->fail_tile;
    if (cfg->key) {
        w->sealed = 1;
        w->key = *cfg->key;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int tiles = cfg->threads > 0 ? cfg->threads : (cores > 0 ? (int)cores : 1);
    int images = !cfg->image_runner ? 0 : cfg->image_threads > 0 ? cfg->image_threads : tiles;
    w->n = tiles + images;
    w->runner = cfg->image_runner;
    w->runner_user = cfg->image_runner_user;
    w->accel = cfg->accel;
    redisContext *probe = NULL;
    tsr_status st;
    if ((st = tsr_redis_url_parse(ctx, cfg->url, &w->url)) ||
        (st = tsr_fleet_keys_init(ctx, cfg->cluster, &w->keys)) ||
        (st = tsr_redis_connect(ctx, &w->url, TSR_FLEET_PROBE_TIMEOUT_MS, &probe)))
        goto out;
    redisFree(probe);
    if (cfg->heartbeat) {
        tsr_worker_info info = {.threads = tiles,
                                .image_threads = images,
                                .backends = cfg->backend,
                                .device = cfg->device};
        if ((st = tsr_heartbeat_start(ctx, cfg->url, w->keys.cluster, &info, &w->hb)))
            goto out;
        snprintf(w->id, sizeof w->id, "%s", tsr_heartbeat_id(w->hb));
    } else {
        tsr_fleet_default_id(1, w->id);
    }
    if (!(w->threads = calloc((size_t)w->n, sizeof *w->threads))) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < w->n; i++) {
        wthread *t = &w->threads[i];
        t->w = w;
        t->index = i;
        t->images = i >= tiles;
        t->stream = t->images ? w->keys.images : w->keys.tasks;
        snprintf(t->consumer, sizeof t->consumer, "%s/%d", w->id, i);
        if (pthread_create(&t->th, NULL, tsr_worker_thread_main, t)) {
            st = tsr_error(ctx, TSR_ERR_INTERNAL, "worker: could not start thread %d", i);
            goto out;
        }
        t->started = 1;
    }
    if (pthread_create(&w->keeper, NULL, keeper_main, w)) {
        st = tsr_error(ctx, TSR_ERR_INTERNAL, "worker: could not start the lease keeper");
        goto out;
    }
    w->keeper_started = 1;
out:
    if (st)
        tsr_worker_stop(w);
    else
        *out = w;
    return st;
}

void tsr_worker_drain(tsr_worker *w) {
    if (!w)
        return;
    if (!atomic_exchange(&w->draining, 1) && w->hb)
        tsr_heartbeat_set_state(w->hb, "draining");
}

void tsr_worker_stop(tsr_worker *w) {
    if (!w)
        return;
    tsr_worker_drain(w);
    for (int i = 0; w->threads && i < w->n; i++)
        if (w->threads[i].started)
            pthread_join(w->threads[i].th, NULL);
    pthread_mutex_lock(&w->lock);
    atomic_store(&w->quit, 1);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (w->keeper_started)
        pthread_join(w->keeper, NULL);
    /* Leave no idle consumers behind: their pending lists are empty now. */
    tsr_redis_link l = {.url = &w->url, .timeout_ms = TSR_FLEET_QUICK_TIMEOUT_MS};
    for (int i = 0; w->threads && i < w->n; i++) {
        const char *c = w->threads[i].consumer;
        const char *s = w->threads[i].stream;
        const char *p[] = {"XPENDING", s, TSR_FLEET_GROUP, "-", "+", "1", c};
        const char *a[] = {"XGROUP", "DELCONSUMER", s, TSR_FLEET_GROUP, c};
        if (!w->threads[i].started || !tsr_redis_link_ensure(&l, NULL))
            continue;
        /* Deleting a consumer drops its pending list: only when it is empty. */
        redisReply *r = tsr_redis_link_cmd(&l, 7, p, NULL);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 0)
            freeReplyObject(tsr_redis_link_cmd(&l, 5, a, NULL));
        freeReplyObject(r);
    }
    tsr_redis_link_close(&l);
    tsr_heartbeat_stop(w->hb);
    free(w->threads);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->wake);
    sodium_memzero(&w->key, sizeof w->key);
    free(w);
}

const char *tsr_worker_id(const tsr_worker *w) {
    return w->id;
}

void tsr_worker_get_stats(tsr_worker *w, tsr_worker_stats *out) {
    out->tiles_done = atomic_load(&w->done);
    out->failures = atomic_load(&w->failures);
    out->reclaimed = atomic_load(&w->reclaimed);
    out->dead = atomic_load(&w->dead);
    out->rejected = atomic_load(&w->rejected);
}
