/* A fleet worker's compute thread: takes over abandoned tasks, reads new
 * ones and runs them (see worker_internal.h and docs/internals/redis.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet/worker_internal.h"
#include "util/clock.h"
#include "util/log.h"

/* What one turn of the loop holds: the reply an entry came in and whether
 * it was taken over from another consumer. */
typedef struct turn {
    redisReply *reply;       /* owns the entry; NULL when none */
    const redisReply *entry; /* the task entry, NULL when none */
    int claimed;             /* the entry was taken over (XAUTOCLAIM) */
} turn;

/* The claim scan's state of one thread. */
typedef struct claim_scan {
    char cursor[64]; /* XAUTOCLAIM cursor; "0-0" at the start of the PEL */
    char lease[16];  /* the lease as text */
    double last;     /* when the last scan ran (monotonic ms); 0 = scan next turn */
} claim_scan;

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

/* Makes the link ready for commands that wait for their replies: settles
 * what was sent without waiting, connects, and creates the consumer group
 * once per connection lifetime (*group_ok). Returns -1 when draining began
 * while disconnected, 0 to try again next turn, 1 when ready. */
static int ready_link(wthread *t, tsr_redis_link *l, int *group_ok) {
    tsr_worker *w = t->w;
    tsr_worker_settle(t, l);
    if (!tsr_redis_link_ensure(l, &w->draining))
        return -1;
    if (*group_ok)
        return 1;
    const char *g[] = {"XGROUP", "CREATE", t->stream, TSR_FLEET_GROUP, "0", "MKSTREAM"};
    redisReply *r = tsr_redis_link_cmd(l, 6, g, NULL);
    *group_ok = r && (r->type != REDIS_REPLY_ERROR || !strncmp(r->str, "BUSYGROUP", 9));
    freeReplyObject(r);
    if (!*group_ok)
        tsr_clock_sleep_ms(100);
    return *group_ok;
}

/* Takes over one task idle past the lease (XAUTOCLAIM COUNT 1) into *tu.
 * The scan goes on next turn while it has not reached the end of the
 * pending list or found something. */
static void claim_abandoned(wthread *t, tsr_redis_link *l, claim_scan *cs, double now, turn *tu) {
    cs->last = now;
    const char *a[] = {"XAUTOCLAIM", t->stream,  TSR_FLEET_GROUP, t->consumer,
                       cs->lease,    cs->cursor, "COUNT",         "1"};
    redisReply *r = tsr_redis_link_cmd(l, 8, a, NULL);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[0]->type == REDIS_REPLY_STRING) {
        snprintf(cs->cursor, sizeof cs->cursor, "%s", r->element[0]->str);
        const redisReply *es = r->element[1];
        if (es->type == REDIS_REPLY_ARRAY && es->elements >= 1 &&
            es->element[0]->type == REDIS_REPLY_ARRAY && es->element[0]->elements == 2) {
            *tu = (turn){.reply = r, .entry = es->element[0], .claimed = 1};
            cs->last = 0; /* there may be more to take over */
            return;
        }
    }
    if (strcmp(cs->cursor, "0-0"))
        cs->last = 0; /* the scan has not reached the end of the PEL */
    freeReplyObject(r);
}

/* Waits for a new task (XREADGROUP BLOCK) into *tu. Returns 1 when Redis
 * answered that the queue is empty (time to look for abandoned tasks). */
static int read_new(wthread *t, tsr_redis_link *l, const char *block, int *group_ok, turn *tu) {
    const char *a[] = {"XREADGROUP", "GROUP", TSR_FLEET_GROUP, t->consumer, "COUNT", "1",
                       "BLOCK",      block,   "STREAMS",       t->stream,   ">"};
    redisReply *r = tsr_redis_link_cmd(l, 11, a, NULL);
    if (r && r->type == REDIS_REPLY_ERROR) {
        if (!strncmp(r->str, "NOGROUP", 7))
            *group_ok = 0; /* Redis lost the group (restart without AOF) */
        else
            tsr_clock_sleep_ms(100); /* LOADING */
    }
    *tu = (turn){.reply = r, .entry = read_entry(r)};
    return !tu->entry && r && r->type == REDIS_REPLY_NIL;
}

/* Finds the thread's next task: an abandoned one every lease/4 (even while
 * the thread holds its next task, so a dead worker's tiles are taken over
 * after their lease, not once the queue runs dry), else the one asked for
 * ahead, else a new one. Returns -1 when the thread must stop. */
static int next_task(wthread *t, tsr_redis_link *l, claim_scan *cs, const char *block,
                     int *group_ok, turn *tu) {
    tsr_worker *w = t->w;
    *tu = (turn){0};
    if (t->ahead && !read_entry(t->ahead)) {
        freeReplyObject(t->ahead);
        t->ahead = NULL;
    }
    double now = (double)tsr_clock_mono_ms();
    int claim = now - cs->last >= w->lease_ms / 4.0;
    if (!t->ahead || claim) {
        int ready = ready_link(t, l, group_ok);
        if (ready <= 0)
            return ready;
    }
    if (claim)
        claim_abandoned(t, l, cs, now, tu);
    if (!tu->entry && t->ahead) { /* the task asked for while the last one computed */
        *tu = (turn){.reply = t->ahead, .entry = read_entry(t->ahead)};
        t->ahead = NULL;
    }
    if (!tu->entry && read_new(t, l, block, group_ok, tu))
        cs->last = 0; /* idle: look for abandoned tasks next */
    return 1;
}

void *tsr_worker_thread_main(void *arg) {
    wthread *t = arg;
    tsr_worker *w = t->w;
    tsr_redis_link l = {.url = &w->url, .timeout_ms = w->block_ms + TSR_FLEET_LINK_TIMEOUT_MS};
    task_scratch s = {.ctx = tsr_ctx_new()};
    claim_scan cs = {.cursor = "0-0"};
    char block[16];
    snprintf(cs.lease, sizeof cs.lease, "%d", w->lease_ms);
    snprintf(block, sizeof block, "%d", w->block_ms);
    int group_ok = 0;
    if (!s.ctx || tsr_task_worker_new(s.ctx, &s.tw)) {
        tsr_log_field f[] = {TSR_LOG_FIELD_INT("thread", t->index)};
        tsr_log(TSR_LOG_ERROR, "worker: out of memory starting a thread", f, 1);
        goto out;
    }
    tsr_task_worker_set_accel(s.tw, w->accel);
    while (!atomic_load(&w->draining)) {
        turn tu;
        int next = next_task(t, &l, &cs, block, &group_ok, &tu);
        if (next < 0)
            break;
        if (tu.entry)
            tsr_worker_process(t, &l, &s, tu.entry, tu.claimed);
        freeReplyObject(tu.reply);
    }
    /* Draining began after the next task was asked for: run it too, then
     * wait for the last result's replies. */
    tsr_worker_settle(t, &l);
    if (read_entry(t->ahead))
        tsr_worker_process(t, &l, &s, read_entry(t->ahead), 0);
    tsr_worker_settle(t, &l);
    freeReplyObject(t->ahead);
    t->ahead = NULL;
out:
    tsr_redis_link_close(&l);
    tsr_task_worker_free(s.tw);
    tsr_ctx_free(s.ctx);
    tsr_buffer_free(&s.task);
    tsr_buffer_free(&s.result);
    tsr_buffer_free(&s.packed);
    tsr_buffer_free(&t->post.payload);
    return NULL;
}
