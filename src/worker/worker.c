/* The Redis fleet worker (see worker.h and docs/internals/redis.md). */
#include "worker/worker.h"

#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/task.h"
#include "worker/heartbeat.h"
#include "worker/redis_link.h"

#define MAX_TASK     ((size_t)1 << 31) /* largest decoded task accepted */
#define RESULTS_KEEP "100000"          /* results streams are trimmed to about this */
#define DEAD_KEEP    "10000"           /* the dead stream is trimmed to about this */

/* A thread's result post sent without waiting: its three replies (XADD,
 * XDEL, XACK) are read before the link carries anything else, and the post
 * is sent again from here if the connection failed meanwhile. */
typedef struct deferred_post {
    int replies;        /* replies still unread: 3 after a post, 0 when settled */
    char id[32];        /* the task's stream id */
    char coord[128];    /* its coordinator */
    char key[160];      /* its key */
    tsr_buffer payload; /* the result as posted */
} deferred_post;

/* One compute thread. */
typedef struct wthread {
    tsr_worker *w;      /* its worker */
    int index;          /* thread number */
    pthread_t th;       /* the thread */
    int started;        /* th is running */
    char consumer[160]; /* consumer name in the group */
    char current[32];   /* stream id of the task being computed, "" when idle (w->lock) */
    double current_at;  /* when it started or its lease was last extended (w->lock) */
    deferred_post post; /* the last result, posted without waiting */
    int asked;          /* an XREADGROUP for the next task is unanswered */
    redisReply *ahead;  /* its reply, once read */
} wthread;

struct tsr_worker {
    tsr_redis_url url;             /* where Redis is */
    char id[TSR_HEARTBEAT_ID_MAX]; /* worker id */
    char tasks_key[160];           /* tessera:<c>:tasks */
    char dead_key[160];            /* tessera:<c>:dead */
    char results_prefix[160];      /* tessera:<c>:results: */
    char stats_key[160];           /* tessera:<c>:stats (reclaims, dead_tiles for the monitor) */
    int lease_ms;                  /* lease */
    int limit;                     /* delivery limit */
    int block_ms;                  /* XREADGROUP BLOCK */
    int level;                     /* result compression */
    int crash_tile;                /* test-only failure injection; -1 = off */
    int fail_tile;                 /* test-only error injection; -1 = off */
    int n;                         /* threads */
    wthread *threads;              /* owned */
    pthread_t keeper;              /* lease keeper */
    int keeper_started;            /* keeper is running */
    pthread_mutex_t lock;          /* guards wthread.current* and the keeper's wait */
    pthread_cond_t wake;           /* wakes the keeper to exit */
    atomic_int draining;           /* no new tasks */
    atomic_int quit;               /* the keeper exits */
    atomic_int busy;               /* tasks being computed now */
    tsr_heartbeat *hb;             /* may be NULL */
    _Atomic uint64_t done;         /* stats */
    _Atomic uint64_t failures;     /* stats */
    _Atomic uint64_t reclaimed;    /* stats */
    _Atomic uint64_t dead;         /* stats */
    _Atomic uint64_t rejected;     /* stats */
    int sealed;                    /* payloads are sealed with key */
    tsr_cluster_key key;           /* cluster key when sealed */
};

/* Counts one event in the cluster's stats hash (best effort). */
static void count(tsr_worker *w, tsr_redis_link *l, const char *field) {
    const char *a[] = {"HINCRBY", w->stats_key, field, "1"};
    freeReplyObject(tsr_redis_link_cmd(l, 4, a, NULL));
}

static const char *str_of(const redisReply *r) {
    return r && r->type == REDIS_REPLY_STRING ? r->str : "";
}

static void set_current(wthread *t, const char *id) {
    pthread_mutex_lock(&t->w->lock);
    snprintf(t->current, sizeof t->current, "%s", id ? id : "");
    t->current_at = tsr_redis_now_ms();
    pthread_mutex_unlock(&t->w->lock);
}

