/* Idempotency keys of job submissions (store_idempotency.h). The first
 * request inserts its key with no job (ON CONFLICT DO NOTHING: of two
 * racing coordinators one wins), then fills the job in or deletes the row. */
#include <string.h>

#include "service/store_idempotency.h"
#include "service/store_internal.h"
#include "util/clock.h"

/* Runs `sql` binding ?1 owner, ?2 key, ?3 time, ?4 text (a statement may
 * use only the first few: binds past its last are ignored) and reports rows
 * changed (lock held). */
static tsr_status run4(tsr_store *s, tsr_ctx *ctx, const char *sql, int64_t owner, const char *key,
                       int64_t time, const char *text, const char *what, int *changed) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx, sql, &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, owner);
        tsr_db_bind_text(st, 2, key);
        tsr_db_bind_int64(st, 3, time);
        tsr_db_bind_text(st, 4, text);
        rc = tsr_store_step_done(s, ctx, st, what);
        if (!rc && changed)
            *changed = tsr_db_changes(s->db) > 0;
    }
    tsr_db_finalize(st);
    return rc;
}

/* What the row of a taken key says (lock held). */
static tsr_status look(tsr_store *s, tsr_ctx *ctx, int64_t owner, const char *key,
                       const char *request_sha, int64_t now, tsr_idem_outcome *out,
                       char job[TSR_STORE_ID_LEN + 1]) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx,
                                      "SELECT request_sha, job, created FROM idempotency_keys "
                                      "WHERE owner = ?1 AND idem_key = ?2",
                                      &st);
    if (rc)
        return rc;
    tsr_db_bind_int64(st, 1, owner);
    tsr_db_bind_text(st, 2, key);
    int step = tsr_db_step(st);
    *out = TSR_IDEM_IN_PROGRESS; /* gone meanwhile (abandoned): the client retries */
    int stale = 0;
    if (step == TSR_DB_ROW) {
        const char *sha = tsr_db_column_text(st, 0), *made = tsr_db_column_text(st, 1);
        if (!sha || strcmp(sha, request_sha))
            *out = TSR_IDEM_MISMATCH;
        else if (made && strlen(made) == TSR_STORE_ID_LEN) {
            memcpy(job, made, TSR_STORE_ID_LEN + 1);
            *out = TSR_IDEM_DONE;
        } else
            stale = tsr_db_column_int64(st, 2) < now - TSR_IDEM_STALE_MS;
    } else if (step != TSR_DB_DONE)
        rc = tsr_store_sql_error(s, ctx, "look up an idempotency key");
    tsr_db_finalize(st);
    if (!rc && stale) { /* its first request died unfinished: this one takes the key */
        int taken = 0;
        rc = run4(s, ctx,
                  "UPDATE idempotency_keys SET created = ?3 WHERE owner = ?1 AND idem_key = ?2 "
                  "AND job IS NULL AND request_sha = ?4 AND created < ?3 - 60000",
                  owner, key, now, request_sha, "take over an idempotency key", &taken);
        if (!rc && taken)
            *out = TSR_IDEM_NEW;
    }
    return rc;
}

tsr_status tsr_store_idem_begin(tsr_store *store, tsr_ctx *ctx, int64_t owner, const char *key,
                                const char *request_sha, tsr_idem_outcome *out,
                                char job[TSR_STORE_ID_LEN + 1]) {
    int64_t now = tsr_clock_wall_ms();
    int inserted = 0;
    *out = TSR_IDEM_IN_PROGRESS;
    job[0] = '\0';
    pthread_mutex_lock(&store->lock);
    tsr_status rc =
        run4(store, ctx,
             "DELETE FROM idempotency_keys WHERE owner = ?1 AND idem_key <> ?2 "
             "AND created < ?3",
             owner, key, now - TSR_IDEM_KEEP_MS, NULL, "forget old idempotency keys", NULL);
    if (!rc)
        rc = run4(store, ctx,
                  "INSERT INTO idempotency_keys(owner, idem_key, request_sha, job, created) "
                  "VALUES(?1, ?2, ?4, NULL, ?3) ON CONFLICT(owner, idem_key) DO NOTHING",
                  owner, key, now, request_sha, "take an idempotency key", &inserted);
    if (!rc && inserted)
        *out = TSR_IDEM_NEW;
    else if (!rc)
        rc = look(store, ctx, owner, key, request_sha, now, out, job);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_idem_finish(tsr_store *store, tsr_ctx *ctx, int64_t owner, const char *key,
                                 const char *job) {
    pthread_mutex_lock(&store->lock);
    tsr_status rc =
        run4(store, ctx,
             "UPDATE idempotency_keys SET created = ?3, job = ?4 WHERE owner = ?1 "
             "AND idem_key = ?2",
             owner, key, tsr_clock_wall_ms(), job, "record an idempotency key's job", NULL);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_idem_abandon(tsr_store *store, tsr_ctx *ctx, int64_t owner, const char *key) {
    pthread_mutex_lock(&store->lock);
    tsr_status rc = run4(store, ctx,
                         "DELETE FROM idempotency_keys WHERE owner = ?1 AND idem_key = ?2 AND "
                         "job IS NULL",
                         owner, key, 0, NULL, "give up an idempotency key", NULL);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
