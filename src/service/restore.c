/* `tessera restore`: rebuilds an empty data folder and its blob store from
 * a backup snapshot (backup.h). Everything is built in a hidden folder
 * beside the target (`.NAME.restore-XXXXXX`, same file system) and renamed
 * into place at the very end, so the target is either absent/empty or
 * wholly restored. Every byte read from the backup is checked against the
 * manifest (size and SHA-256) before it is used. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/backup_internal.h"
#include "service/blob_backend.h"
#include "service/blob_crypt.h"
#include "service/store_internal.h"
#include "tessera/image.h"
#include "util/hex.h"

/* One restore in progress. */
typedef struct restore_run {
    const tsr_restore_request *req;   /* borrowed */
    tsr_restore_report *report;       /* borrowed */
    tsr_backup_dest *src;             /* owned */
    char work[TSR_BACKUP_WORK_MAX];   /* private work folder for downloads (removed) */
    char stage[PATH_MAX - 256];       /* the folder being built beside the target */
    char stage_tmp[PATH_MAX - 128];   /* stage/tmp: blobs on their way in */
    char stage_blobs[PATH_MAX - 128]; /* stage/blobs: the default files store */
    tsr_manifest manifest;            /* the snapshot's */
    tsr_blob_backend *target;         /* where blobs go (owned) */
    bool external;                    /* the target store is not inside the stage */
    bool pg_restored;                 /* the metadata went into the --db PostgreSQL database */
    size_t installed;                 /* manifest blobs put into the target so far */
} restore_run;

/* The target must be absent or an empty folder. */
static tsr_status check_target(tsr_ctx *ctx, const char *data_dir) {
    bool exists = false, empty = false;
    if (!data_dir || !*data_dir)
        return tsr_error(ctx, TSR_ERR_USAGE, "restore: no data folder given (--data DIR)");
    tsr_status rc = tsr_backup_dir_empty(ctx, data_dir, &exists, &empty);
    if (!rc && exists && !empty)
        rc = tsr_error(ctx, TSR_ERR_USAGE,
                       "restore: %s is not empty; restore rebuilds an absent or empty data folder "
                       "(move the old one aside first)",
                       data_dir);
    return rc;
}

/* Picks the snapshot: the one asked for, else the latest complete one. */
static tsr_status pick_snapshot(restore_run *run, tsr_ctx *ctx,
                                char name[TSR_BACKUP_NAME_MAX + 1]) {
    tsr_backup_snapshot *snaps = NULL;
    size_t n = 0;
    name[0] = '\0';
    if (run->req->snapshot) {
        if (!tsr_backup_snapshot_name_valid(run->req->snapshot))
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "restore: '%.40s' is not a snapshot name (like 20261207T101500.123Z)",
                             run->req->snapshot);
        snprintf(name, TSR_BACKUP_NAME_MAX + 1, "%s", run->req->snapshot);
        return TSR_OK;
    }
    tsr_status rc = tsr_backup_dest_snapshots(run->src, ctx, &snaps, &n);
    for (size_t i = n; !rc && i-- > 0;) {
        if (snaps[i].complete) {
            snprintf(name, TSR_BACKUP_NAME_MAX + 1, "%s", snaps[i].name);
            break;
        }
    }
    free(snaps);
    if (!rc && !name[0])
        rc = tsr_error(ctx, TSR_ERR_USAGE, "restore: %s holds no complete snapshot",
                       tsr_backup_dest_where(run->src));
    return rc;
}

/* With --data-key, the key must be the one the backup's store used. */
static tsr_status check_key(restore_run *run, tsr_ctx *ctx) {
    const char *fp = run->manifest.key_fingerprint;
    char have[2 * TSR_BLOB_FP_BYTES + 1];
    tsr_blob_key *key = NULL;
    if (!run->req->store.data_key_file)
        return TSR_OK;
    if (!fp[0])
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "restore: snapshot %s is of a plaintext store; leave out --data-key",
                         run->manifest.snapshot);
    tsr_status rc = tsr_blob_key_load(ctx, run->req->store.data_key_file, &key);
    if (rc)
        return rc;
    tsr_blob_fingerprint_hex(tsr_blob_key_fingerprint(key), have);
    tsr_blob_key_free(key);
    if (strcmp(have, fp) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "restore: --data-key is not the key of snapshot %s: its store was "
                         "encrypted under key fingerprint %s, --data-key has fingerprint %s",
                         run->manifest.snapshot, fp, have);
    return TSR_OK;
}

