/* Images: uploaded files recorded with what their header said, each owned by
 * a user and kept in one blob. */
#include <stdlib.h>
#include <string.h>

#include "service/store_internal.h"
#include "util/clock.h"
#include "util/hex.h"

#define IMAGE_COLUMNS                                                                              \
    "id, owner, sha256, format, width, height, bands, frames, bytes, blob, name, created"
#define IMAGE_READ_COLUMNS IMAGE_COLUMNS ", coalesce(thumb_blob, '')"

static void read_image(tsr_db_stmt *st, tsr_store_image *im) {
    memset(im, 0, sizeof *im);
    tsr_store_column_text(st, 0, im->id, sizeof im->id);
    im->owner = tsr_db_column_int64(st, 1);
    tsr_store_column_text(st, 2, im->sha256, sizeof im->sha256);
    tsr_store_column_text(st, 3, im->format, sizeof im->format);
    im->width = (uint32_t)tsr_db_column_int64(st, 4);
    im->height = (uint32_t)tsr_db_column_int64(st, 5);
    im->bands = tsr_db_column_int(st, 6);
    im->frames = (uint32_t)tsr_db_column_int64(st, 7);
    im->bytes = (uint64_t)tsr_db_column_int64(st, 8);
    tsr_store_column_text(st, 9, im->blob, sizeof im->blob);
    tsr_store_column_text(st, 10, im->name, sizeof im->name);
    im->created = tsr_db_column_int64(st, 11);
    tsr_store_column_text(st, 12, im->thumb, sizeof im->thumb);
}

/* Makes a display name safe to store and echo: control characters become
 * '_', and a UTF-8 sequence cut by truncation is dropped. */
static void clean_name(char *name) {
    size_t n = strnlen(name, TSR_STORE_FILE_NAME_MAX);
    name[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            name[i] = '_';
    }
    size_t start = n; /* start of the last sequence */
    while (start > 0 && ((unsigned char)name[start - 1] & 0xc0) == 0x80)
        start--;
    if (start > 0 && (unsigned char)name[start - 1] >= 0xc0) {
        unsigned char lead = (unsigned char)name[start - 1];
        size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
        if (n - (start - 1) < want)
            name[start - 1] = '\0';
    }
}

