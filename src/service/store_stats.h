/*
 * Figures about the store for /metrics and alerting: database errors since
 * open, and how long the oldest queued job has waited; and the readiness probe. Threads and errors
 * as in store.h.
 */
#ifndef TESSERA_SERVICE_STORE_STATS_H
#define TESSERA_SERVICE_STORE_STATS_H

#include "service/store.h"

/* Database calls that failed since the store was opened, for a reason
 * other than a refused value (constraint violations are the caller's
 * errors, e.g. a taken user name): I/O, a full disk, a locked or corrupt
 * file, out of memory, internal errors. */
uint64_t tsr_store_errors(tsr_store *store);

/* *created = when the oldest job still queued was created (ms since the
 * epoch), or 0 when no job is queued. */
tsr_status tsr_store_job_oldest_queued(tsr_store *store, tsr_ctx *ctx, int64_t *created);

/* Whether the store can serve now (a readiness probe): its database
 * answers a query and its blob store answers a lookup (S3: a HEAD of an
 * object that is not there; files: the temp folder is writable). The error
 * names which failed. */
tsr_status tsr_store_probe(tsr_store *store, tsr_ctx *ctx);

#endif