/* Creates the hidden stage folder beside the target, with tmp/ and blobs/. */
static tsr_status make_stage(restore_run *run, tsr_ctx *ctx) {
    char copy[PATH_MAX], base_copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", run->req->data_dir);
    snprintf(base_copy, sizeof base_copy, "%s", run->req->data_dir);
    const char *parent = dirname(copy), *base = basename(base_copy);
    if (snprintf(run->stage, sizeof run->stage, "%s/.%s.restore-XXXXXX", parent, base) >=
        (int)sizeof run->stage - 16)
        return tsr_error(ctx, TSR_ERR_USAGE, "restore: the path %s is too long",
                         run->req->data_dir);
    if (!mkdtemp(run->stage)) {
        tsr_status rc = tsr_error(ctx, TSR_ERR_IO, "restore: cannot create a folder in %s: %s",
                                  parent, strerror(errno));
        run->stage[0] = '\0';
        return rc;
    }
    snprintf(run->stage_tmp, sizeof run->stage_tmp, "%s/tmp", run->stage);
    snprintf(run->stage_blobs, sizeof run->stage_blobs, "%s/blobs", run->stage);
    if (mkdir(run->stage_tmp, 0700) != 0 || mkdir(run->stage_blobs, 0700) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "restore: cannot create folders in %s: %s", run->stage,
                         strerror(errno));
    return TSR_OK;
}

/* Copies object `name` of the backup into a new file `path` (0600),
 * checking its size and SHA-256 against `bytes` and `sha`; `what` names it
 * in messages. The file is synced when it goes to an outside store. */