tsr_status tsr_store_image_insert(tsr_store *store, tsr_ctx *ctx, tsr_store_image *im) {
    tsr_db_stmt *st = NULL;
    if (!tsr_store_id_valid(im->blob) || !tsr_hex_is_lower(im->sha256, TSR_STORE_SHA256_LEN) ||
        !im->format[0] || im->width == 0 || im->height == 0 || im->bands < 1 || im->bands > 4 ||
        im->frames == 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "image insert: blob id, sha256, format, dimensions, bands (1..4) and "
                         "frames are required");
    im->format[TSR_STORE_FORMAT_MAX] = '\0';
    clean_name(im->name);
    tsr_status rc = tsr_store_random_id(ctx, im->id);
    if (rc)
        return rc;
    im->created = tsr_clock_wall_ms();
    pthread_mutex_lock(&store->lock);
    rc = tsr_store_prepare(store, ctx,
                           "INSERT INTO images(" IMAGE_COLUMNS ") "
                           "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           &st);
    if (rc)
        goto out;
    tsr_db_bind_text(st, 1, im->id);
    tsr_db_bind_int64(st, 2, im->owner);
    tsr_db_bind_text(st, 3, im->sha256);
    tsr_db_bind_text(st, 4, im->format);
    tsr_db_bind_int64(st, 5, im->width);
    tsr_db_bind_int64(st, 6, im->height);
    tsr_db_bind_int64(st, 7, im->bands);
    tsr_db_bind_int64(st, 8, im->frames);
    tsr_db_bind_int64(st, 9, (int64_t)im->bytes);
    tsr_db_bind_text(st, 10, im->blob);
    tsr_db_bind_text(st, 11, im->name);
    tsr_db_bind_int64(st, 12, im->created);
    if (tsr_db_step(st) != TSR_DB_DONE) {
        int code = tsr_db_error(store->db);
        if (code == TSR_DB_FOREIGN_KEY)
            rc = tsr_error(ctx, TSR_ERR_USAGE, "image insert: there is no user %lld",
                           (long long)im->owner);
        else if (code == TSR_DB_UNIQUE)
            rc = tsr_error(ctx, TSR_ERR_USAGE, "image insert: blob %s already belongs to an image",
                           im->blob);
        else
            rc = tsr_store_sql_error(store, ctx, "insert an image");
    }
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (rc)
        im->id[0] = '\0';
    return rc;
}

/* Reads the image `id` the caller may see (lock held). */
static tsr_status image_find(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *caller,
                             const char *id, tsr_store_image *out, int *found) {
    tsr_db_stmt *st = NULL;
    *found = 0;
    if (!tsr_store_id_valid(id))
        return TSR_OK; /* not an id we made: nothing to find */
    tsr_status rc = tsr_store_prepare(
        s, ctx,
        "SELECT " IMAGE_READ_COLUMNS " FROM images WHERE id = ?1 AND (?2 < 0 OR owner = ?2)", &st);
    if (rc)
        return rc;
    tsr_db_bind_text(st, 1, id);
    tsr_db_bind_int64(st, 2, tsr_store_owner_filter(caller));
    int step = tsr_db_step(st);
    if (step == TSR_DB_ROW) {
        read_image(st, out);
        *found = 1;
    } else if (step != TSR_DB_DONE) {
        rc = tsr_store_sql_error(s, ctx, "read an image");
    }
    tsr_db_finalize(st);
    return rc;
}

tsr_status tsr_store_image_get(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                               const char *id, tsr_store_image *out, int *found) {
    *found = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "image get: no caller");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = image_find(store, ctx, caller, id, out, found);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* Counts the caller's images matching `name` (lock held). */
static tsr_status image_count(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *caller,
                              const char *name, int64_t *total) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx,
                                      "SELECT count(*) FROM images WHERE owner = ?1 AND "
                                      "(?2 IS NULL OR instr(lower(name), lower(?2)) > 0)",
                                      &st);
    if (rc)
        return rc;
    tsr_db_bind_int64(st, 1, caller->id);
    if (name && name[0])
        tsr_db_bind_text(st, 2, name);
    if (tsr_db_step(st) == TSR_DB_ROW)
        *total = tsr_db_column_int64(st, 0);
    else
        rc = tsr_store_sql_error(s, ctx, "count images");
    tsr_db_finalize(st);
    return rc;
}

tsr_status tsr_store_image_search(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const tsr_store_image_query *q, tsr_store_image **out,
                                  size_t *count, int64_t *total) {
    tsr_db_stmt *st = NULL;
    tsr_store_image *list = NULL;
    size_t n = 0, limit = q->limit;
    int step = TSR_DB_DONE;
    *out = NULL;
    *count = 0;
    *total = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "image list: no caller");
    if (limit == 0 || limit > TSR_STORE_LIST_MAX)
        limit = TSR_STORE_LIST_MAX;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT " IMAGE_READ_COLUMNS " FROM images WHERE owner = ?1 "
                                      "AND (?2 IS NULL OR instr(lower(name), lower(?2)) > 0) "
                                      "ORDER BY created DESC, rowid DESC LIMIT ?3 OFFSET ?4",
                                      &st);
    if (!rc && !(list = calloc(limit, sizeof *list)))
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory listing images");
    if (!rc) {
        tsr_db_bind_int64(st, 1, caller->id);
        if (q->name && q->name[0])
            tsr_db_bind_text(st, 2, q->name);
        tsr_db_bind_int64(st, 3, (int64_t)limit);
        tsr_db_bind_int64(st, 4, (int64_t)(q->offset > INT64_MAX ? INT64_MAX : q->offset));
    }
    while (!rc && n < limit && (step = tsr_db_step(st)) == TSR_DB_ROW)
        read_image(st, &list[n++]);
    if (!rc && step != TSR_DB_DONE && step != TSR_DB_ROW)
        rc = tsr_store_sql_error(store, ctx, "list images");
    if (!rc)
        rc = image_count(store, ctx, caller, q->name, total);
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return TSR_OK;
}

