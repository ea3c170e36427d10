/* User feedback on finished jobs: give (or replace) one, get one, search
 * everyone's, and the per-op rating counts of /metrics. The API and the
 * rules are in store_feedback.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/store_feedback.h"
#include "service/store_internal.h"
#include "util/clock.h"

#define COUNTS_MAX 100000 /* rows of feedback_counts read for /metrics */

#define FB_COLUMNS                                                                                 \
    "f.id, f.job, f.user, coalesce(u.name, ''), f.rating, f.comment, f.job_name, f.job_state, "    \
    "f.pipeline_text, f.op_versions, f.output_format, f.quality, f.created, f.updated"
#define FB_FROM " FROM feedback f LEFT JOIN users u ON u.id = f.user "
#define BY_ID   "ORDER BY f.id LIMIT ?6 OFFSET ?7"
#define NEWEST  "ORDER BY f.updated DESC, f.id DESC LIMIT ?6 OFFSET ?7"

/* The op names of a row's op_versions (an object op -> version), as a
 * table-valued function with a column `key`; anything else counts as no
 * ops. SQLite's json_each; on PostgreSQL jsonb_each_text over
 * tsr_json_object (migration 4). */
#define OPS_LITE(col) "json_each(CASE WHEN json_valid(" col ") THEN " col " ELSE '{}' END)"
#define OPS_PG(col)   "jsonb_each_text(tsr_json_object(" col "))"

/* The search conditions, parameters ?1 from, ?2 to, ?3 rating, ?4 op,
 * ?5 after id; OPS is OPS_LITE or OPS_PG. */
#define FB_WHERE(OPS)                                                                              \
    "WHERE (?1 = 0 OR f.updated >= ?1) AND (?2 = 0 OR f.updated <= ?2) "                           \
    "AND (?3 = 0 OR f.rating = ?3) "                                                               \
    "AND (?4 IS NULL OR EXISTS (SELECT 1 FROM " OPS("f.op_versions") " WHERE key = ?4)) "          \
                                                                     "AND f.id > ?5 "

void tsr_store_feedback_clear(tsr_store_feedback *fb) {
    if (!fb)
        return;
    free(fb->comment);
    free(fb->pipeline_text);
    free(fb->op_versions);
    memset(fb, 0, sizeof *fb);
}

void tsr_store_feedback_list_free(tsr_store_feedback *list, size_t count) {
    if (!list)
        return;
    for (size_t i = 0; i < count; i++)
        tsr_store_feedback_clear(&list[i]);
    free(list);
}

/* Characters (UTF-8 code points) in `s`: the bytes that do not continue one. */
static size_t code_points(const char *s) {
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xc0) != 0x80;
    return n;
}

/* Reads FB_COLUMNS into a zeroed `fb`; its strings become owned by it. */
static tsr_status read_row(tsr_db_stmt *st, tsr_ctx *ctx, tsr_store_feedback *fb) {
    int oom = 0;
    char state[16];
    fb->id = tsr_db_column_int64(st, 0);
    tsr_store_column_text(st, 1, fb->job, sizeof fb->job);
    fb->user = tsr_db_column_int64(st, 2);
    tsr_store_column_text(st, 3, fb->user_name, sizeof fb->user_name);
    fb->rating = tsr_db_column_int(st, 4);
    fb->comment = tsr_store_column_strdup(st, 5, &oom);
    tsr_store_column_text(st, 6, fb->job_name, sizeof fb->job_name);
    tsr_store_column_text(st, 7, state, sizeof state);
    fb->job_state = strcmp(state, "succeeded") ? TSR_JOB_FAILED : TSR_JOB_SUCCEEDED;
    fb->pipeline_text = tsr_store_column_strdup(st, 8, &oom);
    fb->op_versions = tsr_store_column_strdup(st, 9, &oom);
    tsr_store_column_text(st, 10, fb->output_format, sizeof fb->output_format);
    fb->quality = tsr_db_column_int(st, 11);
    fb->created = tsr_db_column_int64(st, 12);
    fb->updated = tsr_db_column_int64(st, 13);
    if (!oom && (!fb->comment || !fb->pipeline_text || !fb->op_versions))
        oom = 1; /* NOT NULL columns: a NULL here is a failed copy */
    if (oom) {
        tsr_store_feedback_clear(fb);
        return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory reading feedback");
    }
    return TSR_OK;
}