/* XDEL + XACK of a finished task; retried through outages (idempotent). */
static void finish_task(tsr_worker *w, tsr_redis_link *l, const char *id) {
    const char *ack[] = {"XACK", w->tasks_key, "workers", id};
    const char *del[] = {"XDEL", w->tasks_key, id};
    /* XDEL first: a worker killed in between leaves a pending id of a
     * deleted entry, which the next XAUTOCLAIM removes; the other order
     * would leave an acknowledged entry in the stream for ever. */
    freeReplyObject(tsr_redis_link_cmd_retry(l, &w->quit, 3, del, NULL));
    freeReplyObject(tsr_redis_link_cmd_retry(l, &w->quit, 4, ack, NULL));
}

/* Posts a result entry (fields after the key) to the coordinator's stream,
 * then XDELs and XACKs task `id`, all in one round trip (Redis runs them in
 * order, so the task only leaves once its result is in). Retried through
 * outages: a result posted twice is dropped by the coordinator. With `next`
 * (and `consumer`), the same round trip also asks for the thread's next task
 * (XREADGROUP without BLOCK): *next receives that reply (NULL when none came),
 * which saves a round trip per task. */
/* Appends (does not send) the three commands of a result post: XADD of the
 * result entry (fields argv[0..argc), at most 10) to coordinator `coord`'s
 * results stream, then XDEL and XACK of task `id`. 0 when hiredis refused. */
static int append_post(tsr_worker *w, redisContext *c, const char *coord, const char *id, int argc,
                       const char **argv, const size_t *lens) {
    char stream[256];
    snprintf(stream, sizeof stream, "%s%s", w->results_prefix, coord);
    const char *a[16] = {"XADD", stream, "MAXLEN", "~", RESULTS_KEEP, "*"};
    size_t n[16] = {4, strlen(stream), 6, 1, strlen(RESULTS_KEEP), 1};
    for (int i = 0; i < argc && i < 10; i++) {
        a[6 + i] = argv[i];
        n[6 + i] = lens ? lens[i] : strlen(argv[i]);
    }
    const char *del[] = {"XDEL", w->tasks_key, id};
    const char *ack[] = {"XACK", w->tasks_key, "workers", id};
    return redisAppendCommandArgv(c, 6 + argc, a, n) == REDIS_OK &&
           redisAppendCommandArgv(c, 3, del, NULL) == REDIS_OK &&
           redisAppendCommandArgv(c, 4, ack, NULL) == REDIS_OK;
}

static void post_and_finish(tsr_worker *w, tsr_redis_link *l, const char *coord, const char *id,
                            int argc, const char **argv, const size_t *lens, const char *consumer,
                            redisReply **next) {
    const char *more[] = {"XREADGROUP", "GROUP",   "workers",    consumer, "COUNT",
                          "1",          "STREAMS", w->tasks_key, ">"};
    if (next)
        *next = NULL;
    while (tsr_redis_link_ensure(l, &w->quit)) {
        int ask = next && consumer && !atomic_load(&w->draining);
        int ok = append_post(w, l->c, coord, id, argc, argv, lens) &&
                 (!ask || redisAppendCommandArgv(l->c, 9, more, NULL) == REDIS_OK);
        for (int i = 0; ok && i < 3 + ask; i++) {
            redisReply *r = NULL;
            ok = redisGetReply(l->c, (void **)&r) == REDIS_OK && r &&
                 (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "LOADING", 7));
            if (ok && i == 3 && r->type == REDIS_REPLY_ARRAY)
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
        usleep(100000);
    }
}

/* The fields of a deferred post's result entry: key, worker, payload. */
static void post_fields(const tsr_worker *w, const deferred_post *p, const char *f[6],
                        size_t n[6]) {
    f[0] = "key", f[1] = p->key, f[2] = "worker", f[3] = w->id, f[4] = "payload";
    f[5] = (const char *)p->payload.data;
    n[0] = 3, n[1] = strlen(p->key), n[2] = 6, n[3] = strlen(w->id), n[4] = 7;
    n[5] = p->payload.len;
}

/* Reads what the thread sent without waiting, in order: its deferred post's
 * replies, then the ask-ahead XREADGROUP's (kept in t->ahead when it holds
 * a task). A post whose replies did not all come (connection lost, Redis
 * LOADING) is sent again synchronously, so a result is never lost; a lost
 * ask-ahead only leaves its task pending until a lease runs out. After it
 * the link carries no unread reply. */
