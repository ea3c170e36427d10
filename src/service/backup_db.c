/* The database side of backup, restore and verify: SQLite's online copy,
 * opening a copy, its schema version, PRAGMA integrity_check and the list
 * of blobs a database (SQLite or PostgreSQL, through db.h) refers to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/backup_internal.h"
#include "service/store_internal.h"
#include "util/clock.h"

#define BUSY_RETRIES    200  /* tries of a backup step the writer keeps busy... */
#define BUSY_SLEEP_MS   50   /* ...this long apart (10 s in all) */
#define INTEGRITY_LINES 20   /* findings of integrity_check kept */
#define INTEGRITY_TEXT  4096 /* bytes of them kept */

static const char *const kind_names[] = {"image", "thumbnail", "result"};

const char *tsr_blob_ref_kind_name(tsr_blob_ref_kind kind) {
    return (unsigned)kind < 3 ? kind_names[kind] : "blob";
}

/* A SQLite error of `db` (the raw connection of a copy) as a status. */
static tsr_status lite_error(tsr_ctx *ctx, sqlite3 *db, const char *what, const char *path) {
    int code = db ? sqlite3_extended_errcode(db) & 0xff : SQLITE_NOMEM;
    tsr_status st = code == SQLITE_NOTADB || code == SQLITE_CORRUPT ? TSR_ERR_CORRUPT
                    : code == SQLITE_NOMEM                          ? TSR_ERR_NOMEM
                                                                    : TSR_ERR_IO;
    return tsr_error(ctx, st, "%s %s: %s", what, path, db ? sqlite3_errmsg(db) : "out of memory");
}

/* The last error of `db` as a status; `what` says what failed. */
static tsr_status db_error(tsr_ctx *ctx, tsr_db *db, const char *what) {
    tsr_db_error_kind kind = tsr_db_error(db);
    tsr_status st = kind == TSR_DB_CORRUPT ? TSR_ERR_CORRUPT
                    : kind == TSR_DB_NOMEM ? TSR_ERR_NOMEM
                                           : TSR_ERR_IO;
    return tsr_error(ctx, st, "%s the database: %s", what, tsr_db_message(db));
}

/* Runs the backup to its end, waiting while the source is busy. */
static int backup_all(sqlite3_backup *b) {
    int step = SQLITE_OK;
    for (int tries = 0; tries < BUSY_RETRIES; tries++) {
        step = sqlite3_backup_step(b, -1);
        if (step != SQLITE_BUSY && step != SQLITE_LOCKED)
            break;
        tsr_clock_sleep_ms(BUSY_SLEEP_MS);
    }
    return step;
}

tsr_status tsr_backup_db_copy(tsr_ctx *ctx, sqlite3 *src, const char *path) {
    sqlite3 *dst = NULL;
    tsr_status rc = TSR_OK;
    unlink(path);
    if (sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        rc = lite_error(ctx, dst, "backup: cannot create", path);
        goto out;
    }
    sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
    if (!b) {
        rc = lite_error(ctx, dst, "backup: cannot start the database copy into", path);
        goto out;
    }
    int step = backup_all(b);
    sqlite3_backup_finish(b);
    if (step != SQLITE_DONE) {
        rc = tsr_error(ctx, TSR_ERR_IO, "backup: copying the database into %s failed: %s", path,
                       sqlite3_errstr(step));
        goto out;
    }
    /* one self-contained file: the copy takes the source's WAL flag along */
    if (sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK)
        rc = lite_error(ctx, dst, "backup: cannot finish", path);
out:
    sqlite3_close_v2(dst);
    return rc;
}

tsr_status tsr_backup_db_open(tsr_ctx *ctx, const char *path, tsr_db **out) {
    char url[PATH_MAX + 16];
    snprintf(url, sizeof url, "sqlite:%s", path);
    return tsr_db_open(ctx, url, TSR_DB_READ_ONLY | TSR_DB_PLAIN, out);
}

tsr_status tsr_backup_db_schema(tsr_ctx *ctx, tsr_db *db, int *version) {
    tsr_db_stmt *st = NULL;
    *version = 0;
    if (tsr_db_prepare(db, "SELECT version FROM schema_version WHERE id = 1", &st))
        return db_error(ctx, db, "cannot read the schema version of");
    tsr_db_step_result step = tsr_db_step(st);
    if (step == TSR_DB_ROW)
        *version = tsr_db_column_int(st, 0);
    tsr_db_finalize(st);
    if (step != TSR_DB_ROW && step != TSR_DB_DONE)
        return db_error(ctx, db, "cannot read the schema version of");
    return TSR_OK;
}

/* Appends `line` to the findings text `text` (capacity INTEGRITY_TEXT). */
static void add_finding(char *text, const char *line) {
    size_t n = strlen(text);
    if (n + 3 < INTEGRITY_TEXT)
        snprintf(text + n, INTEGRITY_TEXT - n, "%s%s", n ? "; " : "", line);
}