static tsr_status fetch_checked(restore_run *run, tsr_ctx *ctx, const char *name, const char *path,
                                uint64_t bytes, const char *sha, const char *what) {
    char got_sha[TSR_STORE_SHA256_LEN + 1];
    uint64_t got = 0;
    bool found = false;
    int in = -1, out = -1;
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "restore: out of memory");
    tsr_status rc = tsr_backup_dest_get(run->src, scratch, name, &found, &in);
    if (!rc && !found)
        rc = tsr_error(scratch, TSR_ERR_CORRUPT, "%s is missing", name);
    if (!rc && (out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
        rc = tsr_error(ctx, TSR_ERR_IO, "restore: cannot create %s: %s", path, strerror(errno));
    if (!rc && !(rc = tsr_backup_copy_fd(scratch, in, out, name, got_sha, &got))) {
        if (got != bytes)
            rc = tsr_error(scratch, TSR_ERR_CORRUPT,
                           "%s is truncated or grown: %llu bytes, the manifest says %llu", name,
                           (unsigned long long)got, (unsigned long long)bytes);
        else if (strcmp(got_sha, sha) != 0)
            rc = tsr_error(scratch, TSR_ERR_CORRUPT,
                           "%s failed its SHA-256 check (the bytes were changed)", name);
        else if (run->external && fsync(out) != 0) /* the stage is synced whole at the end */
            rc = tsr_error(scratch, TSR_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
    }
    if (rc)
        tsr_error(ctx, rc, "restore: snapshot %s: %s: %s", run->manifest.snapshot, what,
                  tsr_ctx_message(scratch));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    tsr_ctx_free(scratch);
    return rc;
}

/* Checks restored metadata: a schema this build knows, every blob it names
 * in the manifest. */
static tsr_status check_restored(restore_run *run, tsr_ctx *ctx, tsr_db *db) {
    const tsr_manifest *m = &run->manifest;
    int latest = tsr_store_migrations[tsr_store_migration_count - 1].version, version = 0;
    tsr_blob_ref *refs = NULL;
    size_t n = 0;
    tsr_status rc = tsr_backup_db_schema(ctx, db, &version);
    if (rc)
        return rc;
    if (version < 1 || version > latest)
        return tsr_error(ctx, version < 1 ? TSR_ERR_CORRUPT : TSR_ERR_FORMAT,
                         "restore: snapshot %s: the metadata has schema version %d; this build "
                         "reads 1 to %d",
                         m->snapshot, version, latest);
    if ((rc = tsr_backup_db_refs(ctx, db, version, &refs, &n)))
        return rc;
    for (size_t i = 0; !rc && i < n; i++)
        if (!tsr_manifest_find(m, refs[i].id))
            rc = tsr_error(ctx, TSR_ERR_CORRUPT,
                           "restore: snapshot %s: the metadata refers to blob %s, which its "
                           "manifest lacks",
                           m->snapshot, refs[i].id);
    run->report->schema_version = version;
    free(refs);
    return rc;
}

/* Fetches metadata.db as stage/tessera.db and checks it: integrity, then
 * check_restored. */
static tsr_status restore_metadata(restore_run *run, tsr_ctx *ctx) {
    char name[TSR_BACKUP_NAME_MAX + 64], path[PATH_MAX], *problems = NULL;
    const tsr_manifest *m = &run->manifest;
    tsr_db *db = NULL;
    snprintf(name, sizeof name, TSR_BACKUP_SNAPSHOTS_DIR "%s/" TSR_BACKUP_METADATA, m->snapshot);
    snprintf(path, sizeof path, "%s/tessera.db", run->stage);
    tsr_status rc =
        fetch_checked(run, ctx, name, path, m->metadata_bytes, m->metadata_sha256, "metadata");
    if (rc || (rc = tsr_backup_db_open(ctx, path, &db)) ||
        (rc = tsr_backup_db_integrity(ctx, db, &problems)))
        goto out;
    if (problems)
        rc = tsr_error(ctx, TSR_ERR_CORRUPT,
                       "restore: snapshot %s: metadata.db fails PRAGMA integrity_check: %s",
                       m->snapshot, problems);
    else
        rc = check_restored(run, ctx, db);
out:
    tsr_db_close(db);
    free(problems);
    return rc;
}

/* The PostgreSQL metadata of a snapshot (metadata.dump) goes into the
 * empty database --db names, with pg_restore in one transaction, and is
 * checked there (check_restored). */
static tsr_status restore_pg_metadata(restore_run *run, tsr_ctx *ctx) {
    char name[TSR_BACKUP_NAME_MAX + 64], path[PATH_MAX];
    const tsr_manifest *m = &run->manifest;
    const char *url = run->req->store.db_url;
    tsr_db *db = NULL;
    if (!url || (strncmp(url, "postgresql://", 13) && strncmp(url, "postgres://", 11)))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "restore: snapshot %s holds PostgreSQL metadata (a pg_dump archive): "
                         "give --db postgresql://... naming a new, empty database",
                         m->snapshot);
    snprintf(name, sizeof name, TSR_BACKUP_SNAPSHOTS_DIR "%s/" TSR_BACKUP_METADATA_PG, m->snapshot);
    snprintf(path, sizeof path, "%s/" TSR_BACKUP_METADATA_PG, run->work);
    tsr_status rc =
        fetch_checked(run, ctx, name, path, m->metadata_bytes, m->metadata_sha256, "metadata");
    if (rc || (rc = tsr_backup_pg_restore(ctx, url, path)))
        return rc;
    run->pg_restored = true;
    if (!(rc = tsr_db_open(ctx, url, TSR_DB_READ_ONLY, &db)))
        rc = check_restored(run, ctx, db);
    tsr_db_close(db);
    unlink(path);
    return rc;
}

/* A listing's callback that stops at the first blob. */
static int found_one(void *arg, const char *id) {
    (void)id;
    *(bool *)arg = true;
    return 1;
}

/* Opens the store blobs go to: stage/blobs, or --store (which must hold
 * no blob yet). */
static tsr_status open_target(restore_run *run, tsr_ctx *ctx) {
    const tsr_store_options *o = &run->req->store;
    tsr_blob_backend_config cfg = {
        .url = o->store_url,
        .default_dir = run->stage_blobs,
        .tmp_dir = run->stage_tmp,
        .s3_endpoint = o->s3_endpoint,
    };
    bool any = false;
    run->external = o->store_url && *o->store_url;
    tsr_status rc = tsr_blob_backend_new(ctx, &cfg, &run->target);
    if (rc || (rc = run->target->ops->prepare(run->target, ctx)) || !run->external)
        return rc;
    if (!(rc = run->target->ops->list(run->target, ctx, found_one, &any)) && any)
        rc = tsr_error(ctx, TSR_ERR_USAGE,
                       "restore: the store %s already holds blobs; restore needs an empty store "
                       "(another bucket, prefix or folder)",
                       o->store_url);
    return rc;
}

/* Makes the checked file `temp` blob `id` of the target: through the
 * backend for an outside store; inside the stage by a plain rename into
 * blobs/<2 hex>/<id> (the files backend's layout), made durable by one
 * syncfs before the stage is renamed into place. */
static tsr_status install(restore_run *run, tsr_ctx *ctx, const char *temp, const char *id) {
    char dir[PATH_MAX - 40], path[PATH_MAX];
    if (run->external)
        return run->target->ops->install(run->target, ctx, temp, id);
    snprintf(dir, sizeof dir, "%s/%.2s", run->stage_blobs, id);
    snprintf(path, sizeof path, "%s/%s", dir, id);
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || rename(temp, path) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "restore: cannot place blob %s in %s: %s", id, dir,
                         strerror(errno));
    return TSR_OK;
}