static void settle(wthread *t, tsr_redis_link *l) {
    tsr_worker *w = t->w;
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
        const char *f[6];
        size_t n[6];
        post_fields(w, &t->post, f, n);
        post_and_finish(w, l, t->post.coord, t->post.id, 6, f, n, NULL, NULL);
    }
    t->post.replies = 0;
}

/* Posts task `id`'s result like post_and_finish, but returns once it is
 * sent: the replies are read by the next settle(), while the thread
 * computes its next task. `payload` is swapped into the thread's deferred
 * post (kept for a resend). Settles first. */
static void post_async(wthread *t, tsr_redis_link *l, const char *coord, const char *id,
                       const char *key, tsr_buffer *payload) {
    tsr_worker *w = t->w;
    settle(t, l);
    deferred_post *p = &t->post;
    tsr_buffer swap = p->payload;
    p->payload = *payload;
    *payload = swap;
    payload->len = 0;
    snprintf(p->id, sizeof p->id, "%s", id);
    snprintf(p->coord, sizeof p->coord, "%s", coord);
    snprintf(p->key, sizeof p->key, "%s", key);
    const char *f[6];
    size_t n[6];
    post_fields(w, p, f, n);
    p->replies = 3; /* settle() resends unless all three replies come */
    if (!tsr_redis_link_ensure(l, &w->quit) || !append_post(w, l->c, p->coord, p->id, 6, f, n) ||
        !tsr_redis_link_flush(l)) {
        tsr_redis_link_close(l);
        settle(t, l); /* sends it synchronously */
    }
}

/* Asks for the thread's next task (XREADGROUP COUNT 1, no BLOCK) without
 * waiting for the answer, so it arrives while this task computes. */
static void ask_ahead(wthread *t, tsr_redis_link *l) {
    tsr_worker *w = t->w;
    if (t->asked || atomic_load(&w->draining) || !l->c)
        return;
    const char *a[] = {"XREADGROUP", "GROUP",   "workers",    t->consumer, "COUNT",
                       "1",          "STREAMS", w->tasks_key, ">"};
    if (redisAppendCommandArgv(l->c, 9, a, NULL) != REDIS_OK) {
        tsr_redis_link_close(l);
        return;
    }
    t->asked = 1;
    if (!tsr_redis_link_flush(l))
        tsr_redis_link_close(l); /* settle() finds the link gone and resends the post */
}

/* Posts a failure result for task `id` (entry key `key`) to coordinator
 * `coord` and finishes the task, as post_and_finish does (`consumer` and
 * `next` likewise). `field` is "error" (`value`: the message) or "dead"
 * (`value`: the attempt count). With sealing on, the value is sealed bound
 * to "E:<key>" or "D:<key>", so the coordinator knows a key holder sent it
 * for this tile and as this kind; when sealing fails (out of memory) the
 * task is finished without a result and its coordinator resends it. */
static void post_failure(tsr_worker *w, tsr_redis_link *l, const char *coord, const char *id,
                         const char *key, const char *field, const char *value,
                         const char *consumer, redisReply **next) {
    tsr_buffer sealed = {0};
    const char *v = value;
    size_t vlen = strlen(value);
    if (w->sealed) {
        char ad[200];
        snprintf(ad, sizeof ad, "%c:%s", strcmp(field, "dead") ? 'E' : 'D', key);
        if (tsr_payload_seal(NULL, &w->key, ad, (const uint8_t *)value, vlen, &sealed)) {
            fprintf(stderr, "tessera worker: out of memory sealing the %s result of %s\n", field,
                    key);
            if (next)
                *next = NULL;
            finish_task(w, l, id);
            goto out;
        }
        v = (const char *)sealed.data;
        vlen = sealed.len;
    }
    const char *r[] = {"key", key, "worker", w->id, field, v};
    size_t n[] = {3, strlen(key), 6, strlen(w->id), strlen(field), vlen};
    post_and_finish(w, l, coord, id, 6, r, n, consumer, next);
out:
    tsr_buffer_free(&sealed);
}

