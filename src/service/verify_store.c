/* `tessera verify --data DIR`: checks a live store (backup.h), beside a
 * server that may be running on it. The database with PRAGMA
 * integrity_check; every blob it refers to read through the store's own
 * read path (tsr_blob_open_read: decrypted and authenticated under the
 * data key, an S3 object checked against its SHA-256), then an image's
 * plaintext against its recorded SHA-256 and size and a result against its
 * size; blobs the store holds that nothing refers to are orphans. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/backup_internal.h"
#include "service/store_internal.h"

/* One verification of a store. */
typedef struct store_check {
    tsr_store *store;          /* opened as a reader (owned) */
    tsr_verify_report *report; /* borrowed */
    tsr_blob_ref *refs;        /* owned; sorted by id */
    size_t count;              /* refs */
    bool listed;               /* the refs could be read */
} store_check;

/* Compares the plaintext read with what the database records of it. */
static tsr_status compare(store_check *c, tsr_ctx *ctx, const tsr_blob_ref *ref, int fd,
                          const char *object) {
    char sha[TSR_STORE_SHA256_LEN + 1];
    uint64_t bytes = 0;
    const char *kind = tsr_blob_ref_kind_name(ref->kind);
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    tsr_status rc = TSR_OK;
    if (tsr_backup_hash_fd(scratch, fd, object, sha, &bytes))
        rc = tsr_verify_add_problem(ctx, c->report, object, "%s: unreadable: %s", kind,
                                    tsr_ctx_message(scratch));
    else if (ref->bytes >= 0 && bytes != (uint64_t)ref->bytes)
        rc = tsr_verify_add_problem(ctx, c->report, object,
                                    "%s: %llu bytes, the database records %lld", kind,
                                    (unsigned long long)bytes, (long long)ref->bytes);
    else if (ref->sha256[0] && strcmp(sha, ref->sha256) != 0)
        rc =
            tsr_verify_add_problem(ctx, c->report, object,
                                   "%s: its SHA-256 differs from the one recorded at upload", kind);
    c->report->blobs++;
    c->report->bytes += bytes;
    tsr_ctx_free(scratch);
    return rc;
}

/* Reads blob `ref` through the store's integrity check and compares it. */
static tsr_status check_blob(store_check *c, tsr_ctx *ctx, const tsr_blob_ref *ref) {
    char object[TSR_STORE_ID_LEN + 8];
    tsr_blob_reader *reader = NULL;
    bool used = true;
    snprintf(object, sizeof object, "blob %s", ref->id);
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    tsr_status rc = TSR_OK, st = tsr_blob_open_read(c->store, scratch, ref->id, &reader);
    if (st == TSR_ERR_IO) /* deleted by the server since the list was read? */
        rc = tsr_backup_db_references(ctx, c->store->db, c->store->schema_version, ref->id, &used);
    if (rc || !used)
        goto out;
    if (st == TSR_ERR_CORRUPT)
        rc = tsr_verify_add_problem(ctx, c->report, object, "%s: failed its integrity check: %s",
                                    tsr_blob_ref_kind_name(ref->kind), tsr_ctx_message(scratch));
    else if (st)
        rc = tsr_verify_add_problem(ctx, c->report, object, "%s: missing or unreadable: %s",
                                    tsr_blob_ref_kind_name(ref->kind), tsr_ctx_message(scratch));
    else {
        int fd = tsr_blob_reader_take_fd(reader);
        rc = compare(c, ctx, ref, fd, object);
        close(fd);
    }
out:
    tsr_blob_reader_free(reader);
    tsr_ctx_free(scratch);
    return rc;
}

/* The orphan listing's state. */
typedef struct orphan_listing {
    store_check *check; /* borrowed */
    tsr_ctx *ctx;       /* where errors go */
    tsr_status rc;      /* first error; stops the listing */
} orphan_listing;

/* An unreferenced blob is an orphan unless a row names it by now (an
 * upload committed after the list was read). */
static int on_stored(void *arg, const char *id) {
    orphan_listing *l = arg;
    tsr_store *s = l->check->store;
    bool used = false;
    if (!tsr_blob_ref_find(l->check->refs, l->check->count, id) &&
        !(l->rc = tsr_backup_db_references(l->ctx, s->db, s->schema_version, id, &used)) && !used)
        l->rc = tsr_verify_add_orphan(l->ctx, l->check->report, id);
    return l->rc != TSR_OK;
}

/* PRAGMA integrity_check of the live database. */
static tsr_status check_database(store_check *c, tsr_ctx *ctx) {
    char *problems = NULL;
    tsr_status rc = tsr_backup_db_integrity(ctx, c->store->db, &problems);
    if (!rc && problems)
        rc = tsr_verify_add_problem(ctx, c->report, "tessera.db",
                                    "fails PRAGMA integrity_check: %s", problems);
    free(problems);
    return rc;
}

/* Lists the blobs the database refers to; a database too damaged for it
 * is one more problem (c->listed stays false: no orphans then). */
static tsr_status list_refs(store_check *c, tsr_ctx *ctx) {
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    tsr_status rc = TSR_OK;
    if (tsr_backup_db_refs(scratch, c->store->db, c->store->schema_version, &c->refs, &c->count))
        rc = tsr_verify_add_problem(ctx, c->report, "tessera.db", "cannot list its blobs: %s",
                                    tsr_ctx_message(scratch));
    else
        c->listed = true;
    tsr_ctx_free(scratch);
    return rc;
}

tsr_status tsr_verify_store(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                            tsr_verify_report *out) {
    store_check c = {.report = out};
    memset(out, 0, sizeof *out);
    tsr_status rc = tsr_store_open_reader(ctx, data_dir, opts, &c.store);
    if (!rc && c.store->blobs_refused)
        rc = tsr_error(ctx, TSR_ERR_USAGE,
                       "verify: %s is encrypted; pass --data-key FILE (its data key) to check its "
                       "blobs",
                       data_dir);
    if (!rc && !(rc = check_database(&c, ctx)) && !(rc = list_refs(&c, ctx)))
        for (size_t i = 0; !rc && i < c.count; i++)
            rc = check_blob(&c, ctx, &c.refs[i]);
    if (!rc && c.listed) {
        orphan_listing l = {.check = &c, .ctx = ctx};
        tsr_blob_backend *b = c.store->backend;
        if (!(rc = b->ops->list(b, ctx, on_stored, &l)))
            rc = l.rc;
    }
    free(c.refs);
    tsr_store_close(c.store);
    return rc;
}
