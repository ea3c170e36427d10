/* The PostgreSQL backend of the database layer (db.h), on libpq: one
 * connection; each statement is translated from SQLite's dialect once at
 * prepare (tsr_db_translate) and run with PQexecParams, parameters as text
 * (blobs as binary bytea), results as text parsed by the getters. */
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/db_internal.h"

#define CONNECT_TIMEOUT_S "10"
#define MIN_SERVER        110000 /* PostgreSQL 11: identity columns, ON CONFLICT, RETURNING */
#define MESSAGE_MAX       512
/* PostgreSQL's type ids (pg_type.oid) of the parameters we send. */
#define OID_BYTEA  17
#define OID_INT8   20
#define OID_TEXT   25
#define OID_FLOAT8 701

typedef struct pg_db {
    tsr_db base;               /* first: the common handle */
    PGconn *conn;              /* the connection */
    bool read_only;            /* opened TSR_DB_READ_ONLY: set again after a reconnect */
    tsr_db_error_kind error;   /* the last call's error */
    char sqlstate[6];          /* its SQLSTATE, "" when libpq's own */
    char message[MESSAGE_MAX]; /* its first line */
    int64_t changes;           /* rows the last command changed */
} pg_db;

typedef struct pg_stmt {
    tsr_db_stmt base;    /* first: the common statement */
    char *sql;           /* translated (owned) */
    int nparams;         /* highest parameter number */
    char **values;       /* nparams values as sent (owned each), NULL = SQL NULL */
    int *lengths;        /* byte lengths (binary values) */
    int *formats;        /* 0 text, 1 binary */
    unsigned int *types; /* type ids, 0 = inferred */
    PGresult *res;       /* the result once run */
    int row;             /* current row, -1 before the first */
    unsigned char *blob; /* the last column_blob's bytes (PQfreemem) */
} pg_stmt;

static pg_db *pg(tsr_db *db) {
    return (pg_db *)db;
}

/* Records an error on the handle: kind, SQLSTATE and the first line. */
static tsr_db_error_kind set_error(pg_db *db, tsr_db_error_kind kind, const char *state,
                                   const char *message) {
    db->error = kind;
    snprintf(db->sqlstate, sizeof db->sqlstate, "%s", state ? state : "");
    snprintf(db->message, sizeof db->message, "%s", message && *message ? message : "error");
    db->message[strcspn(db->message, "\n")] = '\0';
    return kind;
}

/* The layer's kind of a SQLSTATE (NULL: libpq's own failure, a lost
 * connection). */
static tsr_db_error_kind kind_of(const char *state) {
    if (!state || strlen(state) != 5)
        return TSR_DB_IO;
    if (!strcmp(state, "23505"))
        return TSR_DB_UNIQUE;
    if (!strcmp(state, "23503"))
        return TSR_DB_FOREIGN_KEY;
    if (!strncmp(state, "23", 2))
        return TSR_DB_CONSTRAINT;
    if (!strcmp(state, "53200"))
        return TSR_DB_NOMEM;
    if (!strcmp(state, "XX001") || !strcmp(state, "XX002"))
        return TSR_DB_CORRUPT;
    static const char *const passing[] = {"08", "53", "57", "58", "40", "55", "25"};
    for (size_t i = 0; i < sizeof passing / sizeof *passing; i++)
        if (!strncmp(state, passing[i], 2))
            return TSR_DB_IO;
    return TSR_DB_INTERNAL;
}

/* Records the outcome of `res` (which may be NULL): TSR_DB_OK when it is a
 * success. Does not clear it. */
static tsr_db_error_kind check(pg_db *db, PGresult *res) {
    ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
        const char *n = PQcmdTuples(res);
        db->changes = n && *n ? strtoll(n, NULL, 10) : 0;
        db->error = TSR_DB_OK;
        return TSR_DB_OK;
    }
    if (!res)
        return set_error(db, PQstatus(db->conn) == CONNECTION_BAD ? TSR_DB_IO : TSR_DB_NOMEM, NULL,
                         PQerrorMessage(db->conn));
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return set_error(db, kind_of(state), state, primary ? primary : PQresultErrorMessage(res));
}

static void quiet(void *arg, const char *message) {
    (void)arg; /* NOTICEs ("relation already exists, skipping") are not errors */
    (void)message;
}

/* Settings of a session, after connecting and after a reconnect. */
static tsr_db_error_kind set_session(pg_db *db) {
    PQsetNoticeProcessor(db->conn, quiet, NULL);
    PGresult *res = PQexec(db->conn, db->read_only ? "SET default_transaction_read_only = on"
                                                   : "SET default_transaction_read_only = off");
    tsr_db_error_kind kind = check(db, res);
    PQclear(res);
    return kind;
}

/* A connection found broken (the server restarted, a failover) is opened
 * again before the next statement, outside a transaction only: one inside
 * was lost with it. */
static tsr_db_error_kind ready(pg_db *db) {
    if (PQstatus(db->conn) == CONNECTION_OK)
        return TSR_DB_OK;
    PQreset(db->conn);
    if (PQstatus(db->conn) != CONNECTION_OK)
        return set_error(db, TSR_DB_IO, NULL, PQerrorMessage(db->conn));
    return set_session(db);
}

