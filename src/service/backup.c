/* `tessera backup`: an online snapshot of a data folder and its blob store
 * into a backup location (backup.h). Order: the metadata through SQLite's
 * online backup API (one read transaction, so it is consistent while the
 * server writes), then every blob that copy refers to that the location
 * does not hold yet, then the snapshot's metadata.db and last its manifest.
 * Rows are written after their blob is committed and blobs are never
 * changed in place, so every blob the copy names exists unless the server
 * deleted it since: then the metadata is copied again. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/backup_internal.h"
#include "service/store_internal.h"
#include "tessera/tessera.h"
#include "util/clock.h"
#include "util/log.h"

/* One backup in progress. */
typedef struct backup_run {
    const tsr_backup_request *req;        /* borrowed */
    tsr_backup_report *report;            /* borrowed; filled as it goes */
    tsr_store *store;                     /* the live store, opened as a reader (owned) */
    tsr_backup_dest *dest;                /* owned */
    char work[TSR_BACKUP_WORK_MAX];       /* private work folder (removed at the end) */
    char db_copy[PATH_MAX];               /* work/metadata.db */
    tsr_manifest previous;                /* the latest complete snapshot's manifest, or empty */
    char latest[TSR_BACKUP_NAME_MAX + 1]; /* the latest snapshot's name, "" when none */
    tsr_backup_blob_set held;             /* blobs the location holds */
    tsr_backup_blob_set copied;           /* blobs this run wrote to it */
    tsr_manifest manifest;                /* the new snapshot's */
    uint64_t vanished;                    /* blobs deleted by the server since the metadata copy */
} backup_run;

/* Reads the latest complete snapshot's manifest, for its stamps; a damaged
 * one only costs hashing (logged). */
static tsr_status load_previous(backup_run *run, tsr_ctx *ctx) {
    tsr_backup_snapshot *snaps = NULL;
    size_t n = 0;
    tsr_status rc = tsr_backup_dest_snapshots(run->dest, ctx, &snaps, &n);
    if (rc)
        return rc;
    if (n)
        snprintf(run->latest, sizeof run->latest, "%s", snaps[n - 1].name);
    for (size_t i = n; i-- > 0;) {
        if (!snaps[i].complete)
            continue;
        tsr_ctx *scratch = tsr_ctx_new();
        if (scratch && tsr_backup_dest_manifest(run->dest, scratch, snaps[i].name, &run->previous))
            tsr_log(TSR_LOG_WARN, tsr_ctx_message(scratch), NULL, 0);
        tsr_ctx_free(scratch);
        break;
    }
    free(snaps);
    return TSR_OK;
}

static tsr_status begin(backup_run *run, tsr_ctx *ctx) {
    const tsr_backup_request *req = run->req;
    const char *endpoint = req->dest_endpoint ? req->dest_endpoint : req->store.s3_endpoint;
    char *keycheck = NULL;
    tsr_status rc;
    if (!req->data_dir || !*req->data_dir)
        return tsr_error(ctx, TSR_ERR_USAGE, "backup: no data folder given");
    if ((rc = tsr_backup_work_dir(ctx, run->work)))
        return rc;
    if ((rc = tsr_store_open_reader(ctx, req->data_dir, &req->store, &run->store)))
        goto out;
    run->manifest.metadata_pg = tsr_db_kind_of(run->store->db) == TSR_DB_POSTGRESQL;
    snprintf(run->db_copy, sizeof run->db_copy, "%s/%s", run->work,
             tsr_manifest_metadata_name(&run->manifest));
    if ((rc = tsr_backup_read_keycheck(ctx, req->data_dir, &keycheck,
                                       run->manifest.key_fingerprint)) ||
        (rc = tsr_backup_dest_open(ctx, req->dest, endpoint, true, run->work, &run->dest)) ||
        (rc = load_previous(run, ctx)) || (rc = tsr_backup_dest_blobs(run->dest, ctx, &run->held)))
        goto out;
    run->manifest.keycheck_hex = keycheck;
    keycheck = NULL;
    snprintf(run->manifest.store_url, sizeof run->manifest.store_url, "%s",
             req->store.store_url ? req->store.store_url : "");
    snprintf(run->manifest.tessera_version, sizeof run->manifest.tessera_version, "%s",
             TESSERA_VERSION);
    snprintf(run->report->key_fingerprint, sizeof run->report->key_fingerprint, "%s",
             run->manifest.key_fingerprint);
out:
    free(keycheck);
    return rc;
}

