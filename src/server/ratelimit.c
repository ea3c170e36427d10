/* Token buckets in a fixed set-associative table (see ratelimit.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/ratelimit.h"

#define WAYS 8 /* slots per set; eviction picks the least recently used */

/* One key's bucket. */
typedef struct slot {
    char key[TSR_RATELIMIT_KEY_MAX + 1]; /* "" = free */
    double tokens;                       /* tokens at `last` */
    double last;                         /* when `tokens` was computed (seconds) */
    double logged;                       /* last log line about this key; -1 = never */
} slot;

struct tsr_ratelimit {
    pthread_mutex_t lock; /* guards everything below */
    double rate;          /* tokens per second: base_rate / parts */
    double burst;         /* bucket size: base_burst / parts, at least 1 */
    double base_rate;     /* as created */
    double base_burst;    /* as created */
    size_t sets;          /* number of sets of WAYS slots */
    slot *slots;          /* sets * WAYS entries */
    uint64_t limited;     /* refused takes */
    uint64_t evictions;   /* live keys evicted */
    size_t keys;          /* slots in use */
};

tsr_ratelimit *tsr_ratelimit_new(double rate, double burst, size_t slots) {
    if (!(rate > 0) || !(burst >= 1) || rate > 1e9 || burst > 1e9)
        return NULL;
    size_t sets = slots < WAYS ? 1 : (slots + WAYS - 1) / WAYS;
    tsr_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl || !(rl->slots = calloc(sets * WAYS, sizeof *rl->slots))) {
        free(rl);
        return NULL;
    }
    pthread_mutex_init(&rl->lock, NULL);
    rl->rate = rl->base_rate = rate;
    rl->burst = rl->base_burst = burst;
    rl->sets = sets;
    return rl;
}

void tsr_ratelimit_set_share(tsr_ratelimit *rl, int parts) {
    if (parts < 1)
        parts = 1;
    pthread_mutex_lock(&rl->lock);
    rl->rate = rl->base_rate / parts;
    rl->burst = rl->base_burst / parts < 1 ? 1 : rl->base_burst / parts;
    pthread_mutex_unlock(&rl->lock);
}

void tsr_ratelimit_free(tsr_ratelimit *rl) {
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->slots);
    free(rl);
}

/* FNV-1a of the key. */
static uint64_t hash(const char *key) {
    uint64_t h = 14695981039346656037ull;
    for (const char *p = key; *p; p++)
        h = (h ^ (uint8_t)*p) * 1099511628211ull;
    return h;
}

/* Tokens of `s` at `now`, capped at the burst. */
static double refilled(const tsr_ratelimit *rl, const slot *s, double now) {
    double dt = now > s->last ? now - s->last : 0;
    double t = s->tokens + dt * rl->rate;
    return t > rl->burst ? rl->burst : t;
}

/* The slot of `key` (lock held), or NULL when absent and `add` is false.
 * Adding takes a free way of the set, else the least recently used one. */
static slot *find(tsr_ratelimit *rl, const char *key, double now, bool add) {
    slot *set = rl->slots + (hash(key) % rl->sets) * WAYS, *victim = NULL;
    for (int i = 0; i < WAYS; i++) {
        if (set[i].key[0] && !strcmp(set[i].key, key))
            return &set[i];
        if (!victim || (victim->key[0] && (!set[i].key[0] || set[i].last < victim->last)))
            victim = &set[i];
    }
    if (!add)
        return NULL;
    if (victim->key[0]) {
        if (refilled(rl, victim, now) < rl->burst) /* it still held state */
            rl->evictions++;
    } else {
        rl->keys++;
    }
    memset(victim, 0, sizeof *victim);
    strcpy(victim->key, key);
    victim->tokens = rl->burst;
    victim->last = now;
    victim->logged = -1;
    return victim;
}

/* Copies `key`, cut to TSR_RATELIMIT_KEY_MAX bytes. */
static void key_copy(char out[TSR_RATELIMIT_KEY_MAX + 1], const char *key) {
    size_t n = strnlen(key, TSR_RATELIMIT_KEY_MAX);
    memcpy(out, key, n);
    out[n] = '\0';
}

/* Shared body of take and peek. */
static bool check(tsr_ratelimit *rl, const char *key_in, double now, double *retry_after,
                  bool take) {
    char key[TSR_RATELIMIT_KEY_MAX + 1];
    key_copy(key, key_in);
    pthread_mutex_lock(&rl->lock);
    slot *s = find(rl, key, now, take);
    double tokens = s ? refilled(rl, s, now) : rl->burst;
    bool ok = tokens >= 1.0;
    if (s) { /* a peek only brings the bucket up to date */
        s->tokens = ok && take ? tokens - 1.0 : tokens;
        s->last = now > s->last ? now : s->last;
    }
    if (!ok && take)
        rl->limited++;
    pthread_mutex_unlock(&rl->lock);
    if (retry_after)
        *retry_after = ok ? 0 : (1.0 - tokens) / rl->rate;
    return ok;
}

bool tsr_ratelimit_take(tsr_ratelimit *rl, const char *key, double now, double *retry_after) {
    return check(rl, key, now, retry_after, true);
}

bool tsr_ratelimit_peek(tsr_ratelimit *rl, const char *key, double now, double *retry_after) {
    return check(rl, key, now, retry_after, false);
}

bool tsr_ratelimit_log_due(tsr_ratelimit *rl, const char *key_in, double now, double interval) {
    char key[TSR_RATELIMIT_KEY_MAX + 1];
    key_copy(key, key_in);
    pthread_mutex_lock(&rl->lock);
    slot *s = find(rl, key, now, true);
    bool due = s->logged < 0 || now - s->logged >= interval;
    if (due)
        s->logged = now;
    pthread_mutex_unlock(&rl->lock);
    return due;
}

void tsr_ratelimit_get_stats(tsr_ratelimit *rl, tsr_ratelimit_stats *out) {
    pthread_mutex_lock(&rl->lock);
    out->limited = rl->limited;
    out->evictions = rl->evictions;
    out->keys = rl->keys;
    out->slots = rl->sets * WAYS;
    pthread_mutex_unlock(&rl->lock);
}
