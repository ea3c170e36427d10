/*
 * The Redis executor's reading side: one reader thread per executor reads
 * the coordinator's results stream, routes each result to its batch by key
 * (<coordinator>:<epoch>:<batch seq>:<tile>), applies the first result of a
 * tile and drops the rest. A key from another epoch (a previous run of this
 * coordinator) or of a batch that has already returned is dropped too.
 *
 * Lost writes: every round trip of XADDs ends with an INCR of the
 * coordinator's mark key, so Redis holds the count of acknowledged sends.
 * When the reader reconnects and finds the mark below the highest value it
 * was told, Redis came back without some of what it acknowledged (no
 * persistence, or the last second of an everysec AOF): every task in
 * flight is sent again at once instead of after resend_ms.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fleet/executor_redis_internal.h"
#include "util/clock.h"

/* What a result entry carries: the tile's bytes, or a failure. */
typedef struct result_parts {
    const redisReply *payload; /* the `payload` field, NULL when absent */
    const uint8_t *bytes;      /* its bytes (opened when sealed); NULL when not a string */
    size_t len;                /* length of bytes */
    const char *dead;          /* attempts of a dead tile (`dead`), NULL when none */
    const char *error;         /* a worker's failure message (`error`), NULL when none */
    int image;                 /* the entry is an image task's (`kind` image) */
} result_parts;

/* Opens `v`, sealed bound to "<tag>:<key>", appending the inner bytes to
 * `out`; 1 when it opens. */
static int open_field(redis_exec *x, tsr_seal_tag tag, const char *key, const redisReply *v,
                      tsr_buffer *out) {
    char ad[TSR_FLEET_AD_MAX];
    if (!tsr_fleet_seal_ad(tag, key, ad))
        return 0;
    tsr_ctx *ctx = tsr_ctx_new();
    int ok = ctx && v->type == REDIS_REPLY_STRING &&
             !tsr_payload_open(ctx, &x->key, ad, (const uint8_t *)v->str, v->len, out);
    tsr_ctx_free(ctx);
    return ok;
}

/* Counts a result entry dropped unapplied (stats.rejected) and logs `msg`. */
static void reject(redis_exec *x, const char *msg, const char *key) {
    pthread_mutex_lock(&x->lock);
    x->stats.rejected++;
    pthread_mutex_unlock(&x->lock);
    tsr_redis_exec_say(x, "warn", msg, key);
}

/* With sealing on, opens the one part a result entry must carry (payload,
 * error or dead) into `opened` and points `p` at the opened bytes or text.
 * Returns 0 for an entry to drop, counted and logged: a part that does not
 * open (tampered, foreign key, moved from another entry or kind), is
 * unsealed, or an entry with no part or more than one. The tile stays sent,
 * so the resend timer recomputes it: nothing unauthenticated fails a job. */
static int unseal_parts(redis_exec *x, const char *key, const redisReply *fields,
                        tsr_buffer *opened, result_parts *p) {
    const redisReply *dead = tsr_redis_field(fields, TSR_FIELD_DEAD);
    const redisReply *error = tsr_redis_field(fields, TSR_FIELD_ERROR);
    if (!!p->payload + !!dead + !!error != 1) {
        reject(x, "redis: rejected a result with no or several of payload, error, dead", key);
        return 0;
    }
    tsr_seal_tag done = p->image ? TSR_SEAL_DONE : TSR_SEAL_RESULT;
    tsr_seal_tag tag = p->payload ? done : dead ? TSR_SEAL_DEAD : TSR_SEAL_ERROR;
    const redisReply *v = p->payload ? p->payload : dead ? dead : error;
    if (!open_field(x, tag, key, v, opened)) {
        reject(x,
               p->payload ? "redis: rejected a result payload (tampered, foreign key or unsealed)"
               : dead     ? "redis: rejected a dead result (tampered, foreign key or unsealed)"
                          : "redis: rejected an error result (tampered, foreign key or unsealed)",
               key);
        return 0;
    }
    if (p->payload) {
        p->bytes = opened->data;
        p->len = opened->len;
        return 1;
    }
    if (tsr_buffer_append(opened, "", 1)) { /* text: NUL-terminate */
        reject(x, "redis: rejected an error or dead result (out of memory)", key);
        return 0;
    }
    p->dead = dead ? (const char *)opened->data : NULL;
    p->error = error ? (const char *)opened->data : NULL;
    return 1;
}

