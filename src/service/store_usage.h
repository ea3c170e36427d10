/*
 * Usage reports: what finished jobs and transforms used, summed by account
 * and by UTC day (cost accounting: GET /api/v1/usage, `tessera usage`, the
 * per-account counters of /metrics). Transforms (POST /api/v1/transform)
 * make no job row, so their usage is summed per account and UTC minute in
 * its own table (migration 9), which the server adds to in batches
 * (src/server/transform_tally.c), not once a request. Threads and errors
 * as in store.h.
 */
#ifndef TESSERA_SERVICE_STORE_USAGE_H
#define TESSERA_SERVICE_STORE_USAGE_H

#include "service/store.h"

/* A usage report's question: finished jobs with from_ms <= finished < to_ms
 * and transforms by minute likewise, of one account (0: all), summed. */
typedef struct tsr_usage_query {
    int64_t from_ms, to_ms; /* the window, ms since the epoch */
    int64_t account;        /* a user id; 0 = every account */
    int by_account;         /* one row per account (else accounts together) */
    int by_day;             /* one row per UTC day (else the window together) */
} tsr_usage_query;

/* One row of a usage report. */
typedef struct tsr_usage_row {
    char account[TSR_STORE_NAME_MAX + 1]; /* "" unless by_account */
    char day[11];                         /* "YYYY-MM-DD", "" unless by_day */
    int64_t jobs;                         /* finished jobs */
    int64_t transforms;                   /* finished transforms */
    tsr_job_usage usage;                  /* summed, transforms too; peak_pixels: the largest */
    double wall_seconds;                  /* summed run times */
} tsr_usage_row;

typedef void (*tsr_usage_row_fn)(void *user, const tsr_usage_row *row);

/* Calls fn for each row of the report, in account then day order. */
tsr_status tsr_store_usage_report(tsr_store *store, tsr_ctx *ctx, const tsr_usage_query *q,
                                  tsr_usage_row_fn fn, void *user);

/* Transforms of one account in one minute. */
typedef struct tsr_transform_usage {
    int64_t owner;       /* user id */
    int64_t minute;      /* the minute's first millisecond since the epoch */
    int64_t transforms;  /* how many finished */
    tsr_job_usage usage; /* summed (read_bytes: request bodies, written_bytes: results,
                            network_bytes: 0); peak_pixels: the largest */
    double wall_seconds; /* summed run times */
} tsr_transform_usage;

/* Adds the `n` rows to the sums, in one transaction: all or none. */
tsr_status tsr_store_transform_usage_add(tsr_store *store, tsr_ctx *ctx,
                                         const tsr_transform_usage *rows, size_t n);

#endif
