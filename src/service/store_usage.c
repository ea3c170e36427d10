/* What finished jobs and transforms used, summed by account and by day
 * (cost accounting: GET /api/v1/usage, `tessera usage`, the per-account
 * counters of /metrics), and the transforms' sums (store_usage.h). */
#include <string.h>

#include "service/store_internal.h"
#include "service/store_usage.h"

/* Finished jobs and transform minutes as one set of rows (owner, t: ms,
 * jobs, transforms, cpu, gpu, rb, wb, nb, pp, wall); parameters ?1 from,
 * ?2 to (ms), ?3 account (0 = all). MAX2 is the two-argument maximum:
 * SQLite's max(), PostgreSQL's greatest(). */
#define USAGE_ROWS(MAX2)                                                                           \
    "(SELECT owner, finished AS t, 1 AS jobs, 0 AS transforms, cpu_seconds AS cpu,"                \
    " gpu_seconds AS gpu, read_bytes AS rb, written_bytes AS wb, network_bytes AS nb,"             \
    " peak_pixels AS pp, " MAX2 "(finished - coalesce(started, finished), 0) / 1000.0 AS wall"     \
    " FROM jobs WHERE finished IS NOT NULL AND finished >= ?1 AND finished < ?2"                   \
    " AND (?3 = 0 OR owner = ?3)"                                                                  \
    " UNION ALL SELECT owner, minute, 0, transforms, cpu_seconds, gpu_seconds, read_bytes,"        \
    " written_bytes, 0, peak_pixels, wall_seconds FROM transform_usage"                            \
    " WHERE minute >= ?1 AND minute < ?2 AND (?3 = 0 OR owner = ?3)) x"

/* The report over USAGE_ROWS: parameters as there, then ?4 by day, ?5 by
 * account. Columns: account, day, jobs, transforms, then the sums. */
#define REPORT_SQL(ACCOUNT, DAY, GROUP, MAX2)                                                      \
    "SELECT " ACCOUNT " AS a, " DAY " AS d, sum(x.jobs), sum(x.transforms), sum(x.cpu),"           \
    " sum(x.gpu), sum(x.rb), sum(x.wb), sum(x.nb), max(x.pp), sum(x.wall)"                         \
    " FROM " USAGE_ROWS(MAX2) " JOIN users u ON u.id = x.owner"                                    \
                              " GROUP BY " GROUP ", d ORDER BY 1, 2"

#define DAY_LITE "CASE WHEN ?4 THEN strftime('%Y-%m-%d', x.t / 1000, 'unixepoch') ELSE '' END"
static const char lite_sql[] =
    REPORT_SQL("u.name", DAY_LITE, "CASE WHEN ?5 THEN u.name ELSE '' END", "max");

/* PostgreSQL: the day through to_char in UTC, greatest() for SQLite's
 * two-argument max(), and the account column grouped as selected. */
#define DAY_PG                                                                                     \
    "CASE WHEN ?4 <> 0 THEN to_char(to_timestamp(x.t / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"    \
    " ELSE '' END"
static const char pg_sql[] =
    REPORT_SQL("CASE WHEN ?5 <> 0 THEN u.name ELSE '' END", DAY_PG, "a", "greatest");

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
        row.transforms = tsr_db_column_int64(st, 3);
        row.usage.cpu_seconds = tsr_db_column_double(st, 4);
        row.usage.gpu_seconds = tsr_db_column_double(st, 5);
        row.usage.read_bytes = tsr_db_column_int64(st, 6);
        row.usage.written_bytes = tsr_db_column_int64(st, 7);
        row.usage.network_bytes = tsr_db_column_int64(st, 8);
        row.usage.peak_pixels = tsr_db_column_int64(st, 9);
        row.wall_seconds = tsr_db_column_double(st, 10);
        fn(user, &row);
    }
    if (!rc && step != TSR_DB_DONE)
        rc = tsr_store_sql_error(store, ctx, "sum the jobs' usage");
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* Adds one minute's sums to its row; the existing row's columns are
 * named by the table (PostgreSQL finds a bare name ambiguous beside
 * `excluded`). MAX2 as in USAGE_ROWS. */
#define ADD_SQL(MAX2)                                                                              \
    "INSERT INTO transform_usage(owner, minute, transforms, cpu_seconds, gpu_seconds,"             \
    " read_bytes, written_bytes, peak_pixels, wall_seconds)"                                       \
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (owner, minute) DO UPDATE"           \
    " SET transforms = transform_usage.transforms + excluded.transforms,"                          \
    " cpu_seconds = transform_usage.cpu_seconds + excluded.cpu_seconds,"                           \
    " gpu_seconds = transform_usage.gpu_seconds + excluded.gpu_seconds,"                           \
    " read_bytes = transform_usage.read_bytes + excluded.read_bytes,"                              \
    " written_bytes = transform_usage.written_bytes + excluded.written_bytes,"                     \
    " peak_pixels = " MAX2 "(transform_usage.peak_pixels, excluded.peak_pixels),"                  \
    " wall_seconds = transform_usage.wall_seconds + excluded.wall_seconds"

tsr_status tsr_store_transform_usage_add(tsr_store *store, tsr_ctx *ctx,
                                         const tsr_transform_usage *rows, size_t n) {
    tsr_db_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_begin(store, ctx);
    if (!rc)
        rc = tsr_store_prepare(store, ctx,
                               tsr_store_sql(store, ADD_SQL("max"), ADD_SQL("greatest")), &st);
    for (size_t i = 0; !rc && i < n; i++) {
        const tsr_transform_usage *r = &rows[i];
        tsr_db_reset(st);
        tsr_db_bind_int64(st, 1, r->owner);
        tsr_db_bind_int64(st, 2, r->minute);
        tsr_db_bind_int64(st, 3, r->transforms);
        tsr_db_bind_double(st, 4, r->usage.cpu_seconds);
        tsr_db_bind_double(st, 5, r->usage.gpu_seconds);
        tsr_db_bind_int64(st, 6, r->usage.read_bytes);
        tsr_db_bind_int64(st, 7, r->usage.written_bytes);
        tsr_db_bind_int64(st, 8, r->usage.peak_pixels);
        tsr_db_bind_double(st, 9, r->wall_seconds);
        rc = tsr_store_step_done(store, ctx, st, "add transform usage");
    }
    tsr_db_finalize(st);
    if (!rc)
        rc = tsr_store_commit(store, ctx);
    if (rc)
        tsr_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
