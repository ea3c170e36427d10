/* Saved pipelines and their append-only versions (see store_saved.h). */
#include <stdlib.h>
#include <string.h>

#include "service/store_internal.h"
#include "service/store_saved.h"
#include "util/clock.h"

#define SAVED_COLUMNS                                                                              \
    "p.name, v.version, (SELECT max(w.version) FROM saved_pipeline_versions w "                    \
    "WHERE w.saved = p.id), v.pipeline_json, v.pipeline_text, coalesce(v.output_format, ''), "     \
    "coalesce(v.quality, 0), coalesce(v.tile, 0), coalesce(v.rollback_of, 0), v.created, "         \
    "p.created, coalesce(v.frame, -1), coalesce(v.speed, 0) FROM saved_pipelines p JOIN "          \
    "saved_pipeline_versions v ON v.saved = p.id "

#define NEWEST "(SELECT max(w.version) FROM saved_pipeline_versions w WHERE w.saved = p.id)"

bool tsr_saved_name_valid(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TSR_SAVED_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

void tsr_saved_version_clear(tsr_saved_version *v) {
    if (!v)
        return;
    free(v->pipeline_json);
    free(v->pipeline_text);
    memset(v, 0, sizeof *v);
}

void tsr_saved_versions_free(tsr_saved_version *list, size_t count) {
    for (size_t i = 0; list && i < count; i++)
        tsr_saved_version_clear(&list[i]);
    free(list);
}

/* Reads SAVED_COLUMNS into a zeroed `v`; its strings become owned by it. */
static tsr_status read_version(tsr_db_stmt *st, tsr_ctx *ctx, tsr_saved_version *v) {
    int oom = 0;
    tsr_store_column_text(st, 0, v->name, sizeof v->name);
    v->version = tsr_db_column_int(st, 1);
    v->latest = tsr_db_column_int(st, 2);
    v->pipeline_json = tsr_store_column_strdup(st, 3, &oom);
    v->pipeline_text = tsr_store_column_strdup(st, 4, &oom);
    tsr_store_column_text(st, 5, v->output_format, sizeof v->output_format);
    v->quality = tsr_db_column_int(st, 6);
    v->tile = tsr_db_column_int(st, 7);
    v->rollback_of = tsr_db_column_int(st, 8);
    v->created = tsr_db_column_int64(st, 9);
    v->first_created = tsr_db_column_int64(st, 10);
    v->frame_set = tsr_db_column_int(st, 11) >= 0;
    v->frame = v->frame_set ? tsr_db_column_int(st, 11) : 0;
    v->speed = tsr_db_column_int(st, 12);
    return oom ? tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory reading a saved pipeline")
               : TSR_OK;
}

/* Runs a bound query of SAVED_COLUMNS into a new array (lock held). */
static tsr_status query_versions(tsr_store *s, tsr_ctx *ctx, tsr_db_stmt *st,
                                 tsr_saved_version **out, size_t *count) {
    tsr_saved_version *list = NULL;
    size_t n = 0, cap = 0;
    int step;
    tsr_status rc = TSR_OK;
    while ((step = tsr_db_step(st)) == TSR_DB_ROW) {
        if (n == cap) {
            size_t grown = cap ? cap * 2 : 8;
            tsr_saved_version *more = realloc(list, grown * sizeof *list);
            if (!more) {
                rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory listing saved pipelines");
                goto out;
            }
            list = more;
            cap = grown;
        }
        memset(&list[n], 0, sizeof list[n]);
        if ((rc = read_version(st, ctx, &list[n++])))
            goto out;
    }
    if (step != TSR_DB_DONE)
        rc = tsr_store_sql_error(s, ctx, "list saved pipelines");
out:
    if (rc) {
        tsr_saved_versions_free(list, n);
        return rc;
    }
    *out = list;
    *count = n;
    return TSR_OK;
}

/* One integer that `sql` (binding ?1 = a and, unless NULL, ?2 = text b)
 * selects, or `none` when it selects no row or NULL (lock held). */
static tsr_status select_int(tsr_store *s, tsr_ctx *ctx, const char *sql, int64_t a, const char *b,
                             int64_t none, int64_t *out) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx, sql, &st);
    if (rc)
        return rc;
    tsr_db_bind_int64(st, 1, a);
    if (b)
        tsr_db_bind_text(st, 2, b);
    int step = tsr_db_step(st);
    if (step == TSR_DB_ROW)
        *out = tsr_db_column_is_null(st, 0) ? none : tsr_db_column_int64(st, 0);
    else if (step == TSR_DB_DONE)
        *out = none;
    else
        rc = tsr_store_sql_error(s, ctx, "read a saved pipeline");
    tsr_db_finalize(st);
    return rc;
}