tsr_status tsr_store_image_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                size_t limit, tsr_store_image **out, size_t *count) {
    tsr_store_image_query q = {.limit = limit};
    int64_t total;
    return tsr_store_image_search(store, ctx, caller, &q, out, count, &total);
}

tsr_status tsr_store_image_find_sha(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                    const char *sha256, tsr_store_image *out, int *found) {
    tsr_db_stmt *st = NULL;
    *found = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "image find: no caller");
    if (!tsr_hex_is_lower(sha256, TSR_STORE_SHA256_LEN))
        return TSR_OK;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT " IMAGE_READ_COLUMNS " FROM images WHERE owner = ?1 "
                                      "AND sha256 = ?2 ORDER BY created, rowid LIMIT 1",
                                      &st);
    if (!rc) {
        tsr_db_bind_int64(st, 1, caller->id);
        tsr_db_bind_text(st, 2, sha256);
        int step = tsr_db_step(st);
        if (step == TSR_DB_ROW) {
            read_image(st, out);
            *found = 1;
        } else if (step != TSR_DB_DONE) {
            rc = tsr_store_sql_error(store, ctx, "find an image by content");
        }
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_image_set_thumb(tsr_store *store, tsr_ctx *ctx, const char *id,
                                     const char *blob, int *changed) {
    tsr_db_stmt *st = NULL;
    *changed = 0;
    if (!tsr_store_id_valid(id) || !tsr_store_id_valid(blob))
        return tsr_error(ctx, TSR_ERR_USAGE, "image thumbnail: bad image or blob id");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "UPDATE images SET thumb_blob = ?2 WHERE id = ?1 AND thumb_blob IS NULL", &st);
    if (!rc) {
        tsr_db_bind_text(st, 1, id);
        tsr_db_bind_text(st, 2, blob);
        if (!(rc = tsr_store_step_done(store, ctx, st, "record a thumbnail")))
            *changed = tsr_db_changes(store->db) > 0;
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* Fails with TSR_ERR_USAGE when a queued or running job uses image `id`. */
static tsr_status check_unused(tsr_store *s, tsr_ctx *ctx, const char *id) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx,
                                      "SELECT j.id FROM job_items i JOIN jobs j ON j.id = i.job "
                                      "WHERE i.image = ? AND j.state IN ('queued', 'running') "
                                      "LIMIT 1",
                                      &st);
    if (rc)
        return rc;
    tsr_db_bind_text(st, 1, id);
    int step = tsr_db_step(st);
    if (step == TSR_DB_ROW)
        rc = tsr_error(ctx, TSR_ERR_USAGE, "image %s is used by job %s, which is not finished", id,
                       tsr_db_column_text(st, 0));
    else if (step != TSR_DB_DONE)
        rc = tsr_store_sql_error(s, ctx, "look for jobs using an image");
    tsr_db_finalize(st);
    return rc;
}

tsr_status tsr_store_image_delete(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const char *id, int *found) {
    tsr_db_stmt *st = NULL;
    tsr_store_image im;
    int seen = 0;
    if (found)
        *found = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "image delete: no caller");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_begin(store, ctx);
    if (rc)
        goto out;
    /* against a job of another coordinator taking it meanwhile (PostgreSQL) */
    if ((tsr_store_id_valid(id) &&
         (rc = tsr_store_lock_rows(store, ctx, "SELECT 1 FROM images WHERE id = ?1 FOR UPDATE", id,
                                   0))) ||
        (rc = image_find(store, ctx, caller, id, &im, &seen)) || !seen)
        goto out;
    if ((rc = check_unused(store, ctx, id)) ||
        (rc = tsr_store_prepare(store, ctx, "DELETE FROM images WHERE id = ?", &st)))
        goto out;
    tsr_db_bind_text(st, 1, id);
    if ((rc = tsr_store_step_done(store, ctx, st, "delete an image")) ||
        (rc = tsr_store_commit(store, ctx)))
        goto out;
    /* The row is gone for good; a blob that cannot be removed now is an
     * orphan that the next open collects. */
    tsr_blob_remove(store, NULL, im.blob);
    if (im.thumb[0])
        tsr_blob_remove(store, NULL, im.thumb);
    if (found)
        *found = 1;
out:
    tsr_db_finalize(st);
    tsr_store_rollback(store);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