/* Reads user `user`'s feedback on `job_id` into `out`; lock held. */
static tsr_status get_locked(tsr_store *s, tsr_ctx *ctx, int64_t user, const char *job_id,
                             tsr_store_feedback *out, int *found) {
    tsr_db_stmt *st = NULL;
    *found = 0;
    tsr_status rc = tsr_store_prepare(
        s, ctx, "SELECT " FB_COLUMNS FB_FROM "WHERE f.job = ?1 AND f.user = ?2", &st);
    if (rc)
        return rc;
    tsr_db_bind_text(st, 1, job_id);
    tsr_db_bind_int64(st, 2, user);
    int step = tsr_db_step(st);
    if (step == TSR_DB_ROW && !(rc = read_row(st, ctx, out)))
        *found = 1;
    else if (step != TSR_DB_ROW && step != TSR_DB_DONE)
        rc = tsr_store_sql_error(s, ctx, "read feedback");
    tsr_db_finalize(st);
    return rc;
}

/* Runs one statement with ?1 job, ?2 user, ?3 rating, ?4 comment, ?5 now
 * (those it names); *changes = rows it changed. Lock held. */
static tsr_status run_put_step(tsr_store *s, tsr_ctx *ctx, const char *sql, const char *job_id,
                               int64_t user, int rating, const char *comment, int *changes) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx, sql, &st);
    if (rc)
        return rc;
    tsr_db_bind_text(st, 1, job_id);
    tsr_db_bind_int64(st, 2, user);
    tsr_db_bind_int64(st, 3, rating);
    tsr_db_bind_text(st, 4, comment);
    tsr_db_bind_int64(st, 5, tsr_clock_wall_ms());
    if (!(rc = tsr_store_step_done(s, ctx, st, "record feedback")) && changes)
        *changes = tsr_db_changes(s->db);
    tsr_db_finalize(st);
    return rc;
}

/* The feedback row: a new one copies the job's pipeline, versions, output
 * and state; a replacement changes the rating, the comment, the time and
 * the job's (renamable) name. Nothing for a job that is not the user's or
 * not finished. */
static const char put_sql[] =
    "INSERT INTO feedback(job, user, rating, comment, job_name, job_state, pipeline_text, "
    " op_versions, output_format, quality, created, updated) "
    "SELECT id, owner, ?3, ?4, coalesce(name, ''), state, pipeline_text, op_versions, "
    " output_format, quality, ?5, ?5 FROM jobs "
    "WHERE id = ?1 AND owner = ?2 AND state IN ('succeeded', 'failed') "
    "ON CONFLICT(job, user) DO UPDATE SET rating = excluded.rating, "
    " comment = excluded.comment, updated = excluded.updated, job_name = excluded.job_name";

/* One more rating of each op of the job (each op once, however often the
 * pipeline runs it: op_versions has one key per op). Run for a new rating
 * and for a changed one, not when only the comment changed. */
#define COUNT_SQL(OPS)                                                                             \
    "INSERT INTO feedback_counts(op, rating, count) "                                              \
    "SELECT key, ?3, 1 FROM feedback f, " OPS(                                                     \
        "f.op_versions") " "                                                                       \
                         "WHERE f.job = ?1 AND f.user = ?2 AND length(key) BETWEEN 1 AND 63 "      \
                         "ON CONFLICT(op, rating) DO UPDATE SET count = feedback_counts.count + 1"

