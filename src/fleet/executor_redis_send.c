/*
 * The Redis executor's sending side: run_tiles() on the caller's thread
 * encodes and XADDs the batch's tiles while the batch and the executor stay
 * under their in-flight caps, resends tasks unanswered for resend_ms (or at
 * once after a detected loss, see executor_redis_results.c), and waits
 * until the reader has applied every tile's result.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "fleet/executor_redis_internal.h"
#include "util/clock.h"

static tsr_redis_link *take_link(redis_exec *x) {
    pthread_mutex_lock(&x->lock);
    tsr_redis_link *l = x->pool_n ? x->pool[--x->pool_n] : NULL;
    pthread_mutex_unlock(&x->lock);
    if (!l && (l = calloc(1, sizeof *l)))
        *l = (tsr_redis_link){.url = &x->url, .timeout_ms = TSR_FLEET_LINK_TIMEOUT_MS};
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

/* Puts tile `t` in SENT state and counts it in flight; returns t. */
static int take_tile(redis_exec *x, rbatch *rb, int t, double now) {
    rb->state[t] = SENT;
    rb->sent_at[t] = now;
    rb->missing[t] = 0;
    rb->in_flight++;
    x->in_flight_total++;
    return t;
}

/* Picks up to SEND_CHUNK tiles to send now: overdue resends first, then new
 * tiles while the caps allow. Marks them SENT. Under lock. */