/* Reads a result entry's parts into `p`, opening them when the cluster
 * seals (unseal_parts; `opened` holds the opened bytes). Returns 0 for an
 * entry to drop. Unsealed, the fields are taken as they are, except that a
 * sealed error or dead value, which this coordinator cannot read, is named
 * as such rather than shown. */
static int read_parts(redis_exec *x, const char *key, const redisReply *fields, tsr_buffer *opened,
                      result_parts *p) {
    static const char hidden[] = "(sealed; this coordinator has no --cluster-key)";
    memset(p, 0, sizeof *p);
    opened->len = 0;
    const char *kind = tsr_redis_field_str(fields, TSR_FIELD_KIND, "");
    p->image = !strcmp(kind, TSR_KIND_IMAGE);
    p->payload = tsr_redis_field(fields, TSR_FIELD_PAYLOAD);
    if (x->sealed)
        return unseal_parts(x, key, fields, opened, p);
    if (p->payload && p->payload->type == REDIS_REPLY_STRING) {
        p->bytes = (const uint8_t *)p->payload->str;
        p->len = p->payload->len;
    }
    const redisReply *dead = tsr_redis_field(fields, TSR_FIELD_DEAD);
    const redisReply *error = tsr_redis_field(fields, TSR_FIELD_ERROR);
    p->dead = tsr_redis_field_str(fields, TSR_FIELD_DEAD, NULL);
    p->error = tsr_redis_field_str(fields, TSR_FIELD_ERROR, NULL);
    if (p->dead && tsr_payload_is_sealed((const uint8_t *)p->dead, dead->len))
        p->dead = hidden;
    if (p->error && tsr_payload_is_sealed((const uint8_t *)p->error, error->len))
        p->error = hidden;
    return 1;
}

/* The active batch of number `seq`, NULL when none. Under lock. */
static rbatch *find_batch(redis_exec *x, uint64_t seq) {
    rbatch *rb = x->batches;
    while (rb && rb->seq != seq)
        rb = rb->next;
    return rb;
}

/* The active batch a result of tile `tile` in batch `seq` belongs to, with
 * the tile claimed for applying (APPLYING), or NULL when the result is late,
 * a duplicate or of the other kind (an image's for tiles, or the reverse)
 * (counted). Under lock. */
static rbatch *claim_tile(redis_exec *x, uint64_t seq, int tile, int image) {
    rbatch *rb = find_batch(x, seq);
    int t = rb ? tile - rb->b->first : -1;
    if (!rb || t < 0 || t >= rb->next_new || rb->state[t] >= APPLYING || rb->failed ||
        !rb->img != !image) {
        x->stats.results_dropped++;
        return NULL;
    }
    return rb;
}

/* Fails batch `rb` with a worker's error or dead report for `tile`. Under
 * lock. */
static void fail_tile(redis_exec *x, rbatch *rb, int tile, const result_parts *p,
                      const char *worker) {
    const tsr_tile_batch *b = rb->b;
    const char *label = b->label ? b->label : "run";
    if (p->dead && rb->img) {
        x->stats.dead_tiles++;
        rb->status = tsr_error(b->ctx, TSR_ERR_INTERNAL,
                               "%s: failed %s times (worker crashed or stalled); "
                               "moved to the dead stream",
                               label, p->dead);
    } else if (p->dead) {
        x->stats.dead_tiles++;
        rb->status = tsr_error(b->ctx, TSR_ERR_INTERNAL,
                               "%s: tile %d failed %s times (worker crashed or stalled); "
                               "moved to the dead stream",
                               label, tile, p->dead);
    } else if (rb->img) {
        rb->status = tsr_error(b->ctx, TSR_ERR_INTERNAL, "%s: failed on worker %s: %s", label,
                               worker ? worker : "?", p->error);
    } else {
        rb->status = tsr_error(b->ctx, TSR_ERR_INTERNAL, "%s: tile %d failed on worker %s: %s",
                               label, tile, worker ? worker : "?", p->error);
    }
    rb->failed = 1;
    pthread_cond_broadcast(&x->changed);
}

