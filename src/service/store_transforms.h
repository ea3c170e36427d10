/*
 * What transforms used (POST /api/v1/transform): they make no job row, so
 * their usage is summed per account and UTC minute in its own table
 * (migration 7) and counted with the jobs' by tsr_store_usage_report. The
 * server adds to it in batches (src/server/transform_usage.c), not once a
 * request. Threads and errors as in store.h.
 */
#ifndef TESSERA_SERVICE_STORE_TRANSFORMS_H
#define TESSERA_SERVICE_STORE_TRANSFORMS_H

#include "service/store.h"

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
