/* Jobs as users see them: create (with items, in one transaction), get, list,
 * delete, and the scheduler's resume list. State changes are in
 * store_job_progress.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/store_internal.h"
#include "util/clock.h"

#define JOB_COLUMNS                                                                                \
    "id, owner, pipeline_json, pipeline_text, op_versions, output_format, quality, state, "        \
    "tiles_done, tiles_total, created, coalesce(started, 0), coalesce(finished, 0), error, "       \
    "cpu_seconds, (SELECT count(*) FROM job_items i WHERE i.job = jobs.id), coalesce(name, ''), "  \
    "gpu_seconds, read_bytes, written_bytes, network_bytes, peak_pixels, "                         \
    "coalesce(tessera_version, ''), coalesce(tile, 0), coalesce(saved_pipeline, ''), "             \
    "coalesce(saved_version, 0), coalesce(frame, -1), speed, percent, coalesce(eta_seconds, -1), " \
    "progress_at"

#define ITEM_COLUMNS                                                                               \
    "image, position, state, result_blob, result_bytes, result_format, width, height, error, "     \
    "coalesce(started, 0), coalesce(finished, 0), seconds"

static tsr_job_state state_parse(const char *text) {
    for (int i = 0; i < TSR_JOB_STATE_COUNT; i++)
        if (text && strcmp(text, tsr_job_state_name((tsr_job_state)i)) == 0)
            return (tsr_job_state)i;
    return TSR_JOB_FAILED; /* the CHECK constraint makes this unreachable */
}

static void job_clear(tsr_store_job *job) {
    free(job->pipeline_json);
    free(job->pipeline_text);
    free(job->op_versions);
    free(job->error);
    for (size_t i = 0; job->items && i < job->item_count; i++)
        free(job->items[i].error);
    free(job->items);
}

void tsr_store_job_free(tsr_store_job *job) {
    if (!job)
        return;
    job_clear(job);
    free(job);
}

void tsr_store_jobs_free(tsr_store_job *jobs, size_t count) {
    if (!jobs)
        return;
    for (size_t i = 0; i < count; i++)
        job_clear(&jobs[i]);
    free(jobs);
}

/* Reads JOB_COLUMNS into a zeroed `job`; its strings become owned by it. */
static tsr_status read_job(tsr_db_stmt *st, tsr_ctx *ctx, tsr_store_job *job) {
    int oom = 0;
    tsr_store_column_text(st, 0, job->id, sizeof job->id);
    job->owner = tsr_db_column_int64(st, 1);
    job->pipeline_json = tsr_store_column_strdup(st, 2, &oom);
    job->pipeline_text = tsr_store_column_strdup(st, 3, &oom);
    job->op_versions = tsr_store_column_strdup(st, 4, &oom);
    tsr_store_column_text(st, 5, job->output_format, sizeof job->output_format);
    job->quality = tsr_db_column_int(st, 6);
    job->state = state_parse(tsr_db_column_text(st, 7));
    job->tiles_done = tsr_db_column_int64(st, 8);
    job->tiles_total = tsr_db_column_int64(st, 9);
    job->created = tsr_db_column_int64(st, 10);
    job->started = tsr_db_column_int64(st, 11);
    job->finished = tsr_db_column_int64(st, 12);
    job->error = tsr_store_column_strdup(st, 13, &oom);
    job->usage.cpu_seconds = tsr_db_column_double(st, 14);
    job->item_count = (size_t)tsr_db_column_int64(st, 15);
    tsr_store_column_text(st, 16, job->name, sizeof job->name);
    job->usage.gpu_seconds = tsr_db_column_double(st, 17);
    job->usage.read_bytes = tsr_db_column_int64(st, 18);
    job->usage.written_bytes = tsr_db_column_int64(st, 19);
    job->usage.network_bytes = tsr_db_column_int64(st, 20);
    job->usage.peak_pixels = tsr_db_column_int64(st, 21);
    tsr_store_column_text(st, 22, job->tessera_version, sizeof job->tessera_version);
    job->tile = tsr_db_column_int(st, 23);
    tsr_store_column_text(st, 24, job->saved_pipeline, sizeof job->saved_pipeline);
    job->saved_version = tsr_db_column_int(st, 25);
    job->frame = tsr_db_column_int(st, 26);
    job->speed = tsr_db_column_int(st, 27);
    job->percent = tsr_db_column_double(st, 28);
    job->eta_seconds = tsr_db_column_double(st, 29);
    job->progress_at = tsr_db_column_int64(st, 30);
    return oom ? tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory reading a job") : TSR_OK;
}