/* Number of deliveries of task `id` (XPENDING), 0 when unknown. */
static long long deliveries(tsr_worker *w, tsr_redis_link *l, const char *id) {
    const char *argv[] = {"XPENDING", w->tasks_key, "workers", id, id, "1"};
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
static void bury(tsr_worker *w, tsr_redis_link *l, const char *id, const redisReply *fields,
                 long long n) {
    const char *key = str_of(tsr_redis_field(fields, "key"));
    const char *coord = str_of(tsr_redis_field(fields, "coord"));
    const char *job = str_of(tsr_redis_field(fields, "job"));
    char attempts[24], reason[160];
    snprintf(attempts, sizeof attempts, "%lld", n - 1);
    snprintf(reason, sizeof reason,
             "delivery limit %d reached: a worker crashed or stalled on it every time", w->limit);
    const char *d[] = {"XADD",    w->dead_key, "MAXLEN", "~",     DEAD_KEEP, "*",        "key",
                       key,       "job",       job,      "coord", coord,     "attempts", attempts,
                       "task-id", id,          "reason", reason,  "worker",  w->id};
    freeReplyObject(tsr_redis_link_cmd_retry(l, &w->quit, 20, d, NULL));
    if (coord[0]) {
        post_failure(w, l, coord, id, key, "dead", attempts, NULL, NULL);
    } else {
        finish_task(w, l, id);
    }
    atomic_fetch_add(&w->dead, 1);
    count(w, l, "dead_tiles");
    if (w->hb)
        tsr_heartbeat_add_failure(w->hb);
    fprintf(stderr, "tessera worker: %s: tile %s moved to the dead stream after %s attempts\n", job,
            key, attempts);
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
    char ad[200];
    snprintf(ad, sizeof ad, "T:%s", key);
    tsr_ctx_reset(ctx);
    if (!w->sealed)
        tsr_error(ctx, TSR_ERR_CORRUPT, "sealed task but this worker has no --cluster-key");
    else if (!sealed)
        tsr_error(ctx, TSR_ERR_CORRUPT, "unsealed task while --cluster-key is set");
    else if (!tsr_payload_open(ctx, &w->key, ad, p, payload->len, opened))
        return 1;
    settle(t, l);
    finish_task(w, l, id);
    atomic_fetch_add(&w->rejected, 1);
    count(w, l, "rejected_payloads");
    fprintf(stderr, "tessera worker: rejected task %s (entry %s): %s\n", key, id,
            tsr_ctx_message(ctx));
    return 0;
}

/* Runs one task entry and posts its result. Buffers are the thread's scratch.
 * Unless the task was reclaimed, the thread asks for its next task before
 * computing and posts the result without waiting (settle, post_async), so
 * neither round trip stands between two tasks; the answer to the ask is
 * left in t->ahead. */
static void process(wthread *t, tsr_redis_link *l, tsr_task_worker *tw, tsr_ctx *ctx,
                    const redisReply *entry, int claimed, tsr_buffer *task, tsr_buffer *result,
                    tsr_buffer *packed) {
    tsr_worker *w = t->w;
    const char *id = entry->element[0]->str;
    const redisReply *fields = entry->element[1];
    if (fields->type != REDIS_REPLY_ARRAY) { /* deleted meanwhile */
        settle(t, l);
        finish_task(w, l, id);
        return;
    }
    if (claimed) {
        settle(t, l);
        atomic_fetch_add(&w->reclaimed, 1);
        count(w, l, "reclaims");
        long long n = deliveries(w, l, id);
        if (n > w->limit) {
            bury(w, l, id, fields, n);
            return;
        }
    }
    const char *key = str_of(tsr_redis_field(fields, "key"));
    const char *coord = str_of(tsr_redis_field(fields, "coord"));
    const redisReply *payload = tsr_redis_field(fields, "payload");
    tsr_buffer opened = {0}, sealed = {0};
    if (!unseal(t, l, ctx, id, key, payload, &opened))
        goto out;
    const char *pbytes = payload ? payload->str : NULL;
    size_t plen = payload ? payload->len : 0;
    if (w->sealed) {
        pbytes = (const char *)opened.data;
        plen = opened.len;
    }
    set_current(t, id);
    if (w->hb)
        tsr_heartbeat_set_inflight(w->hb, atomic_fetch_add(&w->busy, 1) + 1);
    task->len = result->len = packed->len = 0;
    tsr_ctx_reset(ctx);
    tsr_status st = TSR_ERR_CORRUPT;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    if (!payload || payload->type != REDIS_REPLY_STRING) {
        tsr_error(ctx, TSR_ERR_CORRUPT, "task %s has no payload", id);
    } else if (tsr_payload_raw_view((const uint8_t *)pbytes, plen, MAX_TASK, &bytes, &len)) {
        st = TSR_OK;
    } else if (!(st = tsr_payload_unpack(ctx, (const uint8_t *)pbytes, plen, MAX_TASK, task))) {
        bytes = task->data;
        len = task->len;
    }
    if (!st && w->crash_tile >= 0 && tsr_task_tile_of(bytes, len) == w->crash_tile) {
        fprintf(stderr, "tessera worker: TESSERA_TEST_CRASH_TILE=%d: aborting on task %s\n",
                w->crash_tile, key);
        abort();
    }
    if (!st && w->fail_tile >= 0 && tsr_task_tile_of(bytes, len) == w->fail_tile)
        st = tsr_error(ctx, TSR_ERR_INTERNAL, "TESSERA_TEST_FAIL_TILE=%d: injected failure",
                       w->fail_tile);
    /* Raw results are written in place after their format byte. */
    tsr_buffer *out = w->level <= 0 ? packed : result;
    if (!st && w->level <= 0 && tsr_buffer_append(packed, "R", 1))
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    if (!st && !claimed)
        ask_ahead(t, l);
    if (!st)
        st = tsr_task_execute(tw, ctx, bytes, len, out);
    if (!st && w->level > 0)
        st = tsr_payload_pack(ctx, w->level, result->data, result->len, packed);
    tsr_buffer *post = packed;
    if (!st && w->sealed) {
        char ad[200];
        snprintf(ad, sizeof ad, "R:%s", key);
        st = tsr_payload_seal(ctx, &w->key, ad, packed->data, packed->len, &sealed);
        post = &sealed;
    }
    if (coord[0] && !st) {
        post_async(t, l, coord, id, key, post);
    } else {
        settle(t, l);
        if (coord[0])
            post_failure(w, l, coord, id, key, "error", tsr_ctx_message(ctx), NULL, NULL);
        else
            finish_task(w, l, id);
    }
    set_current(t, NULL);
    int busy = atomic_fetch_sub(&w->busy, 1) - 1;
    if (st) {
        atomic_fetch_add(&w->failures, 1);
        fprintf(stderr, "tessera worker: task %s failed: %s\n", key, tsr_ctx_message(ctx));
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
out:
    tsr_buffer_free(&opened);
    tsr_buffer_free(&sealed);
}

/* The first entry of an XREADGROUP reply, or NULL. */
static const redisReply *read_entry(const redisReply *r) {
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return NULL;
    const redisReply *s = r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements != 2 ||
        s->element[1]->type != REDIS_REPLY_ARRAY || s->element[1]->elements < 1)
        return NULL;
    const redisReply *e = s->element[1]->element[0];
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 ? e : NULL;
}

static void *thread_main(void *arg) {
    wthread *t = arg;
    tsr_worker *w = t->w;
    tsr_redis_link l = {&w->url, NULL, w->block_ms + 10000, 0, 0, 0};
    tsr_task_worker *tw = NULL;
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_buffer task = {0}, result = {0}, packed = {0};
    char cursor[64] = "0-0", lease[16], block[16];
    snprintf(lease, sizeof lease, "%d", w->lease_ms);
    snprintf(block, sizeof block, "%d", w->block_ms);
    double last_claim = 0;
    int group_ok = 0;
    if (!ctx || tsr_task_worker_new(ctx, &tw)) {
        fprintf(stderr, "tessera worker: thread %d: out of memory\n", t->index);
        goto out;
    }
    while (!atomic_load(&w->draining)) {
        if (t->ahead && !read_entry(t->ahead)) {
            freeReplyObject(t->ahead);
            t->ahead = NULL;
        }
        /* Abandoned tasks are looked for every lease/4 even while the thread
         * has its next task in hand, so a dead worker's tiles are taken
         * over after their lease, not once the queue runs dry. */
        double now = tsr_redis_now_ms();
        int claim = now - last_claim >= w->lease_ms / 4.0;
        if (!t->ahead || claim) {
            settle(t, &l); /* the commands below wait for their replies */
            if (!tsr_redis_link_ensure(&l, &w->draining))
                break;
            if (!group_ok) {
                const char *g[] = {"XGROUP", "CREATE", w->tasks_key, "workers", "0", "MKSTREAM"};
                redisReply *r = tsr_redis_link_cmd(&l, 6, g, NULL);
                group_ok = r && (r->type != REDIS_REPLY_ERROR || !strncmp(r->str, "BUSYGROUP", 9));
                freeReplyObject(r);
                if (!group_ok) {
                    usleep(100000);
                    continue;
                }
            }
        }
        redisReply *r = NULL;
        const redisReply *entry = NULL;
        int claimed = 0;
        if (claim) {
            last_claim = now;
            const char *a[] = {"XAUTOCLAIM", w->tasks_key, "workers", t->consumer,
                               lease,        cursor,       "COUNT",   "1"};
            r = tsr_redis_link_cmd(&l, 8, a, NULL);
            if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
                r->element[0]->type == REDIS_REPLY_STRING) {
                snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
                const redisReply *es = r->element[1];
                if (es->type == REDIS_REPLY_ARRAY && es->elements >= 1 &&
                    es->element[0]->type == REDIS_REPLY_ARRAY && es->element[0]->elements == 2) {
                    entry = es->element[0];
                    claimed = 1;
                    last_claim = 0; /* there may be more to take over */
                }
            }
            if (!entry && strcmp(cursor, "0-0"))
                last_claim = 0; /* the scan has not reached the end of the PEL */
            if (!entry) {
                freeReplyObject(r);
                r = NULL;
            }
        }
        if (!entry && t->ahead) { /* the task asked for while the last one computed */
            r = t->ahead;
            t->ahead = NULL;
            entry = read_entry(r);
        }
        if (!entry) {
            freeReplyObject(r);
            const char *a[] = {"XREADGROUP", "GROUP", "workers", t->consumer,  "COUNT", "1",
                               "BLOCK",      block,   "STREAMS", w->tasks_key, ">"};
            r = tsr_redis_link_cmd(&l, 11, a, NULL);
            if (r && r->type == REDIS_REPLY_ERROR) {
                if (!strncmp(r->str, "NOGROUP", 7))
                    group_ok = 0; /* Redis lost the group (restart without AOF) */
                else
                    usleep(100000); /* LOADING */
            }
            entry = read_entry(r);
            if (!entry && r && r->type == REDIS_REPLY_NIL)
                last_claim = 0; /* idle: look for abandoned tasks next */
        }
        if (entry)
            process(t, &l, tw, ctx, entry, claimed, &task, &result, &packed);
        freeReplyObject(r);
    }
    /* Draining began after the next task was asked for: run it too, then
     * wait for the last result's replies. */
    settle(t, &l);
    if (read_entry(t->ahead))
        process(t, &l, tw, ctx, read_entry(t->ahead), 0, &task, &result, &packed);
    settle(t, &l);
    freeReplyObject(t->ahead);
    t->ahead = NULL;
out:
    tsr_redis_link_close(&l);
    tsr_task_worker_free(tw);
    tsr_ctx_free(ctx);
    tsr_buffer_free(&task);
    tsr_buffer_free(&result);
    tsr_buffer_free(&packed);
    tsr_buffer_free(&t->post.payload);
    return NULL;
}

