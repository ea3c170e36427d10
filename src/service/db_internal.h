/* Private parts of the database layer (db.h): the backend interface that
 * db_sqlite.c and db_pg.c implement and db.c dispatches to. */
#ifndef TESSERA_SERVICE_DB_INTERNAL_H
#define TESSERA_SERVICE_DB_INTERNAL_H

#include "service/db.h"

/* A value to bind. */
typedef enum tsr_db_value_kind {
    TSR_DB_V_NULL = 0, /* NULL, type inferred by PostgreSQL */
    TSR_DB_V_INT64,
    TSR_DB_V_DOUBLE,
    TSR_DB_V_TEXT, /* NULL `p` = a NULL text */
    TSR_DB_V_BLOB
} tsr_db_value_kind;

typedef struct tsr_db_value {
    tsr_db_value_kind kind; /* which of the fields below holds it */
    int64_t i;              /* TSR_DB_V_INT64 */
    double d;               /* TSR_DB_V_DOUBLE */
    const void *p;          /* TSR_DB_V_TEXT (NUL-terminated), TSR_DB_V_BLOB; borrowed */
    size_t n;               /* TSR_DB_V_BLOB: bytes at p */
} tsr_db_value;

/* What each backend provides; db.c checks nothing the backend does. */
typedef struct tsr_db_ops {
    void (*close)(tsr_db *db);
    tsr_db_error_kind (*exec)(tsr_db *db, const char *sql);
    tsr_db_error_kind (*prepare)(tsr_db *db, const char *sql, tsr_db_stmt **out);
    void (*bind)(tsr_db_stmt *st, int index, const tsr_db_value *v);
    tsr_db_step_result (*step)(tsr_db_stmt *st);
    void (*reset)(tsr_db_stmt *st);
    void (*finalize)(tsr_db_stmt *st);
    bool (*is_null)(tsr_db_stmt *st, int col);
    const char *(*text)(tsr_db_stmt *st, int col);
    int64_t (*int64)(tsr_db_stmt *st, int col);
    double (*dbl)(tsr_db_stmt *st, int col);
    const void *(*blob)(tsr_db_stmt *st, int col, size_t *size);
    tsr_db_error_kind (*begin)(tsr_db *db);
    tsr_db_error_kind (*commit)(tsr_db *db);
    bool (*in_transaction)(tsr_db *db);
    int64_t (*changes)(tsr_db *db);
    tsr_db_error_kind (*error)(tsr_db *db);
    const char *(*message)(tsr_db *db);
    const char *(*code)(tsr_db *db, char *buf, size_t size);
} tsr_db_ops;

/* The start of every backend's handle and statement. */
struct tsr_db {
    const tsr_db_ops *ops; /* its backend */
    tsr_db_kind kind;      /* which engine */
};

struct tsr_db_stmt {
    tsr_db *db; /* the handle it was prepared on (borrowed) */
};

/* Backend openers (db_sqlite.c, db_pg.c); `target` is the URL without its
 * scheme for SQLite (a path), the whole URL for PostgreSQL. */
tsr_status tsr_db_sqlite_open(tsr_ctx *ctx, const char *path, int flags, tsr_db **out);
tsr_status tsr_db_pg_open(tsr_ctx *ctx, const char *url, int flags, tsr_db **out);

#endif