static void read_item(tsr_db_stmt *st, tsr_store_job_item *it, int *oom) {
    tsr_store_column_text(st, 0, it->image, sizeof it->image);
    it->position = tsr_db_column_int(st, 1);
    it->state = state_parse(tsr_db_column_text(st, 2));
    tsr_store_column_text(st, 3, it->result_blob, sizeof it->result_blob);
    it->result_bytes = (uint64_t)tsr_db_column_int64(st, 4);
    tsr_store_column_text(st, 5, it->result_format, sizeof it->result_format);
    it->width = (uint32_t)tsr_db_column_int64(st, 6);
    it->height = (uint32_t)tsr_db_column_int64(st, 7);
    it->error = tsr_store_column_strdup(st, 8, oom);
    it->started = tsr_db_column_int64(st, 9);
    it->finished = tsr_db_column_int64(st, 10);
    it->seconds = tsr_db_column_double(st, 11);
}

/* Fills job->items (job->item_count entries, by position); lock held. */
static tsr_status read_items(tsr_store *s, tsr_ctx *ctx, tsr_store_job *job) {
    tsr_db_stmt *st = NULL;
    size_t n = 0;
    int oom = 0, step = TSR_DB_DONE;
    if (job->item_count == 0)
        return TSR_OK;
    job->items = calloc(job->item_count, sizeof *job->items);
    if (!job->items)
        return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory reading job items");
    tsr_status rc = tsr_store_prepare(
        s, ctx, "SELECT " ITEM_COLUMNS " FROM job_items WHERE job = ? ORDER BY position", &st);
    if (!rc)
        tsr_db_bind_text(st, 1, job->id);
    while (!rc && n < job->item_count && (step = tsr_db_step(st)) == TSR_DB_ROW)
        read_item(st, &job->items[n++], &oom);
    job->item_count = n; /* what was read is what the free walks */
    if (!rc && step != TSR_DB_DONE && step != TSR_DB_ROW)
        rc = tsr_store_sql_error(s, ctx, "read job items");
    if (!rc && oom)
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory reading job items");
    tsr_db_finalize(st);
    return rc;
}

/* Validates a job spec before any SQL. */
static tsr_status spec_check(tsr_ctx *ctx, const tsr_store_job_spec *spec) {
    if (!spec->pipeline_json || !spec->pipeline_text || !spec->output_format ||
        !spec->output_format[0])
        return tsr_error(ctx, TSR_ERR_USAGE, "job: a pipeline and an output format are required");
    if (strlen(spec->pipeline_json) > TSR_STORE_PIPELINE_MAX ||
        strlen(spec->pipeline_text) > TSR_STORE_PIPELINE_MAX ||
        (spec->op_versions && strlen(spec->op_versions) > TSR_STORE_PIPELINE_MAX))
        return tsr_error(ctx, TSR_ERR_LIMIT, "job: the pipeline is longer than %u bytes",
                         TSR_STORE_PIPELINE_MAX);
    if (strlen(spec->output_format) > TSR_STORE_FORMAT_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "job: output format name is too long");
    if (spec->quality < 0 || spec->quality > 100)
        return tsr_error(ctx, TSR_ERR_USAGE, "job: quality %d is outside 0..100", spec->quality);
    if (spec->speed < 0 || spec->speed > 9)
        return tsr_error(ctx, TSR_ERR_USAGE, "job: speed %d is outside 0..9", spec->speed);
    if (spec->tiles_total < 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "job: negative tile count");
    if ((spec->tessera_version && strlen(spec->tessera_version) > TSR_STORE_NAME_MAX) ||
        (spec->saved_pipeline && strlen(spec->saved_pipeline) > TSR_STORE_NAME_MAX) ||
        spec->tile < 0 || spec->saved_version < 0 || spec->frame_pick < 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "job: bad version, tile or saved pipeline record");
    if (spec->image_count == 0 || spec->image_count > TSR_STORE_JOB_ITEMS_MAX || !spec->image_ids)
        return tsr_error(ctx, TSR_ERR_USAGE, "job: give 1 to %d images", TSR_STORE_JOB_ITEMS_MAX);
    return TSR_OK;
}

