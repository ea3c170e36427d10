/* The fleet worker's posts: results, failures and finished tasks on Redis
 * (see worker_internal.h and docs/internals/redis.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet/seal.h"
#include "fleet/worker_internal.h"
#include "util/clock.h"
#include "util/log.h"

void tsr_worker_count(tsr_worker *w, tsr_redis_link *l, const char *field) {
    const char *a[] = {"HINCRBY", w->keys.stats, field, "1"};
    freeReplyObject(tsr_redis_link_cmd(l, 4, a, NULL));
}

void tsr_worker_set_current(wthread *t, const char *id) {
    pthread_mutex_lock(&t->w->lock);
    snprintf(t->current, sizeof t->current, "%s", id ? id : "");
    t->current_at = (double)tsr_clock_mono_ms();
    pthread_mutex_unlock(&t->w->lock);
}

void tsr_worker_finish_task(wthread *t, tsr_redis_link *l, const char *id) {
    tsr_worker *w = t->w;
    const char *ack[] = {"XACK", t->stream, TSR_FLEET_GROUP, id};
    const char *del[] = {"XDEL", t->stream, id};
    /* XDEL first: a worker killed in between leaves a pending id of a
     * deleted entry, which the next XAUTOCLAIM removes; the other order
     * would leave an acknowledged entry in the stream for ever. */
    freeReplyObject(tsr_redis_link_cmd_retry(l, &w->quit, 3, del, NULL));
    freeReplyObject(tsr_redis_link_cmd_retry(l, &w->quit, 4, ack, NULL));
}

#define POST_REPLIES 4 /* the replies of append_post's commands */

/* Appends (does not send) the four commands of a result post: XADD of the
 * result entry (fields argv[0..argc), at most 10) to coordinator `coord`'s
 * results stream and its expiry (protocol.h), then XDEL and XACK of task
 * `id`. 0 when hiredis refused. */
static int append_post(wthread *t, redisContext *c, const char *coord, const char *id, int argc,
                       const char **argv, const size_t *lens) {
    tsr_worker *w = t->w;
    char stream[TSR_FLEET_KEY_MAX];
    tsr_fleet_key_of(&w->keys, TSR_FLEET_KIND_RESULTS, coord, stream);
    const char *a[16] = {"XADD", stream, "MAXLEN", "~", TSR_FLEET_RESULTS_KEEP, "*"};
    size_t n[16] = {4, strlen(stream), 6, 1, strlen(TSR_FLEET_RESULTS_KEEP), 1};
    for (int i = 0; i < argc && i < 10; i++) {
        a[6 + i] = argv[i];
        n[6 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    const char *expire[] = {"PEXPIRE", stream, TSR_FLEET_COORD_KEYS_TTL_MS};
    const char *del[] = {"XDEL", t->stream, id};
    const char *ack[] = {"XACK", t->stream, TSR_FLEET_GROUP, id};
    return redisAppendCommandArgv(c, 6 + argc, a, n) == REDIS_OK &&
           redisAppendCommandArgv(c, 3, expire, NULL) == REDIS_OK &&
           redisAppendCommandArgv(c, 3, del, NULL) == REDIS_OK &&
           redisAppendCommandArgv(c, 4, ack, NULL) == REDIS_OK;
}

void tsr_worker_post_and_finish(wthread *t, tsr_redis_link *l, const char *coord, const char *id,
                                int argc, const char **argv, const size_t *lens,
                                redisReply **next) {
    tsr_worker *w = t->w;
    const char *more[] = {"XREADGROUP", "GROUP",   TSR_FLEET_GROUP, t->consumer, "COUNT",
                          "1",          "STREAMS", t->stream,       ">"};
    if (next)
        *next = NULL;
    while (tsr_redis_link_ensure(l, &w->quit)) {
        int ask = next && !atomic_load(&w->draining);
        int ok = append_post(t, l->c, coord, id, argc, argv, lens) &&
                 (!ask || redisAppendCommandArgv(l->c, 9, more, NULL) == REDIS_OK);
        for (int i = 0; ok && i < POST_REPLIES + ask; i++) {
            redisReply *r = NULL;
            ok = redisGetReply(l->c, (void **)&r) == REDIS_OK && r &&
                 (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "LOADING", 7));
            if (ok && i == POST_REPLIES && r->type == REDIS_REPLY_ARRAY)
                *next = r; /* the next task; a nil or error reply is dropped */
            else
                freeReplyObject(r);
        }
        if (ok)
            return;
        if (next && *next) {
            freeReplyObject(*next);
            *next = NULL;
        }
        tsr_redis_link_close(l);
        tsr_clock_sleep_ms(100);
    }
}

int tsr_worker_entry_head(const wthread *t, const char *key, const char **f, size_t *n) {
    const tsr_worker *w = t->w;
    f[0] = TSR_FIELD_KEY, f[1] = key, f[2] = TSR_FIELD_WORKER, f[3] = w->id;
    n[0] = strlen(f[0]), n[1] = strlen(key), n[2] = strlen(f[2]), n[3] = strlen(w->id);
    if (!t->images)
        return 4;
    f[4] = TSR_FIELD_KIND, f[5] = TSR_KIND_IMAGE;
    n[4] = strlen(f[4]), n[5] = strlen(f[5]);
    return 6;
}

/* The fields of a deferred post's result entry: the head, then payload.
 * Returns the count (at most 8). */
static int post_fields(const wthread *t, const deferred_post *p, const char *f[8], size_t n[8]) {
    int k = tsr_worker_entry_head(t, p->key, f, n);
    f[k] = TSR_FIELD_PAYLOAD, n[k] = strlen(f[k]);
    f[k + 1] = (const char *)p->payload.data, n[k + 1] = p->payload.len;
    return k + 2;
}

/* A post whose replies did not all come (connection lost, Redis LOADING)
 * is sent again synchronously, so a result is never lost; a lost ask-ahead
 * only leaves its task pending until a lease runs out. */
void tsr_worker_settle(wthread *t, tsr_redis_link *l) {
    int ok = l->c != NULL, posted = 1;
    for (int i = 0; i < t->post.replies; i++) {
        redisReply *r = NULL;
        ok = ok && redisGetReply(l->c, (void **)&r) == REDIS_OK && r &&
             (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "LOADING", 7));
        posted = posted && ok;
        freeReplyObject(r);
    }
    if (t->asked) {
        redisReply *r = NULL;
        ok = ok && redisGetReply(l->c, (void **)&r) == REDIS_OK && r;
        if (ok && r->type == REDIS_REPLY_ARRAY)
            t->ahead = r;
        else
            freeReplyObject(r);
        t->asked = 0;
    }
    if (!ok)
        tsr_redis_link_close(l);
    if (t->post.replies && !posted) {
        const char *f[8];
        size_t n[8];
        int k = post_fields(t, &t->post, f, n);
        tsr_worker_post_and_finish(t, l, t->post.coord, t->post.id, k, f, n, NULL);
    }
    t->post.replies = 0;
}