static void pg_close(tsr_db *db) {
    PQfinish(pg(db)->conn);
    free(db);
}

static tsr_db_error_kind pg_exec(tsr_db *db, const char *sql) {
    int params;
    tsr_db_error_kind kind = ready(pg(db));
    if (kind)
        return kind;
    char *text = tsr_db_translate(sql, &params);
    if (!text)
        return set_error(pg(db), TSR_DB_NOMEM, NULL, "out of memory");
    PGresult *res = PQexec(pg(db)->conn, text);
    free(text);
    kind = check(pg(db), res);
    PQclear(res);
    return kind;
}

static void pg_finalize(tsr_db_stmt *st) {
    pg_stmt *s = (pg_stmt *)st;
    for (int i = 0; s->values && i < s->nparams; i++)
        free(s->values[i]);
    free(s->values);
    free(s->lengths);
    free(s->formats);
    free(s->types);
    PQclear(s->res);
    PQfreemem(s->blob);
    free(s->sql);
    free(s);
}

static tsr_db_error_kind pg_prepare(tsr_db *db, const char *sql, tsr_db_stmt **out) {
    pg_stmt *s = calloc(1, sizeof *s);
    if (!s)
        return set_error(pg(db), TSR_DB_NOMEM, NULL, "out of memory");
    s->base.db = db;
    s->row = -1;
    s->sql = tsr_db_translate(sql, &s->nparams);
    size_t n = s->nparams > 0 ? (size_t)s->nparams : 1;
    s->values = calloc(n, sizeof *s->values);
    s->lengths = calloc(n, sizeof *s->lengths);
    s->formats = calloc(n, sizeof *s->formats);
    s->types = calloc(n, sizeof *s->types);
    if (!s->sql || !s->values || !s->lengths || !s->formats || !s->types) {
        pg_finalize(&s->base);
        return set_error(pg(db), TSR_DB_NOMEM, NULL, "out of memory");
    }
    for (int i = 0; i < s->nparams; i++)
        s->types[i] = OID_TEXT; /* never bound: a NULL text, as in SQLite */
    *out = &s->base;
    return TSR_DB_OK;
}

