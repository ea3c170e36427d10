/*
 * The Redis executor (see executor_redis.h and docs/internals/redis.md).
 *
 * run_tiles() runs on the caller's thread: it encodes and sends the batch's
 * tiles while the batch and the executor stay under their in-flight caps,
 * resends tasks unanswered for resend_ms, and waits. One reader thread per
 * executor reads the coordinator's results stream, routes each result to
 * its batch by key (<coordinator>:<epoch>:<batch seq>:<tile>), applies the
 * first result of a tile and drops the rest. A key from another epoch (a
 * previous run of this coordinator) or of a batch that has already returned
 * is dropped too.
 *
 * Lost writes: every round trip of XADDs ends with an INCR of the
 * coordinator's mark key, so Redis holds the count of acknowledged sends.
 * When the reader reconnects and finds the mark below the highest value it
 * was told, Redis came back without some of what it acknowledged (no
 * persistence, or the last second of an everysec AOF): every task in
 * flight is sent again at once instead of after resend_ms.
 */
#include "engine/executor_redis.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/task.h"
#include "worker/redis_link.h"

#define SEND_CHUNK  16                /* tasks pipelined in one round trip */
#define MAX_PAYLOAD ((size_t)1 << 31) /* largest decoded result accepted */
#define ID_MAX      64                /* longest cluster or coordinator id */

enum { WAITING, SENT, APPLYING, DONE }; /* tile states */

/* One run_tiles() call. Lives on the caller's stack while it runs. */
typedef struct rbatch {
    const tsr_tile_batch *b; /* the engine's batch */
    uint64_t seq;            /* batch number in keys */
    uint8_t *state;          /* per tile: WAITING, SENT, APPLYING, DONE */
    double *sent_at;         /* per tile: when last sent (monotonic ms) */
    char (*entry)[32];       /* per tile: stream id of the last send, "" when none */
    int next_new;            /* tiles below this have been sent at least once */
    int reverted;            /* tiles below next_new back in WAITING after a failed send */
    int in_flight;           /* tiles in SENT state */
    int done;                /* tiles in DONE state */
    int applying;            /* results being applied by the reader right now */
    int failed;              /* a result failed the batch (message in b->ctx) */
    tsr_status status;       /* the failure */
    double last_scan;        /* when overdue tiles were last looked for */
    struct rbatch *next;     /* active list */
} rbatch;

typedef struct redis_exec {
    tsr_executor base;          /* must be first */
    tsr_redis_url url;          /* where Redis is */
    char coord[ID_MAX + 1];     /* coordinator id */
    char epoch[17];             /* this run's random epoch (hex) */
    char tasks_key[160];        /* tessera:<c>:tasks */
    char results_key[240];      /* tessera:<c>:results:<coord> */
    char mark_key[240];         /* tessera:<c>:sent:<coord>: INCR per send round trip */
    long long mark_acked;       /* highest mark Redis has acknowledged */
    int cap_batch;              /* in-flight tasks per batch */
    int cap_total;              /* in-flight tasks in all */
    int resend_ms;              /* resend timeout */
    int level;                  /* zstd level, <= 0 raw */
    int sealed;                 /* payloads are sealed with key */
    tsr_cluster_key key;        /* cluster key when sealed */
    char stats_key[160];        /* tessera:<c>:stats (rejected_payloads) */
    tsr_redis_log_fn log;       /* may be NULL */
    void *log_user;             /* passed to log */
    pthread_mutex_t lock;       /* guards everything below and every rbatch */
    pthread_cond_t changed;     /* a result arrived or a batch left */
    rbatch *batches;            /* active batches */
    uint64_t next_seq;          /* last batch number given */
    int in_flight_total;        /* tasks in SENT state over all batches */
    tsr_redis_link **pool;      /* idle sender links */
    int pool_n;                 /* links in pool */
    int pool_cap;               /* pool capacity */
    tsr_redis_stats stats;      /* counters */
    uint64_t reader_reconnects; /* the reader link's reconnects */
    pthread_t reader;           /* the result reader */
    int reader_started;         /* reader is running */
    atomic_int stopping;        /* asks the reader to exit */
} redis_exec;

static void say(redis_exec *x, const char *level, const char *msg, const char *detail) {
    if (x->log)
        x->log(x->log_user, level, msg, detail);
}

