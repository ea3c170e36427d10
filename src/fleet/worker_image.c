/* The fleet worker's image tasks: one whole image, run by the runner the
 * worker was given (the service layer's, which reads the input from the
 * blob store and writes the result there), with the image's progress
 * posted to its coordinator at most once per TSR_FLEET_PROGRESS_MS. The
 * task's lease is kept by the keeper like a tile's; the completion is
 * posted like a tile's result (see worker_internal.h). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/seal.h"
#include "fleet/worker_internal.h"
#include "util/clock.h"
#include "util/log.h"

/* Where an image's progress goes. */
typedef struct progress_post {
    wthread *t;           /* the thread running the image */
    tsr_redis_link *l;    /* its link (idle while the runner runs) */
    const char *coord;    /* the coordinator to tell */
    const char *key;      /* the task's key */
    double last;          /* when progress was last posted (monotonic ms) */
    pthread_mutex_t lock; /* a runner may report from several threads */
} progress_post;

/* Posts "<done> <total>" (sealed bound to "P:<key>" when sealing is on) on
 * the coordinator's results stream. Best effort: a lost progress post only
 * delays the bar, never the task. */
static void post_progress(progress_post *p, uint64_t done, uint64_t total) {
    tsr_worker *w = p->t->w;
    char text[48], ad[TSR_FLEET_AD_MAX], stream[TSR_FLEET_KEY_MAX];
    int len = snprintf(text, sizeof text, "%llu %llu", (unsigned long long)done,
                       (unsigned long long)total);
    tsr_buffer sealed = {0};
    const char *v = text;
    size_t vlen = (size_t)len;
    if (w->sealed) {
        if (!tsr_fleet_seal_ad(TSR_SEAL_PROGRESS, p->key, ad) ||
            tsr_payload_seal(NULL, &w->key, ad, (const uint8_t *)text, vlen, &sealed))
            goto out;
        v = (const char *)sealed.data;
        vlen = sealed.len;
    }
    tsr_fleet_key_of(&w->keys, TSR_FLEET_KIND_RESULTS, p->coord, stream);
    const char *a[16] = {"XADD", stream, "MAXLEN", "~", TSR_FLEET_RESULTS_KEEP, "*"};
    size_t n[16] = {4, strlen(stream), 6, 1, strlen(TSR_FLEET_RESULTS_KEEP), 1};
    int k = 6 + tsr_worker_entry_head(p->t, p->key, a + 6, n + 6);
    a[k] = TSR_FIELD_PROGRESS, n[k] = strlen(TSR_FIELD_PROGRESS);
    a[k + 1] = v, n[k + 1] = vlen;
    const char *expire[] = {"PEXPIRE", stream, TSR_FLEET_COORD_KEYS_TTL_MS};
    if (tsr_redis_link_ensure(p->l, &w->quit)) {
        freeReplyObject(tsr_redis_link_cmd(p->l, k + 2, a, n));
        freeReplyObject(tsr_redis_link_cmd(p->l, 3, expire, NULL));
    }
out:
    tsr_buffer_free(&sealed);
}

static void on_progress(void *user, uint64_t done, uint64_t total) {
    progress_post *p = user;
    pthread_mutex_lock(&p->lock);
    double now = (double)tsr_clock_mono_ms();
    if (p->coord[0] && now - p->last >= TSR_FLEET_PROGRESS_MS) {
        p->last = now;
        post_progress(p, done, total);
    }
    pthread_mutex_unlock(&p->lock);
}

/* Packs (and seals bound to "C:<key>") the runner's completion bytes in
 * s->result into *post. */
static tsr_status pack_completion(tsr_worker *w, task_scratch *s, const char *key,
                                  tsr_buffer *sealed, tsr_buffer **post) {
    tsr_status st = tsr_payload_pack(s->ctx, w->level, s->result.data, s->result.len, &s->packed);
    if (st)
        return st;
    *post = &s->packed;
    if (!w->sealed)
        return TSR_OK;
    char ad[TSR_FLEET_AD_MAX];
    if (!tsr_fleet_seal_ad(TSR_SEAL_DONE, key, ad))
        return tsr_error(s->ctx, TSR_ERR_CORRUPT, "task key too long");
    *post = sealed;
    return tsr_payload_seal(s->ctx, &w->key, ad, s->packed.data, s->packed.len, sealed);
}

tsr_status tsr_worker_run_image(wthread *t, tsr_redis_link *l, task_scratch *s, const char *coord,
                                const char *key, const uint8_t *bytes, size_t len,
                                tsr_buffer *sealed, tsr_buffer **post) {
    tsr_worker *w = t->w;
    tsr_ctx *ctx = s->ctx;
    tsr_status st;
    const uint8_t *task = NULL;
    size_t task_len = 0;
    if (!w->runner)
        return tsr_error(ctx, TSR_ERR_USAGE, "this worker takes no image tasks (no --store)");
    if (!tsr_payload_raw_view(bytes, len, MAX_TASK, &task, &task_len)) {
        if ((st = tsr_payload_unpack(ctx, bytes, len, MAX_TASK, &s->task)))
            return st;
        task = s->task.data;
        task_len = s->task.len;
    }
    if (w->crash_tile == 0) {
        tsr_log_field f[] = {TSR_LOG_FIELD_STRING("key", key)};
        tsr_log(TSR_LOG_ERROR, "worker: TESSERA_TEST_CRASH_TILE=0: aborting an image task", f, 1);
        abort();
    }
    if (w->fail_tile == 0)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "TESSERA_TEST_FAIL_TILE=0: injected failure");
    tsr_worker_settle(t, l); /* progress posts use the link while the runner runs */
    progress_post p = {.t = t, .l = l, .coord = coord, .key = key};
    p.last = (double)tsr_clock_mono_ms();
    pthread_mutex_init(&p.lock, NULL);
    st = w->runner(w->runner_user, ctx, task, task_len, on_progress, &p, &s->result);
    pthread_mutex_destroy(&p.lock);
    return st ? st : pack_completion(w, s, key, sealed, post);
}
