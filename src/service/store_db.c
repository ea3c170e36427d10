/* The store's database: opening it by URL (--db), the record of which
 * database a data folder belongs to (db-url), the migrations runner, and
 * the SQL helpers the store's files share. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/store_internal.h"
#include "tessera/image.h"

/* The key of the PostgreSQL advisory lock that migrations take, so that
 * coordinators starting together on one database migrate it once. */
#define MIGRATION_LOCK_KEY 0x7e55e7a1
/* Tests only: the version after whose SQL tsr_store_migrate fails on purpose. */
#define FAIL_MIGRATION_ENV "TESSERA_TEST_MIGRATION_FAIL"

tsr_status tsr_store_sql_error(tsr_store *s, tsr_ctx *ctx, const char *what) {
    char code[48];
    tsr_status st;
    switch (tsr_db_error(s->db)) {
    case TSR_DB_NOMEM:
        st = TSR_ERR_NOMEM;
        break;
    case TSR_DB_UNIQUE:
    case TSR_DB_FOREIGN_KEY:
    case TSR_DB_CONSTRAINT:
        st = TSR_ERR_USAGE;
        break;
    case TSR_DB_IO:
    case TSR_DB_CORRUPT:
        st = TSR_ERR_IO;
        break;
    default:
        st = TSR_ERR_INTERNAL;
    }
    if (st != TSR_ERR_USAGE)
        atomic_fetch_add(&s->sql_errors, 1);
    return tsr_error(ctx, st, "store: %s: %s (%s)", what, tsr_db_message(s->db),
                     tsr_db_code(s->db, code, sizeof code));
}

static tsr_status need_db(tsr_store *s, tsr_ctx *ctx) {
    return s->db ? TSR_OK
                 : tsr_error(ctx, TSR_ERR_USAGE, "store: opened for blobs only (a worker's)");
}

tsr_status tsr_store_exec(tsr_store *s, tsr_ctx *ctx, const char *sql) {
    tsr_status rc = need_db(s, ctx);
    if (!rc && tsr_db_exec(s->db, sql))
        rc = tsr_store_sql_error(s, ctx, "run SQL");
    return rc;
}

tsr_status tsr_store_prepare(tsr_store *s, tsr_ctx *ctx, const char *sql, tsr_db_stmt **out) {
    *out = NULL;
    tsr_status rc = need_db(s, ctx);
    if (!rc && tsr_db_prepare(s->db, sql, out))
        rc = tsr_store_sql_error(s, ctx, "prepare a statement");
    return rc;
}

tsr_status tsr_store_step_done(tsr_store *s, tsr_ctx *ctx, tsr_db_stmt *st, const char *what) {
    if (tsr_db_step(st) != TSR_DB_DONE)
        return tsr_store_sql_error(s, ctx, what);
    return TSR_OK;
}

tsr_status tsr_store_begin(tsr_store *s, tsr_ctx *ctx) {
    tsr_status rc = need_db(s, ctx);
    if (!rc && tsr_db_begin(s->db))
        rc = tsr_store_sql_error(s, ctx, "begin a transaction");
    return rc;
}

tsr_status tsr_store_commit(tsr_store *s, tsr_ctx *ctx) {
    if (tsr_db_commit(s->db)) {
        tsr_status st = tsr_store_sql_error(s, ctx, "commit");
        tsr_store_rollback(s);
        return st;
    }
    return TSR_OK;
}

void tsr_store_rollback(tsr_store *s) {
    if (s->db)
        tsr_db_rollback(s->db);
}

tsr_status tsr_store_lock_rows(tsr_store *s, tsr_ctx *ctx, const char *sql, const char *text,
                               int64_t id) {
    tsr_db_stmt *st = NULL;
    if (tsr_db_kind_of(s->db) != TSR_DB_POSTGRESQL)
        return TSR_OK;
    tsr_status rc = tsr_store_prepare(s, ctx, sql, &st);
    if (rc)
        return rc;
    if (text)
        tsr_db_bind_text(st, 1, text);
    else
        tsr_db_bind_int64(st, 1, id);
    tsr_db_step_result step;
    while ((step = tsr_db_step(st)) == TSR_DB_ROW)
        ;
    if (step != TSR_DB_DONE)
        rc = tsr_store_sql_error(s, ctx, "lock rows");
    tsr_db_finalize(st);
    return rc;
}

