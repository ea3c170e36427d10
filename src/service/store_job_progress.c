/* The scheduler's writes: job state, progress, item state and results. Each
 * write is one durable commit. Terminal states are final: a write that would
 * leave one is ignored and reported as *changed = 0. */
#include <string.h>

#include "service/store_internal.h"
#include "util/clock.h"

#define ACTIVE   "('queued', 'running')"
#define TERMINAL "('succeeded', 'failed', 'cancelled')"

/* Copies an error message capped at TSR_STORE_ERROR_MAX bytes into `buf`;
 * returns NULL for a NULL message. */
static const char *cap_error(const char *error, char buf[TSR_STORE_ERROR_MAX + 1]) {
    if (!error)
        return NULL;
    size_t n = strnlen(error, TSR_STORE_ERROR_MAX);
    memcpy(buf, error, n);
    buf[n] = '\0';
    return buf;
}

/* Runs an UPDATE and reports whether it changed a row (lock held). */
static tsr_status run_update(tsr_store *s, tsr_ctx *ctx, tsr_db_stmt *st, const char *what,
                             int *changed) {
    tsr_status rc = tsr_store_step_done(s, ctx, st, what);
    if (!rc && changed)
        *changed = tsr_db_changes(s->db) > 0;
    return rc;
}

tsr_status tsr_store_job_set_state(tsr_store *store, tsr_ctx *ctx, const char *id,
                                   tsr_job_state state, const char *error, int *changed) {
    char buf[TSR_STORE_ERROR_MAX + 1];
    tsr_db_stmt *st = NULL;
    if (changed)
        *changed = 0;
    if ((unsigned)state >= TSR_JOB_STATE_COUNT)
        return tsr_error(ctx, TSR_ERR_USAGE, "job state: unknown state %d", (int)state);
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx,
        "UPDATE jobs SET state = ?2,"
        " started = CASE WHEN ?2 = 'running' AND started IS NULL THEN ?3 ELSE started END,"
        " finished = CASE WHEN ?2 IN " TERMINAL " THEN ?3 ELSE finished END,"
        " error = coalesce(?4, error),"
        " lease_owner = CASE WHEN ?2 IN " TERMINAL " THEN NULL ELSE lease_owner END "
        "WHERE id = ?1 AND state IN " ACTIVE
        /* the scheduler's writes need the lease, a user's cancel does not */
        " AND (?2 = 'cancelled' OR ?5 IS NULL OR lease_owner IS NULL OR lease_owner = ?5)",
        &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, id);
        tsr_db_bind_text(st, 2, tsr_job_state_name(state));
        tsr_db_bind_int64(st, 3, tsr_clock_wall_ms());
        tsr_db_bind_text(st, 4, cap_error(error, buf));
        tsr_db_bind_text(st, 5, store->lease_owner[0] ? store->lease_owner : NULL);
        rc = run_update(store, ctx, st, "set a job's state", changed);
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_progress(tsr_store *store, tsr_ctx *ctx, const char *id,
                                  const tsr_store_progress *p) {
    tsr_db_stmt *st = NULL;
    const tsr_job_usage *u = &p->usage;
    if (p->tiles_done < 0 || p->tiles_total < 0 || !(p->percent >= 0 && p->percent <= 100) ||
        !(u->cpu_seconds >= 0) || !(u->gpu_seconds >= 0) || u->read_bytes < 0 ||
        u->written_bytes < 0 || u->network_bytes < 0 || u->peak_pixels < 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "job progress: negative count or time");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx,
        "UPDATE jobs SET tiles_done = ?2, tiles_total = ?3, cpu_seconds = ?4, gpu_seconds = ?5, "
        "read_bytes = ?6, written_bytes = ?7, network_bytes = ?8, peak_pixels = ?9, "
        "percent = CASE WHEN ?10 > percent THEN ?10 ELSE percent END, eta_seconds = ?11, "
        "progress_at = ?12 "
        "WHERE id = ?1 AND state IN " ACTIVE,
        &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, id);
        tsr_db_bind_int64(st, 2, p->tiles_done);
        tsr_db_bind_int64(st, 3, p->tiles_total);
        tsr_db_bind_double(st, 4, u->cpu_seconds);
        tsr_db_bind_double(st, 5, u->gpu_seconds);
        tsr_db_bind_int64(st, 6, u->read_bytes);
        tsr_db_bind_int64(st, 7, u->written_bytes);
        tsr_db_bind_int64(st, 8, u->network_bytes);
        tsr_db_bind_int64(st, 9, u->peak_pixels);
        tsr_db_bind_double(st, 10, p->percent);
        if (p->eta_seconds >= 0)
            tsr_db_bind_double(st, 11, p->eta_seconds);
        else
            tsr_db_bind_null(st, 11);
        tsr_db_bind_int64(st, 12, tsr_clock_wall_ms());
        rc = run_update(store, ctx, st, "record job progress", NULL);
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_item_set_state(tsr_store *store, tsr_ctx *ctx, const char *id,
                                        int position, tsr_job_state state, const char *error,
                                        int *changed) {
    char buf[TSR_STORE_ERROR_MAX + 1];
    tsr_db_stmt *st = NULL;
    if (changed)
        *changed = 0;
    if ((unsigned)state >= TSR_JOB_STATE_COUNT)
        return tsr_error(ctx, TSR_ERR_USAGE, "item state: unknown state %d", (int)state);
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx,
        "UPDATE job_items SET state = ?3,"
        " started = CASE WHEN ?3 = 'running' AND started IS NULL THEN ?4 ELSE started END,"
        " finished = CASE WHEN ?3 IN " TERMINAL " THEN ?4 ELSE finished END,"
        " error = coalesce(?5, error) "
        "WHERE job = ?1 AND position = ?2 AND state IN " ACTIVE,
        &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, id);
        tsr_db_bind_int64(st, 2, position);
        tsr_db_bind_text(st, 3, tsr_job_state_name(state));
        tsr_db_bind_int64(st, 4, tsr_clock_wall_ms());
        tsr_db_bind_text(st, 5, cap_error(error, buf));
        rc = run_update(store, ctx, st, "set an item's state", changed);
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_item_result(tsr_store *store, tsr_ctx *ctx, const char *id, int position,
                                     const tsr_store_item_result *r, int *changed) {
    tsr_db_stmt *st = NULL;
    if (changed)
        *changed = 0;
    if (!r || !tsr_store_id_valid(r->blob) || !r->format || !r->format[0] ||
        strlen(r->format) > TSR_STORE_FORMAT_MAX || !(r->seconds >= 0))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "item result: a committed blob id, a format and a time are required");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx,
        "UPDATE job_items SET state = 'succeeded', result_blob = ?3, result_bytes = ?4,"
        " result_format = ?5, width = ?6, height = ?7, seconds = ?8,"
        " started = coalesce(started, ?9), finished = ?9 "
        "WHERE job = ?1 AND position = ?2 AND state IN " ACTIVE,
        &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, id);
        tsr_db_bind_int64(st, 2, position);
        tsr_db_bind_text(st, 3, r->blob);
        tsr_db_bind_int64(st, 4, (int64_t)r->bytes);
        tsr_db_bind_text(st, 5, r->format);
        tsr_db_bind_int64(st, 6, r->width);
        tsr_db_bind_int64(st, 7, r->height);
        tsr_db_bind_double(st, 8, r->seconds);
        tsr_db_bind_int64(st, 9, tsr_clock_wall_ms());
        rc = run_update(store, ctx, st, "record an item's result", changed);
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
