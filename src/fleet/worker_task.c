/* The fleet worker's tasks: open, run and report one task, and bury a task
 * past the delivery limit (see worker_internal.h, docs/internals/redis.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/seal.h"
#include "fleet/worker_internal.h"
#include "util/log.h"

/* Number of deliveries of task `id` (XPENDING), 0 when unknown. */
static long long deliveries(wthread *t, tsr_redis_link *l, const char *id) {
    const char *argv[] = {"XPENDING", t->stream, TSR_FLEET_GROUP, id, id, "1"};
    redisReply *r = tsr_redis_link_cmd(l, 6, argv, NULL);
    long long n = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 4)
        n = r->element[0]->element[3]->integer;
    freeReplyObject(r);
    return n;
}

/* Moves a task past the delivery limit to the dead stream and tells its
 * coordinator with a `dead` result (sealed when sealing is on). */
static void bury(wthread *t, tsr_redis_link *l, const char *id, const redisReply *fields,
                 long long n) {
    tsr_worker *w = t->w;
    const char *key = tsr_redis_field_str(fields, TSR_FIELD_KEY, "");
    const char *coord = tsr_redis_field_str(fields, TSR_FIELD_COORD, "");
    const char *job = tsr_redis_field_str(fields, TSR_FIELD_JOB, "");
    char attempts[24], reason[160];
    snprintf(attempts, sizeof attempts, "%lld", n - 1);
    snprintf(reason, sizeof reason,
             "delivery limit %d reached: a worker crashed or stalled on it every time", w->limit);
    const char *d[] = {"XADD",
                       w->keys.dead,
                       "MAXLEN",
                       "~",
                       TSR_FLEET_DEAD_KEEP,
                       "*",
                       TSR_FIELD_KEY,
                       key,
                       TSR_FIELD_JOB,
                       job,
                       TSR_FIELD_COORD,
                       coord,
                       "attempts",
                       attempts,
                       "task-id",
                       id,
                       "reason",
                       reason,
                       TSR_FIELD_WORKER,
                       w->id,
                       TSR_FIELD_KIND,
                       t->images ? TSR_KIND_IMAGE : "tile"};
    freeReplyObject(tsr_redis_link_cmd_retry(l, &w->quit, 22, d, NULL));
    if (coord[0]) {
        tsr_worker_post_failure(t, l, coord, id, key, TSR_FIELD_DEAD, attempts);
    } else {
        tsr_worker_finish_task(t, l, id);
    }
    atomic_fetch_add(&w->dead, 1);
    tsr_worker_count(w, l, "dead_tiles");
    if (w->hb)
        tsr_heartbeat_add_failure(w->hb);
    tsr_log_field f[] = {TSR_LOG_FIELD_STRING("job", job), TSR_LOG_FIELD_STRING("key", key),
                         TSR_LOG_FIELD_STRING("attempts", attempts)};
    tsr_log(TSR_LOG_WARN,
            t->images ? "worker: image task moved to the dead stream"
                      : "worker: tile moved to the dead stream",
            f, 3);
}

/* Opens a task's payload into `opened` when the cluster seals payloads.
 * Returns 0 after dropping a task that must not produce work: a sealed
 * task that does not open (tampered, foreign key, moved to another entry),
 * an unsealed one while sealing is on, or a sealed one without a key. The
 * task is XDEL'd and XACK'd, counted in the stats hash and logged; its
 * coordinator resends it after its resend timeout. */
static int unseal(wthread *t, tsr_redis_link *l, tsr_ctx *ctx, const char *id, const char *key,
                  const redisReply *payload, tsr_buffer *opened) {
    tsr_worker *w = t->w;
    if (!payload || payload->type != REDIS_REPLY_STRING)
        return 1; /* reported as a failed task below */
    const uint8_t *p = (const uint8_t *)payload->str;
    int sealed = tsr_payload_is_sealed(p, payload->len);
    if (!w->sealed && !sealed)
        return 1;
    char ad[TSR_FLEET_AD_MAX];
    tsr_ctx_reset(ctx);
    if (!w->sealed)
        tsr_error(ctx, TSR_ERR_CORRUPT, "sealed task but this worker has no --cluster-key");
    else if (!sealed)
        tsr_error(ctx, TSR_ERR_CORRUPT, "unsealed task while --cluster-key is set");
    else if (!tsr_fleet_seal_ad(t->images ? TSR_SEAL_IMAGE : TSR_SEAL_TASK, key, ad))
        tsr_error(ctx, TSR_ERR_CORRUPT, "task key too long");
    else if (!tsr_payload_open(ctx, &w->key, ad, p, payload->len, opened))
        return 1;
    tsr_worker_settle(t, l);
    tsr_worker_finish_task(t, l, id);
    atomic_fetch_add(&w->rejected, 1);
    tsr_worker_count(w, l, "rejected_payloads");
    tsr_log_field f[] = {TSR_LOG_FIELD_STRING("key", key), TSR_LOG_FIELD_STRING("entry", id),
                         TSR_LOG_FIELD_STRING("error", tsr_ctx_message(ctx))};
    tsr_log(TSR_LOG_WARN, "worker: rejected task", f, 3);
    return 0;
}

/* Decodes the task bytes (`pbytes`, `plen`: the payload, opened when
 * sealed), honours the test-only crash and failure hooks, asks for the next
 * task unless `claimed`, runs the task and packs (and seals) its result.
 * *post receives the buffer to post. Errors are in s->ctx. */
