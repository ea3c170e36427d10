/* Private parts of the store shared by its files: the handle, SQL helpers. */
#ifndef TESSERA_SERVICE_STORE_INTERNAL_H
#define TESSERA_SERVICE_STORE_INTERNAL_H

#include <limits.h>
#include <pthread.h>

#include <stdatomic.h>

#include "service/blob_backend.h"
#include "service/blob_crypt.h"
#include "service/db.h"
#include "service/store.h"

struct tsr_store {
    pthread_mutex_t lock;      /* held for the whole of every public call */
    tsr_db *db;                /* the one connection, used under `lock`; NULL for a worker */
    int lock_fd;               /* data_dir/lock, flock'ed against other processes */
    int schema_version;        /* after migrations */
    char dir[PATH_MAX - 128];  /* data_dir (sized so derived paths fit PATH_MAX) */
    char blobs[PATH_MAX - 64]; /* data_dir/blobs: the files backend's default directory */
    char tmp[PATH_MAX - 64];   /* data_dir/tmp */
    tsr_blob_backend *backend; /* where committed blobs live (owned) */
    tsr_blob_key *key;         /* data key (owned); NULL = blobs stored as plaintext */
    bool blobs_refused;        /* encrypted store opened metadata-only: blob calls refused */
    atomic_uint_fast64_t integrity_failures; /* blobs that failed their check since open */
    atomic_uint_fast64_t sql_errors;         /* failed database calls since open (store_stats.h) */
    char lease_owner[128]; /* the coordinator leasing jobs (store_lease.h); "" = no leases */
    int64_t lease_ms;      /* how long a lease lasts after each renewal */
};

/* One migration: a version number and the SQL that brings the schema to it. */
typedef struct tsr_store_migration {
    int version;          /* 1, 2, ... in order */
    const char *sql;      /* statements run in one transaction (SQLite's dialect, translated
                             for PostgreSQL: db.h) */
    const char *pg_extra; /* PostgreSQL only, run after `sql`: what SQLite has built in
                             (rowid columns, helper functions); NULL = none */
} tsr_store_migration;

extern const tsr_store_migration tsr_store_migrations[];
extern const size_t tsr_store_migration_count;

/* The query listing every blob a database of schema `version` refers to
 * (migrations.c): rows (id, kind "image"|"result"|"thumbnail", the
 * plaintext's SHA-256 or NULL, its size or NULL). */
const char *tsr_store_blob_refs_sql(int version);

/* Runs the migrations the database lacks, all in one transaction (store_db.c;
 * lock held). */
tsr_status tsr_store_migrate(tsr_store *s, tsr_ctx *ctx);
/* Opens the database `opts->db_url` names (default data_dir/tessera.db)
 * after checking it is the data folder's (db-url, recorded at the first
 * open), then migrates it (store_db.c). */
tsr_status tsr_store_db_open(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts);
/* The same for a reader beside a server: read-only, no migrations, a
 * schema newer than this build refused. */
tsr_status tsr_store_db_open_reader(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts);

/* Records the connection's last database error as a status on ctx; `what`
 * names the action ("insert image"). Every error but a constraint
 * violation counts in tsr_store_errors. */
tsr_status tsr_store_sql_error(tsr_store *s, tsr_ctx *ctx, const char *what);
/* Runs SQL without results. */
tsr_status tsr_store_exec(tsr_store *s, tsr_ctx *ctx, const char *sql);
/* Prepares one statement; *out is finalized by the caller. */
tsr_status tsr_store_prepare(tsr_store *s, tsr_ctx *ctx, const char *sql, tsr_db_stmt **out);
/* Steps a statement that returns no rows (INSERT/UPDATE/DELETE). */
tsr_status tsr_store_step_done(tsr_store *s, tsr_ctx *ctx, tsr_db_stmt *st, const char *what);
/* Transactions: BEGIN (IMMEDIATE on SQLite), COMMIT, ROLLBACK (rollback
 * never fails). */