static int valid_id(const char *s) {
    size_t n = strlen(s);
    if (n < 1 || n > ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '.' || s[i] == '_' || s[i] == '-' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            return 0;
    return 1;
}

/* ---- sender links ---- */

static tsr_redis_link *take_link(redis_exec *x) {
    pthread_mutex_lock(&x->lock);
    tsr_redis_link *l = x->pool_n ? x->pool[--x->pool_n] : NULL;
    pthread_mutex_unlock(&x->lock);
    if (!l && (l = calloc(1, sizeof *l))) {
        l->url = &x->url;
        l->timeout_ms = 10000;
    }
    return l;
}

static void give_link(redis_exec *x, tsr_redis_link *l) {
    if (!l)
        return;
    pthread_mutex_lock(&x->lock);
    x->stats.reconnects += l->reconnects;
    l->reconnects = 0;
    if (l->c && x->pool_n < x->pool_cap) {
        x->pool[x->pool_n++] = l;
        l = NULL;
    }
    pthread_mutex_unlock(&x->lock);
    if (l) {
        tsr_redis_link_close(l);
        free(l);
    }
}

/* ---- sending ---- */

/* Picks up to SEND_CHUNK tiles to send now: overdue resends first, then new
 * tiles while the caps allow. Marks them SENT. Under lock. */
static int pick(redis_exec *x, rbatch *rb, int *picks, double now) {
    int n = 0;
    if (now - rb->last_scan > x->resend_ms / 4.0) {
        for (int t = 0; t < rb->next_new && n < SEND_CHUNK; t++)
            if (rb->state[t] == SENT && now - rb->sent_at[t] > x->resend_ms) {
                rb->sent_at[t] = now;
                picks[n++] = t;
                x->stats.tasks_resent++;
            }
        if (n < SEND_CHUNK) /* scanned to the end; a full chunk scans again next call */
            rb->last_scan = now;
    }
    for (int t = 0; rb->reverted && t < rb->next_new && n < SEND_CHUNK; t++)
        if (rb->state[t] == WAITING && rb->in_flight < x->cap_batch &&
            x->in_flight_total < x->cap_total) { /* reverted after a send failure */
            rb->reverted--;
            rb->state[t] = SENT;
            rb->sent_at[t] = now;
            rb->in_flight++;
            x->in_flight_total++;
            picks[n++] = t;
        }
    while (n < SEND_CHUNK && rb->next_new < rb->b->count && rb->in_flight < x->cap_batch &&
           x->in_flight_total < x->cap_total) {
        int t = rb->next_new++;
        rb->state[t] = SENT;
        rb->sent_at[t] = now;
        rb->in_flight++;
        x->in_flight_total++;
        picks[n++] = t;
    }
    return n;
}

/* Encodes tile `tile` of `b` into `payload` as Redis will carry it: raw or
 * compressed, then sealed when the cluster seals. `task` and `packed` are
 * scratch. Raw, unsealed tasks are encoded in place after their format byte. */
static tsr_status encode_payload(const redis_exec *x, const tsr_tile_batch *b, int tile,
                                 const char *ad, tsr_buffer *task, tsr_buffer *packed,
                                 tsr_buffer *payload) {
    tsr_status st;
    if (x->level <= 0 && !x->sealed) {
        if ((st = tsr_buffer_append(payload, "R", 1)))
            return st;
        return tsr_task_encode(b, tile, payload);
    }
    if ((st = tsr_task_encode(b, tile, task)) ||
        (st = tsr_payload_pack(b->ctx, x->level, task->data, task->len,
                               x->sealed ? packed : payload)))
        return st;
    return x->sealed ? tsr_payload_seal(b->ctx, &x->key, ad, packed->data, packed->len, payload)
                     : TSR_OK;
}

/* Appends one RESP bulk string header and its bytes (or only the header
 * when bytes is NULL). */
static tsr_status resp_bulk(tsr_buffer *b, const void *bytes, size_t len) {
    char h[32];
    int n = snprintf(h, sizeof h, "$%zu\r\n", len);
    tsr_status st = tsr_buffer_append(b, h, (size_t)n);
    if (!st && bytes)
        st = tsr_buffer_append(b, bytes, len);
    if (!st && bytes)
        st = tsr_buffer_append(b, "\r\n", 2);
    return st;
}

/* writev of all of iov[0..n), in IOV_MAX slices, through short writes. */
static int write_all(int fd, struct iovec *iov, int n) {
    while (n > 0) {
        ssize_t w = writev(fd, iov, n < IOV_MAX ? n : IOV_MAX);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return 0;
        for (; n > 0 && (size_t)w >= iov->iov_len; iov++, n--)
            w -= (ssize_t)iov->iov_len;
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 1;
}

/* Writes the XADD of a raw, unsealed task straight from the batch's input
 * rows: one gathered write of the command's framing, the task's head and
 * the rows, instead of copying them into a payload and then into hiredis's
 * output buffer (two copies of every pixel less on the coordinator). The
 * link's output buffer must be empty. Returns 1 when written, 0 when the
 * connection failed (the link is then unusable), -1 when out of memory. */
static int write_task_gathered(redis_exec *x, tsr_redis_link *l, const tsr_tile_batch *b, int tile,
                               const char *label, const char *key, tsr_buffer *head,
                               tsr_buffer *frame) {
    tsr_rect r;
    size_t row_len;
    head->len = frame->len = 0;
    if (tsr_task_encode_head(b, tile, head, &r, &row_len))
        return -1;
    int rows = row_len ? r.h : 0;
    size_t payload = 1 + head->len + row_len * (size_t)rows;
    const char *fixed[] = {"XADD", x->tasks_key, "*",     "job",    label,
                           "key",  key,          "coord", x->coord, "payload"};
    tsr_status st = tsr_buffer_append(frame, "*11\r\n", 5);
    for (int i = 0; i < 10 && !st; i++)
        st = resp_bulk(frame, fixed[i], strlen(fixed[i]));
    if (!st)
        st = resp_bulk(frame, NULL, payload);
    if (!st)
        st = tsr_buffer_append(frame, "R", 1);
    struct iovec *iov = st ? NULL : malloc(sizeof *iov * (size_t)(rows + 3));
    if (!iov)
        return -1;
    iov[0] = (struct iovec){frame->data, frame->len};
    iov[1] = (struct iovec){head->data, head->len};
    for (int y = 0; y < rows; y++)
        iov[2 + y] = (struct iovec){(void *)TSR_REGION_AT(b->in, r.x, r.y + y), row_len};
    iov[2 + rows] = (struct iovec){(void *)"\r\n", 2};
    int ok = write_all(l->c->fd, iov, rows + 3);
    free(iov);
    return ok;
}

/* Encodes and XADDs tiles picks[0..n) in one pipelined round trip that
 * ends with an INCR of the mark (*mark: its new value, 0 when unknown).
 * ids[i] receives each new stream id, "" for tiles not sent. Returns 0 when
 * the connection failed (tiles without an id were not sent), -1 when
 * encoding failed (message in the batch's ctx), else 1. */
static int send_tiles(redis_exec *x, tsr_redis_link *l, rbatch *rb, const int *picks, int n,
                      char (*ids)[32], long long *mark) {
    const tsr_tile_batch *b = rb->b;
    tsr_buffer task = {0}, packed = {0}, payload[SEND_CHUNK];
    memset(payload, 0, sizeof payload);
    int result = 1, appended = 0;
    const char *label = b->label ? b->label : "run";
    for (int i = 0; i < n; i++)
        ids[i][0] = '\0';
    *mark = 0;
    if (!tsr_redis_link_ensure(l, NULL))
        return 0;
    int gather = x->level <= 0 && !x->sealed; /* raw tasks go out straight from the rows */
    if (gather && !tsr_redis_link_flush(l)) {
        tsr_redis_link_close(l);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        task.len = packed.len = 0;
        int tile = b->first + picks[i];
        char key[160], ad[170];
        snprintf(key, sizeof key, "%s:%s:%llu:%d", x->coord, x->epoch, (unsigned long long)rb->seq,
                 tile);
        snprintf(ad, sizeof ad, "T:%s", key);
        if (gather) {
            int w = write_task_gathered(x, l, b, tile, label, key, &task, &packed);
            if (w < 0) {
                tsr_error(b->ctx, TSR_ERR_NOMEM, "%s: could not encode tile %d", label, tile);
                result = -1;
                break;
            }
            if (w == 0) { /* a command may be half written: nothing on this link is usable */
                tsr_redis_link_close(l);
                tsr_buffer_free(&task);
                tsr_buffer_free(&packed);
                return 0;
            }
            appended++;
            continue;
        }
        if (encode_payload(x, b, tile, ad, &task, &packed, &payload[i])) {
            tsr_error(b->ctx, TSR_ERR_NOMEM, "%s: could not encode tile %d", label, tile);
            result = -1;
            break;
        }
        const char *argv[] = {"XADD",
                              x->tasks_key,
                              "*",
                              "job",
                              label,
                              "key",
                              key,
                              "coord",
                              x->coord,
                              "payload",
                              (const char *)payload[i].data};
        size_t lens[] = {
            4, strlen(x->tasks_key), 1, 3, strlen(label), 3, strlen(key), 5, strlen(x->coord),
            7, payload[i].len};
        if (redisAppendCommandArgv(l->c, 11, argv, lens) != REDIS_OK) {
            result = 0;
            break;
        }
        appended++;
    }
    const char *incr[] = {"INCR", x->mark_key};
    int marked = appended == n && redisAppendCommandArgv(l->c, 2, incr, NULL) == REDIS_OK;
    for (int i = 0; i < appended; i++) {
        redisReply *r = NULL;
        if (redisGetReply(l->c, (void **)&r) != REDIS_OK || !r) {
            freeReplyObject(r);
            tsr_redis_link_close(l);
            result = 0;
            break;
        }
        if (r->type == REDIS_REPLY_STRING)
            snprintf(ids[i], sizeof ids[i], "%s", r->str);
        else if (result == 1)
            result = 0; /* e.g. LOADING while Redis restarts: retry later */
        freeReplyObject(r);
    }
    redisReply *r = NULL;
    if (marked && l->c && !l->c->err) {
        if (redisGetReply(l->c, (void **)&r) == REDIS_OK && r && r->type == REDIS_REPLY_INTEGER)
            *mark = r->integer;
        else if (!r)
            result = 0;
        freeReplyObject(r);
    }
    if (result != 1 && appended && l->c && l->c->err)
        tsr_redis_link_close(l);
    tsr_buffer_free(&task);
    tsr_buffer_free(&packed);
    for (int i = 0; i < n; i++)
        tsr_buffer_free(&payload[i]);
    return result;
}

/* Removes the stream entries of tiles still in Redis (best effort). */
static void drop_outstanding(redis_exec *x, tsr_redis_link *l, rbatch *rb) {
    const char *argv[2 + SEND_CHUNK * 4];
    int argc = 2;
    argv[0] = "XDEL";
    argv[1] = x->tasks_key;
    for (int t = 0; t < rb->next_new; t++) {
        if (rb->state[t] == DONE || !rb->entry[t][0])
            continue;
        argv[argc++] = rb->entry[t];
        if (argc == (int)(sizeof argv / sizeof argv[0]) || t == rb->next_new - 1) {
            freeReplyObject(tsr_redis_link_cmd(l, argc, argv, NULL));
            argc = 2;
        }
    }
    if (argc > 2)
        freeReplyObject(tsr_redis_link_cmd(l, argc, argv, NULL));
}

static void sleep_ms(int ms) {
    usleep((useconds_t)ms * 1000u);
}

static void wait_ms(redis_exec *x, int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&x->changed, &x->lock, &ts);
}

/* Runs the batch's loop until every tile is done, a result fails it or its
 * ctx is cancelled. Under lock on entry and exit. */
static void batch_loop(redis_exec *x, rbatch *rb, tsr_redis_link *l) {
    int picks[SEND_CHUNK];
    char ids[SEND_CHUNK][32];
    int backoff = 0;
    long long mark;
    while (!rb->failed && rb->done < rb->b->count && !tsr_ctx_cancelled(rb->b->ctx)) {
        int n = pick(x, rb, picks, tsr_redis_now_ms());
        if (n == 0) {
            wait_ms(x, 100);
            continue;
        }
        pthread_mutex_unlock(&x->lock);
        int ok = send_tiles(x, l, rb, picks, n, ids, &mark);
        pthread_mutex_lock(&x->lock);
        x->stats.tasks_sent += (uint64_t)n;
        if (mark > x->mark_acked)
            x->mark_acked = mark;
        for (int i = 0; i < n; i++) {
            int t = picks[i];
            if (ids[i][0]) {
                memcpy(rb->entry[t], ids[i], sizeof ids[i]);
            } else if (rb->state[t] == SENT) { /* not sent: back to waiting */
                rb->state[t] = WAITING;
                rb->reverted++;
                rb->in_flight--;
                x->in_flight_total--;
                x->stats.tasks_sent--;
            }
        }
        if (ok < 0) {
            rb->failed = 1;
            rb->status = TSR_ERR_NOMEM;
        } else if (ok == 0) { /* Redis away: back off, then retry */
            backoff = backoff ? (backoff * 2 > 2000 ? 2000 : backoff * 2) : 50;
            pthread_cond_broadcast(&x->changed);
            wait_ms(x, backoff);
        } else {
            backoff = 0;
        }
    }
}

static tsr_status redis_run_tiles(tsr_executor *e, const tsr_tile_batch *b) {
    redis_exec *x = (redis_exec *)e;
    if (b->count <= 0)
        return TSR_OK;
    rbatch rb = {0};
    rb.b = b;
    rb.state = calloc((size_t)b->count, 1);
    rb.sent_at = calloc((size_t)b->count, sizeof *rb.sent_at);
    rb.entry = calloc((size_t)b->count, sizeof *rb.entry);
    tsr_redis_link *l = take_link(x);
    tsr_status st = TSR_OK;
    if (!rb.state || !rb.sent_at || !rb.entry || !l) {
        st = tsr_error(b->ctx, TSR_ERR_NOMEM, "redis executor: out of memory for %d tiles",
                       b->count);
        goto out;
    }
    pthread_mutex_lock(&x->lock);
    rb.seq = ++x->next_seq;
    rb.next = x->batches;
    x->batches = &rb;
    batch_loop(x, &rb, l);
    while (rb.applying) /* the reader is inside one of our results */
        wait_ms(x, 50);
    rbatch **p = &x->batches;
    while (*p != &rb)
        p = &(*p)->next;
    *p = rb.next;
    x->in_flight_total -= rb.in_flight;
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
    if (rb.in_flight) /* cancelled or failed: take our tasks back from Redis */
        drop_outstanding(x, l, &rb);
    if (rb.failed)
        st = rb.status ? rb.status : TSR_ERR_INTERNAL;
    else if (rb.done < b->count)
        st = tsr_error(b->ctx, TSR_ERR_CANCELLED, "cancelled");
out:
    give_link(x, l);
    free(rb.state);
    free(rb.sent_at);
    free(rb.entry);
    return st;
}

/* ---- results ---- */

/* Splits "<coord>:<epoch>:<seq>:<tile>"; false when malformed. */
static int parse_key(const char *key, char epoch[17], uint64_t *seq, int *tile) {
    const char *c3 = strrchr(key, ':');
    if (!c3 || c3 == key)
        return 0;
    const char *c2 = c3 - 1;
    while (c2 > key && *c2 != ':')
        c2--;
    const char *c1 = c2 - 1;
    while (c1 > key && *c1 != ':')
        c1--;
    if (*c2 != ':' || *c1 != ':' || c2 - c1 - 1 < 1 || c2 - c1 - 1 > 16)
        return 0;
    memcpy(epoch, c1 + 1, (size_t)(c2 - c1 - 1));
    epoch[c2 - c1 - 1] = '\0';
    char *end;
    *seq = strtoull(c2 + 1, &end, 10);
    if (end != c3)
        return 0;
    long t = strtol(c3 + 1, &end, 10);
    if (*end || t < 0 || t > 1 << 30)
        return 0;
    *tile = (int)t;
    return 1;
}

static const char *str_of(const redisReply *r) {
    return r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
}

/* What a result entry carries: the tile's bytes, or a failure. */
typedef struct result_parts {
    const redisReply *payload; /* the `payload` field, NULL when absent */
    const uint8_t *bytes;      /* its bytes (opened when sealed); NULL when not a string */
    size_t len;                /* length of bytes */
    const char *dead;          /* attempts of a dead tile (`dead`), NULL when none */
    const char *error;         /* a worker's failure message (`error`), NULL when none */
} result_parts;

/* Opens `v`, sealed bound to "<tag>:<key>", appending the inner bytes to
 * `out`; 1 when it opens. */
static int open_field(redis_exec *x, char tag, const char *key, const redisReply *v,
                      tsr_buffer *out) {
    char ad[200];
    snprintf(ad, sizeof ad, "%c:%s", tag, key);
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
    say(x, "warn", msg, key);
}

/* With sealing on, opens the one part a result entry must carry (payload,
 * error or dead) into `opened` and points `p` at the opened bytes or text.
 * Returns 0 for an entry to drop, counted and logged: a part that does not
 * open (tampered, foreign key, moved from another entry or kind), is
 * unsealed, or an entry with no part or more than one. The tile stays sent,
 * so the resend timer recomputes it: nothing unauthenticated fails a job. */
static int unseal_parts(redis_exec *x, const char *key, const redisReply *fields,
                        tsr_buffer *opened, result_parts *p) {
    const redisReply *dead = tsr_redis_field(fields, "dead");
    const redisReply *error = tsr_redis_field(fields, "error");
    if (!!p->payload + !!dead + !!error != 1) {
        reject(x, "redis: rejected a result with no or several of payload, error, dead", key);
        return 0;
    }
    char tag = p->payload ? 'R' : dead ? 'D' : 'E';
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
    p->payload = tsr_redis_field(fields, "payload");
    if (x->sealed)
        return unseal_parts(x, key, fields, opened, p);
    if (p->payload && p->payload->type == REDIS_REPLY_STRING) {
        p->bytes = (const uint8_t *)p->payload->str;
        p->len = p->payload->len;
    }
    const redisReply *dead = tsr_redis_field(fields, "dead");
    const redisReply *error = tsr_redis_field(fields, "error");
    p->dead = str_of(dead);
    p->error = str_of(error);
    if (p->dead && tsr_payload_is_sealed((const uint8_t *)p->dead, dead->len))
        p->dead = hidden;
    if (p->error && tsr_payload_is_sealed((const uint8_t *)p->error, error->len))
        p->error = hidden;
    return 1;
}

/* Handles one entry of the results stream. `buf` and `opened` are the
 * reader's scratch. Returns 0 when it rejected the entry as unauthenticated
 * (sealing on: see unseal_parts). */
static int handle_result(redis_exec *x, const redisReply *fields, tsr_buffer *buf,
                         tsr_buffer *opened) {
    const char *key = str_of(tsr_redis_field(fields, "key"));
    char epoch[17];
    uint64_t seq;
    int tile;
    if (!key || !parse_key(key, epoch, &seq, &tile) || strcmp(epoch, x->epoch)) {
        pthread_mutex_lock(&x->lock);
        x->stats.results_dropped++;
        pthread_mutex_unlock(&x->lock);
        say(x, "info", "redis: dropped a result of another run", key ? key : "(no key)");
        return 1;
    }
    result_parts p;
    if (!read_parts(x, key, fields, opened, &p))
        return 0;
    pthread_mutex_lock(&x->lock);
    rbatch *rb = x->batches;
    while (rb && rb->seq != seq)
        rb = rb->next;
    int t = rb ? tile - rb->b->first : -1;
    if (!rb || t < 0 || t >= rb->next_new || rb->state[t] >= APPLYING || rb->failed) {
        x->stats.results_dropped++;
        pthread_mutex_unlock(&x->lock);
        say(x, "info", "redis: dropped a late or duplicate result", key);
        return 1;
    }
    const tsr_tile_batch *b = rb->b;
    const char *label = b->label ? b->label : "run";
    const char *dead = p.dead, *error = p.error;
    if (dead || error) {
        const char *worker = str_of(tsr_redis_field(fields, "worker"));
        if (dead) {
            x->stats.dead_tiles++;
            rb->status = tsr_error(b->ctx, TSR_ERR_INTERNAL,
                                   "%s: tile %d failed %s times (worker crashed or stalled); "
                                   "moved to the dead stream",
                                   label, tile, dead);
        } else {
            rb->status = tsr_error(b->ctx, TSR_ERR_INTERNAL, "%s: tile %d failed on worker %s: %s",
                                   label, tile, worker ? worker : "?", error);
        }
        rb->failed = 1;
        pthread_cond_broadcast(&x->changed);
        pthread_mutex_unlock(&x->lock);
        say(x, "warn", dead ? "redis: dead tile" : "redis: tile failed on a worker", key);
        return 1;
    }
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
    int got = -1;
    double cpu = 0;
    buf->len = 0;
    tsr_status st = TSR_ERR_CORRUPT;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    if (p.bytes && !tsr_payload_raw_view(p.bytes, p.len, MAX_PAYLOAD, &bytes, &len) &&
        !tsr_payload_unpack(b->ctx, p.bytes, p.len, MAX_PAYLOAD, buf)) {
        bytes = buf->data; /* compressed; raw results are applied from the reply */
        len = buf->len;
    }
    if (bytes)
        st = tsr_task_apply_result(b, bytes, len, &got, &cpu);
    if (!st && got != tile)
        st = TSR_ERR_CORRUPT;
    if (!st)
        b->done(b->done_user, cpu);
    pthread_mutex_lock(&x->lock);
    rb->applying--;
    if (st) {
        rb->status = tsr_error(b->ctx, st, "%s: tile %d: a worker sent a result that does not fit",
                               label, tile);
        rb->failed = 1;
    } else {
        rb->state[t] = DONE;
        rb->done++;
        x->stats.results_applied++;
    }
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
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
        say(x, "warn", "redis: cannot read the send mark; lost tasks wait for --resend-ms", r->str);
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

static void *reader_main(void *arg) {
    redis_exec *x = arg;
    tsr_redis_link l = {&x->url, NULL, 10000, 0, 0, 0};
    tsr_buffer buf = {0}, opened = {0};
    char last[64] = "0-0";
    uint64_t checked = 0; /* l.reconnects when the mark was last checked */
    while (!atomic_load(&x->stopping)) {
        if (!tsr_redis_link_ensure(&l, &x->stopping))
            break;
        if (l.reconnects != checked) {
            int lost = lost_writes(x, &l);
            if (lost < 0) {
                sleep_ms(100); /* LOADING or gone again: check on the next connection */
                continue;
            }
            checked = l.reconnects;
            if (lost) {
                say(x, "warn", "redis: Redis came back without tasks it had acknowledged",
                    "sending every task in flight again");
                resend_all(x);
                snprintf(last, sizeof last, "0-0"); /* the results stream may be new too */
            }
        }
        const char *argv[] = {"XREAD", "COUNT",   "256",          "BLOCK",
                              "500",   "STREAMS", x->results_key, last};
        redisReply *r = tsr_redis_link_cmd(&l, 8, argv, NULL);
        if (!r)
            continue;
        if (r->type == REDIS_REPLY_ERROR) { /* LOADING after a restart */
            freeReplyObject(r);
            sleep_ms(100);
            continue;
        }
        const redisReply *entries = NULL;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 2)
            entries = r->element[0]->element[1];
        if (entries && entries->type == REDIS_REPLY_ARRAY && entries->elements) {
            size_t n = entries->elements;
            const char **del = malloc(sizeof *del * (n + 2));
            int nd = 2;
            for (size_t i = 0; i < n; i++) {
                const redisReply *e = entries->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                    e->element[0]->type != REDIS_REPLY_STRING)
                    continue;
                if (!handle_result(x, e->element[1], &buf, &opened)) {
                    const char *a[] = {"HINCRBY", x->stats_key, "rejected_payloads", "1"};
                    freeReplyObject(tsr_redis_link_cmd(&l, 4, a, NULL));
                }
                snprintf(last, sizeof last, "%s", e->element[0]->str);
                if (del)
                    del[nd++] = e->element[0]->str;
            }
            if (del) { /* consumed results leave Redis at once */
                del[0] = "XDEL";
                del[1] = x->results_key;
                freeReplyObject(tsr_redis_link_cmd(&l, nd, del, NULL));
                free(del);
            }
        }
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

/* ---- setup ---- */

/* Deletes tasks left in the stream by earlier runs of this coordinator id:
 * nobody would read their results. Best effort. */
static void purge_stale(redis_exec *x, tsr_redis_link *l) {
    char start[64] = "-";
    uint64_t purged = 0;
    for (int round = 0; round < 1000; round++) {
        const char *argv[] = {"XRANGE", x->tasks_key, start, "+", "COUNT", "500"};
        redisReply *r = tsr_redis_link_cmd(l, 6, argv, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                continue;
            const char *coord = str_of(tsr_redis_field(e->element[1], "coord"));
            const char *key = str_of(tsr_redis_field(e->element[1], "key"));
            char epoch[17];
            uint64_t seq;
            int tile;
            if (coord && !strcmp(coord, x->coord) && key && parse_key(key, epoch, &seq, &tile) &&
                strcmp(epoch, x->epoch)) {
                const char *del[] = {"XDEL", x->tasks_key, e->element[0]->str};
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
        say(x, "info", "redis: removed tasks of a previous run of this coordinator", detail);
    }
}

static void random_hex(char *out, size_t n) {
    unsigned char raw[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, raw, sizeof raw) != (ssize_t)sizeof raw) {
        uint64_t v = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        memcpy(raw, &v, sizeof raw);
    }
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < sizeof raw && 2 * i + 2 < n; i++)
        snprintf(out + 2 * i, 3, "%02x", raw[i]);
}

static tsr_status redis_run(tsr_executor *e, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg) {
    (void)e;
    for (size_t t = 0; t < n; t++) {
        if (tsr_ctx_cancelled(ctx))
            return TSR_ERR_CANCELLED;
        tsr_status st = fn(arg, t, 0);
        if (st)
            return st;
    }
    return TSR_OK;
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

static const tsr_executor_vtable redis_vtable = {redis_run, redis_destroy, redis_run_tiles};

void tsr_executor_redis_stats(tsr_executor *exec, tsr_redis_stats *out) {
    redis_exec *x = (redis_exec *)exec;
    pthread_mutex_lock(&x->lock);
    *out = x->stats;
    out->reconnects += x->reader_reconnects;
    out->in_flight = (uint64_t)x->in_flight_total;
    pthread_mutex_unlock(&x->lock);
}

tsr_status tsr_executor_redis_new(tsr_ctx *ctx, const tsr_redis_config *cfg, tsr_executor **out) {
    *out = NULL;
    const char *cluster = cfg->cluster && cfg->cluster[0] ? cfg->cluster : "default";
    if (!valid_id(cluster))
        return tsr_error(ctx, TSR_ERR_USAGE, "redis: cluster '%s' must be 1..64 of [A-Za-z0-9._-]",
                         cluster);
    if (cfg->coordinator_id && !valid_id(cfg->coordinator_id))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "redis: coordinator id '%s' must be 1..64 of [A-Za-z0-9._-]",
                         cfg->coordinator_id);
    redis_exec *x = calloc(1, sizeof *x);
    if (!x)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    tsr_redis_link l = {&x->url, NULL, 10000, 0, 0, 0};
    tsr_status st = tsr_redis_url_parse(ctx, cfg->url, &x->url);
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->changed, NULL);
    x->base.vt = &redis_vtable;
    x->base.threads = 1;
    if (st)
        goto out;
    if (cfg->coordinator_id) {
        snprintf(x->coord, sizeof x->coord, "%s", cfg->coordinator_id);
    } else {
        char host[48] = "host";
        gethostname(host, sizeof host - 1);
        for (char *p = host; *p; p++)
            if (!valid_id((char[]){*p, 0}))
                *p = '-';
        snprintf(x->coord, sizeof x->coord, "%s-%d", host, (int)getpid());
    }
    random_hex(x->epoch, sizeof x->epoch);
    snprintf(x->tasks_key, sizeof x->tasks_key, "tessera:%s:tasks", cluster);
    snprintf(x->stats_key, sizeof x->stats_key, "tessera:%s:stats", cluster);
    snprintf(x->results_key, sizeof x->results_key, "tessera:%s:results:%s", cluster, x->coord);
    snprintf(x->mark_key, sizeof x->mark_key, "tessera:%s:sent:%s", cluster, x->coord);
    int lease = cfg->lease_ms > 0 ? cfg->lease_ms : 15000;
    x->cap_batch = cfg->in_flight_batch > 0 ? cfg->in_flight_batch : 64;
    x->cap_total = cfg->in_flight_total > 0 ? cfg->in_flight_total : 256;
    x->resend_ms = cfg->resend_ms > 0 ? cfg->resend_ms : (4 * lease > 60000 ? 4 * lease : 60000);
    x->level = cfg->compress_level == 0 ? 1 : cfg->compress_level;
    if (cfg->key) {
        x->sealed = 1;
        x->key = *cfg->key;
    }
    x->log = cfg->log;
    x->log_user = cfg->log_user;
    x->pool_cap = 64;
    if (!(x->pool = calloc((size_t)x->pool_cap, sizeof *x->pool))) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = tsr_redis_connect(ctx, &x->url, 10000, &l.c)))
        goto out;
    const char *argv[] = {"XGROUP", "CREATE", x->tasks_key, "workers", "0", "MKSTREAM"};
    redisReply *r = tsr_redis_link_cmd(&l, 6, argv, NULL);
    if (!r || (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9))) {
        st = tsr_error(ctx, TSR_ERR_IO, "redis: cannot create the consumer group on %s: %s",
                       x->tasks_key, r ? r->str : "connection lost");
        freeReplyObject(r);
        goto out;
    }
    freeReplyObject(r);
    purge_stale(x, &l);
    if (pthread_create(&x->reader, NULL, reader_main, x)) {
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
