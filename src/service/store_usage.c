/* What finished jobs and transforms used, summed by account and by day
 * (cost accounting: GET /api/v1/usage, `tessera usage`, the per-account
 * counters of /metrics), and the transforms' sums (store_usage.h). */
#include <string.h>

#include "service/store_internal.h"
#include "service/store_usage.h"

tsr_status tsr_store_usage_report(tsr_store *store, tsr_ctx *ctx, const tsr_usage_query *q,
                                  tsr_usage_row_fn fn, void *user) {
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx,
        "SELECT u.name,"
        " CASE WHEN ?4 THEN strftime('%Y-%m-%d', x.t / 1000, 'unixepoch') ELSE '' END AS d,"
        " sum(x.jobs), sum(x.transforms), sum(x.cpu), sum(x.gpu), sum(x.rb), sum(x.wb),"
        " sum(x.nb), max(x.pp), sum(x.wall)"
        " FROM (SELECT owner, finished AS t, 1 AS jobs, 0 AS transforms, cpu_seconds AS cpu,"
        " gpu_seconds AS gpu, read_bytes AS rb, written_bytes AS wb, network_bytes AS nb,"
        " peak_pixels AS pp, max(finished - coalesce(started, finished), 0) / 1000.0 AS wall"
        " FROM jobs WHERE finished IS NOT NULL AND finished >= ?1 AND finished < ?2"
        " AND (?3 = 0 OR owner = ?3)"
        " UNION ALL SELECT owner, minute, 0, transforms, cpu_seconds, gpu_seconds, read_bytes,"
        " written_bytes, 0, peak_pixels, wall_seconds FROM transform_usage"
        " WHERE minute >= ?1 AND minute < ?2 AND (?3 = 0 OR owner = ?3)) x"
        " JOIN users u ON u.id = x.owner"
        " GROUP BY CASE WHEN ?5 THEN u.name ELSE '' END, d ORDER BY 1, 2",
        &st);
    if (!rc) {
        sqlite3_bind_int64(st, 1, q->from_ms);
        sqlite3_bind_int64(st, 2, q->to_ms);
        sqlite3_bind_int64(st, 3, q->account);
        sqlite3_bind_int(st, 4, q->by_day);
        sqlite3_bind_int(st, 5, q->by_account);
    }
    int step;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        tsr_usage_row row = {0};
        if (q->by_account)
            tsr_store_column_text(st, 0, row.account, sizeof row.account);
        tsr_store_column_text(st, 1, row.day, sizeof row.day);
        row.jobs = sqlite3_column_int64(st, 2);
        row.transforms = sqlite3_column_int64(st, 3);
        row.usage.cpu_seconds = sqlite3_column_double(st, 4);
        row.usage.gpu_seconds = sqlite3_column_double(st, 5);
        row.usage.read_bytes = sqlite3_column_int64(st, 6);
        row.usage.written_bytes = sqlite3_column_int64(st, 7);
        row.usage.network_bytes = sqlite3_column_int64(st, 8);
        row.usage.peak_pixels = sqlite3_column_int64(st, 9);
        row.wall_seconds = sqlite3_column_double(st, 10);
        fn(user, &row);
    }
    if (!rc && step != SQLITE_DONE)
        rc = tsr_store_sql_error(store, ctx, "sum the jobs' usage");
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_transform_usage_add(tsr_store *store, tsr_ctx *ctx,
                                         const tsr_transform_usage *rows, size_t n) {
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_begin(store, ctx);
    if (!rc)
        rc = tsr_store_prepare(
            store, ctx,
            "INSERT INTO transform_usage(owner, minute, transforms, cpu_seconds, gpu_seconds,"
            " read_bytes, written_bytes, peak_pixels, wall_seconds)"
            " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (owner, minute) DO UPDATE"
            " SET transforms = transforms + excluded.transforms,"
            " cpu_seconds = cpu_seconds + excluded.cpu_seconds,"
            " gpu_seconds = gpu_seconds + excluded.gpu_seconds,"
            " read_bytes = read_bytes + excluded.read_bytes,"
            " written_bytes = written_bytes + excluded.written_bytes,"
            " peak_pixels = max(peak_pixels, excluded.peak_pixels),"
            " wall_seconds = wall_seconds + excluded.wall_seconds",
            &st);
    for (size_t i = 0; !rc && i < n; i++) {
        const tsr_transform_usage *r = &rows[i];
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, r->owner);
        sqlite3_bind_int64(st, 2, r->minute);
        sqlite3_bind_int64(st, 3, r->transforms);
        sqlite3_bind_double(st, 4, r->usage.cpu_seconds);
        sqlite3_bind_double(st, 5, r->usage.gpu_seconds);
        sqlite3_bind_int64(st, 6, r->usage.read_bytes);
        sqlite3_bind_int64(st, 7, r->usage.written_bytes);
        sqlite3_bind_int64(st, 8, r->usage.peak_pixels);
        sqlite3_bind_double(st, 9, r->wall_seconds);
        rc = tsr_store_step_done(store, ctx, st, "add transform usage");
    }
    sqlite3_finalize(st);
    if (!rc)
        rc = tsr_store_commit(store, ctx);
    if (rc)
        tsr_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