/* Inserts the job row (lock held, in a transaction). */
static tsr_status insert_job(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *caller,
                             const tsr_store_job_spec *spec, const char *id) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(
        s, ctx,
        "INSERT INTO jobs(id, owner, pipeline_json, pipeline_text, op_versions, output_format, "
        "quality, state, tiles_total, created, tessera_version, tile, saved_pipeline, "
        "saved_version, frame, speed, lease_owner, lease_until) VALUES(?, ?, ?, ?, ?, ?, ?, "
        "'queued', ?, ?, ?, nullif(?, 0), ?, nullif(?, 0), ?, ?, ?, ?)",
        &st);
    if (rc)
        return rc;
    tsr_db_bind_text(st, 1, id);
    tsr_db_bind_int64(st, 2, caller->id);
    tsr_db_bind_text(st, 3, spec->pipeline_json);
    tsr_db_bind_text(st, 4, spec->pipeline_text);
    tsr_db_bind_text(st, 5, spec->op_versions ? spec->op_versions : "{}");
    tsr_db_bind_text(st, 6, spec->output_format);
    tsr_db_bind_int64(st, 7, spec->quality);
    tsr_db_bind_int64(st, 8, spec->tiles_total);
    tsr_db_bind_int64(st, 9, tsr_clock_wall_ms());
    tsr_db_bind_text(st, 10, spec->tessera_version); /* NULL binds NULL */
    tsr_db_bind_int64(st, 11, spec->tile);
    tsr_db_bind_text(st, 12, spec->saved_pipeline);
    tsr_db_bind_int64(st, 13, spec->saved_version);
    if (spec->frame_pick > 0)
        tsr_db_bind_int64(st, 14, spec->frame_pick - 1);
    else
        tsr_db_bind_null(st, 14); /* an integer column: not a NULL text (db.h) */
    tsr_db_bind_int64(st, 15, spec->speed);
    /* Leased to its coordinator from the start (store_lease.h). */
    tsr_db_bind_text(st, 16, s->lease_owner[0] ? s->lease_owner : NULL);
    tsr_db_bind_int64(st, 17, s->lease_owner[0] ? tsr_clock_wall_ms() + s->lease_ms : 0);
    rc = tsr_store_step_done(s, ctx, st, "insert a job");
    tsr_db_finalize(st);
    return rc;
}

/* Inserts one QUEUED item per image after checking the caller may use it
 * (lock held, in a transaction). */