tsr_status tsr_store_begin(tsr_store *s, tsr_ctx *ctx);
tsr_status tsr_store_commit(tsr_store *s, tsr_ctx *ctx);
void tsr_store_rollback(tsr_store *s);
/* Inside a transaction, locks the rows `sql` selects (a SELECT ... FOR
 * UPDATE binding ?1 = `text` when not NULL, else ?1 = `id`) until its end:
 * on PostgreSQL, what SQLite's writer lock (BEGIN IMMEDIATE) gives for
 * free against other coordinators on the same database. Nothing on
 * SQLite. */
tsr_status tsr_store_lock_rows(tsr_store *s, tsr_ctx *ctx, const char *sql, const char *text,
                               int64_t id);
/* `sqlite_sql` or `pg_sql` for the store's database (tsr_db_dialect). */
const char *tsr_store_sql(const tsr_store *s, const char *sqlite_sql, const char *pg_sql);

/* Writes a fresh random 128-bit id as 32 hex digits. Fails only when the
 * kernel gives no random bytes (message on ctx). */
tsr_status tsr_store_random_id(tsr_ctx *ctx, char id[TSR_STORE_ID_LEN + 1]);
/* Copies a column's text into a fixed buffer of `size` bytes (truncating);
 * NULL becomes "". */
void tsr_store_column_text(tsr_db_stmt *st, int col, char *buf, size_t size);
/* A malloc'ed copy of a column's text, or NULL when the column is NULL.
 * Sets *oom when the copy failed for lack of memory. */
char *tsr_store_column_strdup(tsr_db_stmt *st, int col, int *oom);
/* Whether the caller may see an object owned by `owner`. */
bool tsr_store_may_see(const tsr_store_user *caller, int64_t owner);
/* Binds an owner filter: the caller's id, or -1 (= any) for an admin. Used
 * with SQL "(?N < 0 OR owner = ?N)". */
int64_t tsr_store_owner_filter(const tsr_store_user *caller);

/* Blob store internals (blobstore.c; lock not needed). */
tsr_status tsr_blob_dirs_prepare(tsr_store *s, tsr_ctx *ctx);
tsr_status tsr_blob_tmp_clean(tsr_store *s, tsr_ctx *ctx);
/* Removes blobs no row refers to (store lock held, at open). */
tsr_status tsr_blob_collect_garbage(tsr_store *s, tsr_ctx *ctx);
/* Removes blob `id`, ignoring a missing one; `ctx` may be NULL (the outcome
 * is then only returned). */
tsr_status tsr_blob_remove(tsr_store *s, tsr_ctx *ctx, const char *id);

/* Encryption at rest (blobstore.c, blob_keys.c; store lock not needed). */
/* Checks the store's identity against its key at open (store.h,
 * tsr_store_open_with); writes the keycheck of a fresh encrypted store. */
tsr_status tsr_blob_identity_check(tsr_store *s, tsr_ctx *ctx, bool metadata_only);
/* Makes the synced file `temp` blob `id` through the backend: on success
 * `temp` is gone, on failure the caller removes it. */
tsr_status tsr_blob_install(tsr_store *s, tsr_ctx *ctx, const char *temp, const char *id);
/* Creates a fresh empty file tmp/<random>.part: its path in `path`
 * (PATH_MAX bytes), its open (read-write) fd in *fd. */
tsr_status tsr_blob_create_temp(tsr_store *s, tsr_ctx *ctx, char *path, int *fd);
/* Opens the store for a rotation: locked, no identity check (blob_keys.c);
 * `opts` (may be NULL) names the blob store. */
tsr_status tsr_store_open_for_rotation(tsr_ctx *ctx, const char *data_dir,
                                       const tsr_store_options *opts, tsr_store **out);

/* Opens the store of `data_dir` for reading beside a server that may be
 * running on it (backup, verify; store.c): no lock, no migrations, no
 * cleaning of tmp/ or blobs, the database through its own connection in
 * query_only mode. The folder must hold a database of a schema this build
 * knows; `opts->store_url` must be the folder's store; a key must be the
 * store's (keycheck), and an encrypted store opened without its key refuses
 * blob reads (blobs_refused) but may still be backed up as stored. */
tsr_status tsr_store_open_reader(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                                 tsr_store **out);

#endif