/* Copies every blob of the manifest into the target store, checked. */
static tsr_status restore_blobs(restore_run *run, tsr_ctx *ctx) {
    char name[TSR_STORE_SHA256_LEN + 16], temp[PATH_MAX], what[TSR_STORE_ID_LEN + 8];
    for (size_t i = 0; i < run->manifest.blob_count; i++) {
        const tsr_manifest_blob *b = &run->manifest.blobs[i];
        snprintf(name, sizeof name, TSR_BACKUP_BLOBS_DIR "%s", b->sha256);
        snprintf(temp, sizeof temp, "%s/%s.part", run->stage_tmp, b->id);
        snprintf(what, sizeof what, "blob %s", b->id);
        tsr_status rc = fetch_checked(run, ctx, name, temp, b->bytes, b->sha256, what);
        if (!rc)
            rc = install(run, ctx, temp, b->id);
        if (rc) {
            unlink(temp);
            return rc;
        }
        run->installed = i + 1;
        run->report->bytes += b->bytes;
    }
    run->report->blobs = run->manifest.blob_count;
    return TSR_OK;
}

/* Writes stage/<name> (0600) with `len` bytes. */
static tsr_status write_small(restore_run *run, tsr_ctx *ctx, const char *name, const void *data,
                              size_t len) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", run->stage, name);
    tsr_status rc = tsr_file_write_atomic(ctx, path, data, len);
    if (!rc && chmod(path, 0600) != 0)
        rc = tsr_error(ctx, TSR_ERR_IO, "restore: cannot chmod %s: %s", path, strerror(errno));
    return rc;
}

/* The keycheck record and the store URL the folder is opened with. */
static tsr_status write_identity(restore_run *run, tsr_ctx *ctx) {
    const char *hex = run->manifest.keycheck_hex, *url = run->req->store.store_url;
    uint8_t raw[TSR_MANIFEST_KEYCHECK_MAX];
    char line[TSR_DB_URL_MAX + 2];
    size_t n = 0;
    tsr_status rc = TSR_OK;
    if (run->pg_restored) { /* the folder's database, as its first open records it */
        char shown[TSR_DB_URL_MAX];
        tsr_db_url_redact(run->req->store.db_url, shown, sizeof shown);
        int len = snprintf(line, sizeof line, "%s\n", shown);
        if ((rc = write_small(run, ctx, "db-url", line, (size_t)len)))
            return rc;
    }
    if (hex) {
        if (tsr_hex_decode(hex, strlen(hex), raw, sizeof raw, &n))
            return tsr_error(ctx, TSR_ERR_CORRUPT, "restore: the manifest's keycheck is malformed");
        rc = write_small(run, ctx, "keycheck", raw, n);
    }
    int len = snprintf(line, sizeof line, "%s\n", url ? url : "");
    if (!rc && len > TSR_MANIFEST_URL_MAX)
        rc = tsr_error(ctx, TSR_ERR_USAGE, "restore: --store is too long");
    return rc ? rc : write_small(run, ctx, "store-url", line, (size_t)len);
}