const char *tsr_store_sql(const tsr_store *s, const char *sqlite_sql, const char *pg_sql) {
    return tsr_db_dialect(s->db, sqlite_sql, pg_sql);
}

void tsr_store_column_text(tsr_db_stmt *st, int col, char *buf, size_t size) {
    const char *t = tsr_db_column_text(st, col);
    snprintf(buf, size, "%s", t ? t : "");
}

char *tsr_store_column_strdup(tsr_db_stmt *st, int col, int *oom) {
    const char *t = tsr_db_column_text(st, col);
    if (!t)
        return NULL;
    char *copy = strdup(t);
    if (!copy)
        *oom = 1;
    return copy;
}

/* ---- migrations ---- */

/* Reads the schema version (0 for a new database). */
static tsr_status read_version(tsr_store *s, tsr_ctx *ctx, int *version) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx, "SELECT version FROM schema_version", &st);
    if (rc)
        return rc;
    tsr_db_step_result step = tsr_db_step(st);
    if (step == TSR_DB_ROW)
        *version = tsr_db_column_int(st, 0);
    else if (step == TSR_DB_DONE)
        *version = 0;
    else
        rc = tsr_store_sql_error(s, ctx, "read the schema version");
    tsr_db_finalize(st);
    return rc;
}

static int latest_version(void) {
    return tsr_store_migrations[tsr_store_migration_count - 1].version;
}

/* Runs migration `m` (in the open transaction). */
static tsr_status run_migration(tsr_store *s, tsr_ctx *ctx, const tsr_store_migration *m) {
    const char *fail = getenv(FAIL_MIGRATION_ENV);
    tsr_status rc = tsr_store_exec(s, ctx, m->sql);
    if (!rc && m->pg_extra && tsr_db_kind_of(s->db) == TSR_DB_POSTGRESQL)
        rc = tsr_store_exec(s, ctx, m->pg_extra);
    if (!rc && fail && atoi(fail) == m->version)
        rc =
            tsr_error(ctx, TSR_ERR_INTERNAL,
                      "store: migration %d failed on purpose (" FAIL_MIGRATION_ENV ")", m->version);
    return rc;
}

/* Takes the migration lock and makes sure schema_version exists. */
static tsr_status migration_start(tsr_store *s, tsr_ctx *ctx) {
    char sql[96];
    tsr_status rc = TSR_OK;
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d)", MIGRATION_LOCK_KEY);
    if (tsr_db_kind_of(s->db) == TSR_DB_POSTGRESQL)
        rc = tsr_store_exec(s, ctx, sql);
    if (!rc)
        rc = tsr_store_exec(s, ctx,
                            "CREATE TABLE IF NOT EXISTS schema_version("
                            "id INTEGER PRIMARY KEY CHECK (id = 1), "
                            "version INTEGER NOT NULL)");
    return rc;
}

tsr_status tsr_store_migrate(tsr_store *s, tsr_ctx *ctx) {
    int version = 0, latest = latest_version();
    char sql[160];
    tsr_status rc = tsr_store_begin(s, ctx);
    if (rc)
        return rc;
    if ((rc = migration_start(s, ctx)) || (rc = read_version(s, ctx, &version)))
        goto out;
    if (version > latest) {
        rc = tsr_error(ctx, TSR_ERR_FORMAT,
                       "store: the database has schema version %d, newer than this build's %d; "
                       "use a newer tessera",
                       version, latest);
        goto out;
    }
    for (size_t i = 0; !rc && i < tsr_store_migration_count; i++)
        if (tsr_store_migrations[i].version > version)
            rc = run_migration(s, ctx, &tsr_store_migrations[i]);
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_version(id, version) VALUES(1, %d) "
             "ON CONFLICT(id) DO UPDATE SET version = excluded.version",
             latest);
    if (rc || (version < latest && (rc = tsr_store_exec(s, ctx, sql))) ||
        (rc = tsr_store_commit(s, ctx)))
        goto out;
    s->schema_version = latest;