tsr_status tsr_store_feedback_put(tsr_store *store, tsr_ctx *ctx, int64_t user, const char *job_id,
                                  int rating, const char *comment, int *found, int *replaced,
                                  tsr_store_feedback *out) {
    tsr_store_feedback before = {0};
    int changes = 0, had = 0;
    *found = 0;
    *replaced = 0;
    if (out)
        memset(out, 0, sizeof *out);
    if (!comment)
        comment = "";
    if (rating < TSR_FEEDBACK_RATING_MIN || rating > TSR_FEEDBACK_RATING_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "rating must be an integer from 1 to 5 (got %d)",
                         rating);
    if (code_points(comment) > TSR_FEEDBACK_COMMENT_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "comment is longer than %d characters (got %zu)",
                         TSR_FEEDBACK_COMMENT_MAX, code_points(comment));
    if (!tsr_store_id_valid(job_id))
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_begin(store, ctx);
    if (rc)
        goto out;
    if ((rc = tsr_store_lock_rows(store, ctx, "SELECT 1 FROM jobs WHERE id = ?1 FOR UPDATE", job_id,
                                  0)) ||
        (rc = get_locked(store, ctx, user, job_id, &before, &had)) ||
        (rc = run_put_step(store, ctx, put_sql, job_id, user, rating, comment, &changes)))
        goto out;
    if (changes == 0) { /* not the user's job, or not finished: nothing to keep */
        tsr_store_rollback(store);
        goto out;
    }
    if (had && before.rating == rating) /* only the comment changed: no new rating */
        changes = 0;
    if ((changes && (rc = run_put_step(store, ctx,
                                       tsr_store_sql(store, COUNT_SQL(OPS_LITE), COUNT_SQL(OPS_PG)),
                                       job_id, user, rating, comment, NULL))) ||
        (rc = tsr_store_commit(store, ctx)))
        goto out;
    *found = 1;
    *replaced = had;
    if (out && (rc = get_locked(store, ctx, user, job_id, out, &changes)) == TSR_OK && !changes)
        rc = tsr_error(ctx, TSR_ERR_INTERNAL, "store: feedback vanished after it was written");
out:
    if (rc)
        tsr_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    tsr_store_feedback_clear(&before);
    return rc;
}

