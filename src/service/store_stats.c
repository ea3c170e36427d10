/* Figures about the store for /metrics, and its readiness (store_stats.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "service/store_internal.h"
#include "service/store_stats.h"

uint64_t tsr_store_errors(tsr_store *store) {
    return atomic_load(&store->sql_errors);
}

tsr_status tsr_store_job_oldest_queued(tsr_store *store, tsr_ctx *ctx, int64_t *created) {
    tsr_db_stmt *st = NULL;
    *created = 0;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "SELECT coalesce(min(created), 0) FROM jobs WHERE state = 'queued'", &st);
    if (!rc) {
        if (tsr_db_step(st) == TSR_DB_ROW)
            *created = tsr_db_column_int64(st, 0);
        else
            rc = tsr_store_sql_error(store, ctx, "find the oldest queued job");
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_probe(tsr_store *store, tsr_ctx *ctx) {
    tsr_db_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = store->db ? tsr_store_prepare(store, ctx, "SELECT 1", &st) : TSR_OK;
    if (!rc && st && tsr_db_step(st) != TSR_DB_ROW)
        rc = tsr_store_sql_error(store, ctx, "probe the database");
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (rc)
        return rc;
    tsr_blob_backend *b = store->backend;
    if (b && b->ops->head) {
        static const char absent[] = "00000000000000000000000000000000";
        bool found = false;
        uint64_t bytes = 0;
        char sha[65];
        if ((rc = b->ops->head(b, ctx, absent, &found, &bytes, sha))) {
            char why[512];
            snprintf(why, sizeof why, "%s", tsr_ctx_message(ctx));
            tsr_ctx_reset(ctx);
            return tsr_error(ctx, rc, "blob store: %s", why);
        }
        return TSR_OK;
    }
    if (access(store->tmp, W_OK) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: %s is not writable: %s", store->tmp,
                         strerror(errno));
    return TSR_OK;
}
