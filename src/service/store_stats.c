/* Figures about the store for /metrics (store_stats.h). */
#include "service/store_stats.h"
#include "service/store_internal.h"

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