/* Applies a claimed tile's result bytes outside the lock, then marks the
 * tile DONE or fails the batch. `buf` is scratch for a compressed result. */
static void apply_tile(redis_exec *x, rbatch *rb, int tile, const result_parts *p,
                       tsr_buffer *buf) {
    const tsr_tile_batch *b = rb->b;
    int got = -1;
    double cpu = 0, device = 0, applying = tsr_clock_thread_cpu_s();
    buf->len = 0;
    if (b->moved)
        b->moved(b->done_user, p->len);
    tsr_status st = TSR_ERR_CORRUPT;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    if (p->bytes && !tsr_payload_raw_view(p->bytes, p->len, MAX_PAYLOAD, &bytes, &len) &&
        !tsr_payload_unpack(b->ctx, p->bytes, p->len, MAX_PAYLOAD, buf)) {
        bytes = buf->data; /* compressed; raw results are applied from the reply */
        len = buf->len;
    }
    if (bytes && rb->img) {
        got = tile;
        st = tsr_buffer_append(rb->completion, bytes, len);
    } else if (bytes) {
        st = tsr_task_apply_result(b, bytes, len, &got, &cpu, &device);
    }
    if (!st && got != tile)
        st = TSR_ERR_CORRUPT;
    if (!st && !rb->img && device > 0 && b->device)
        b->device(b->done_user, device);
    if (!st && !rb->img) /* the worker's CPU and ours, unpacking and placing it */
        b->done(b->done_user, cpu + (tsr_clock_thread_cpu_s() - applying));
    pthread_mutex_lock(&x->lock);
    rb->applying--;
    if (st) {
        rb->status = tsr_error(b->ctx, st, "%s: tile %d: a worker sent a result that does not fit",
                               b->label ? b->label : "run", tile);
        rb->failed = 1;
    } else {
        rb->state[tile - b->first] = DONE;
        rb->done++;
        x->stats.results_applied++;
        x->stats.images_done += rb->img != NULL;
    }
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
}

/* Handles an image task's progress entry ("<done> <total>", sealed bound
 * to "P:<key>" when the cluster seals): passes it to the task's progress
 * callback while the task waits. Returns 0 when it rejected the entry. */
static int handle_progress(redis_exec *x, const char *key, uint64_t seq, const redisReply *fields,
                           tsr_buffer *opened) {
    const redisReply *v = tsr_redis_field(fields, TSR_FIELD_PROGRESS);
    const char *text = v->type == REDIS_REPLY_STRING ? v->str : "";
    opened->len = 0;
    if (x->sealed) {
        if (!open_field(x, TSR_SEAL_PROGRESS, key, v, opened) || tsr_buffer_append(opened, "", 1)) {
            reject(x, "redis: rejected a progress entry (tampered, foreign key or unsealed)", key);
            return 0;
        }
        text = (const char *)opened->data;
    }
    unsigned long long done = 0, total = 0;
    if (sscanf(text, "%llu %llu", &done, &total) != 2 || done > total)
        return 1;
    pthread_mutex_lock(&x->lock);
    rbatch *rb = find_batch(x, seq);
    if (!rb || !rb->img || rb->failed || rb->state[0] != SENT || !rb->img->progress) {
        pthread_mutex_unlock(&x->lock);
        return 1;
    }
    x->stats.progress_posts++;
    rb->applying++; /* keeps the batch registered while the callback runs */
    pthread_mutex_unlock(&x->lock);
    rb->img->progress(rb->img->progress_user, done, total);
    pthread_mutex_lock(&x->lock);
    rb->applying--;
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
    return 1;
}

/* Handles one entry of the results stream. `buf` and `opened` are the
 * reader's scratch. Returns 0 when it rejected the entry as unauthenticated
 * (sealing on: see unseal_parts). */