/* Makes the name row of a new saved pipeline, within the account's cap,
 * into *id (lock held, in a transaction). */
static tsr_status insert_name(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *caller,
                              const char *name, int64_t *id) {
    int64_t n = 0;
    tsr_status rc = select_int(s, ctx, "SELECT count(*) FROM saved_pipelines WHERE owner = ?1",
                               caller->id, NULL, 0, &n);
    if (rc)
        return rc;
    if (n >= TSR_SAVED_PER_ACCOUNT)
        return tsr_error(ctx, TSR_ERR_LIMIT, "an account may save at most %d pipelines",
                         TSR_SAVED_PER_ACCOUNT);
    tsr_db_stmt *st = NULL;
    if ((rc = tsr_store_prepare(s, ctx,
                                "INSERT INTO saved_pipelines(owner, name, created) "
                                "VALUES(?, ?, ?) RETURNING id",
                                &st)))
        return rc;
    tsr_db_bind_int64(st, 1, caller->id);
    tsr_db_bind_text(st, 2, name);
    tsr_db_bind_int64(st, 3, tsr_clock_wall_ms());
    if (tsr_db_step(st) == TSR_DB_ROW)
        *id = tsr_db_column_int64(st, 0);
    else
        rc = tsr_store_sql_error(s, ctx, "save a pipeline");
    tsr_db_finalize(st);
    return rc;
}

/* Inserts version `version` of saved pipeline `id` (lock held). */
static tsr_status insert_version(tsr_store *s, tsr_ctx *ctx, int64_t id, int version,
                                 const tsr_saved_spec *spec) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(
        s, ctx,
        "INSERT INTO saved_pipeline_versions(saved, version, pipeline_json, pipeline_text, "
        "output_format, quality, tile, rollback_of, created, frame, speed) "
        "VALUES(?, ?, ?, ?, nullif(?, ''), nullif(?, 0), nullif(?, 0), nullif(?, 0), ?, "
        "nullif(?, -1), nullif(?, 0))",
        &st);
    if (rc)
        return rc;
    tsr_db_bind_int64(st, 1, id);
    tsr_db_bind_int64(st, 2, version);
    tsr_db_bind_text(st, 3, spec->pipeline_json);
    tsr_db_bind_text(st, 4, spec->pipeline_text);
    tsr_db_bind_text(st, 5, spec->output_format ? spec->output_format : "");
    tsr_db_bind_int64(st, 6, spec->quality);
    tsr_db_bind_int64(st, 7, spec->tile);
    tsr_db_bind_int64(st, 8, spec->rollback_of);
    tsr_db_bind_int64(st, 9, tsr_clock_wall_ms());
    tsr_db_bind_int64(st, 10, spec->frame_set ? spec->frame : -1);
    tsr_db_bind_int64(st, 11, spec->speed);
    rc = tsr_store_step_done(s, ctx, st, "save a pipeline version");
    tsr_db_finalize(st);
    return rc;
}

static tsr_status spec_check(tsr_ctx *ctx, const char *name, const tsr_saved_spec *spec) {
    if (!tsr_saved_name_valid(name))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "a saved pipeline's name is 1 to %d letters, digits, '-' and '_'",
                         TSR_SAVED_NAME_MAX);
    if (!spec->pipeline_json || !spec->pipeline_text)
        return tsr_error(ctx, TSR_ERR_USAGE, "a saved pipeline needs a pipeline");
    if (strlen(spec->pipeline_json) > TSR_STORE_PIPELINE_MAX ||
        strlen(spec->pipeline_text) > TSR_STORE_PIPELINE_MAX)
        return tsr_error(ctx, TSR_ERR_LIMIT, "the pipeline is longer than %u bytes",
                         TSR_STORE_PIPELINE_MAX);
    if ((spec->output_format && strlen(spec->output_format) > TSR_STORE_FORMAT_MAX) ||
        spec->quality < 0 || spec->quality > 100 || spec->tile < 0 || spec->rollback_of < 0 ||
        spec->frame < 0 || spec->speed < 0 || spec->speed > 9)
        return tsr_error(ctx, TSR_ERR_USAGE, "bad output settings for a saved pipeline");
    return TSR_OK;
}

