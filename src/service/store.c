/* Opening and closing the store, migrations, and the SQL helpers its files
 * share. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/store_internal.h"
#include "tessera/image.h"
#include "util/hex.h"
#include "util/random.h"

#define BUSY_TIMEOUT_MS 10000

static const char *const role_names[] = {"admin", "user", "viewer"};
static const char *const state_names[] = {"queued", "running", "succeeded", "failed", "cancelled"};

const char *tsr_role_name(tsr_role role) {
    return (unsigned)role < 3 ? role_names[role] : "viewer";
}

bool tsr_role_parse(const char *name, tsr_role *out) {
    for (int i = 0; i < 3; i++) {
        if (name && strcmp(name, role_names[i]) == 0) {
            *out = (tsr_role)i;
            return true;
        }
    }
    return false;
}

const char *tsr_job_state_name(tsr_job_state state) {
    return (unsigned)state < TSR_JOB_STATE_COUNT ? state_names[state] : "unknown";
}

bool tsr_job_state_terminal(tsr_job_state state) {
    return state == TSR_JOB_SUCCEEDED || state == TSR_JOB_FAILED || state == TSR_JOB_CANCELLED;
}

tsr_status tsr_store_sql_error(tsr_store *s, tsr_ctx *ctx, const char *what) {
    int code = sqlite3_extended_errcode(s->db);
    tsr_status st;
    switch (code & 0xff) {
    case SQLITE_NOMEM:
        st = TSR_ERR_NOMEM;
        break;
    case SQLITE_CONSTRAINT:
        st = TSR_ERR_USAGE;
        break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_PERM:
        st = TSR_ERR_IO;
        break;
    default:
        st = TSR_ERR_INTERNAL;
    }
    if (st != TSR_ERR_USAGE)
        atomic_fetch_add(&s->sql_errors, 1);
    return tsr_error(ctx, st, "store: %s: %s (sqlite error %d)", what, sqlite3_errmsg(s->db), code);
}

tsr_status tsr_store_exec(tsr_store *s, tsr_ctx *ctx, const char *sql) {
    if (!s->db)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: opened for blobs only (a worker's)");
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return tsr_store_sql_error(s, ctx, "run SQL");
    return TSR_OK;
}

tsr_status tsr_store_prepare(tsr_store *s, tsr_ctx *ctx, const char *sql, sqlite3_stmt **out) {
    *out = NULL;
    if (!s->db)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: opened for blobs only (a worker's)");
    if (sqlite3_prepare_v2(s->db, sql, -1, out, NULL) != SQLITE_OK)
        return tsr_store_sql_error(s, ctx, "prepare a statement");
    return TSR_OK;
}

tsr_status tsr_store_step_done(tsr_store *s, tsr_ctx *ctx, sqlite3_stmt *st, const char *what) {
    if (sqlite3_step(st) != SQLITE_DONE)
        return tsr_store_sql_error(s, ctx, what);
    return TSR_OK;
}

tsr_status tsr_store_begin(tsr_store *s, tsr_ctx *ctx) {
    return tsr_store_exec(s, ctx, "BEGIN IMMEDIATE");
}

tsr_status tsr_store_commit(tsr_store *s, tsr_ctx *ctx) {
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        tsr_status st = tsr_store_sql_error(s, ctx, "commit");
        tsr_store_rollback(s);
        return st;
    }
    return TSR_OK;
}

void tsr_store_rollback(tsr_store *s) {
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

tsr_status tsr_store_random_id(tsr_ctx *ctx, char id[TSR_STORE_ID_LEN + 1]) {
    return tsr_random_hex(ctx, id, TSR_STORE_ID_LEN);
}

bool tsr_store_id_valid(const char *id) {
    return tsr_hex_is_lower(id, TSR_STORE_ID_LEN);
}

void tsr_store_column_text(sqlite3_stmt *st, int col, char *buf, size_t size) {
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(buf, size, "%s", t ? (const char *)t : "");
}

char *tsr_store_column_strdup(sqlite3_stmt *st, int col, int *oom) {
    const unsigned char *t = sqlite3_column_text(st, col);
    if (!t)
        return NULL;
    char *copy = strdup((const char *)t);
    if (!copy)
        *oom = 1;
    return copy;
}

bool tsr_store_may_see(const tsr_store_user *caller, int64_t owner) {
    return caller && (caller->role == TSR_ROLE_ADMIN || caller->id == owner);
}

int64_t tsr_store_owner_filter(const tsr_store_user *caller) {
    return caller->role == TSR_ROLE_ADMIN ? -1 : caller->id;
}

/* Reads the schema version (0 for a new database); lock held, in a
 * transaction. */