/* Extends the lease of tasks being computed: XCLAIM <id> JUSTID with min
 * idle 0 resets their idle time without counting a delivery. */
static void *keeper_main(void *arg) {
    tsr_worker *w = arg;
    tsr_redis_link l = {&w->url, NULL, 5000, 0, 0, 0};
    int period = w->lease_ms / 3 > 10 ? w->lease_ms / 3 : 10;
    pthread_mutex_lock(&w->lock);
    while (!atomic_load(&w->quit)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)(period % 1000) * 1000000L;
        ts.tv_sec += period / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        double now = tsr_redis_now_ms();
        for (int i = 0; i < w->n && !atomic_load(&w->quit); i++) {
            wthread *t = &w->threads[i];
            if (!t->current[0] || now - t->current_at < period)
                continue;
            char id[32], consumer[160];
            memcpy(id, t->current, sizeof id);
            memcpy(consumer, t->consumer, sizeof consumer);
            t->current_at = now;
            pthread_mutex_unlock(&w->lock);
            const char *a[] = {"XCLAIM", w->tasks_key, "workers", consumer, "0", id, "JUSTID"};
            if (tsr_redis_link_ensure(&l, NULL))
                freeReplyObject(tsr_redis_link_cmd(&l, 7, a, NULL));
            pthread_mutex_lock(&w->lock);
        }
    }
    pthread_mutex_unlock(&w->lock);
    tsr_redis_link_close(&l);
    return NULL;
}

