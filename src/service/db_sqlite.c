/* The SQLite backend of the database layer (db.h): one connection to a file,
 * WAL with synchronous=FULL, foreign keys on, a busy timeout for other
 * processes reading the file. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/db_internal.h"
#include "service/db_sqlite_cache.h"

#define BUSY_TIMEOUT_MS 10000

typedef struct lite_db {
    tsr_db base;       /* first: the common handle */
    sqlite3 *db;       /* the connection */
    lite_cache *cache; /* its prepared statements, for reuse */
} lite_db;

typedef struct lite_stmt {
    tsr_db_stmt base; /* first: the common statement */
    sqlite3_stmt *st; /* the prepared statement */
    int slot;         /* its cache slot, or LITE_CACHE_UNCACHED */
} lite_stmt;

static lite_cache *cache(tsr_db *db) {
    return ((lite_db *)db)->cache;
}

static sqlite3 *conn(tsr_db *db) {
    return ((lite_db *)db)->db;
}

static sqlite3_stmt *stmt(tsr_db_stmt *st) {
    return ((lite_stmt *)st)->st;
}

static void lite_close(tsr_db *db) {
    if (cache(db)) { /* its statements first, or the connection stays open */
        lite_cache_free(cache(db));
        free(cache(db));
    }
    sqlite3_close_v2(conn(db));
    free(db);
}

static tsr_db_error_kind lite_error(tsr_db *db) {
    int code = sqlite3_extended_errcode(conn(db));
    switch (code) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return TSR_DB_OK;
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
        return TSR_DB_UNIQUE;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        return TSR_DB_FOREIGN_KEY;
    }
    switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
        return TSR_DB_CONSTRAINT;
    case SQLITE_NOMEM:
        return TSR_DB_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return TSR_DB_CORRUPT;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PERM:
        return TSR_DB_IO;
    default:
        return TSR_DB_INTERNAL;
    }
}

static const char *lite_message(tsr_db *db) {
    return sqlite3_errmsg(conn(db));
}

static const char *lite_code(tsr_db *db, char *buf, size_t size) {
    snprintf(buf, size, "sqlite error %d", sqlite3_extended_errcode(conn(db)));
    return buf;
}

static tsr_db_error_kind lite_exec(tsr_db *db, const char *sql) {
    return sqlite3_exec(conn(db), sql, NULL, NULL, NULL) == SQLITE_OK ? TSR_DB_OK : lite_error(db);
}

static tsr_db_error_kind lite_prepare(tsr_db *db, const char *sql, tsr_db_stmt **out) {
    lite_stmt *st = calloc(1, sizeof *st);
    if (!st)
        return TSR_DB_NOMEM;
    st->base.db = db;
    st->slot = lite_cache_prepare(cache(db), conn(db), sql, &st->st);
    if (st->slot == LITE_CACHE_FAILED) {
        free(st);
        return lite_error(db);
    }
    *out = &st->base;
    return TSR_DB_OK;
}