static tsr_status read_version(tsr_store *s, tsr_ctx *ctx, int *version) {
    sqlite3_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx, "SELECT version FROM schema_version", &st);
    if (rc)
        goto out;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    else if (step == SQLITE_DONE)
        *version = 0;
    else
        rc = tsr_store_sql_error(s, ctx, "read the schema version");
out:
    sqlite3_finalize(st);
    return rc;
}

tsr_status tsr_store_migrate(tsr_store *s, tsr_ctx *ctx) {
    int version = 0, latest = tsr_store_migrations[tsr_store_migration_count - 1].version;
    tsr_status rc = tsr_store_exec(s, ctx,
                                   "CREATE TABLE IF NOT EXISTS schema_version("
                                   "id INTEGER PRIMARY KEY CHECK (id = 1), "
                                   "version INTEGER NOT NULL)");
    if (rc || (rc = tsr_store_begin(s, ctx)))
        return rc;
    if ((rc = read_version(s, ctx, &version)))
        goto out;
    if (version > latest) {
        rc = tsr_error(ctx, TSR_ERR_FORMAT,
                       "store: the database has schema version %d, newer than this build's %d; "
                       "use a newer tessera",
                       version, latest);
        goto out;
    }
    for (size_t i = 0; i < tsr_store_migration_count; i++) {
        if (tsr_store_migrations[i].version <= version)
            continue;
        if ((rc = tsr_store_exec(s, ctx, tsr_store_migrations[i].sql)))
            goto out;
    }
    if (version < latest) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "INSERT OR REPLACE INTO schema_version(id, version) VALUES(1, %d)", latest);
        if ((rc = tsr_store_exec(s, ctx, sql)))
            goto out;
    }
    rc = tsr_store_commit(s, ctx);
    s->schema_version = latest;
out:
    if (rc)
        tsr_store_rollback(s);
    return rc;
}

/* Creates `path` as a directory (0700) unless it exists as one. */
static tsr_status make_dir(tsr_ctx *ctx, const char *path) {
    struct stat sb;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot create directory %s: %s", path,
                         strerror(errno));
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tsr_error(ctx, TSR_ERR_IO, "store: %s is not a directory", path);
    return TSR_OK;
}

/* Takes the data directory's lock file so a second process cannot open it. */
static tsr_status lock_dir(tsr_store *s, tsr_ctx *ctx) {
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot open %s: %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return tsr_error(ctx, TSR_ERR_IO,
                         "store: data directory %s is in use by another tessera process (%s)",
                         s->dir, strerror(errno));
    return TSR_OK;
}

/* Opens tessera.db (created 0600) and sets WAL, synchronous=FULL, foreign
 * keys and the busy timeout. */
static tsr_status open_db(tsr_store *s, tsr_ctx *ctx) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/tessera.db", s->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot create %s: %s", path, strerror(errno));
    close(fd);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        if (!s->db)
            return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory opening %s", path);
        return tsr_store_sql_error(s, ctx, "open the database");
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    sqlite3_stmt *st = NULL;
    tsr_status rc = tsr_store_prepare(s, ctx, "PRAGMA journal_mode=WAL", &st);
    if (rc)
        return rc;
    const unsigned char *mode = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    bool wal = mode && strcmp((const char *)mode, "wal") == 0;
    sqlite3_finalize(st);
    if (!wal)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot put %s in WAL mode", path);
    return tsr_store_exec(s, ctx, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON");
}

/* Opens the store; `opts` as for tsr_store_open_with; `rotating` skips the
 * identity check (tsr_store_open_for_rotation). */
/* The blob store a data folder was first opened with, kept in
 * data_dir/store-url, must be the one it is opened with again: a restart
 * that forgot `--store s3://...` (or named another bucket or prefix) would
 * otherwise serve a store whose every blob is missing. The first open that
 * touches blobs and succeeds records it (record_store_url); metadata-only
 * opens (accounts) neither check nor record. */
static const char *store_url_of(const tsr_store_options *opts) {
    return opts && opts->store_url && *opts->store_url ? opts->store_url : "";
}