/* A double as PostgreSQL reads it back exactly. */
static void format_double(double d, char *buf, size_t size) {
    if (isnan(d))
        snprintf(buf, size, "NaN");
    else if (isinf(d))
        snprintf(buf, size, d > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(buf, size, "%.17g", d);
}

static void pg_bind(tsr_db_stmt *st, int index, const tsr_db_value *v) {
    pg_stmt *s = (pg_stmt *)st;
    char num[40] = "";
    if (index < 1 || index > s->nparams)
        return;
    int i = index - 1;
    free(s->values[i]);
    s->values[i] = NULL;
    s->lengths[i] = 0;
    s->formats[i] = 0;
    s->types[i] = 0;
    switch (v->kind) {
    case TSR_DB_V_INT64:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        s->types[i] = OID_INT8;
        s->values[i] = strdup(num);
        break;
    case TSR_DB_V_DOUBLE:
        format_double(v->d, num, sizeof num);
        s->types[i] = OID_FLOAT8;
        s->values[i] = strdup(num);
        break;
    case TSR_DB_V_TEXT:
        s->types[i] = OID_TEXT;
        s->values[i] = v->p ? strdup(v->p) : NULL;
        break;
    case TSR_DB_V_BLOB:
        s->types[i] = OID_BYTEA;
        s->formats[i] = 1;
        s->lengths[i] = (int)v->n;
        if ((s->values[i] = malloc(v->n ? v->n : 1)))
            memcpy(s->values[i], v->p, v->n);
        break;
    default:
        break; /* NULL of an inferred type */
    }
}

static tsr_db_step_result pg_step(tsr_db_stmt *st) {
    pg_stmt *s = (pg_stmt *)st;
    pg_db *db = pg(st->db);
    if (!s->res) {
        if (ready(db))
            return TSR_DB_FAILED;
        s->res = PQexecParams(db->conn, s->sql, s->nparams, s->types,
                              (const char *const *)s->values, s->lengths, s->formats, 0);
        if (check(db, s->res)) {
            PQclear(s->res);
            s->res = NULL;
            return TSR_DB_FAILED;
        }
        s->row = -1;
    }
    if (PQresultStatus(s->res) != PGRES_TUPLES_OK || s->row + 1 >= PQntuples(s->res))
        return TSR_DB_DONE;
    s->row++;
    return TSR_DB_ROW;
}

static void pg_reset(tsr_db_stmt *st) {
    pg_stmt *s = (pg_stmt *)st;
    PQclear(s->res);
    s->res = NULL;
    s->row = -1;
}

/* Whether the current row has column `col`. */
static bool has(pg_stmt *s, int col) {
    return s->res && s->row >= 0 && s->row < PQntuples(s->res) && col >= 0 &&
           col < PQnfields(s->res);
}

static bool pg_column_is_null(tsr_db_stmt *st, int col) {
    pg_stmt *s = (pg_stmt *)st;
    return !has(s, col) || PQgetisnull(s->res, s->row, col);
}

static const char *pg_column_text(tsr_db_stmt *st, int col) {
    pg_stmt *s = (pg_stmt *)st;
    return pg_column_is_null(st, col) ? NULL : PQgetvalue(s->res, s->row, col);
}

static int64_t pg_column_int64(tsr_db_stmt *st, int col) {
    const char *t = pg_column_text(st, col);
    if (!t)
        return 0;
    if (!strcmp(t, "t") || !strcmp(t, "f")) /* a boolean */
        return *t == 't';
    return strtoll(t, NULL, 10);
}

static double pg_column_double(tsr_db_stmt *st, int col) {
    const char *t = pg_column_text(st, col);
    return t ? strtod(t, NULL) : 0.0;
}

static const void *pg_column_blob(tsr_db_stmt *st, int col, size_t *size) {
    pg_stmt *s = (pg_stmt *)st;
    const char *t = pg_column_text(st, col);
    PQfreemem(s->blob);
    s->blob = NULL;
    *size = 0;
    if (t)
        s->blob = PQunescapeBytea((const unsigned char *)t, size);
    return s->blob;
}

static bool pg_in_transaction(tsr_db *db) {
    PGTransactionStatusType t = PQtransactionStatus(pg(db)->conn);
    return t != PQTRANS_IDLE && t != PQTRANS_UNKNOWN;
}

static tsr_db_error_kind pg_begin(tsr_db *db) {
    return pg_exec(db, "BEGIN");
}

/* COMMIT of a transaction a statement failed in only rolls back: say so. */
static tsr_db_error_kind pg_commit(tsr_db *db) {
    if (PQtransactionStatus(pg(db)->conn) == PQTRANS_INERROR) {
        PQclear(PQexec(pg(db)->conn, "ROLLBACK"));
        return set_error(pg(db), TSR_DB_INTERNAL, NULL,
                         "commit: the transaction failed earlier and was rolled back");
    }
    return pg_exec(db, "COMMIT");
}

static int64_t pg_changes(tsr_db *db) {
    return pg(db)->changes;
}

static tsr_db_error_kind pg_error(tsr_db *db) {
    return pg(db)->error;
}

static const char *pg_message(tsr_db *db) {
    return pg(db)->message;
}

static const char *pg_code(tsr_db *db, char *buf, size_t size) {
    if (pg(db)->sqlstate[0])
        snprintf(buf, size, "postgresql SQLSTATE %s", pg(db)->sqlstate);
    else
        snprintf(buf, size, "postgresql connection");
    return buf;
}

static const tsr_db_ops pg_ops = {
    .close = pg_close,
    .exec = pg_exec,
    .prepare = pg_prepare,
    .bind = pg_bind,
    .step = pg_step,
    .reset = pg_reset,
    .finalize = pg_finalize,
    .is_null = pg_column_is_null,
    .text = pg_column_text,
    .int64 = pg_column_int64,
    .dbl = pg_column_double,
    .blob = pg_column_blob,
    .begin = pg_begin,
    .commit = pg_commit,
    .in_transaction = pg_in_transaction,
    .changes = pg_changes,
    .error = pg_error,
    .message = pg_message,
    .code = pg_code,
};

tsr_status tsr_db_pg_open(tsr_ctx *ctx, const char *url, int flags, tsr_db **out) {
    char shown[TSR_DB_URL_MAX];
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const values[] = {CONNECT_TIMEOUT_S, "tessera", url, NULL};
    pg_db *db = calloc(1, sizeof *db);
    *out = NULL;
    tsr_db_url_redact(url, shown, sizeof shown);
    if (!db)
        return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory connecting to %s", shown);
    db->base.ops = &pg_ops;
    db->base.kind = TSR_DB_POSTGRESQL;
    db->read_only = flags & TSR_DB_READ_ONLY;
    db->conn = PQconnectdbParams(keys, values, 1);
    tsr_status rc = TSR_OK;
    if (!db->conn || PQstatus(db->conn) != CONNECTION_OK) {
        set_error(db, TSR_DB_IO, NULL, db->conn ? PQerrorMessage(db->conn) : "out of memory");
        rc = tsr_error(ctx, TSR_ERR_IO, "store: cannot connect to the database %s: %s", shown,
                       db->message);
    } else if (PQserverVersion(db->conn) < MIN_SERVER) {
        rc = tsr_error(ctx, TSR_ERR_USAGE,
                       "store: the database %s runs PostgreSQL %d; tessera needs 11 or later",
                       shown, PQserverVersion(db->conn) / 10000);
    } else if (set_session(db)) {
        rc = tsr_error(ctx, TSR_ERR_IO, "store: cannot set up the session on %s: %s", shown,
                       db->message);
    }
    if (rc) {
        pg_close(&db->base);
        return rc;
    }
    *out = &db->base;
    return TSR_OK;
}

int tsr_db_server_version(tsr_db *db) {
    return db && db->kind == TSR_DB_POSTGRESQL ? PQserverVersion(pg(db)->conn) : 0;
}