static int handle_result(redis_exec *x, const redisReply *fields, tsr_buffer *buf,
                         tsr_buffer *opened) {
    const char *key = tsr_redis_field_str(fields, TSR_FIELD_KEY, NULL);
    char epoch[TSR_FLEET_EPOCH_HEX + 1];
    uint64_t seq;
    int tile;
    if (!key || !tsr_fleet_tile_key_parse(key, epoch, &seq, &tile) || strcmp(epoch, x->epoch)) {
        pthread_mutex_lock(&x->lock);
        x->stats.results_dropped++;
        pthread_mutex_unlock(&x->lock);
        tsr_redis_exec_say(x, "info", "redis: dropped a result of another run",
                           key ? key : "(no key)");
        return 1;
    }
    if (tsr_redis_field(fields, TSR_FIELD_PROGRESS))
        return handle_progress(x, key, seq, fields, opened);
    result_parts p;
    if (!read_parts(x, key, fields, opened, &p))
        return 0;
    pthread_mutex_lock(&x->lock);
    rbatch *rb = claim_tile(x, seq, tile, p.image);
    if (!rb) {
        pthread_mutex_unlock(&x->lock);
        tsr_redis_exec_say(x, "info", "redis: dropped a late or duplicate result", key);
        return 1;
    }
    if (p.dead || p.error) {
        fail_tile(x, rb, tile, &p, tsr_redis_field_str(fields, TSR_FIELD_WORKER, NULL));
        pthread_mutex_unlock(&x->lock);
        tsr_redis_exec_say(x, "warn",
                           p.dead ? "redis: dead tile" : "redis: tile failed on a worker", key);
        return 1;
    }
    int t = tile - rb->b->first;
    if (rb->state[t] == SENT) {
        rb->in_flight--;
        x->in_flight_total--;
    } else {
        rb->reverted--;
    }
    rb->state[t] = APPLYING;
    rb->applying++;
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
    apply_tile(x, rb, tile, &p, buf);
    return 1;
}

/* Redis came back without tasks it had acknowledged: marks every task in
 * flight overdue, so the batches send them all again now. Duplicates of
 * tasks that did survive are dropped like any late result. */
static void resend_all(redis_exec *x) {
    pthread_mutex_lock(&x->lock);
    for (rbatch *rb = x->batches; rb; rb = rb->next) {
        for (int t = 0; t < rb->next_new; t++)
            if (rb->state[t] == SENT)
                rb->sent_at[t] = -1e300;
        rb->last_scan = -1e300;
    }
    x->stats.redis_losses++;
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
}

/* After a reconnect: whether Redis lost acknowledged sends (its mark is
 * below the highest one acknowledged). Then the mark is put back, so the
 * next check compares against what this coordinator has seen. Returns -1
 * when the mark could not be read (connection lost again). */
static int lost_writes(redis_exec *x, tsr_redis_link *l) {
    const char *get[] = {"GET", x->mark_key};
    redisReply *r = tsr_redis_link_cmd(l, 2, get, NULL);
    if (!r)
        return -1;
    long long have = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
    int loading = r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "LOADING", 7);
    if (r->type == REDIS_REPLY_ERROR && !loading) /* e.g. an ACL without GET: no check */
        tsr_redis_exec_say(
            x, "warn", "redis: cannot read the send mark; lost tasks wait for --resend-ms", r->str);
    int error = r->type == REDIS_REPLY_ERROR;
    freeReplyObject(r);
    if (error)
        return loading ? -1 : 0;
    pthread_mutex_lock(&x->lock);
    long long acked = x->mark_acked;
    pthread_mutex_unlock(&x->lock);
    if (have >= acked)
        return 0;
    char value[32];
    snprintf(value, sizeof value, "%lld", acked);
    const char *set[] = {"SET", x->mark_key, value};
    freeReplyObject(tsr_redis_link_cmd(l, 3, set, NULL));
    return 1;
}

/* After the reader's link (re)connected: checks for lost writes and, when
 * Redis lost tasks, has them all resent and restarts the results cursor
 * `last`. Returns 0 when the check must wait for the next connection. */