static void lite_bind(tsr_db_stmt *st, int index, const tsr_db_value *v) {
    sqlite3_stmt *s = stmt(st);
    switch (v->kind) {
    case TSR_DB_V_INT64:
        sqlite3_bind_int64(s, index, v->i);
        break;
    case TSR_DB_V_DOUBLE:
        sqlite3_bind_double(s, index, v->d);
        break;
    case TSR_DB_V_TEXT:
        if (v->p)
            sqlite3_bind_text(s, index, v->p, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(s, index);
        break;
    case TSR_DB_V_BLOB:
        sqlite3_bind_blob64(s, index, v->p, v->n, SQLITE_TRANSIENT);
        break;
    default:
        sqlite3_bind_null(s, index);
    }
}

static tsr_db_step_result lite_step(tsr_db_stmt *st) {
    int step = sqlite3_step(stmt(st));
    return step == SQLITE_ROW ? TSR_DB_ROW : step == SQLITE_DONE ? TSR_DB_DONE : TSR_DB_FAILED;
}

static void lite_reset(tsr_db_stmt *st) {
    sqlite3_reset(stmt(st));
}

static void lite_finalize(tsr_db_stmt *st) {
    lite_cache_release(cache(st->db), ((lite_stmt *)st)->slot, stmt(st));
    free(st);
}

static bool lite_is_null(tsr_db_stmt *st, int col) {
    return sqlite3_column_type(stmt(st), col) == SQLITE_NULL;
}

static const char *lite_text(tsr_db_stmt *st, int col) {
    return (const char *)sqlite3_column_text(stmt(st), col);
}

static int64_t lite_int64(tsr_db_stmt *st, int col) {
    return sqlite3_column_int64(stmt(st), col);
}

static double lite_double(tsr_db_stmt *st, int col) {
    return sqlite3_column_double(stmt(st), col);
}

static const void *lite_blob(tsr_db_stmt *st, int col, size_t *size) {
    const void *p = sqlite3_column_blob(stmt(st), col);
    *size = (size_t)sqlite3_column_bytes(stmt(st), col);
    return p;
}

static tsr_db_error_kind lite_begin(tsr_db *db) {
    return lite_exec(db, "BEGIN IMMEDIATE");
}

static tsr_db_error_kind lite_commit(tsr_db *db) {
    return lite_exec(db, "COMMIT");
}

static bool lite_in_transaction(tsr_db *db) {
    return !sqlite3_get_autocommit(conn(db));
}

static int64_t lite_changes(tsr_db *db) {
    return sqlite3_changes64(conn(db));
}

static const tsr_db_ops lite_ops = {
    .close = lite_close,
    .exec = lite_exec,
    .prepare = lite_prepare,
    .bind = lite_bind,
    .step = lite_step,
    .reset = lite_reset,
    .finalize = lite_finalize,
    .is_null = lite_is_null,
    .text = lite_text,
    .int64 = lite_int64,
    .dbl = lite_double,
    .blob = lite_blob,
    .begin = lite_begin,
    .commit = lite_commit,
    .in_transaction = lite_in_transaction,
    .changes = lite_changes,
    .error = lite_error,
    .message = lite_message,
    .code = lite_code,
};

/* An error of the opening on ctx: the status of its kind, SQLite's text. */
static tsr_status open_error(tsr_ctx *ctx, tsr_db *db, const char *what, const char *path) {
    char code[48];
    tsr_db_error_kind kind = lite_error(db);
    tsr_status st = kind == TSR_DB_CORRUPT ? TSR_ERR_CORRUPT
                    : kind == TSR_DB_NOMEM ? TSR_ERR_NOMEM
                                           : TSR_ERR_IO;
    return tsr_error(ctx, st, "store: %s %s: %s (%s)", what, path, lite_message(db),
                     lite_code(db, code, sizeof code));
}

/* WAL (checked: a file system without shared memory refuses it),
 * synchronous=FULL, foreign keys. */
static tsr_status set_up(tsr_ctx *ctx, tsr_db *db, const char *path) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(conn(db), "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK)
        return open_error(ctx, db, "cannot set up", path);
    const unsigned char *mode = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    bool wal = mode && strcmp((const char *)mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot put %s in WAL mode", path);
    if (lite_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"))
        return open_error(ctx, db, "cannot set up", path);
    return TSR_OK;
}

tsr_status tsr_db_sqlite_open(tsr_ctx *ctx, const char *path, int flags, tsr_db **out) {
    bool read_only = flags & TSR_DB_READ_ONLY, plain = flags & TSR_DB_PLAIN;
    int mode = read_only && plain ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    *out = NULL;
    if (flags & TSR_DB_CREATE) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
            return tsr_error(ctx, TSR_ERR_IO, "store: cannot create %s: %s", path, strerror(errno));
        close(fd);
    }
    lite_db *db = calloc(1, sizeof *db);
    if (!db)
        return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory opening %s", path);
    db->base.ops = &lite_ops;
    db->base.kind = TSR_DB_SQLITE;
    if (!(db->cache = malloc(sizeof *db->cache))) {
        free(db);
        return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory opening %s", path);
    }
    lite_cache_init(db->cache);
    tsr_status rc = TSR_OK;
    if (sqlite3_open_v2(path, &db->db, mode | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        rc = db->db ? open_error(ctx, &db->base, "cannot open the database", path)
                    : tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory opening %s", path);
        goto out;
    }
    sqlite3_extended_result_codes(db->db, 1);
    sqlite3_busy_timeout(db->db, BUSY_TIMEOUT_MS);
    if (read_only && plain) /* a file that is not a database fails here, not later */
        rc = lite_exec(&db->base, "SELECT count(*) FROM sqlite_master")
                 ? open_error(ctx, &db->base, "cannot open the database", path)
                 : TSR_OK;
    else if (read_only) /* read-write (never written) so WAL's shared memory works */
        rc = lite_exec(&db->base, "PRAGMA query_only=1")
                 ? open_error(ctx, &db->base, "cannot open the database", path)
                 : TSR_OK;
    else if (!plain)
        rc = set_up(ctx, &db->base, path);
out:
    if (rc) {
        lite_close(&db->base);
        return rc;
    }
    *out = &db->base;
    return TSR_OK;
}

void *tsr_db_sqlite_handle(tsr_db *db) {
    return db && db->kind == TSR_DB_SQLITE ? conn(db) : NULL;
}
