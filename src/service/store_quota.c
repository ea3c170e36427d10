/* Per-account usage for the server's quotas: stored bytes (originals plus
 * results) and active jobs, read in one statement under the store lock. */
#include <string.h>

#include "service/store_internal.h"

tsr_status tsr_store_user_usage(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                tsr_store_usage *out) {
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx,
        "SELECT (SELECT coalesce(sum(bytes), 0) FROM images WHERE owner = ?1),"
        " (SELECT coalesce(sum(i.result_bytes), 0) FROM job_items i JOIN jobs j ON j.id = i.job"
        "  WHERE j.owner = ?1 AND i.result_blob IS NOT NULL),"
        " (SELECT count(*) FROM jobs WHERE owner = ?1 AND state IN ('queued', 'running'))",
        &st);
    if (rc)
        goto out;
    sqlite3_bind_int64(st, 1, user);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = tsr_store_sql_error(store, ctx, "read an account's usage");
        goto out;
    }
    out->image_bytes = (uint64_t)sqlite3_column_int64(st, 0);
    out->result_bytes = (uint64_t)sqlite3_column_int64(st, 1);
    out->active_jobs = sqlite3_column_int64(st, 2);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
