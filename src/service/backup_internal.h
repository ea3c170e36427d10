/* Private parts of backup, restore and verify (backup.h): the backup
 * location (backup_dest.c), the SQLite side (backup_db.c) and file helpers
 * (backup_files.c). */
#ifndef TESSERA_SERVICE_BACKUP_INTERNAL_H
#define TESSERA_SERVICE_BACKUP_INTERNAL_H

#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "service/backup.h"
#include "service/backup_manifest.h"
#include "service/db.h"

#define TSR_BACKUP_WORK_MAX (PATH_MAX - 64) /* bytes of a work folder's path */

/* ---- the backup location (backup_dest.c) ---- */

/* A backup location: a folder or s3://BUCKET[/PREFIX]. Object names are
 * relative to it: "blobs/<sha256>", "snapshots/<name>/manifest.json". */
typedef struct tsr_backup_dest tsr_backup_dest;

/* Called once per object by tsr_backup_dest_list; non-zero stops it. */
typedef int (*tsr_backup_name_fn)(void *arg, const char *name, uint64_t size);

/* Opens location `where` (a folder path, or "s3://..." with `endpoint`,
 * NULL = $TESSERA_S3_ENDPOINT). With `create` a missing folder is made
 * (0700); without it a missing folder is TSR_ERR_USAGE. An S3 bucket must
 * answer (tsr_s3_check). Downloads land in `work_dir` (unlinked at once).
 * The caller frees *out with tsr_backup_dest_free. */
tsr_status tsr_backup_dest_open(tsr_ctx *ctx, const char *where, const char *endpoint, bool create,
                                const char *work_dir, tsr_backup_dest **out);
/* Frees a location. Accepts NULL. */
void tsr_backup_dest_free(tsr_backup_dest *d);
/* The location as given (for messages). Borrowed. */
const char *tsr_backup_dest_where(const tsr_backup_dest *d);
/* Stores all of `fd` (borrowed, read from offset 0) as object `name`,
 * wholly or not at all: a folder's file is written beside, synced and
 * renamed; an S3 object carries its SHA-256. */
tsr_status tsr_backup_dest_put(tsr_backup_dest *d, tsr_ctx *ctx, const char *name, int fd);
/* Makes the names of the blobs put so far durable (a folder's blobs/ is
 * synced once rather than after each blob); call before the manifest. */
tsr_status tsr_backup_dest_flush(tsr_backup_dest *d, tsr_ctx *ctx);
/* Opens object `name`: *fd (read-only, the caller closes it) or *found =
 * false. An S3 object is downloaded and checked against its SHA-256
 * (TSR_ERR_CORRUPT on a mismatch). */
tsr_status tsr_backup_dest_get(tsr_backup_dest *d, tsr_ctx *ctx, const char *name, bool *found,
                               int *fd);
/* Removes object `name`; a missing one is not an error. */
tsr_status tsr_backup_dest_remove(tsr_backup_dest *d, tsr_ctx *ctx, const char *name);
/* Calls fn for every object whose name starts with `dir` ("blobs/",
 * "snapshots/"), with its full name and size. */
tsr_status tsr_backup_dest_list(tsr_backup_dest *d, tsr_ctx *ctx, const char *dir,
                                tsr_backup_name_fn fn, void *arg);

/* One snapshot found in a location. */
typedef struct tsr_backup_snapshot {
    char name[TSR_BACKUP_NAME_MAX + 1]; /* its name */
    bool complete;                      /* has its manifest (an interrupted backup has none) */
} tsr_backup_snapshot;

/* The location's snapshots, oldest first. The caller frees *out. */
tsr_status tsr_backup_dest_snapshots(tsr_backup_dest *d, tsr_ctx *ctx, tsr_backup_snapshot **out,
                                     size_t *count);
/* Reads and decodes the manifest of snapshot `name` into *out (cleared
 * with tsr_manifest_clear). A missing manifest is TSR_ERR_USAGE, a damaged
 * one TSR_ERR_CORRUPT, both naming the snapshot. */