static int check_after_connect(redis_exec *x, tsr_redis_link *l, char last[64]) {
    int lost = lost_writes(x, l);
    if (lost < 0)
        return 0;
    if (lost) {
        tsr_redis_exec_say(x, "warn", "redis: Redis came back without tasks it had acknowledged",
                           "sending every task in flight again");
        resend_all(x);
        snprintf(last, 64, "0-0"); /* the results stream may be new too */
    }
    return 1;
}

/* Handles the entries of one XREAD reply on the results stream, moving the
 * cursor `last` past them, then XDELs them: consumed results leave Redis
 * at once. */
static void handle_entries(redis_exec *x, tsr_redis_link *l, const redisReply *entries,
                           char last[64], tsr_buffer *buf, tsr_buffer *opened) {
    size_t n = entries->elements;
    const char **del = malloc(sizeof *del * (n + 2));
    int nd = 2;
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        if (!handle_result(x, e->element[1], buf, opened)) {
            const char *a[] = {"HINCRBY", x->keys.stats, "rejected_payloads", "1"};
            freeReplyObject(tsr_redis_link_cmd(l, 4, a, NULL));
        }
        snprintf(last, 64, "%s", e->element[0]->str);
        if (del)
            del[nd++] = e->element[0]->str;
    }
    if (del) {
        del[0] = "XDEL";
        del[1] = x->results_key;
        freeReplyObject(tsr_redis_link_cmd(l, nd, del, NULL));
        free(del);
    }
}

/* Pushes back the expiry of this coordinator's results stream and send
 * mark (protocol.h, TSR_FLEET_COORD_KEYS_TTL_MS). */
static void refresh_keys(redis_exec *x, tsr_redis_link *l) {
    const char *keys[] = {x->results_key, x->mark_key};
    for (int i = 0; i < 2; i++) {
        const char *argv[] = {"PEXPIRE", keys[i], TSR_FLEET_COORD_KEYS_TTL_MS};
        freeReplyObject(tsr_redis_link_cmd(l, 3, argv, NULL));
    }
}

void *tsr_redis_exec_reader_main(void *arg) {
    redis_exec *x = arg;
    tsr_redis_link l = {.url = &x->url, .timeout_ms = TSR_FLEET_LINK_TIMEOUT_MS};
    tsr_buffer buf = {0}, opened = {0};
    char last[64] = "0-0";
    uint64_t checked = 0;   /* l.reconnects when the mark was last checked */
    int64_t refreshed = -1; /* when refresh_keys last ran (monotonic ms) */
    while (!atomic_load(&x->stopping)) {
        if (!tsr_redis_link_ensure(&l, &x->stopping))
            break;
        if (refreshed < 0 || tsr_clock_mono_ms() - refreshed >= TSR_FLEET_COORD_KEYS_REFRESH_MS) {
            refresh_keys(x, &l);
            refreshed = tsr_clock_mono_ms();
        }
        if (l.reconnects != checked) {
            if (!check_after_connect(x, &l, last)) {
                tsr_clock_sleep_ms(100); /* LOADING or gone again: check on the next connection */
                continue;
            }
            checked = l.reconnects;
        }
        const char *argv[] = {"XREAD", "COUNT",   "256",          "BLOCK",
                              "500",   "STREAMS", x->results_key, last};
        redisReply *r = tsr_redis_link_cmd(&l, 8, argv, NULL);
        if (!r)
            continue;
        if (r->type == REDIS_REPLY_ERROR) { /* LOADING after a restart */
            freeReplyObject(r);
            tsr_clock_sleep_ms(100);
            continue;
        }
        const redisReply *entries = NULL;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
            entries = r->element[0]->element[1];
        if (entries && entries->type == REDIS_REPLY_ARRAY && entries->elements)
            handle_entries(x, &l, entries, last, &buf, &opened);
        freeReplyObject(r);
    }
    pthread_mutex_lock(&x->lock);
    x->reader_reconnects += l.reconnects;
    pthread_mutex_unlock(&x->lock);
    tsr_redis_link_close(&l);
    tsr_buffer_free(&buf);
    tsr_buffer_free(&opened);
    return NULL;
}