tsr_status tsr_store_feedback_get(tsr_store *store, tsr_ctx *ctx, int64_t user, const char *job_id,
                                  tsr_store_feedback *out, int *found) {
    memset(out, 0, sizeof *out);
    *found = 0;
    if (!tsr_store_id_valid(job_id))
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = get_locked(store, ctx, user, job_id, out, found);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* Binds the FB_WHERE parameters of `q` to `st`. */
static void bind_query(tsr_db_stmt *st, const tsr_store_feedback_query *q) {
    tsr_db_bind_int64(st, 1, q->from > 0 ? q->from : 0);
    tsr_db_bind_int64(st, 2, q->to > 0 ? q->to : 0);
    tsr_db_bind_int64(st, 3, q->rating);
    if (q->op && q->op[0])
        tsr_db_bind_text(st, 4, q->op);
    tsr_db_bind_int64(st, 5, q->by_id && q->after_id > 0 ? q->after_id : 0);
}

/* Reads every row of `st` (at most `limit`) into a new array; lock held. */
static tsr_status read_rows(tsr_store *s, tsr_ctx *ctx, tsr_db_stmt *st, size_t limit,
                            tsr_store_feedback **out, size_t *count) {
    tsr_status rc = TSR_OK;
    int step = TSR_DB_DONE;
    size_t cap = 0;
    while (*count < limit && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        if (*count == cap) {
            size_t grown = cap ? cap * 2 : 16;
            tsr_store_feedback *more = realloc(*out, grown * sizeof **out);
            if (!more)
                return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory listing feedback");
            *out = more;
            cap = grown;
        }
        memset(&(*out)[*count], 0, sizeof **out);
        if ((rc = read_row(st, ctx, &(*out)[*count])))
            return rc;
        (*count)++;
    }
    if (*count < limit && step != TSR_DB_DONE)
        rc = tsr_store_sql_error(s, ctx, "list feedback");
    return rc;
}

/* How many rows match `q` in all; lock held. */
static tsr_status count_matches(tsr_store *s, tsr_ctx *ctx, const tsr_store_feedback_query *q,
                                int64_t *total) {
    tsr_db_stmt *st = NULL;
    tsr_status rc =
        tsr_store_prepare(s, ctx,
                          tsr_store_sql(s, "SELECT count(*) FROM feedback f " FB_WHERE(OPS_LITE),
                                        "SELECT count(*) FROM feedback f " FB_WHERE(OPS_PG)),
                          &st);
    if (rc)
        return rc;
    bind_query(st, q);
    if (tsr_db_step(st) == TSR_DB_ROW)
        *total = tsr_db_column_int64(st, 0);
    else
        rc = tsr_store_sql_error(s, ctx, "count feedback");
    tsr_db_finalize(st);
    return rc;
}

tsr_status tsr_store_feedback_search(tsr_store *store, tsr_ctx *ctx,
                                     const tsr_store_feedback_query *q, tsr_store_feedback **out,
                                     size_t *count, int64_t *total) {
    tsr_db_stmt *st = NULL;
    size_t limit = q->limit == 0 || q->limit > TSR_STORE_LIST_MAX ? TSR_STORE_LIST_MAX : q->limit;
    size_t offset = q->by_id ? 0 : q->offset;
    *out = NULL;
    *count = 0;
    *total = -1;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx,
        q->by_id ? tsr_store_sql(store, "SELECT " FB_COLUMNS FB_FROM FB_WHERE(OPS_LITE) BY_ID,
                                 "SELECT " FB_COLUMNS FB_FROM FB_WHERE(OPS_PG) BY_ID)
                 : tsr_store_sql(store, "SELECT " FB_COLUMNS FB_FROM FB_WHERE(OPS_LITE) NEWEST,
                                 "SELECT " FB_COLUMNS FB_FROM FB_WHERE(OPS_PG) NEWEST),
        &st);
    if (rc)
        goto out;
    bind_query(st, q);
    tsr_db_bind_int64(st, 6, (int64_t)limit);
    tsr_db_bind_int64(st, 7, (int64_t)(offset > INT64_MAX ? INT64_MAX : offset));
    if (!(rc = read_rows(store, ctx, st, limit, out, count)) && !q->by_id)
        rc = count_matches(store, ctx, q, total);
out:
    if (rc) {
        tsr_store_feedback_list_free(*out, *count);
        *out = NULL;
        *count = 0;
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_feedback_counts(tsr_store *store, tsr_ctx *ctx, tsr_store_feedback_count **out,
                                     size_t *count) {
    tsr_db_stmt *st = NULL;
    size_t cap = 0;
    int step = TSR_DB_DONE;
    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "SELECT op, rating, count FROM feedback_counts ORDER BY op, rating", &st);
    while (!rc && *count < COUNTS_MAX && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        if (*count == cap) {
            size_t grown = cap ? cap * 2 : 32;
            tsr_store_feedback_count *more = realloc(*out, grown * sizeof **out);
            if (!more) {
                rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory reading rating counts");
                break;
            }
            *out = more;
            cap = grown;
        }
        tsr_store_feedback_count *c = &(*out)[(*count)++];
        tsr_store_column_text(st, 0, c->op, sizeof c->op);
        c->rating = tsr_db_column_int(st, 1);
        c->count = (uint64_t)tsr_db_column_int64(st, 2);
    }
    if (!rc && step != TSR_DB_DONE && step != TSR_DB_ROW)
        rc = tsr_store_sql_error(store, ctx, "read rating counts");
    if (rc) {
        free(*out);
        *out = NULL;
        *count = 0;
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