static tsr_status insert_items(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *caller,
                               const tsr_store_job_spec *spec, const char *id) {
    tsr_db_stmt *see = NULL, *ins = NULL;
    tsr_status rc = tsr_store_prepare(
        s, ctx, "SELECT 1 FROM images WHERE id = ?1 AND (?2 < 0 OR owner = ?2)", &see);
    if (rc || (rc = tsr_store_prepare(s, ctx,
                                      "INSERT INTO job_items(job, image, position, state) "
                                      "VALUES(?, ?, ?, 'queued')",
                                      &ins)))
        goto out;
    for (size_t i = 0; !rc && i < spec->image_count; i++) {
        const char *image = spec->image_ids[i];
        if (!tsr_store_id_valid(image)) {
            rc = tsr_error(ctx, TSR_ERR_USAGE, "job: image %zu of the list is not an image id",
                           i + 1);
            break;
        }
        tsr_db_reset(see);
        tsr_db_bind_text(see, 1, image);
        tsr_db_bind_int64(see, 2, tsr_store_owner_filter(caller));
        int step = tsr_db_step(see);
        if (step == TSR_DB_DONE) {
            rc = tsr_error(ctx, TSR_ERR_USAGE, "job: image %s not found", image);
            break;
        }
        if (step != TSR_DB_ROW) {
            rc = tsr_store_sql_error(s, ctx, "check a job's image");
            break;
        }
        tsr_db_reset(ins);
        tsr_db_bind_text(ins, 1, id);
        tsr_db_bind_text(ins, 2, image);
        tsr_db_bind_int64(ins, 3, (int)i);
        rc = tsr_store_step_done(s, ctx, ins, "insert a job item");
    }
out:
    tsr_db_finalize(see);
    tsr_db_finalize(ins);
    return rc;
}

tsr_status tsr_store_job_create(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                const tsr_store_job_spec *spec, char id[TSR_STORE_ID_LEN + 1]) {
    id[0] = '\0';
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "job create: no caller");
    tsr_status rc = spec_check(ctx, spec);
    if (rc)
        return rc;
    char made[TSR_STORE_ID_LEN + 1];
    if ((rc = tsr_store_random_id(ctx, made)))
        return rc;
    pthread_mutex_lock(&store->lock);
    if (!(rc = tsr_store_begin(store, ctx)) && !(rc = insert_job(store, ctx, caller, spec, made)) &&
        !(rc = insert_items(store, ctx, caller, spec, made)) &&
        !(rc = tsr_store_commit(store, ctx)))
        memcpy(id, made, sizeof made);
    tsr_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_get(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                             const char *id, tsr_store_job **out) {
    tsr_db_stmt *st = NULL;
    tsr_store_job *job = NULL;
    *out = NULL;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "job get: no caller");
    if (!tsr_store_id_valid(id))
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1 AND (?2 < 0 OR owner = ?2)",
        &st);
    if (rc)
        goto out;
    tsr_db_bind_text(st, 1, id);
    tsr_db_bind_int64(st, 2, tsr_store_owner_filter(caller));
    int step = tsr_db_step(st);
    if (step == TSR_DB_DONE)
        goto out;
    if (step != TSR_DB_ROW) {
        rc = tsr_store_sql_error(store, ctx, "read a job");
        goto out;
    }
    if (!(job = calloc(1, sizeof *job))) {
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory reading a job");
        goto out;
    }
    if (!(rc = read_job(st, ctx, job)))
        rc = read_items(store, ctx, job);
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (rc) {
        tsr_store_job_free(job);
        return rc;
    }
    *out = job;
    return TSR_OK;
}

/* Runs a job query (already bound) into a new array; with_items also reads
 * every job's items. Lock held. */
static tsr_status query_jobs(tsr_store *s, tsr_ctx *ctx, tsr_db_stmt *st, size_t limit,
                             bool with_items, tsr_store_job **out, size_t *count) {
    tsr_store_job *list = NULL;
    size_t n = 0, cap = 0;
    int step = TSR_DB_DONE;
    tsr_status rc = TSR_OK;
    while (n < limit && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        if (n == cap) {
            size_t grown = cap ? cap * 2 : 16;
            tsr_store_job *more = realloc(list, grown * sizeof *list);
            if (!more) {
                rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory listing jobs");
                goto out;
            }
            list = more;
            cap = grown;
        }
        memset(&list[n], 0, sizeof list[n]);
        rc = read_job(st, ctx, &list[n]);
        if (rc || (with_items && (rc = read_items(s, ctx, &list[n])))) {
            n++;
            goto out;
        }
        n++;
    }
    if (step != TSR_DB_DONE && step != TSR_DB_ROW)
        rc = tsr_store_sql_error(s, ctx, "list jobs");
out:
    if (rc) {
        tsr_store_jobs_free(list, n);
        return rc;
    }
    *out = list;
    *count = n;
    return TSR_OK;
}

