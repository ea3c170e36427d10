/* What finished jobs used, summed by account and by day (cost accounting:
 * GET /api/v1/usage, `tessera usage`, the per-account counters of
 * /metrics). */
#include <string.h>

#include "service/store_internal.h"

/* Parameters: ?1 from, ?2 to (finished, ms), ?3 account (0 = all), ?4 by
 * day, ?5 by account. Columns: account, day, jobs, then the sums. */
static const char lite_sql[] =
    "SELECT u.name,"
    " CASE WHEN ?4 THEN strftime('%Y-%m-%d', j.finished / 1000, 'unixepoch') ELSE '' END AS d,"
    " count(*), sum(j.cpu_seconds), sum(j.gpu_seconds), sum(j.read_bytes),"
    " sum(j.written_bytes), sum(j.network_bytes), max(j.peak_pixels),"
    " sum(max(j.finished - coalesce(j.started, j.finished), 0)) / 1000.0"
    " FROM jobs j JOIN users u ON u.id = j.owner"
    " WHERE j.finished IS NOT NULL AND j.finished >= ?1 AND j.finished < ?2"
    " AND (?3 = 0 OR j.owner = ?3)"
    " GROUP BY CASE WHEN ?5 THEN u.name ELSE '' END, d ORDER BY 1, 2";

/* PostgreSQL: the day through to_char in UTC, greatest() for SQLite's
 * two-argument max(), and the account column grouped as selected. */
static const char pg_sql[] =
    "SELECT CASE WHEN ?5 <> 0 THEN u.name ELSE '' END AS a,"
    " CASE WHEN ?4 <> 0 THEN to_char(to_timestamp(j.finished / 1000) AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD') ELSE '' END AS d,"
    " count(*), sum(j.cpu_seconds), sum(j.gpu_seconds), sum(j.read_bytes),"
    " sum(j.written_bytes), sum(j.network_bytes), max(j.peak_pixels),"
    " sum(greatest(j.finished - coalesce(j.started, j.finished), 0)) / 1000.0"
    " FROM jobs j JOIN users u ON u.id = j.owner"
    " WHERE j.finished IS NOT NULL AND j.finished >= ?1 AND j.finished < ?2"
    " AND (?3 = 0 OR j.owner = ?3)"
    " GROUP BY a, d ORDER BY 1, 2";

tsr_status tsr_store_usage_report(tsr_store *store, tsr_ctx *ctx, const tsr_usage_query *q,
                                  tsr_usage_row_fn fn, void *user) {
    tsr_db_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx, tsr_store_sql(store, lite_sql, pg_sql), &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, q->from_ms);
        tsr_db_bind_int64(st, 2, q->to_ms);
        tsr_db_bind_int64(st, 3, q->account);
        tsr_db_bind_int64(st, 4, q->by_day);
        tsr_db_bind_int64(st, 5, q->by_account);
    }
    int step;
    while (!rc && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        tsr_usage_row row = {0};
        if (q->by_account)
            tsr_store_column_text(st, 0, row.account, sizeof row.account);
        tsr_store_column_text(st, 1, row.day, sizeof row.day);
        row.jobs = tsr_db_column_int64(st, 2);
        row.usage.cpu_seconds = tsr_db_column_double(st, 3);
        row.usage.gpu_seconds = tsr_db_column_double(st, 4);
        row.usage.read_bytes = tsr_db_column_int64(st, 5);
        row.usage.written_bytes = tsr_db_column_int64(st, 6);
        row.usage.network_bytes = tsr_db_column_int64(st, 7);
        row.usage.peak_pixels = tsr_db_column_int64(st, 8);
        row.wall_seconds = tsr_db_column_double(st, 9);
        fn(user, &row);
    }
    if (!rc && step != TSR_DB_DONE)
        rc = tsr_store_sql_error(store, ctx, "sum the jobs' usage");
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
