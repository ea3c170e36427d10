/* Per-account quotas: usage (stored bytes, originals plus results, and active
 * jobs, read in one statement under the store lock) and the per-account
 * overrides of the server's default quotas (users.quota_bytes, quota_jobs). */
#include <string.h>

#include "service/store_internal.h"

tsr_status tsr_store_user_usage(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                tsr_store_usage *out) {
    tsr_db_stmt *st = NULL;
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
    tsr_db_bind_int64(st, 1, user);
    if (tsr_db_step(st) != TSR_DB_ROW) {
        rc = tsr_store_sql_error(store, ctx, "read an account's usage");
        goto out;
    }
    out->image_bytes = (uint64_t)tsr_db_column_int64(st, 0);
    out->result_bytes = (uint64_t)tsr_db_column_int64(st, 1);
    out->active_jobs = tsr_db_column_int64(st, 2);
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* Binds override `value` at `index`, or NULL when it is not `set`. */
static void bind_quota(tsr_db_stmt *st, int index, bool set, uint64_t value) {
    if (set)
        tsr_db_bind_int64(st, index, (int64_t)value);
    else
        tsr_db_bind_null(st, index);
}

tsr_status tsr_store_user_set_quota(tsr_store *store, tsr_ctx *ctx, int64_t user_id, bool has_bytes,
                                    uint64_t bytes, bool has_jobs, uint64_t jobs, int *found) {
    tsr_db_stmt *st = NULL;
    if (found)
        *found = 0;
    if (has_bytes && bytes > (uint64_t)INT64_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "quota_bytes must be at most %lld",
                         (long long)INT64_MAX);
    if (has_jobs && jobs > TSR_STORE_QUOTA_JOBS_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "quota_jobs must be at most %d",
                         TSR_STORE_QUOTA_JOBS_MAX);
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "UPDATE users SET quota_bytes = ?2, quota_jobs = ?3 WHERE id = ?1", &st);
    if (rc)
        goto out;
    tsr_db_bind_int64(st, 1, user_id);
    bind_quota(st, 2, has_bytes, bytes);
    bind_quota(st, 3, has_jobs, jobs);
    if (!(rc = tsr_store_step_done(store, ctx, st, "set an account's quotas")) && found)
        *found = tsr_db_changes(store->db) > 0;
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
