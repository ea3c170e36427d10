/*
 * Request rate limits of `tessera serve`: one token bucket per key (an
 * account "u:<id>" or a client address "a:<ip>"), refilled at `rate` tokens
 * a second up to `burst`. The buckets live in a fixed table of set-
 * associative slots (8 ways per set) with least-recently-used eviction, so
 * memory stays the same under a flood of distinct addresses: an evicted key
 * simply starts again with a full bucket. Thread-safe (one mutex, held for
 * a few hundred nanoseconds per call). Times are seconds on a monotonic
 * clock the caller passes in, so tests inject their own.
 * Design notes: docs/internals/ratelimit.md.
 */
#ifndef TESSERA_SERVER_RATELIMIT_H
#define TESSERA_SERVER_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TSR_RATELIMIT_KEY_MAX 47 /* bytes of a key ("a:" + an IPv6 address fits) */

typedef struct tsr_ratelimit tsr_ratelimit;

/* Counters for /metrics and tests. */
typedef struct tsr_ratelimit_stats {
    uint64_t limited;   /* takes refused since creation */
    uint64_t evictions; /* live keys pushed out of the table by others */
    size_t keys;        /* slots in use now */
    size_t slots;       /* table size */
} tsr_ratelimit_stats;

/* Creates a limiter: `rate` tokens per second (> 0), buckets of `burst`
 * tokens (>= 1), a table of `slots` entries (rounded up to a multiple of 8,
 * at least 8). Returns NULL when out of memory or an argument is out of
 * range. The caller frees it with tsr_ratelimit_free. */
tsr_ratelimit *tsr_ratelimit_new(double rate, double burst, size_t slots);
/* Accepts NULL. */
void tsr_ratelimit_free(tsr_ratelimit *rl);
/* Makes this limiter one of `parts` (>= 1) that share the limits: rate and
 * burst become those given at creation divided by `parts` (the burst at
 * least 1), so N coordinators behind a balancer that spreads requests
 * evenly let an account through at about the configured rate in all. */
void tsr_ratelimit_set_share(tsr_ratelimit *rl, int parts);

/* Takes one token from `key`'s bucket at time `now`. Returns true when the
 * request may go on; false when the bucket is empty, with *retry_after (may
 * be NULL) set to the seconds until a token is back (> 0). Keys longer than
 * TSR_RATELIMIT_KEY_MAX bytes are cut. */
bool tsr_ratelimit_take(tsr_ratelimit *rl, const char *key, double now, double *retry_after);
/* Like tsr_ratelimit_take but takes nothing: whether a token is there now.
 * An unknown key has a full bucket (and is not added). */
bool tsr_ratelimit_peek(tsr_ratelimit *rl, const char *key, double now, double *retry_after);
/* Whether a log line about `key` is due: true at most once per `interval`
 * seconds per key (the time is remembered in the key's slot). */
bool tsr_ratelimit_log_due(tsr_ratelimit *rl, const char *key, double now, double interval);
/* A snapshot of the counters. */
void tsr_ratelimit_get_stats(tsr_ratelimit *rl, tsr_ratelimit_stats *out);

#endif