static tsr_status check_store_url(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts) {
    if (opts && opts->metadata_only)
        return TSR_OK;
    const char *url = store_url_of(opts);
    char path[PATH_MAX], have[1024] = "";
    snprintf(path, sizeof path, "%s/store-url", s->dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT
                   ? TSR_OK
                   : tsr_error(ctx, TSR_ERR_IO, "store: cannot read %s: %s", path, strerror(errno));
    size_t n = fread(have, 1, sizeof have - 1, f);
    fclose(f);
    have[n] = '\0';
    have[strcspn(have, "\n")] = '\0';
    if (!strcmp(have, url))
        return TSR_OK;
    if (!*have)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: this data folder keeps its blobs in its own blobs/ folder (%s); "
                         "start it without --store",
                         path);
    return tsr_error(ctx, TSR_ERR_USAGE,
                     "store: this data folder keeps its blobs in %s (%s); start it with --store %s",
                     have, path, have);
}

static tsr_status record_store_url(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts) {
    char path[PATH_MAX], line[1040];
    snprintf(path, sizeof path, "%s/store-url", s->dir);
    if ((opts && opts->metadata_only) || access(path, F_OK) == 0)
        return TSR_OK;
    int n = snprintf(line, sizeof line, "%s\n", store_url_of(opts));
    return tsr_file_write_atomic(ctx, path, line, (size_t)n);
}

/* A fresh handle on folder `dir` (its `what` names it in messages), with
 * its tmp/ path; nothing opened yet. */
static tsr_status store_new(tsr_ctx *ctx, const char *dir, const char *what, tsr_store **out) {
    *out = NULL;
    if (!dir || !*dir || strlen(dir) >= sizeof((tsr_store *)0)->dir)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: the %s directory path is empty or too long",
                         what);
    if (sodium_init() < 0)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "store: libsodium failed to initialise");
    tsr_store *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->lock_fd = -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->tmp, sizeof s->tmp, "%s/tmp", dir);
    *out = s;
    return TSR_OK;
}

static tsr_status open_store(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                             bool rotating, tsr_store **out) {
    tsr_store *s = NULL;
    tsr_status rc = store_new(ctx, data_dir, "data", &s);
    *out = NULL;
    if (rc)
        return rc;
    snprintf(s->blobs, sizeof s->blobs, "%s/blobs", data_dir);
    tsr_blob_backend_config blobs = {
        .url = opts ? opts->store_url : NULL,
        .default_dir = s->blobs,
        .tmp_dir = s->tmp,
        .s3_endpoint = opts ? opts->s3_endpoint : NULL,
    };
    if ((opts && opts->data_key_file &&
         (rc = tsr_blob_key_load(ctx, opts->data_key_file, &s->key))) ||
        (rc = tsr_blob_backend_new(ctx, &blobs, &s->backend)))
        goto out;
    if ((rc = make_dir(ctx, s->dir)) || (rc = lock_dir(s, ctx)) ||
        (!rotating && (rc = check_store_url(s, ctx, opts))) ||
        (rc = tsr_blob_dirs_prepare(s, ctx)) || (rc = tsr_blob_tmp_clean(s, ctx)) ||
        (!rotating && (rc = tsr_blob_identity_check(s, ctx, opts && opts->metadata_only))) ||
        (rc = open_db(s, ctx)) || (rc = tsr_store_migrate(s, ctx)) ||
        (rc = tsr_blob_collect_garbage(s, ctx)) ||
        (!rotating && (rc = record_store_url(s, ctx, opts))))
        goto out;
    *out = s;
out:
    if (rc)
        tsr_store_close(s);
    return rc;
}

tsr_status tsr_store_open_blobs(tsr_ctx *ctx, const char *work_dir, const tsr_store_options *opts,
                                tsr_store **out) {
    *out = NULL;
    if (!opts || !opts->store_url || !*opts->store_url)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: a worker needs the coordinators' store: --store "
                         "s3://BUCKET[/PREFIX] or --store file:DIR (a folder every host shares)");
    tsr_store *s = NULL;
    tsr_status rc = store_new(ctx, work_dir, "work", &s);
    if (rc)
        return rc;
    tsr_blob_backend_config blobs = {
        .url = opts->store_url, .tmp_dir = s->tmp, .s3_endpoint = opts->s3_endpoint};
    if ((opts->data_key_file && (rc = tsr_blob_key_load(ctx, opts->data_key_file, &s->key))) ||
        (rc = tsr_blob_backend_new(ctx, &blobs, &s->backend)) || (rc = make_dir(ctx, s->dir)) ||
        (rc = lock_dir(s, ctx)) || (rc = tsr_blob_dirs_prepare(s, ctx)) ||
        (rc = tsr_blob_tmp_clean(s, ctx))) {
        tsr_store_close(s);
        return rc;
    }
    *out = s;
    return TSR_OK;
}