/* Counts the caller's jobs in `state` (-1: any) (lock held). */
static tsr_status job_count(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *caller, int state,
                            int64_t *total) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(
        s, ctx, "SELECT count(*) FROM jobs WHERE owner = ?1 AND (?2 IS NULL OR state = ?2)", &st);
    if (rc)
        return rc;
    tsr_db_bind_int64(st, 1, caller->id);
    if (state >= 0)
        tsr_db_bind_text(st, 2, tsr_job_state_name((tsr_job_state)state));
    if (tsr_db_step(st) == TSR_DB_ROW)
        *total = tsr_db_column_int64(st, 0);
    else
        rc = tsr_store_sql_error(s, ctx, "count jobs");
    tsr_db_finalize(st);
    return rc;
}

tsr_status tsr_store_job_search(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                const tsr_store_job_query *q, tsr_store_job **out, size_t *count,
                                int64_t *total) {
    tsr_db_stmt *st = NULL;
    size_t limit = q->limit;
    *out = NULL;
    *count = 0;
    *total = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "job list: no caller");
    if (q->state >= TSR_JOB_STATE_COUNT)
        return tsr_error(ctx, TSR_ERR_USAGE, "job list: no such state");
    if (limit == 0 || limit > TSR_STORE_LIST_MAX)
        limit = TSR_STORE_LIST_MAX;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT " JOB_COLUMNS " FROM jobs WHERE owner = ?1 "
                                      "AND (?2 IS NULL OR state = ?2) "
                                      "ORDER BY created DESC, rowid DESC LIMIT ?3 OFFSET ?4",
                                      &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, caller->id);
        if (q->state >= 0)
            tsr_db_bind_text(st, 2, tsr_job_state_name((tsr_job_state)q->state));
        tsr_db_bind_int64(st, 3, (int64_t)limit);
        tsr_db_bind_int64(st, 4, (int64_t)(q->offset > INT64_MAX ? INT64_MAX : q->offset));
        rc = query_jobs(store, ctx, st, limit, false, out, count);
    }
    if (!rc && (rc = job_count(store, ctx, caller, q->state, total))) {
        tsr_store_jobs_free(*out, *count);
        *out = NULL;
        *count = 0;
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_set_name(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const char *id, const char *name, int *found) {
    tsr_db_stmt *st = NULL;
    char clean[TSR_STORE_FILE_NAME_MAX + 1];
    *found = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "job name: no caller");
    if (!tsr_store_id_valid(id))
        return TSR_OK;
    snprintf(clean, sizeof clean, "%s", name ? name : "");
    for (char *c = clean; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '_';
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "UPDATE jobs SET name = ?3 WHERE id = ?1 AND (?2 < 0 OR owner = ?2)", &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, id);
        tsr_db_bind_int64(st, 2, tsr_store_owner_filter(caller));
        tsr_db_bind_text(st, 3, clean);
        if (!(rc = tsr_store_step_done(store, ctx, st, "name a job")))
            *found = tsr_db_changes(store->db) > 0;
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                              size_t limit, tsr_store_job **out, size_t *count) {
    tsr_store_job_query q = {.state = -1, .limit = limit};
    int64_t total;
    return tsr_store_job_search(store, ctx, caller, &q, out, count, &total);
}