/* Settles first; the replies are read while the thread computes its next
 * task. */
void tsr_worker_post_async(wthread *t, tsr_redis_link *l, const char *coord, const char *id,
                           const char *key, tsr_buffer *payload) {
    tsr_worker *w = t->w;
    tsr_worker_settle(t, l);
    deferred_post *p = &t->post;
    tsr_buffer swap = p->payload;
    p->payload = *payload;
    *payload = swap;
    payload->len = 0;
    snprintf(p->id, sizeof p->id, "%s", id);
    snprintf(p->coord, sizeof p->coord, "%s", coord);
    snprintf(p->key, sizeof p->key, "%s", key);
    const char *f[8];
    size_t n[8];
    int k = post_fields(t, p, f, n);
    p->replies = POST_REPLIES; /* settle() resends unless all of them come */
    if (!tsr_redis_link_ensure(l, &w->quit) || !append_post(t, l->c, p->coord, p->id, k, f, n) ||
        !tsr_redis_link_flush(l)) {
        tsr_redis_link_close(l);
        tsr_worker_settle(t, l); /* sends it synchronously */
    }
}

/* XREADGROUP COUNT 1 without BLOCK: the answer arrives while this task
 * computes. */
void tsr_worker_ask_ahead(wthread *t, tsr_redis_link *l) {
    tsr_worker *w = t->w;
    if (t->asked || atomic_load(&w->draining) || !l->c)
        return;
    const char *a[] = {"XREADGROUP", "GROUP",   TSR_FLEET_GROUP, t->consumer, "COUNT",
                       "1",          "STREAMS", t->stream,       ">"};
    if (redisAppendCommandArgv(l->c, 9, a, NULL) != REDIS_OK) {
        tsr_redis_link_close(l);
        return;
    }
    t->asked = 1;
    if (!tsr_redis_link_flush(l))
        tsr_redis_link_close(l); /* settle() finds the link gone and resends the post */
}

/* With sealing on, the value is sealed bound to "E:<key>" or "D:<key>", so
 * the coordinator knows a key holder sent it for this tile and as this
 * kind; when sealing fails (out of memory, a key too long to bind) the task
 * is finished without a result and its coordinator resends it. */
void tsr_worker_post_failure(wthread *t, tsr_redis_link *l, const char *coord, const char *id,
                             const char *key, const char *field, const char *value) {
    tsr_worker *w = t->w;
    tsr_buffer sealed = {0};
    const char *v = value;
    size_t vlen = strlen(value);
    if (w->sealed) {
        char ad[TSR_FLEET_AD_MAX];
        tsr_seal_tag tag = strcmp(field, TSR_FIELD_DEAD) ? TSR_SEAL_ERROR : TSR_SEAL_DEAD;
        if (!tsr_fleet_seal_ad(tag, key, ad) ||
            tsr_payload_seal(NULL, &w->key, ad, (const uint8_t *)value, vlen, &sealed)) {
            tsr_log_field f[] = {TSR_LOG_FIELD_STRING("result", field),
                                 TSR_LOG_FIELD_STRING("key", key)};
            tsr_log(TSR_LOG_ERROR, "worker: could not seal a failure result", f, 2);
            tsr_worker_finish_task(t, l, id);
            goto out;
        }
        v = (const char *)sealed.data;
        vlen = sealed.len;
    }
    const char *r[8];
    size_t n[8];
    int k = tsr_worker_entry_head(t, key, r, n);
    r[k] = field, n[k] = strlen(field);
    r[k + 1] = v, n[k + 1] = vlen;
    tsr_worker_post_and_finish(t, l, coord, id, k + 2, r, n, NULL);
out:
    tsr_buffer_free(&sealed);
}