tsr_status tsr_store_open(tsr_ctx *ctx, const char *data_dir, tsr_store **out) {
    return open_store(ctx, data_dir, NULL, false, out);
}

tsr_status tsr_store_open_with(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                               tsr_store **out) {
    return open_store(ctx, data_dir, opts, false, out);
}

tsr_status tsr_store_open_for_rotation(tsr_ctx *ctx, const char *data_dir,
                                       const tsr_store_options *opts, tsr_store **out) {
    tsr_store_options blobs_only = {
        .store_url = opts ? opts->store_url : NULL,
        .s3_endpoint = opts ? opts->s3_endpoint : NULL,
    };
    return open_store(ctx, data_dir, &blobs_only, true, out);
}

/* Opens data_dir/tessera.db for reading beside a server that may be
 * writing it: its own connection, query_only, no migrations. */
static tsr_status open_db_reader(tsr_store *s, tsr_ctx *ctx) {
    char path[PATH_MAX + 16];
    int version = 0, latest = tsr_store_migrations[tsr_store_migration_count - 1].version;
    snprintf(path, sizeof path, "%s/tessera.db", s->dir);
    if (access(path, F_OK) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: %s holds no tessera database (tessera.db)",
                         s->dir);
    /* read-write (never written: query_only) so WAL's shared memory works */
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) !=
        SQLITE_OK) {
        if (!s->db)
            return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory opening %s", path);
        return tsr_store_sql_error(s, ctx, "open the database");
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    tsr_status rc = tsr_store_exec(s, ctx, "PRAGMA query_only=1");
    if (rc || (rc = read_version(s, ctx, &version)))
        return rc;
    if (version > latest)
        return tsr_error(ctx, TSR_ERR_FORMAT,
                         "store: the database has schema version %d, newer than this build's %d; "
                         "use a newer tessera",
                         version, latest);
    s->schema_version = version;
    return TSR_OK;
}

/* The checks of a reader's identity: no interrupted rotation, a key only
 * on an encrypted store (and then its key). */
static tsr_status check_reader_identity(tsr_store *s, tsr_ctx *ctx) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/rotation", s->dir);
    if (access(path, F_OK) == 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: a key rotation of %s is running or was interrupted; finish it "
                         "first (tessera data rotate-key)",
                         s->dir);
    snprintf(path, sizeof path, "%s/keycheck", s->dir);
    if (s->key && access(path, F_OK) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: %s is not encrypted; leave out --data-key",
                         s->dir);
    return tsr_blob_identity_check(s, ctx, true);
}

tsr_status tsr_store_open_reader(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                                 tsr_store **out) {
    tsr_store *s = NULL;
    tsr_status rc = store_new(ctx, data_dir, "data", &s);
    *out = NULL;
    if (rc)
        return rc;
    snprintf(s->blobs, sizeof s->blobs, "%s/blobs", data_dir);
    tsr_blob_backend_config blobs = {
        .url = opts ? opts->store_url : NULL,
        .default_dir = s->blobs,
        .tmp_dir = s->tmp,
        .s3_endpoint = opts ? opts->s3_endpoint : NULL,
    };
    if ((rc = open_db_reader(s, ctx)) ||
        (opts && opts->data_key_file &&
         (rc = tsr_blob_key_load(ctx, opts->data_key_file, &s->key))) ||
        (rc = tsr_blob_backend_new(ctx, &blobs, &s->backend)) ||
        (rc = check_store_url(s, ctx, opts)) || (rc = check_reader_identity(s, ctx)) ||
        (rc = make_dir(ctx, s->tmp)) || /* S3 downloads land there; serve makes it too */
        (rc = s->backend->ops->prepare(s->backend, ctx))) {
        tsr_store_close(s);
        return rc;
    }
    *out = s;
    return TSR_OK;
}

bool tsr_store_encrypted(const tsr_store *store) {
    return store->key != NULL;
}

bool tsr_store_blob_paths_stable(const tsr_store *store) {
    return !store->key && store->backend->ops->path != NULL;
}

void tsr_store_close(tsr_store *store) {
    if (!store)
        return;
    tsr_blob_key_free(store->key);
    tsr_blob_backend_free(store->backend);
    sqlite3_close_v2(store->db);
    if (store->lock_fd >= 0)
        close(store->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&store->lock);
    free(store);
}

int tsr_store_schema_version(tsr_store *store) {
    return store->schema_version;
}