tsr_status tsr_store_job_list_active(tsr_store *store, tsr_ctx *ctx, tsr_store_job **out,
                                     size_t *count) {
    tsr_db_stmt *st = NULL;
    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT " JOB_COLUMNS " FROM jobs "
                                      "WHERE state IN ('queued', 'running') "
                                      "ORDER BY created, rowid",
                                      &st);
    if (!rc)
        rc = query_jobs(store, ctx, st, SIZE_MAX, true, out, count);
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_job_count_by_state(tsr_store *store, tsr_ctx *ctx,
                                        int64_t counts[TSR_JOB_STATE_COUNT]) {
    tsr_db_stmt *st = NULL;
    int step = TSR_DB_DONE;
    memset(counts, 0, TSR_JOB_STATE_COUNT * sizeof *counts);
    pthread_mutex_lock(&store->lock);
    tsr_status rc =
        tsr_store_prepare(store, ctx, "SELECT state, count(*) FROM jobs GROUP BY state", &st);
    while (!rc && (step = tsr_db_step(st)) == TSR_DB_ROW)
        counts[state_parse(tsr_db_column_text(st, 0))] += tsr_db_column_int64(st, 1);
    if (!rc && step != TSR_DB_DONE)
        rc = tsr_store_sql_error(store, ctx, "count jobs");
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* Collects the result blob ids of job `id` (lock held). */
static tsr_status result_blobs(tsr_store *s, tsr_ctx *ctx, const char *id, char (**out)[33],
                               size_t *count) {
    tsr_db_stmt *st = NULL;
    char(*list)[33] = NULL;
    size_t n = 0;
    int step = TSR_DB_DONE;
    tsr_status rc = tsr_store_prepare(
        s, ctx, "SELECT result_blob FROM job_items WHERE job = ? AND result_blob IS NOT NULL", &st);
    if (!rc && !(list = calloc(TSR_STORE_JOB_ITEMS_MAX, sizeof *list)))
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory deleting a job");
    if (!rc)
        tsr_db_bind_text(st, 1, id);
    while (!rc && n < TSR_STORE_JOB_ITEMS_MAX && (step = tsr_db_step(st)) == TSR_DB_ROW)
        tsr_store_column_text(st, 0, list[n++], sizeof list[0]);
    if (!rc && step != TSR_DB_DONE && step != TSR_DB_ROW)
        rc = tsr_store_sql_error(s, ctx, "read a job's results");
    tsr_db_finalize(st);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return TSR_OK;
}

tsr_status tsr_store_job_delete(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                const char *id, int *found) {
    tsr_db_stmt *st = NULL;
    char(*blobs)[33] = NULL;
    size_t nblobs = 0;
    if (found)
        *found = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "job delete: no caller");
    if (!tsr_store_id_valid(id))
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_begin(store, ctx);
    if (rc || (rc = tsr_store_prepare(store, ctx,
                                      "SELECT state FROM jobs WHERE id = ?1 "
                                      "AND (?2 < 0 OR owner = ?2)",
                                      &st)))
        goto out;
    tsr_db_bind_text(st, 1, id);
    tsr_db_bind_int64(st, 2, tsr_store_owner_filter(caller));
    int step = tsr_db_step(st);
    if (step == TSR_DB_DONE)
        goto out;
    if (step != TSR_DB_ROW) {
        rc = tsr_store_sql_error(store, ctx, "read a job");
        goto out;
    }
    tsr_job_state state = state_parse(tsr_db_column_text(st, 0));
    tsr_db_finalize(st);
    st = NULL;
    if (!tsr_job_state_terminal(state)) {
        rc = tsr_error(ctx, TSR_ERR_USAGE, "job %s is %s: cancel it before deleting it", id,
                       tsr_job_state_name(state));
        goto out;
    }
    if ((rc = result_blobs(store, ctx, id, &blobs, &nblobs)) ||
        (rc = tsr_store_prepare(store, ctx, "DELETE FROM jobs WHERE id = ?", &st)))
        goto out;
    tsr_db_bind_text(st, 1, id);
    if ((rc = tsr_store_step_done(store, ctx, st, "delete a job")) ||
        (rc = tsr_store_commit(store, ctx)))
        goto out;
    for (size_t i = 0; i < nblobs; i++)
        tsr_blob_remove(store, NULL, blobs[i]); /* a leftover is collected at the next open */
    if (found)
        *found = 1;
out:
    free(blobs);
    tsr_db_finalize(st);
    tsr_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