/* Moves the finished stage to the target (replacing an empty folder). */
static tsr_status put_in_place(restore_run *run, tsr_ctx *ctx) {
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", run->req->data_dir);
    int fd = open(run->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || syncfs(fd) != 0) { /* every file and folder of the stage, at once */
        tsr_status rc =
            tsr_error(ctx, TSR_ERR_IO, "restore: cannot sync %s: %s", run->stage, strerror(errno));
        if (fd >= 0)
            close(fd);
        return rc;
    }
    close(fd);
    if (rename(run->stage, run->req->data_dir) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "restore: cannot move %s to %s: %s", run->stage,
                         run->req->data_dir, strerror(errno));
    run->stage[0] = '\0';
    return tsr_blob_sync_dir(ctx, dirname(copy));
}

/* Undoes a failed restore: blobs put into an outside store, the stage. */
static void undo(restore_run *run) {
    tsr_ctx *scratch = tsr_ctx_new();
    tsr_db *db = NULL;
    /* the database was checked empty before: make it empty again */
    if (scratch && run->pg_restored && !tsr_db_open(scratch, run->req->store.db_url, 0, &db))
        tsr_db_exec(db, "DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    tsr_db_close(db);
    for (size_t i = 0; scratch && run->external && i < run->installed; i++)
        run->target->ops->remove(run->target, scratch, run->manifest.blobs[i].id);
    tsr_ctx_free(scratch);
    tsr_backup_remove_tree(run->stage);
}

/* A SQLite snapshot restores into the folder's own tessera.db only. */
static tsr_status check_db(restore_run *run, tsr_ctx *ctx) {
    const char *url = run->req->store.db_url;
    if (run->manifest.metadata_pg || !url || !*url)
        return TSR_OK;
    return tsr_error(ctx, TSR_ERR_USAGE,
                     "restore: snapshot %s holds SQLite metadata, restored as the data folder's "
                     "own tessera.db: leave out --db",
                     run->manifest.snapshot);
}

static tsr_status restore_steps(restore_run *run, tsr_ctx *ctx) {
    char name[TSR_BACKUP_NAME_MAX + 1];
    const tsr_restore_request *req = run->req;
    const char *endpoint = req->src_endpoint ? req->src_endpoint : req->store.s3_endpoint;
    tsr_status rc;
    if ((rc = check_target(ctx, req->data_dir)) || (rc = tsr_backup_work_dir(ctx, run->work)) ||
        (rc = tsr_backup_dest_open(ctx, req->src, endpoint, false, run->work, &run->src)) ||
        (rc = pick_snapshot(run, ctx, name)) ||
        (rc = tsr_backup_dest_manifest(run->src, ctx, name, &run->manifest)) ||
        (rc = check_key(run, ctx)) || (rc = make_stage(run, ctx)) || (rc = check_db(run, ctx)) ||
        (rc = (run->manifest.metadata_pg ? restore_pg_metadata : restore_metadata)(run, ctx)) ||
        (rc = open_target(run, ctx)) || (rc = restore_blobs(run, ctx)) ||
        (rc = write_identity(run, ctx)))
        return rc;
    snprintf(run->report->snapshot, sizeof run->report->snapshot, "%s", run->manifest.snapshot);
    snprintf(run->report->key_fingerprint, sizeof run->report->key_fingerprint, "%s",
             run->manifest.key_fingerprint);
    run->report->metadata_bytes = run->manifest.metadata_bytes;
    return put_in_place(run, ctx);
}

tsr_status tsr_backup_restore(tsr_ctx *ctx, const tsr_restore_request *req,
                              tsr_restore_report *out) {
    restore_run run = {.req = req, .report = out};
    memset(out, 0, sizeof *out);
    tsr_status rc = restore_steps(&run, ctx);
    if (rc)
        undo(&run);
    tsr_blob_backend_free(run.target);
    tsr_backup_dest_free(run.src);
    tsr_manifest_clear(&run.manifest);
    tsr_backup_remove_tree(run.work);
    return rc;
}