static tsr_status run_task(wthread *t, tsr_redis_link *l, task_scratch *s, const char *key,
                           const uint8_t *pbytes, size_t plen, int claimed, tsr_buffer *sealed,
                           tsr_buffer **post) {
    tsr_worker *w = t->w;
    tsr_ctx *ctx = s->ctx;
    tsr_status st = TSR_OK;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    if (!tsr_payload_raw_view(pbytes, plen, MAX_TASK, &bytes, &len)) {
        if ((st = tsr_payload_unpack(ctx, pbytes, plen, MAX_TASK, &s->task)))
            return st;
        bytes = s->task.data;
        len = s->task.len;
    }
    int tile = tsr_task_tile_of(bytes, len);
    if (w->crash_tile >= 0 && tile == w->crash_tile) {
        tsr_log_field f[] = {TSR_LOG_FIELD_INT("tile", w->crash_tile),
                             TSR_LOG_FIELD_STRING("key", key)};
        tsr_log(TSR_LOG_ERROR, "worker: TESSERA_TEST_CRASH_TILE: aborting", f, 2);
        abort();
    }
    if (w->fail_tile >= 0 && tile == w->fail_tile)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "TESSERA_TEST_FAIL_TILE=%d: injected failure",
                         w->fail_tile);
    /* Raw results are written in place after their format byte. */
    tsr_buffer *out = w->level <= 0 ? &s->packed : &s->result;
    if (w->level <= 0 && tsr_buffer_append(&s->packed, "R", 1))
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    if (!claimed)
        tsr_worker_ask_ahead(t, l);
    if ((st = tsr_task_execute(s->tw, ctx, bytes, len, out)))
        return st;
    if (w->level > 0 &&
        (st = tsr_payload_pack(ctx, w->level, s->result.data, s->result.len, &s->packed)))
        return st;
    *post = &s->packed;
    if (!w->sealed)
        return TSR_OK;
    char ad[TSR_FLEET_AD_MAX];
    if (!tsr_fleet_seal_ad(TSR_SEAL_RESULT, key, ad))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "task key too long");
    *post = sealed;
    return tsr_payload_seal(ctx, &w->key, ad, s->packed.data, s->packed.len, sealed);
}

/* Posts the outcome of a task (its result, or its failure), then counts it
 * in the stats and the heartbeat. */
static void report(wthread *t, tsr_redis_link *l, task_scratch *s, const char *id,
                   const char *coord, const char *key, tsr_status st, tsr_buffer *post) {
    tsr_worker *w = t->w;
    if (coord[0] && !st) {
        tsr_worker_post_async(t, l, coord, id, key, post);
    } else {
        tsr_worker_settle(t, l);
        if (coord[0])
            tsr_worker_post_failure(t, l, coord, id, key, TSR_FIELD_ERROR, tsr_ctx_message(s->ctx));
        else
            tsr_worker_finish_task(t, l, id);
    }
    tsr_worker_set_current(t, NULL);
    int busy = atomic_fetch_sub(&w->busy, 1) - 1;
    if (st) {
        atomic_fetch_add(&w->failures, 1);
        tsr_log_field f[] = {TSR_LOG_FIELD_STRING("key", key),
                             TSR_LOG_FIELD_STRING("error", tsr_ctx_message(s->ctx))};
        tsr_log(TSR_LOG_WARN, "worker: task failed", f, 2);
    } else {
        atomic_fetch_add(&w->done, 1);
    }
    if (w->hb) {
        tsr_heartbeat_set_inflight(w->hb, busy);
        if (st)
            tsr_heartbeat_add_failure(w->hb);
        else
            tsr_heartbeat_add_tiles(w->hb, 1);
    }
}

/* Unless the task was reclaimed, the thread asks for its next task before
 * computing and posts the result without waiting (settle, post_async), so
 * neither round trip stands between two tasks; the answer to the ask is
 * left in t->ahead. */
void tsr_worker_process(wthread *t, tsr_redis_link *l, task_scratch *s, const redisReply *entry,
                        int claimed) {
    tsr_worker *w = t->w;
    const char *id = entry->element[0]->str;
    const redisReply *fields = entry->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) { /* deleted meanwhile */
        tsr_worker_settle(t, l);
        tsr_worker_finish_task(t, l, id);
        return;
    }
    if (claimed) {
        tsr_worker_settle(t, l);
        atomic_fetch_add(&w->reclaimed, 1);
        tsr_worker_count(w, l, "reclaims");
        long long n = deliveries(t, l, id);
        if (n > w->limit) {
            bury(t, l, id, fields, n);
            return;
        }
    }
    const char *key = tsr_redis_field_str(fields, TSR_FIELD_KEY, "");
    const char *coord = tsr_redis_field_str(fields, TSR_FIELD_COORD, "");
    const redisReply *payload = tsr_redis_field(fields, TSR_FIELD_PAYLOAD);
    tsr_buffer opened = {0}, sealed = {0};
    if (!unseal(t, l, s->ctx, id, key, payload, &opened))
        goto out;
    tsr_worker_set_current(t, id);
    if (w->hb)
        tsr_heartbeat_set_inflight(w->hb, atomic_fetch_add(&w->busy, 1) + 1);
    s->task.len = s->result.len = s->packed.len = 0;
    tsr_ctx_reset(s->ctx);
    tsr_status st;
    tsr_buffer *post = NULL;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    if (payload && payload->type == REDIS_REPLY_STRING) {
        bytes = w->sealed ? opened.data : (const uint8_t *)payload->str;
        len = w->sealed ? opened.len : payload->len;
    }
    if (!bytes)
        st = tsr_error(s->ctx, TSR_ERR_CORRUPT, "task %s has no payload", id);
    else if (t->images)
        st = tsr_worker_run_image(t, l, s, coord, key, bytes, len, &sealed, &post);
    else
        st = run_task(t, l, s, key, bytes, len, claimed, &sealed, &post);
    report(t, l, s, id, coord, key, st, post);
out:
    tsr_buffer_free(&opened);
    tsr_buffer_free(&sealed);
}
