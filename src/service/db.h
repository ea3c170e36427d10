/*
 * The metadata database behind the store: one connection to SQLite (the
 * embedded default) or PostgreSQL (libpq), with the small API the store's
 * files need: prepare, bind by position, step through rows, read columns,
 * run SQL, transactions, rows changed. Design notes and the dialect rules:
 * docs/internals/store.md ("Database backends").
 *
 * SQL is written once, in SQLite's dialect restricted to what both accept:
 * `?` / `?N` parameters, portable functions, `INSERT ... RETURNING`, `ON
 * CONFLICT ... DO UPDATE`. For PostgreSQL it is translated once at prepare
 * (tsr_db_translate): `?N` -> `$N`, the column name `user` quoted, SQLite's
 * column types (INTEGER -> BIGINT, INTEGER PRIMARY KEY -> an identity
 * column, REAL -> DOUBLE PRECISION, BLOB -> BYTEA, WITHOUT ROWID dropped) and
 * instr() -> strpos(). Where the dialects really differ, the caller picks one
 * of two texts with tsr_db_dialect.
 *
 * A handle is not thread-safe: the store uses it under its own mutex. Errors
 * of the last call stay on the handle (tsr_db_error, tsr_db_message), as
 * with sqlite3_errmsg; the store turns them into a status on its context.
 */
#ifndef TESSERA_SERVICE_DB_H
#define TESSERA_SERVICE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

typedef struct tsr_db tsr_db;
typedef struct tsr_db_stmt tsr_db_stmt;

/* Which engine a handle speaks to. */
typedef enum tsr_db_kind {
    TSR_DB_SQLITE = 0, /* sqlite:PATH */
    TSR_DB_POSTGRESQL  /* postgresql://... (libpq) */
} tsr_db_kind;

/* What tsr_db_step found. */
typedef enum tsr_db_step_result {
    TSR_DB_ROW = 1,   /* a row is ready for the column getters */
    TSR_DB_DONE = 2,  /* no (more) rows: the statement finished */
    TSR_DB_FAILED = 3 /* an error, on the handle */
} tsr_db_step_result;

/* What kind of error the last failed call met, the same for both engines. */
typedef enum tsr_db_error_kind {
    TSR_DB_OK = 0,
    TSR_DB_UNIQUE,      /* a UNIQUE or PRIMARY KEY constraint */
    TSR_DB_FOREIGN_KEY, /* a FOREIGN KEY constraint */
    TSR_DB_CONSTRAINT,  /* another constraint: CHECK, NOT NULL */
    TSR_DB_NOMEM,       /* out of memory */
    TSR_DB_IO,          /* disk, connection, lock or server trouble: may pass */
    TSR_DB_CORRUPT,     /* not a database, or a damaged one */
    TSR_DB_INTERNAL     /* anything else (a bad statement) */
} tsr_db_error_kind;

/* How tsr_db_open opens. */
typedef enum tsr_db_open_flags {
    TSR_DB_CREATE = 1,    /* SQLite: create the file (0600) when missing */
    TSR_DB_READ_ONLY = 2, /* no writes: SQLite query_only, PostgreSQL read-only transactions */
    TSR_DB_PLAIN = 4      /* SQLite: no WAL or synchronous set up (a backup's copy) */
} tsr_db_open_flags;

#define TSR_DB_URL_MAX 2048 /* bytes of a --db URL */

/* Checks `url` names a database tessera can open: "sqlite:PATH" or
 * "postgresql://..." ("postgres://..." too). *kind gets which; a bad URL is
 * TSR_ERR_USAGE with a message saying the accepted forms. */
tsr_status tsr_db_url_check(tsr_ctx *ctx, const char *url, tsr_db_kind *kind);
/* Writes `url` without its password (for messages and records) into `out`
 * (`size` bytes, truncated). */
void tsr_db_url_redact(const char *url, char *out, size_t size);

/* Opens the database `url` names. SQLite: WAL, synchronous=FULL, foreign
 * keys, a 10 s busy timeout (unless TSR_DB_PLAIN). PostgreSQL: connects
 * (10 s timeout unless the URL says otherwise); a server that cannot be
 * reached is TSR_ERR_IO with one line naming its host and port. The caller
 * closes *out with tsr_db_close. */
tsr_status tsr_db_open(tsr_ctx *ctx, const char *url, int flags, tsr_db **out);
/* Closes the connection; statements must be finalized. Accepts NULL. */
void tsr_db_close(tsr_db *db);
tsr_db_kind tsr_db_kind_of(const tsr_db *db);
/* The SQLite connection (sqlite3 *) of a SQLite handle, NULL otherwise:
 * for SQLite's own APIs (the online backup). Borrowed. */
