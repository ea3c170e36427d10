/*
 * The Redis executor's audit of tasks in flight: the check for lost tasks
 * that depends on no particular reply arriving and on no order of
 * reconnects. The send mark (executor_redis_results.c) notices a Redis that
 * came back without acknowledged tasks quickly, but it can miss a loss: when
 * Redis died between acknowledging XADDs and answering their round trip's
 * INCR, or when a sender's new INCRs lifted the mark again before the reader
 * looked. So every audit period each batch asks Redis, in one pipelined
 * round trip, whether the stream entries of its tasks in flight are still
 * there (XRANGE id id). An entry is only removed by the worker that posted
 * the task's result first (XADD result, XDEL task: in order, so a Redis
 * that kept the XDEL kept the result), so a task whose entry is gone twice
 * in a row, a period apart, with no result read meanwhile, is lost: it is
 * sent again at once. Redis may lose tasks in any way and they are resent
 * within about two audit periods (one lease).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/executor_redis_internal.h"

#define AUDIT_MAX 1024 /* tasks checked in one round trip */

/* Answers for all ids at once with one character each, '1' (still there) or
 * '0' (gone): n bytes back instead of n whole entries (an image task's entry
 * is most of the bytes an image costs Redis). */
static const char PRESENT_LUA[] =
    "local r = {} for i, id in ipairs(ARGV) do "
    "r[i] = (#redis.call('XRANGE', KEYS[1], id, id, 'COUNT', 1) > 0) and '1' or '0' end "
    "return table.concat(r)";

/* check_present through PRESENT_LUA: 1 answered, 0 no answer, -1 refused
 * (scripting not allowed: use XRANGE from now on). */
static int check_present_lua(const char *stream, tsr_redis_link *l, char (*ids)[32], int n,
                             uint8_t *gone) {
    const char **argv = malloc(sizeof *argv * (size_t)(n + 4));
    if (!argv)
        return 0;
    argv[0] = "EVAL", argv[1] = PRESENT_LUA, argv[2] = "1", argv[3] = stream;
    for (int i = 0; i < n; i++)
        argv[4 + i] = ids[i];
    redisReply *r = tsr_redis_link_cmd(l, n + 4, argv, NULL);
    free(argv);
    int ok = 0;
    if (r && r->type == REDIS_REPLY_STRING && r->len == (size_t)n) {
        for (int i = 0; i < n; i++)
            gone[i] = r->str[i] == '0';
        ok = 1;
    } else if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "LOADING", 7)) {
        ok = -1; /* NOPERM, unknown command, scripts disabled */
    }
    freeReplyObject(r);
    return ok;
}

/* Asks Redis whether entries ids[0..n) are still in `stream`;
 * gone[i] = 1 for those that are not. Returns 0 when the answers did not all
 * come (connection lost, Redis loading): then nothing may be concluded. */
static int check_present(redis_exec *x, const char *stream, tsr_redis_link *l, char (*ids)[32],
                         int n, uint8_t *gone) {
    if (!tsr_redis_link_ensure(l, NULL))
        return 0;
    if (!atomic_load(&x->audit_plain)) {
        int lua = check_present_lua(stream, l, ids, n, gone);
        if (lua >= 0)
            return lua;
        atomic_store(&x->audit_plain, 1);
        tsr_redis_exec_say(x, "info", "redis: the audit's script was refused; XRANGE per task",
                           stream);
    }
    for (int i = 0; i < n; i++) {
        const char *argv[] = {"XRANGE", stream, ids[i], ids[i], "COUNT", "1"};
        if (redisAppendCommandArgv(l->c, 6, argv, NULL) != REDIS_OK) {
            tsr_redis_link_close(l);
            return 0;
        }
    }
    int ok = 1;
    for (int i = 0; i < n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(l->c, (void **)&r) != REDIS_OK || !r) {
            freeReplyObject(r);
            tsr_redis_link_close(l);
            return 0;
        }
        if (r->type == REDIS_REPLY_ARRAY)
            gone[i] = r->elements == 0;
        else
            ok = 0; /* LOADING after a restart: look again next period */
        freeReplyObject(r);
    }
    return ok;
}

/* Copies up to AUDIT_MAX tasks of `rb` sent at least one period ago into
 * tiles[] and ids[]. Under lock. */
static int collect(const redis_exec *x, const rbatch *rb, double now, int *tiles, char (*ids)[32]) {
    int n = 0;
    for (int t = 0; t < rb->next_new && n < AUDIT_MAX; t++)
        if (rb->state[t] == SENT && rb->entry[t][0] && now - rb->sent_at[t] >= x->audit_ms) {
            tiles[n] = t;
            memcpy(ids[n++], rb->entry[t], sizeof rb->entry[t]);
        }
    return n;
}

/* Applies one audit's answers: a task gone twice in a row becomes overdue
 * (resent by pick() at once). Returns how many. Under lock. */
static int conclude(rbatch *rb, const int *tiles, char (*ids)[32], const uint8_t *gone, int n) {
    int lost = 0;
    for (int i = 0; i < n; i++) {
        int t = tiles[i];
        if (rb->state[t] != SENT || strcmp(rb->entry[t], ids[i]))
            continue; /* answered or resent meanwhile */
        if (!gone[i]) {
            rb->missing[t] = 0;
        } else if (!rb->missing[t]) {
            rb->missing[t] = 1; /* maybe its result is on its way: look again */
        } else {
            rb->missing[t] = 0;
            rb->sent_at[t] = -1e300;
            rb->last_scan = -1e300;
            lost++;
        }
    }
    return lost;
}

void tsr_redis_exec_audit(redis_exec *x, rbatch *rb, tsr_redis_link *l, double now) {
    if (now - rb->last_audit < x->audit_ms)
        return;
    rb->last_audit = now;
    int *tiles = malloc(sizeof *tiles * AUDIT_MAX);
    char(*ids)[32] = malloc(sizeof *ids * AUDIT_MAX);
    uint8_t *gone = calloc(AUDIT_MAX, 1);
    int n = tiles && ids && gone ? collect(x, rb, now, tiles, ids) : 0;
    if (n) {
        pthread_mutex_unlock(&x->lock);
        int ok = check_present(x, rb->stream, l, ids, n, gone);
        pthread_mutex_lock(&x->lock);
        int lost = ok ? conclude(rb, tiles, ids, gone, n) : 0;
        if (lost) {
            x->stats.tasks_lost += (uint64_t)lost;
            pthread_cond_broadcast(&x->changed);
            char detail[64];
            snprintf(detail, sizeof detail, "%d tasks sent again", lost);
            pthread_mutex_unlock(&x->lock);
            tsr_redis_exec_say(x, "warn", "redis: tasks in flight are gone from Redis", detail);
            pthread_mutex_lock(&x->lock);
        }
    }
    free(tiles);
    free(ids);
    free(gone);
}