static int pick(redis_exec *x, rbatch *rb, int *picks, double now) {
    int n = 0;
    if (now - rb->last_scan > x->resend_ms / 4.0) {
        /* An image task may wait in the queue or run for minutes: it is
         * only sent again when found lost (the audit, a Redis that lost
         * writes), which set sent_at far in the past; the timer would
         * have a second worker compute it. */
        for (int t = 0; t < rb->next_new && n < SEND_CHUNK; t++)
            if (rb->state[t] == SENT &&
                (rb->img ? rb->sent_at[t] < 0 : now - rb->sent_at[t] > x->resend_ms)) {
                rb->sent_at[t] = now;
                rb->missing[t] = 0;
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
            picks[n++] = take_tile(x, rb, t, now);
        }
    while (n < SEND_CHUNK && rb->next_new < rb->b->count && rb->in_flight < x->cap_batch &&
           x->in_flight_total < x->cap_total) {
        picks[n++] = take_tile(x, rb, rb->next_new++, now);
    }
    return n;
}

/* Encodes tile `tile` of `b` into `payload` as Redis will carry it: raw or
 * compressed, then sealed when the cluster seals. `task` and `packed` are
 * scratch. Raw, unsealed tasks are encoded in place after their format byte. */
static tsr_status encode_payload(const redis_exec *x, const rbatch *rb, int tile, const char *ad,
                                 tsr_buffer *task, tsr_buffer *packed, tsr_buffer *payload) {
    const tsr_tile_batch *b = rb->b;
    tsr_status st;
    if (rb->img) { /* the service layer's bytes, packed and sealed as a tile's */
        if ((st = tsr_payload_pack(b->ctx, x->level, rb->img->payload, rb->img->len,
                                   x->sealed ? packed : payload)))
            return st;
        return x->sealed ? tsr_payload_seal(b->ctx, &x->key, ad, packed->data, packed->len, payload)
                         : TSR_OK;
    }
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
 * connection failed (the link is then unusable), -1 when out of memory;
 * *sent is the payload bytes. */
static int write_task_gathered(redis_exec *x, tsr_redis_link *l, const tsr_tile_batch *b, int tile,
                               const char *label, const char *key, tsr_buffer *head,
                               tsr_buffer *frame, size_t *sent) {
    tsr_rect r;
    size_t row_len;
    head->len = frame->len = 0;
    if (tsr_task_encode_head(b, tile, head, &r, &row_len))
        return -1;
    int rows = row_len ? r.h : 0;
    size_t payload = 1 + head->len + row_len * (size_t)rows;
    *sent = payload;
    const char *fixed[] = {"XADD",   x->keys.tasks,    "*", TSR_FIELD_JOB,
                           label,    TSR_FIELD_KEY,    key, TSR_FIELD_COORD,
                           x->coord, TSR_FIELD_PAYLOAD};
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

/* Scratch of one send round trip. */
typedef struct send_scratch {
    tsr_buffer task;                /* an encoded task (or a gathered task's head) */
    tsr_buffer packed;              /* compressed (or a gathered task's framing) */
    tsr_buffer payload[SEND_CHUNK]; /* each appended command's payload */
} send_scratch;

static void send_scratch_free(send_scratch *s) {
    tsr_buffer_free(&s->task);
    tsr_buffer_free(&s->packed);
    for (int i = 0; i < SEND_CHUNK; i++)
        tsr_buffer_free(&s->payload[i]);
}

/* Appends the XADD of tile `tile` (payload slot `i`) to the link: written
 * at once when `gather` (raw, unsealed), else appended to hiredis's output
 * buffer. Returns 1 when done, 0 when the connection failed (the link is
 * closed when a command may be half written), -1 when encoding failed
 * (message in the batch's ctx). */
static int append_tile(redis_exec *x, tsr_redis_link *l, rbatch *rb, int tile, int gather, int i,
                       send_scratch *s) {
    const tsr_tile_batch *b = rb->b;
    const char *label = b->label ? b->label : "run";
    char key[TSR_FLEET_KEY_MAX], ad[TSR_FLEET_AD_MAX];
    tsr_fleet_tile_key(x->coord, x->epoch, rb->seq, tile, key);
    tsr_fleet_seal_ad(rb->img ? TSR_SEAL_IMAGE : TSR_SEAL_TASK, key, ad);
    s->task.len = s->packed.len = 0;
    if (gather) {
        size_t sent = 0;
        int w = write_task_gathered(x, l, b, tile, label, key, &s->task, &s->packed, &sent);
        if (w == 0)
            tsr_redis_link_close(l);
        else if (w < 0)
            tsr_error(b->ctx, TSR_ERR_NOMEM, "%s: could not encode tile %d", label, tile);
        else if (b->moved)
            b->moved(b->done_user, sent);
        return w;
    }
    tsr_buffer *payload = &s->payload[i];
    if (encode_payload(x, rb, tile, ad, &s->task, &s->packed, payload)) {
        tsr_error(b->ctx, TSR_ERR_NOMEM, "%s: could not encode tile %d", label, tile);
        return -1;
    }
    const char *argv[] = {"XADD",
                          rb->stream,
                          "*",
                          TSR_FIELD_JOB,
                          label,
                          TSR_FIELD_KEY,
                          key,
                          TSR_FIELD_COORD,
                          x->coord,
                          TSR_FIELD_PAYLOAD,
                          (const char *)payload->data};
    size_t lens[11];
    for (int k = 0; k < 10; k++)
        lens[k] = strlen(argv[k]);
    lens[10] = payload->len;
    if (b->moved)
        b->moved(b->done_user, payload->len);
    return redisAppendCommandArgv(l->c, 11, argv, lens) == REDIS_OK;
}

/* Reads the replies of `appended` XADDs (stream ids into ids[]) and, when
 * `marked`, of the INCR of the mark (*mark). Returns `result` lowered to 0
 * when a reply did not come or was not an id. */
static int read_send_replies(tsr_redis_link *l, int appended, int marked, char (*ids)[32],
                             long long *mark, int result) {
    for (int i = 0; i < appended; i++) {
        redisReply *r = NULL;
        if (redisGetReply(l->c, (void **)&r) != REDIS_OK || !r) {
            freeReplyObject(r);
            tsr_redis_link_close(l);
            return 0;
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
    return result;
}

/* Encodes and XADDs tiles picks[0..n) in one pipelined round trip that
 * ends with an INCR of the mark (*mark: its new value, 0 when unknown).
 * ids[i] receives each new stream id, "" for tiles not sent. Returns 0 when
 * the connection failed (tiles without an id were not sent), -1 when
 * encoding failed (message in the batch's ctx), else 1. */
static int send_tiles(redis_exec *x, tsr_redis_link *l, rbatch *rb, const int *picks, int n,
                      char (*ids)[32], long long *mark) {
    for (int i = 0; i < n; i++)
        ids[i][0] = '\0';
    *mark = 0;
    if (!tsr_redis_link_ensure(l, NULL))
        return 0;
    /* raw tile tasks go out straight from the rows */
    int gather = x->level <= 0 && !x->sealed && !rb->img;
    if (gather && !tsr_redis_link_flush(l)) {
        tsr_redis_link_close(l);
        return 0;
    }
    send_scratch s;
    memset(&s, 0, sizeof s);
    int result = 1, appended = 0;
    for (; appended < n; appended++) {
        int a = append_tile(x, l, rb, rb->b->first + picks[appended], gather, appended, &s);
        if (a != 1) {
            result = a;
            break;
        }
    }
    if (result == 0 && gather) { /* nothing on this link is usable */
        send_scratch_free(&s);
        return 0;
    }
    const char *incr[] = {"INCR", x->mark_key};
    int marked = appended == n && redisAppendCommandArgv(l->c, 2, incr, NULL) == REDIS_OK;
    result = read_send_replies(l, appended, marked, ids, mark, result);
    if (result != 1 && appended && l->c && l->c->err)
        tsr_redis_link_close(l);
    send_scratch_free(&s);
    return result;
}

/* Removes the stream entries of tiles still in Redis (best effort). */
static void drop_outstanding(tsr_redis_link *l, rbatch *rb) {
    const char *argv[2 + SEND_CHUNK * 4];
    int argc = 2;
    argv[0] = "XDEL";
    argv[1] = rb->stream;
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

void tsr_redis_exec_wait(redis_exec *x, int ms) {
    struct timespec ts = tsr_clock_deadline(CLOCK_REALTIME, ms);
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
        tsr_redis_exec_audit(x, rb, l, (double)tsr_clock_mono_ms());
        int n = pick(x, rb, picks, (double)tsr_clock_mono_ms());
        if (n == 0) {
            tsr_redis_exec_wait(x, 100);
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
            tsr_redis_exec_wait(x, backoff);
        } else {
            backoff = 0;
        }
    }
}

tsr_status tsr_redis_exec_run_tiles(tsr_executor *e, const tsr_tile_batch *b) {
    redis_exec *x = (redis_exec *)e;
    if (b->count <= 0)
        return TSR_OK;
    rbatch rb = {.b = b, .stream = x->keys.tasks};
    return tsr_redis_exec_run_batch(x, &rb);
}

tsr_status tsr_executor_redis_run_image(tsr_executor *e, const tsr_image_task *task,
                                        tsr_buffer *completion) {
    if (!tsr_executor_is_redis(e))
        return tsr_error(task->ctx, TSR_ERR_USAGE, "image tasks need the Redis executor");
    redis_exec *x = (redis_exec *)e;
    tsr_tile_batch b = {.ctx = task->ctx, .count = 1, .label = task->label};
    rbatch rb = {.b = &b, .img = task, .completion = completion, .stream = x->keys.images};
    return tsr_redis_exec_run_batch(x, &rb);
}

tsr_status tsr_redis_exec_run_batch(redis_exec *x, rbatch *batch) {
    const tsr_tile_batch *b = batch->b;
    rbatch rb = *batch;
    rb.state = calloc((size_t)b->count, 1);
    rb.sent_at = calloc((size_t)b->count, sizeof *rb.sent_at);
    rb.entry = calloc((size_t)b->count, sizeof *rb.entry);
    rb.missing = calloc((size_t)b->count, 1);
    tsr_redis_link *l = take_link(x);
    tsr_status st = TSR_OK;
    if (!rb.state || !rb.sent_at || !rb.entry || !rb.missing || !l) {
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
        tsr_redis_exec_wait(x, 50);
    rbatch **p = &x->batches;
    while (*p != &rb)
        p = &(*p)->next;
    *p = rb.next;
    x->in_flight_total -= rb.in_flight;
    pthread_cond_broadcast(&x->changed);
    pthread_mutex_unlock(&x->lock);
    if (rb.in_flight) /* cancelled or failed: take our tasks back from Redis */
        drop_outstanding(l, &rb);
    if (rb.failed)
        st = rb.status ? rb.status : TSR_ERR_INTERNAL;
    else if (rb.done < b->count)
        st = tsr_error(b->ctx, TSR_ERR_CANCELLED, "cancelled");
out:
    give_link(x, l);
    free(rb.state);
    free(rb.sent_at);
    free(rb.entry);
    free(rb.missing);
    return st;
}
