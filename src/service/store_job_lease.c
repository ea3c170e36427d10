/* Job leases on a shared database (store_lease.h). Each call is one
 * statement; the conditions in its WHERE make it safe against the other
 * coordinators' calls without a lock beyond the row's. */
#include <stdio.h>
#include <string.h>

#include "service/store_internal.h"
#include "service/store_lease.h"
#include "util/clock.h"

#define ACTIVE "('queued', 'running')"

void tsr_store_set_lease(tsr_store *store, const char *owner, int64_t lease_ms) {
    pthread_mutex_lock(&store->lock);
    snprintf(store->lease_owner, sizeof store->lease_owner, "%s", owner ? owner : "");
    store->lease_ms = lease_ms > 0 ? lease_ms : TSR_STORE_LEASE_MS_DEFAULT;
    pthread_mutex_unlock(&store->lock);
}

const char *tsr_store_lease_owner(const tsr_store *store) {
    return store->lease_owner[0] ? store->lease_owner : NULL;
}

int64_t tsr_store_lease_ms(const tsr_store *store) {
    return store->lease_ms;
}

/* Runs an UPDATE on job `id` binding ?1 id, ?2 owner, ?3 until, ?4 now (a
 * statement may use only the first few) and says whether it changed the
 * row (lock held). */
static tsr_status lease_update(tsr_store *s, tsr_ctx *ctx, const char *sql, const char *id,
                               const char *what, int *changed) {
    tsr_db_stmt *st = NULL;
    *changed = 0;
    tsr_status rc = tsr_store_prepare(s, ctx, sql, &st);
    if (!rc) {
        int64_t now = tsr_clock_wall_ms();
        tsr_db_bind_text(st, 1, id);
        tsr_db_bind_text(st, 2, s->lease_owner);
        tsr_db_bind_int64(st, 3, now + s->lease_ms);
        tsr_db_bind_int64(st, 4, now);
        rc = tsr_store_step_done(s, ctx, st, what);
        if (!rc)
            *changed = tsr_db_changes(s->db) > 0;
    }
    tsr_db_finalize(st);
    return rc;
}

tsr_status tsr_store_job_claim(tsr_store *store, tsr_ctx *ctx, const char *id, int *claimed) {
    *claimed = 0;
    if (!store->lease_owner[0])
        return tsr_error(ctx, TSR_ERR_USAGE, "job leases: the store has no lease owner");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = lease_update(store, ctx,
                                 "UPDATE jobs SET lease_owner = ?2, lease_until = ?3 "
                                 "WHERE id = ?1 AND state IN " ACTIVE " AND (lease_owner IS NULL "
                                 "OR lease_owner = ?2 OR lease_until < ?4)",
                                 id, "claim a job", claimed);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_renew(tsr_store *store, tsr_ctx *ctx, const char *id, int *held) {
    *held = 0;
    if (!store->lease_owner[0])
        return tsr_error(ctx, TSR_ERR_USAGE, "job leases: the store has no lease owner");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = lease_update(store, ctx,
                                 "UPDATE jobs SET lease_until = ?3 WHERE id = ?1 AND "
                                 "lease_owner = ?2 AND state IN " ACTIVE,
                                 id, "renew a job's lease", held);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_leases_release(tsr_store *store, tsr_ctx *ctx) {
    if (!store->lease_owner[0])
        return TSR_OK;
    tsr_db_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "UPDATE jobs SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = ?1",
        &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, store->lease_owner);
        rc = tsr_store_step_done(store, ctx, st, "release job leases");
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_claimable(tsr_store *store, tsr_ctx *ctx,
                                   char (*ids)[TSR_STORE_ID_LEN + 1], size_t max, size_t *count) {
    tsr_db_stmt *st = NULL;
    int step = TSR_DB_DONE;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT id FROM jobs WHERE state IN " ACTIVE
                                      " AND (lease_owner IS NULL OR lease_owner = ?1 OR "
                                      "lease_until < ?2) ORDER BY created, id LIMIT ?3",
                                      &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, store->lease_owner);
        tsr_db_bind_int64(st, 2, tsr_clock_wall_ms());
        tsr_db_bind_int64(st, 3, (int64_t)max);
    }
    while (!rc && *count < max && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        const char *id = tsr_db_column_text(st, 0);
        if (id && strlen(id) == TSR_STORE_ID_LEN)
            memcpy(ids[(*count)++], id, TSR_STORE_ID_LEN + 1);
    }
    if (!rc && step == TSR_DB_FAILED)
        rc = tsr_store_sql_error(store, ctx, "list claimable jobs");
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_coordinator_beat(tsr_store *store, tsr_ctx *ctx, int64_t alive_ms,
                                      int *alive) {
    tsr_db_stmt *st = NULL;
    int64_t now = tsr_clock_wall_ms();
    *alive = 1;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "INSERT INTO coordinators(id, seen) VALUES(?1, ?2) "
                                      "ON CONFLICT(id) DO UPDATE SET seen = excluded.seen",
                                      &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, store->lease_owner);
        tsr_db_bind_int64(st, 2, now);
        rc = tsr_store_step_done(store, ctx, st, "record a coordinator's beat");
    }
    tsr_db_finalize(st);
    st = NULL;
    if (!rc)
        rc = tsr_store_prepare(store, ctx, "SELECT count(*) FROM coordinators WHERE seen >= ?1",
                               &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, now - alive_ms);
        if (tsr_db_step(st) == TSR_DB_ROW)
            *alive = (int)tsr_db_column_int64(st, 0);
        else
            rc = tsr_store_sql_error(store, ctx, "count coordinators");
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (*alive < 1)
        *alive = 1;
    return rc;
}

tsr_status tsr_store_coordinator_leave(tsr_store *store, tsr_ctx *ctx) {
    tsr_db_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx, "DELETE FROM coordinators WHERE id = ?1", &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, store->lease_owner);
        rc = tsr_store_step_done(store, ctx, st, "remove a coordinator");
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