/* A blob of the copy is missing from the store: deleted by the server
 * since the copy (counted: the metadata is copied again) or lost (an
 * error naming it). */
static tsr_status on_missing(backup_run *run, tsr_ctx *ctx, const char *id) {
    bool used = true;
    tsr_status rc =
        tsr_backup_db_references(ctx, run->store->db, run->store->schema_version, id, &used);
    if (rc)
        return rc;
    if (used)
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "backup: blob %s, which the database refers to, is missing from the "
                         "store; `tessera verify --data %s` lists what is damaged",
                         id, run->req->data_dir);
    run->vanished++;
    return TSR_OK;
}

/* The stored file's version on the files backend ("ino:size:mtime") into
 * `stamp`, "" elsewhere; *missing when the file is gone. */
static void file_stamp(backup_run *run, const char *id, char stamp[TSR_MANIFEST_STAMP_MAX + 1],
                       bool *missing) {
    char path[PATH_MAX];
    struct stat sb;
    tsr_blob_backend *b = run->store->backend;
    stamp[0] = '\0';
    *missing = false;
    if (!b->ops->path || b->ops->path(b, NULL, id, path))
        return;
    if (stat(path, &sb) != 0) {
        *missing = errno == ENOENT;
        return;
    }
    snprintf(stamp, TSR_MANIFEST_STAMP_MAX + 1, "%llu:%lld:%lld.%09ld",
             (unsigned long long)sb.st_ino, (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
             sb.st_mtim.tv_nsec);
}

/* Whether blob `id` is gone from the store (after a failed read). */
static bool gone(backup_run *run, const char *id) {
    char stamp[TSR_MANIFEST_STAMP_MAX + 1], sha[TSR_STORE_SHA256_LEN + 1];
    tsr_blob_backend *be = run->store->backend;
    bool missing = false, found = true;
    uint64_t bytes;
    if (be->ops->path) {
        file_stamp(run, id, stamp, &missing);
        return missing;
    }
    tsr_ctx *scratch = be->ops->head ? tsr_ctx_new() : NULL;
    missing = scratch && !be->ops->head(be, scratch, id, &found, &bytes, sha) && !found;
    tsr_ctx_free(scratch);
    return missing;
}

/* What the store says of a blob before it is read: its hash when known
 * (an earlier snapshot's for an unchanged file; S3's record). */
static tsr_status look_up(backup_run *run, tsr_ctx *ctx, tsr_manifest_blob *b, bool *missing) {
    tsr_blob_backend *be = run->store->backend;
    bool found = true;
    b->sha256[0] = '\0';
    file_stamp(run, b->id, b->stamp, missing);
    if (*missing)
        return TSR_OK;
    if (b->stamp[0]) {
        const tsr_manifest_blob *old = tsr_manifest_find(&run->previous, b->id);
        if (old && !strcmp(old->stamp, b->stamp)) {
            snprintf(b->sha256, sizeof b->sha256, "%s", old->sha256);
            b->bytes = old->bytes;
        }
        return TSR_OK;
    }
    if (!be->ops->head)
        return TSR_OK;
    tsr_status rc = be->ops->head(be, ctx, b->id, &found, &b->bytes, b->sha256);
    *missing = !rc && !found;
    if (!tsr_backup_sha256_valid(b->sha256))
        b->sha256[0] = '\0';
    return rc;
}

/* Opens blob `id` as stored into *fd; *missing (and TSR_OK) when it is
 * gone. */
static tsr_status open_stored(backup_run *run, tsr_ctx *ctx, const char *id, int *fd,
                              bool *missing) {
    char path[PATH_MAX];
    tsr_blob_backend *be = run->store->backend;
    tsr_ctx *scratch = tsr_ctx_new(); /* a vanished blob's message stays off ctx */
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    tsr_status rc = be->ops->open(be, scratch, id, fd, path);
    *missing = rc == TSR_ERR_IO && gone(run, id);
    if (rc && !*missing)
        tsr_error(ctx, rc, "%s", tsr_ctx_message(scratch));
    tsr_ctx_free(scratch);
    return *missing ? TSR_OK : rc;
}

/* Reads blob b->id as stored, hashes it and, unless the location holds
 * those bytes already, copies it there. *missing when it is gone. */
static tsr_status read_and_copy(backup_run *run, tsr_ctx *ctx, tsr_manifest_blob *b,
                                bool *missing) {
    char name[TSR_STORE_SHA256_LEN + 16];
    int fd = -1;
    tsr_status rc = open_stored(run, ctx, b->id, &fd, missing);
    if (rc || *missing)
        return rc;
    run->report->hashed_blobs++;
    uint64_t held = 0;
    /* a blob of the backup with another size (cut by hand) is written again */
    if (!(rc = tsr_backup_hash_fd(ctx, fd, b->id, b->sha256, &b->bytes)) &&
        !(tsr_backup_blob_set_has(&run->held, b->sha256, &held) && held == b->bytes)) {
        snprintf(name, sizeof name, TSR_BACKUP_BLOBS_DIR "%s", b->sha256);
        if (!(rc = tsr_backup_dest_put(run->dest, ctx, name, fd)) &&
            !(rc = tsr_backup_blob_set_add(ctx, &run->held, b->sha256, b->bytes)))
            rc = tsr_backup_blob_set_add(ctx, &run->copied, b->sha256, b->bytes);
    }
    close(fd);
    return rc;
}

/* Puts blob `id` of the metadata copy into the location (or finds it
 * there) and into the manifest. */
static tsr_status take_blob(backup_run *run, tsr_ctx *ctx, const char *id) {
    tsr_manifest_blob b = {0};
    uint64_t held_bytes = 0;
    bool missing = false;
    snprintf(b.id, sizeof b.id, "%s", id);
    tsr_status rc = look_up(run, ctx, &b, &missing);
    if (!rc && !missing &&
        !(b.sha256[0] && tsr_backup_blob_set_has(&run->held, b.sha256, &held_bytes) &&
          held_bytes == b.bytes))
        rc = read_and_copy(run, ctx, &b, &missing);
    if (rc)
        return rc;
    if (missing)
        return on_missing(run, ctx, id);
    return tsr_manifest_add_blob(ctx, &run->manifest, &b);
}

/* Copies the metadata into run->db_copy and lists the blobs that copy
 * refers to: SQLite's online backup, then the copy read; or pg_dump of an
 * exported snapshot, the list read in the same snapshot. */
static tsr_status copy_metadata(backup_run *run, tsr_ctx *ctx, tsr_blob_ref **refs, size_t *n) {
    tsr_db *live = run->store->db, *db = NULL;
    tsr_status rc;
    if (run->manifest.metadata_pg) {
        if (!(rc = tsr_backup_pg_dump(ctx, live, run->req->store.db_url, run->db_copy)) &&
            !(rc = tsr_backup_db_schema(ctx, live, &run->manifest.schema_version)))
            rc = tsr_backup_db_refs(ctx, live, run->manifest.schema_version, refs, n);
        tsr_db_rollback(live); /* the snapshot ends: missing blobs are looked up anew */
        return rc;
    }
    rc = tsr_backup_db_copy(ctx, tsr_db_sqlite_handle(live), run->db_copy);
    if (rc || (rc = tsr_backup_db_open(ctx, run->db_copy, &db)) ||
        (rc = tsr_backup_db_schema(ctx, db, &run->manifest.schema_version)))
        goto out;
    rc = tsr_backup_db_refs(ctx, db, run->manifest.schema_version, refs, n);
out:
    tsr_db_close(db);
    return rc;
}

/* Copies the metadata and takes every blob it refers to; *again when some
 * vanished meanwhile (the copy must then be taken again). */
static tsr_status take_once(backup_run *run, tsr_ctx *ctx, bool *again) {
    tsr_blob_ref *refs = NULL;
    size_t n = 0;
    run->vanished = 0;
    run->manifest.blob_count = 0;
    run->manifest.created = tsr_clock_wall_ms();
    tsr_status rc = copy_metadata(run, ctx, &refs, &n);
    if (rc)
        goto out;
    if (run->req->test_pause_ms > 0 && run->report->retakes == 0)
        tsr_clock_sleep_ms(run->req->test_pause_ms);
    for (size_t i = 0; !rc && i < n; i++)
        rc = take_blob(run, ctx, refs[i].id);
    *again = !rc && run->vanished > 0;
out:
    free(refs);
    return rc;
}

/* Names the snapshot after the metadata copy's time, after the latest. */
static void name_snapshot(backup_run *run) {
    int64_t ms = run->manifest.created;
    do
        tsr_backup_snapshot_name(ms++, run->manifest.snapshot);
    while (strcmp(run->manifest.snapshot, run->latest) <= 0);
}

/* Counts what was copied and reused, for the manifest and the report. */
static void count(backup_run *run) {
    tsr_manifest_transfer *t = &run->manifest.transfer;
    tsr_backup_report *r = run->report;
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < run->manifest.blob_count; i++) {
        const tsr_manifest_blob *b = &run->manifest.blobs[i];
        bool copied = tsr_backup_blob_set_has(&run->copied, b->sha256, NULL);
        *(copied ? &t->copied_blobs : &t->reused_blobs) += 1;
        *(copied ? &t->copied_bytes : &t->reused_bytes) += b->bytes;
    }
    snprintf(r->snapshot, sizeof r->snapshot, "%s", run->manifest.snapshot);
    r->schema_version = run->manifest.schema_version;
    r->blobs = run->manifest.blob_count;
    r->bytes = tsr_manifest_blob_bytes(&run->manifest);
    r->copied_blobs = t->copied_blobs;
    r->copied_bytes = t->copied_bytes;
    r->reused_blobs = t->reused_blobs;
    r->reused_bytes = t->reused_bytes;
    r->metadata_bytes = run->manifest.metadata_bytes;
}