/* The body of tsr_store_saved_add (lock held, in a transaction). */
static tsr_status add_version(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *caller,
                              const char *name, const tsr_saved_spec *spec, bool create,
                              int *version) {
    int64_t id = 0, newest = 0;
    /* one account's names and versions change one at a time (PostgreSQL) */
    tsr_status rc = tsr_store_lock_rows(s, ctx, "SELECT 1 FROM users WHERE id = ?1 FOR UPDATE",
                                        NULL, caller->id);
    if (!rc)
        rc = select_int(s, ctx, "SELECT id FROM saved_pipelines WHERE owner = ?1 AND name = ?2",
                        caller->id, name, 0, &id);
    if (rc || (create && id) || (!create && !id))
        return rc; /* *version stays 0 */
    if (create)
        rc = insert_name(s, ctx, caller, name, &id);
    else
        rc = select_int(s, ctx, "SELECT max(version) FROM saved_pipeline_versions WHERE saved = ?1",
                        id, NULL, 0, &newest);
    if (rc)
        return rc;
    if (newest >= TSR_SAVED_VERSIONS_MAX)
        return tsr_error(ctx, TSR_ERR_LIMIT, "a saved pipeline may have at most %d versions",
                         TSR_SAVED_VERSIONS_MAX);
    if ((rc = insert_version(s, ctx, id, (int)newest + 1, spec)))
        return rc;
    *version = (int)newest + 1;
    return TSR_OK;
}

tsr_status tsr_store_saved_add(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                               const char *name, const tsr_saved_spec *spec, bool create,
                               int *version) {
    *version = 0;
    tsr_status rc = spec_check(ctx, name, spec);
    if (rc)
        return rc;
    pthread_mutex_lock(&store->lock);
    if (!(rc = tsr_store_begin(store, ctx)) &&
        !(rc = add_version(store, ctx, caller, name, spec, create, version)))
        rc = tsr_store_commit(store, ctx);
    if (rc) {
        tsr_store_rollback(store);
        *version = 0;
    }
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_saved_get(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                               const char *name, int version, tsr_saved_version *out, int *found) {
    tsr_db_stmt *st = NULL;
    tsr_saved_version *list = NULL;
    size_t n = 0;
    memset(out, 0, sizeof *out);
    *found = 0;
    if (!tsr_saved_name_valid(name) || version < 0)
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT " SAVED_COLUMNS
                                      "WHERE p.owner = ?1 AND p.name = ?2 AND v.version = "
                                      "(CASE WHEN ?3 > 0 THEN ?3 ELSE " NEWEST " END)",
                                      &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, caller->id);
        tsr_db_bind_text(st, 2, name);
        tsr_db_bind_int64(st, 3, version);
        rc = query_versions(store, ctx, st, &list, &n);
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (!rc && n == 1) {
        *out = list[0];
        *found = 1;
        free(list);
        return TSR_OK;
    }
    tsr_saved_versions_free(list, n);
    return rc;
}

tsr_status tsr_store_saved_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                size_t limit, size_t offset, tsr_saved_version **out, size_t *count,
                                int64_t *total) {
    tsr_db_stmt *st = NULL;
    *out = NULL;
    *count = 0;
    *total = 0;
    if (limit == 0 || limit > TSR_STORE_LIST_MAX)
        limit = TSR_STORE_LIST_MAX;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = select_int(store, ctx, "SELECT count(*) FROM saved_pipelines WHERE owner = ?1",
                               caller->id, NULL, 0, total);
    if (!rc)
        rc = tsr_store_prepare(store, ctx,
                               "SELECT " SAVED_COLUMNS "WHERE p.owner = ?1 AND v.version = " NEWEST
                               " ORDER BY p.name LIMIT ?2 OFFSET ?3",
                               &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, caller->id);
        tsr_db_bind_int64(st, 2, (int64_t)limit);
        tsr_db_bind_int64(st, 3, (int64_t)offset);
        rc = query_versions(store, ctx, st, out, count);
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_saved_versions(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                    const char *name, tsr_saved_version **out, size_t *count) {
    tsr_db_stmt *st = NULL;
    *out = NULL;
    *count = 0;
    if (!tsr_saved_name_valid(name))
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "SELECT " SAVED_COLUMNS "WHERE p.owner = ?1 AND p.name = ?2 ORDER BY v.version",
        &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, caller->id);
        tsr_db_bind_text(st, 2, name);
        rc = query_versions(store, ctx, st, out, count);
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_saved_delete(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const char *name, int *found) {
    tsr_db_stmt *st = NULL;
    *found = 0;
    if (!tsr_saved_name_valid(name))
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "DELETE FROM saved_pipelines WHERE owner = ?1 AND name = ?2", &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, caller->id);
        tsr_db_bind_text(st, 2, name);
        if (!(rc = tsr_store_step_done(store, ctx, st, "delete a saved pipeline")))
            *found = tsr_db_changes(store->db) > 0;
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