void *tsr_db_sqlite_handle(tsr_db *db);

/* The PostgreSQL server's version (PQserverVersion: 150020 for 15.20), 0
 * for SQLite. */
int tsr_db_server_version(tsr_db *db);

/* `sqlite_sql` or `pg_sql`, whichever the handle's engine speaks (both
 * borrowed, usually literals; pg_sql is translated like any SQL). */
const char *tsr_db_dialect(const tsr_db *db, const char *sqlite_sql, const char *pg_sql);
/* The PostgreSQL form of SQLite-dialect `sql` (see above): a malloc'ed
 * string the caller frees, NULL out of memory; *params gets the highest
 * parameter number used. */
char *tsr_db_translate(const char *sql, int *params);

/* Runs SQL that returns nothing; several statements separated by ';' are
 * allowed. TSR_DB_OK or the error's kind (details on the handle). */
tsr_db_error_kind tsr_db_exec(tsr_db *db, const char *sql);
/* Prepares one statement into *out (finalized by the caller). */
tsr_db_error_kind tsr_db_prepare(tsr_db *db, const char *sql, tsr_db_stmt **out);
/* Binds parameter `index` (1-based). Text and blobs are copied. A NULL
 * `text` binds a NULL of type text, and so is a parameter never bound (as
 * in SQLite, where it is NULL): what `?2 IS NULL OR state = ?2` filters
 * need, since PostgreSQL cannot type a parameter from `IS NULL`. A NULL
 * for a column of another type (an integer left NULL) must be bound with
 * tsr_db_bind_null, whose type PostgreSQL infers from where it is used.
 * Binding past the statement's parameters is ignored. */
void tsr_db_bind_int64(tsr_db_stmt *st, int index, int64_t value);
void tsr_db_bind_double(tsr_db_stmt *st, int index, double value);
void tsr_db_bind_text(tsr_db_stmt *st, int index, const char *text);
void tsr_db_bind_blob(tsr_db_stmt *st, int index, const void *data, size_t size);
void tsr_db_bind_null(tsr_db_stmt *st, int index);
/* Runs the statement the first time, then moves to its next row. */
tsr_db_step_result tsr_db_step(tsr_db_stmt *st);
/* Makes the statement runnable again; bindings are kept. */
void tsr_db_reset(tsr_db_stmt *st);
/* Frees the statement. Accepts NULL. */
void tsr_db_finalize(tsr_db_stmt *st);

/* Columns of the current row, from 0. A NULL reads as 0 / 0.0 / NULL. Text
 * and blobs are borrowed until the next step, reset or finalize. */
int64_t tsr_db_column_int64(tsr_db_stmt *st, int col);
int tsr_db_column_int(tsr_db_stmt *st, int col);
double tsr_db_column_double(tsr_db_stmt *st, int col);
const char *tsr_db_column_text(tsr_db_stmt *st, int col);
const void *tsr_db_column_blob(tsr_db_stmt *st, int col, size_t *size);
bool tsr_db_column_is_null(tsr_db_stmt *st, int col);

/* Transactions. SQLite: BEGIN IMMEDIATE (the writer lock for the whole
 * transaction). PostgreSQL: BEGIN (read committed); what SQLite's writer
 * lock gave, a PostgreSQL caller takes with row locks (SELECT ... FOR
 * UPDATE, see store_internal.h) and an advisory lock for migrations. A
 * COMMIT after a failed statement fails (PostgreSQL aborts the transaction
 * at the first error). Rollback never fails and does nothing outside a
 * transaction. */
tsr_db_error_kind tsr_db_begin(tsr_db *db);
tsr_db_error_kind tsr_db_commit(tsr_db *db);
void tsr_db_rollback(tsr_db *db);
bool tsr_db_in_transaction(tsr_db *db);
/* Rows changed by the last INSERT, UPDATE or DELETE. */
int64_t tsr_db_changes(tsr_db *db);

/* The last error: its kind, its message (borrowed, "" when none) and the
 * engine's code as text ("sqlite error 19", "SQLSTATE 23505") in `buf`. */
tsr_db_error_kind tsr_db_error(tsr_db *db);
const char *tsr_db_message(tsr_db *db);
const char *tsr_db_code(tsr_db *db, char *buf, size_t size);

#endif