out:
    if (rc)
        tsr_store_rollback(s);
    return rc;
}

/* ---- opening the database ---- */

/* The URL the store opens: opts->db_url, else sqlite:DATA_DIR/tessera.db.
 * *given = whether it came from opts. */
static void db_url_of(tsr_store *s, const tsr_store_options *opts, char *url, size_t size,
                      bool *given) {
    *given = opts && opts->db_url && *opts->db_url;
    if (*given)
        snprintf(url, size, "%s", opts->db_url);
    else
        snprintf(url, size, "sqlite:%s/tessera.db", s->dir);
}

/* The database a data folder keeps its rows in is the one it is opened
 * with again: a folder whose blobs the rows of one database name, opened
 * with another (an empty one), would have every blob collected as garbage.
 * data_dir/db-url records a --db other than the default (password left
 * out); without it the folder's own tessera.db is the database. */
static tsr_status check_db_url(tsr_store *s, tsr_ctx *ctx, const char *url, bool given,
                               bool record) {
    char path[PATH_MAX], own_file[PATH_MAX], own[PATH_MAX + 16];
    char have[TSR_DB_URL_MAX] = "", want[TSR_DB_URL_MAX];
    snprintf(path, sizeof path, "%s/db-url", s->dir);
    snprintf(own_file, sizeof own_file, "%s/tessera.db", s->dir);
    snprintf(own, sizeof own, "sqlite:%s", own_file);
    if (given && strcmp(url, own))
        tsr_db_url_redact(url, want, sizeof want);
    else
        want[0] = '\0'; /* the folder's own database */
    FILE *f = fopen(path, "re");
    if (!f && errno != ENOENT)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot read %s: %s", path, strerror(errno));
    if (f) {
        size_t n = fread(have, 1, sizeof have - 1, f);
        fclose(f);
        have[n] = '\0';
        have[strcspn(have, "\n")] = '\0';
    }
    if (!strcmp(have, want))
        return TSR_OK;
    if (!have[0] && access(own_file, F_OK) == 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: the data folder %s keeps its metadata in its own tessera.db; "
                         "start it without --db",
                         s->dir);
    if (have[0])
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: the data folder %s keeps its metadata in %s (%s); start it "
                         "with --db %s (if that database moved, write its new URL there)",
                         s->dir, have, path, have);
    if (!record)
        return TSR_OK;
    char line[TSR_DB_URL_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", want);
    return tsr_file_write_atomic(ctx, path, line, (size_t)n);
}

tsr_status tsr_store_db_open(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts) {
    char url[TSR_DB_URL_MAX + PATH_MAX];
    bool given;
    tsr_db_kind kind;
    db_url_of(s, opts, url, sizeof url, &given);
    tsr_status rc = tsr_db_url_check(ctx, url, &kind);
    if (rc || (rc = check_db_url(s, ctx, url, given, false)) ||
        (rc = tsr_db_open(ctx, url, TSR_DB_CREATE, &s->db)) || (rc = tsr_store_migrate(s, ctx)))
        return rc;
    return check_db_url(s, ctx, url, given, true); /* recorded once it opened */
}

tsr_status tsr_store_db_open_reader(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts) {
    char url[TSR_DB_URL_MAX + PATH_MAX];
    bool given;
    tsr_db_kind kind;
    int version = 0;
    db_url_of(s, opts, url, sizeof url, &given);
    tsr_status rc = tsr_db_url_check(ctx, url, &kind);
    if (rc || (rc = check_db_url(s, ctx, url, given, false)))
        return rc;
    if (kind == TSR_DB_SQLITE && access(url + strlen("sqlite:"), F_OK) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: %s holds no tessera database (tessera.db)",
                         s->dir);
    if ((rc = tsr_db_open(ctx, url, TSR_DB_READ_ONLY, &s->db)) ||
        (rc = read_version(s, ctx, &version)))
        return rc;
    if (version > latest_version())
        return tsr_error(ctx, TSR_ERR_FORMAT,
                         "store: the database has schema version %d, newer than this build's %d; "
                         "use a newer tessera",
                         version, latest_version());
    s->schema_version = version;
    return TSR_OK;
}