tsr_status tsr_backup_dest_manifest(tsr_backup_dest *d, tsr_ctx *ctx, const char *name,
                                    tsr_manifest *out);
/* One blob a location holds. */
typedef struct tsr_backup_blob_entry {
    char sha[TSR_STORE_SHA256_LEN + 1]; /* its name: the SHA-256 of its bytes */
    uint64_t bytes;                     /* its size as listed */
} tsr_backup_blob_entry;

/* A sorted set of blobs a location holds. */
typedef struct tsr_backup_blob_set {
    tsr_backup_blob_entry *items; /* owned; sorted by sha */
    size_t count;                 /* entries in use */
    size_t cap;                   /* entries allocated */
} tsr_backup_blob_set;

/* The blobs the location holds (blobs/<sha256>). Clear *out with
 * tsr_backup_blob_set_clear. */
tsr_status tsr_backup_dest_blobs(tsr_backup_dest *d, tsr_ctx *ctx, tsr_backup_blob_set *out);
bool tsr_backup_blob_set_has(const tsr_backup_blob_set *set, const char *sha, uint64_t *bytes);
/* Adds `sha` (keeping the set sorted); a present one gets the new size. */
tsr_status tsr_backup_blob_set_add(tsr_ctx *ctx, tsr_backup_blob_set *set, const char *sha,
                                   uint64_t bytes);
/* Frees the entries. Accepts NULL. */
void tsr_backup_blob_set_clear(tsr_backup_blob_set *set);

/* ---- the database side (backup_db.c) ---- */

/* What kind of row refers to a blob. */
typedef enum tsr_blob_ref_kind {
    TSR_REF_IMAGE = 0, /* images.blob: an uploaded original */
    TSR_REF_THUMBNAIL, /* images.thumb_blob */
    TSR_REF_RESULT     /* job_items.result_blob */
} tsr_blob_ref_kind;

/* One blob a database refers to. */
typedef struct tsr_blob_ref {
    char id[TSR_STORE_ID_LEN + 1];         /* the blob id */
    tsr_blob_ref_kind kind;                /* who refers to it */
    char sha256[TSR_STORE_SHA256_LEN + 1]; /* images: SHA-256 of the plaintext; "" otherwise */
    int64_t bytes;                         /* images, results: plaintext size; -1 unknown */
} tsr_blob_ref;

/* "image", "thumbnail", "result". */
const char *tsr_blob_ref_kind_name(tsr_blob_ref_kind kind);
/* Copies database `src` (an open connection; a server may be writing it)
 * into a new file `path` with SQLite's online backup API: one consistent
 * read transaction. The copy is a single file (rollback journal mode). */
tsr_status tsr_backup_db_copy(tsr_ctx *ctx, sqlite3 *src, const char *path);
/* Opens the database file `path` read-only (no journal left behind); a
 * file that is not a database is TSR_ERR_CORRUPT. */
tsr_status tsr_backup_db_open(tsr_ctx *ctx, const char *path, tsr_db **out);
/* Its schema version (schema_version table; 0 when none). */
tsr_status tsr_backup_db_schema(tsr_ctx *ctx, tsr_db *db, int *version);
/* Runs PRAGMA integrity_check: *problems = NULL when "ok", else a
 * malloc'ed text of its findings (first lines), which the caller frees.
 * A PostgreSQL database has nothing to check here (*problems = NULL). */
tsr_status tsr_backup_db_integrity(tsr_ctx *ctx, tsr_db *db, char **problems);
/* Every blob the database refers to, sorted by id, each once, in one read
 * transaction. The caller frees *out. */
tsr_status tsr_backup_db_refs(tsr_ctx *ctx, tsr_db *db, int schema_version, tsr_blob_ref **out,
                              size_t *count);