static void random_hex(char *out, size_t n) {
    unsigned char raw[4] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        unsigned v = (unsigned)time(NULL) ^ (unsigned)getpid();
        memcpy(raw, &v, sizeof raw);
    }
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

tsr_status tsr_worker_start(tsr_ctx *ctx, const tsr_worker_config *cfg, tsr_worker **out) {
    *out = NULL;
    const char *cluster = cfg->cluster && cfg->cluster[0] ? cfg->cluster : "default";
    if (cfg->backend && strcmp(cfg->backend, "cpu"))
        return tsr_error(ctx, TSR_ERR_USAGE, "worker: unknown backend '%s' (only cpu is built in)",
                         cfg->backend);
    tsr_worker *w = calloc(1, sizeof *w);
    if (!w)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    w->lease_ms = cfg->lease_ms > 0 ? cfg->lease_ms : 15000;
    w->limit = cfg->delivery_limit > 0 ? cfg->delivery_limit : 5;
    w->block_ms = cfg->block_ms > 0 ? cfg->block_ms : 2000;
    w->level = cfg->compress_level == 0 ? 1 : cfg->compress_level;
    w->crash_tile = cfg->crash_tile;
    w->fail_tile = cfg->fail_tile;
    if (cfg->key) {
        w->sealed = 1;
        w->key = *cfg->key;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    w->n = cfg->threads > 0 ? cfg->threads : (cores > 0 ? (int)cores : 1);
    tsr_status st = tsr_redis_url_parse(ctx, cfg->url, &w->url);
    redisContext *probe = NULL;
    if (st)
        goto out;
    if (strlen(cluster) > 64 || strchr(cluster, ':')) {
        st = tsr_error(ctx, TSR_ERR_USAGE, "worker: bad cluster name '%s'", cluster);
        goto out;
    }
    if ((st = tsr_redis_connect(ctx, &w->url, 5000, &probe)))
        goto out;
    redisFree(probe);
    snprintf(w->tasks_key, sizeof w->tasks_key, "tessera:%s:tasks", cluster);
    snprintf(w->dead_key, sizeof w->dead_key, "tessera:%s:dead", cluster);
    snprintf(w->results_prefix, sizeof w->results_prefix, "tessera:%s:results:", cluster);
    snprintf(w->stats_key, sizeof w->stats_key, "tessera:%s:stats", cluster);
    if (cfg->heartbeat) {
        tsr_worker_info info = {NULL, NULL, 0, w->n, cfg->backend, NULL, 0};
        if ((st = tsr_heartbeat_start(ctx, cfg->url, cluster, &info, &w->hb)))
            goto out;
        snprintf(w->id, sizeof w->id, "%s", tsr_heartbeat_id(w->hb));
    } else {
        char host[48] = "host", rnd[9] = "";
        gethostname(host, sizeof host - 1);
        random_hex(rnd, sizeof rnd);
        snprintf(w->id, sizeof w->id, "%s-%d-%s", host, (int)getpid(), rnd);
    }
    if (!(w->threads = calloc((size_t)w->n, sizeof *w->threads))) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < w->n; i++) {
        wthread *t = &w->threads[i];
        t->w = w;
        t->index = i;
        snprintf(t->consumer, sizeof t->consumer, "%s/%d", w->id, i);
        if (pthread_create(&t->th, NULL, thread_main, t)) {
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
    tsr_redis_link l = {&w->url, NULL, 2000, 0, 0, 0};
    for (int i = 0; w->threads && i < w->n; i++) {
        const char *c = w->threads[i].consumer;
        const char *p[] = {"XPENDING", w->tasks_key, "workers", "-", "+", "1", c};
        const char *a[] = {"XGROUP", "DELCONSUMER", w->tasks_key, "workers", c};
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