/* Writes text `text` to a work file and puts it as `name`. */
static tsr_status put_text(backup_run *run, tsr_ctx *ctx, const char *name, const char *text,
                           size_t len) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" TSR_BACKUP_MANIFEST, run->work);
    tsr_status rc = tsr_file_write_atomic(ctx, path, text, len);
    int fd = rc ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    if (!rc && fd < 0)
        rc = tsr_error(ctx, TSR_ERR_IO, "backup: cannot read %s: %s", path, strerror(errno));
    if (!rc)
        rc = tsr_backup_dest_put(run->dest, ctx, name, fd);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Puts metadata.db, then the manifest: the snapshot exists from then on. */
static tsr_status write_snapshot(backup_run *run, tsr_ctx *ctx) {
    char meta[TSR_BACKUP_NAME_MAX + 64], man[TSR_BACKUP_NAME_MAX + 64], *text = NULL;
    size_t len = 0;
    name_snapshot(run);
    snprintf(meta, sizeof meta, TSR_BACKUP_SNAPSHOTS_DIR "%s/%s", run->manifest.snapshot,
             tsr_manifest_metadata_name(&run->manifest));
    snprintf(man, sizeof man, TSR_BACKUP_SNAPSHOTS_DIR "%s/" TSR_BACKUP_MANIFEST,
             run->manifest.snapshot);
    int fd = open(run->db_copy, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "backup: cannot read %s: %s", run->db_copy,
                         strerror(errno));
    tsr_status rc = tsr_backup_dest_flush(run->dest, ctx);
    if (!rc)
        rc = tsr_backup_hash_fd(ctx, fd, run->db_copy, run->manifest.metadata_sha256,
                                &run->manifest.metadata_bytes);
    if (!rc)
        rc = tsr_backup_dest_put(run->dest, ctx, meta, fd);
    close(fd);
    if (rc)
        return rc;
    count(run);
    if (!(rc = tsr_manifest_encode(ctx, &run->manifest, &text, &len)))
        rc = put_text(run, ctx, man, text, len);
    free(text);
    if (rc) { /* no half snapshot: without its manifest it would only be clutter */
        tsr_ctx *scratch = tsr_ctx_new();
        if (scratch)
            tsr_backup_dest_remove(run->dest, scratch, meta);
        tsr_ctx_free(scratch);
    }
    return rc;
}

static void finish(backup_run *run) {
    tsr_store_close(run->store);
    tsr_backup_dest_free(run->dest);
    tsr_manifest_clear(&run->previous);
    tsr_manifest_clear(&run->manifest);
    tsr_backup_blob_set_clear(&run->held);
    tsr_backup_blob_set_clear(&run->copied);
    tsr_backup_remove_tree(run->work);
}

tsr_status tsr_backup_take(tsr_ctx *ctx, const tsr_backup_request *req, tsr_backup_report *out) {
    backup_run run = {.req = req, .report = out};
    bool again = true;
    memset(out, 0, sizeof *out);
    tsr_status rc = begin(&run, ctx);
    for (int take = 0; !rc && again; take++) {
        if (take > TSR_BACKUP_RETAKES) {
            rc = tsr_error(ctx, TSR_ERR_IO,
                           "backup: blobs kept being deleted while they were copied (%d "
                           "tries); try again when the server is less busy",
                           take);
            break;
        }
        out->retakes = take;
        rc = take_once(&run, ctx, &again);
    }
    if (!rc) {
        tsr_manifest_sort(&run.manifest);
        rc = write_snapshot(&run, ctx);
    }
    finish(&run);
    return rc;
}