/* Whether the database refers to blob `id` now (*used). */
tsr_status tsr_backup_db_references(tsr_ctx *ctx, tsr_db *db, int schema_version, const char *id,
                                    bool *used);
/* The ref with `id` in a sorted list, or NULL. */
const tsr_blob_ref *tsr_blob_ref_find(const tsr_blob_ref *refs, size_t count, const char *id);

/* ---- PostgreSQL metadata (backup_pg.c) ---- */

/* Starts a REPEATABLE READ transaction on `db` (the live store's reader
 * connection), exports its snapshot and runs pg_dump --format=custom of
 * that snapshot into `path`. On success the transaction stays open, so
 * what the caller reads next (schema version, blob list) is the dump's
 * instant; the caller ends it with tsr_db_rollback. `url` is the --db. */
tsr_status tsr_backup_pg_dump(tsr_ctx *ctx, tsr_db *db, const char *url, const char *path);
/* Restores pg_dump archive `path` into the database `url`, which must have
 * no tables (TSR_ERR_USAGE otherwise), in one transaction: wholly or not
 * at all. */
tsr_status tsr_backup_pg_restore(tsr_ctx *ctx, const char *url, const char *path);
/* Reads archive `path` through pg_restore --list: *problems = NULL when it
 * reads, else a malloc'ed message (the caller frees). */
tsr_status tsr_backup_pg_check(tsr_ctx *ctx, const char *path, char **problems);

/* ---- files (backup_files.c) ---- */

/* Hashes all of `fd` from offset 0: hex SHA-256 into `sha`, size into
 * *bytes. `what` names it in messages. */
tsr_status tsr_backup_hash_fd(tsr_ctx *ctx, int fd, const char *what,
                              char sha[TSR_STORE_SHA256_LEN + 1], uint64_t *bytes);
/* Copies all of `in` (from offset 0) to `out` (at its position), hashing
 * the bytes on the way. */
tsr_status tsr_backup_copy_fd(tsr_ctx *ctx, int in, int out, const char *what,
                              char sha[TSR_STORE_SHA256_LEN + 1], uint64_t *bytes);
/* Reads all of `fd` (from offset 0, at most `max` bytes) into a malloc'ed
 * NUL-terminated buffer *out of *len bytes. */
tsr_status tsr_backup_read_fd(tsr_ctx *ctx, int fd, uint64_t max, const char *what, char **out,
                              size_t *len);
/* Makes a private work folder ($TMPDIR or /tmp, "tessera-backup-XXXXXX")
 * and writes its path into `path`. */
tsr_status tsr_backup_work_dir(tsr_ctx *ctx, char path[TSR_BACKUP_WORK_MAX]);
/* Removes `path` and everything under it (best effort; symlinks are not
 * followed). */
void tsr_backup_remove_tree(const char *path);
/* Whether `path` is absent or an empty folder (*empty); an unreadable one
 * is TSR_ERR_IO, a file TSR_ERR_USAGE. */
tsr_status tsr_backup_dir_empty(tsr_ctx *ctx, const char *path, bool *exists, bool *empty);
/* Reads data_dir/keycheck: its bytes as hex into *hex (malloc'ed, NULL when
 * the store is plaintext) and the fingerprint of its key into `fp` ("" when
 * plaintext). */
tsr_status tsr_backup_read_keycheck(tsr_ctx *ctx, const char *data_dir, char **hex,
                                    char fp[TSR_MANIFEST_FP_HEX + 1]);

/* ---- verify's report (verify.c) ---- */

/* Adds a problem (object and printf-style message) to `r`; past
 * TSR_VERIFY_LIST_MAX it is only counted. Fails only out of memory. */
tsr_status tsr_verify_add_problem(tsr_ctx *ctx, tsr_verify_report *r, const char *object,
                                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Adds an orphan's name to `r` (counted past TSR_VERIFY_LIST_MAX). */
tsr_status tsr_verify_add_orphan(tsr_ctx *ctx, tsr_verify_report *r, const char *name);

#endif