tsr_status tsr_backup_db_integrity(tsr_ctx *ctx, tsr_db *db, char **problems) {
    char text[INTEGRITY_TEXT] = "", sql[64];
    tsr_db_stmt *st = NULL;
    tsr_db_step_result step = TSR_DB_FAILED;
    *problems = NULL;
    if (tsr_db_kind_of(db) != TSR_DB_SQLITE)
        return TSR_OK; /* PostgreSQL checks its pages itself (data checksums, amcheck) */
    snprintf(sql, sizeof sql, "PRAGMA integrity_check(%d)", INTEGRITY_LINES);
    if (!tsr_db_prepare(db, sql, &st)) {
        while ((step = tsr_db_step(st)) == TSR_DB_ROW) {
            const char *line = tsr_db_column_text(st, 0);
            if (line && strcmp(line, "ok") != 0)
                add_finding(text, line);
        }
    }
    if (step != TSR_DB_DONE)
        add_finding(text, tsr_db_message(db));
    tsr_db_finalize(st);
    if (!text[0])
        return TSR_OK;
    if (!(*problems = strdup(text)))
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    return TSR_OK;
}

static int ref_by_id(const void *a, const void *b) {
    return strcmp(((const tsr_blob_ref *)a)->id, ((const tsr_blob_ref *)b)->id);
}

const tsr_blob_ref *tsr_blob_ref_find(const tsr_blob_ref *refs, size_t count, const char *id) {
    tsr_blob_ref key;
    if (!count || !tsr_store_id_valid(id))
        return NULL;
    snprintf(key.id, sizeof key.id, "%s", id);
    return bsearch(&key, refs, count, sizeof *refs, ref_by_id);
}

/* Fills `r` from the current row of the refs query; false when the id is
 * malformed (a damaged database: reported by the caller). */
static bool read_ref(tsr_db_stmt *st, tsr_blob_ref *r) {
    const char *kind = tsr_db_column_text(st, 1);
    memset(r, 0, sizeof *r);
    tsr_store_column_text(st, 0, r->id, sizeof r->id);
    tsr_store_column_text(st, 2, r->sha256, sizeof r->sha256);
    r->kind = !kind || !strcmp(kind, "image") ? TSR_REF_IMAGE
              : !strcmp(kind, "result")       ? TSR_REF_RESULT
                                              : TSR_REF_THUMBNAIL;
    r->bytes = tsr_db_column_is_null(st, 3) ? -1 : tsr_db_column_int64(st, 3);
    return tsr_store_id_valid(r->id);
}

/* Sorts and removes repeated ids. */
static void sort_unique(tsr_blob_ref *refs, size_t *count) {
    size_t n = 0;
    if (*count > 1)
        qsort(refs, *count, sizeof *refs, ref_by_id);
    for (size_t i = 0; i < *count; i++)
        if (!n || strcmp(refs[n - 1].id, refs[i].id) != 0)
            refs[n++] = refs[i];
    *count = n;
}

tsr_status tsr_backup_db_refs(tsr_ctx *ctx, tsr_db *db, int schema_version, tsr_blob_ref **out,
                              size_t *count) {
    tsr_db_stmt *st = NULL;
    tsr_blob_ref *refs = NULL;
    size_t n = 0, cap = 0;
    tsr_status rc = TSR_OK;
    tsr_db_step_result step = TSR_DB_FAILED;
    *out = NULL;
    *count = 0;
    if (tsr_db_prepare(db, tsr_store_blob_refs_sql(schema_version), &st))
        return db_error(ctx, db, "cannot list the blobs of");
    while (!rc && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        if (n == cap) {
            tsr_blob_ref *grown = realloc(refs, (cap = cap ? cap * 2 : 1024) * sizeof *refs);
            if (!grown) {
                rc = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory listing blobs");
                break;
            }
            refs = grown;
        }
        if (!read_ref(st, &refs[n]))
            rc = tsr_error(ctx, TSR_ERR_CORRUPT, "the database names a malformed blob id '%.40s'",
                           refs[n].id);
        n++;
    }
    if (!rc && step != TSR_DB_DONE)
        rc = db_error(ctx, db, "cannot list the blobs of");
    tsr_db_finalize(st);
    if (rc) {
        free(refs);
        return rc;
    }
    sort_unique(refs, &n);
    *out = refs;
    *count = n;
    return TSR_OK;
}

tsr_status tsr_backup_db_references(tsr_ctx *ctx, tsr_db *db, int schema_version, const char *id,
                                    bool *used) {
    char sql[1024];
    tsr_db_stmt *st = NULL;
    *used = true;
    snprintf(sql, sizeof sql, "SELECT 1 FROM (%s) AS r WHERE r.blob = ?1 LIMIT 1",
             tsr_store_blob_refs_sql(schema_version));
    if (tsr_db_prepare(db, sql, &st))
        return db_error(ctx, db, "cannot look up a blob in");
    tsr_db_bind_text(st, 1, id);
    tsr_db_step_result step = tsr_db_step(st);
    tsr_db_finalize(st);
    if (step != TSR_DB_ROW && step != TSR_DB_DONE)
        return db_error(ctx, db, "cannot look up a blob in");
    *used = step == TSR_DB_ROW;
    return TSR_OK;
}
