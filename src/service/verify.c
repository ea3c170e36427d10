/* `tessera verify --backup SRC`: checks a backup location (backup.h), and
 * the report both kinds of verify fill. Every blob a manifest names is read
 * once (blobs are shared between snapshots) and hashed; every snapshot's
 * metadata.db is checked against its manifest, with PRAGMA integrity_check,
 * and against the blobs its manifest lists. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/backup_internal.h"

tsr_status tsr_verify_add_problem(tsr_ctx *ctx, tsr_verify_report *r, const char *object,
                                  const char *fmt, ...) {
    char message[2048];
    va_list ap;
    r->problem_total++;
    if (r->problem_count >= TSR_VERIFY_LIST_MAX)
        return TSR_OK;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    tsr_verify_problem *grown = realloc(r->problems, (r->problem_count + 1) * sizeof *grown);
    if (!grown)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    r->problems = grown;
    tsr_verify_problem *p = &r->problems[r->problem_count];
    p->object = strdup(object);
    p->message = strdup(message);
    if (!p->object || !p->message) {
        free(p->object);
        free(p->message);
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    }
    r->problem_count++;
    return TSR_OK;
}

tsr_status tsr_verify_add_orphan(tsr_ctx *ctx, tsr_verify_report *r, const char *name) {
    r->orphan_total++;
    if (r->orphan_count >= TSR_VERIFY_LIST_MAX)
        return TSR_OK;
    char **grown = realloc(r->orphans, (r->orphan_count + 1) * sizeof *grown);
    if (!grown || !(grown[r->orphan_count] = strdup(name))) {
        if (grown)
            r->orphans = grown;
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    }
    r->orphans = grown;
    r->orphan_count++;
    return TSR_OK;
}

void tsr_verify_report_clear(tsr_verify_report *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->problem_count; i++) {
        free(r->problems[i].object);
        free(r->problems[i].message);
    }
    for (size_t i = 0; i < r->orphan_count; i++)
        free(r->orphans[i]);
    free(r->problems);
    free(r->orphans);
    memset(r, 0, sizeof *r);
}

/* A blob some manifest names, with the first place that names it. */
typedef struct wanted {
    char sha[TSR_STORE_SHA256_LEN + 1];     /* its name in blobs/ */
    uint64_t bytes;                         /* the size the manifest gives */
    char id[TSR_STORE_ID_LEN + 1];          /* its blob id there */
    char snapshot[TSR_BACKUP_NAME_MAX + 1]; /* that manifest's snapshot */
} wanted;

/* One verification of a location. */
typedef struct check_run {
    tsr_backup_dest *src;           /* owned */
    char work[TSR_BACKUP_WORK_MAX]; /* private work folder (removed) */
    tsr_verify_report *report;      /* borrowed */
    wanted *blobs;                  /* owned; every blob named by a checked manifest */
    size_t count;                   /* in use */
    size_t cap;                     /* allocated */
} check_run;

static tsr_status want(check_run *run, tsr_ctx *ctx, const tsr_manifest *m) {
    for (size_t i = 0; i < m->blob_count; i++) {
        if (run->count == run->cap) {
            size_t cap = run->cap ? run->cap * 2 : 1024;
            wanted *grown = realloc(run->blobs, cap * sizeof *grown);
            if (!grown)
                return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
            run->blobs = grown;
            run->cap = cap;
        }
        wanted *w = &run->blobs[run->count++];
        snprintf(w->sha, sizeof w->sha, "%s", m->blobs[i].sha256);
        snprintf(w->id, sizeof w->id, "%s", m->blobs[i].id);
        snprintf(w->snapshot, sizeof w->snapshot, "%s", m->snapshot);
        w->bytes = m->blobs[i].bytes;
    }
    return TSR_OK;
}

/* Reads object `name` into a work file, checking size and hash; a
 * mismatch is a problem. With `kept` (PATH_MAX bytes, may be NULL) a file
 * that matched stays at that path for the caller (who removes it; "" when
 * none). */
static tsr_status check_object(check_run *run, tsr_ctx *ctx, const char *name, uint64_t bytes,
                               const char *sha, const char *where, char *kept) {
    char path[PATH_MAX], got_sha[TSR_STORE_SHA256_LEN + 1];
    uint64_t got = 0;
    bool found = false, match = false;
    int in = -1, out = -1;
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    snprintf(path, sizeof path, "%s/object-XXXXXX", run->work);
    tsr_status st = tsr_backup_dest_get(run->src, scratch, name, &found, &in), rc = TSR_OK;
    if (!st && found && (out = mkostemp(path, O_CLOEXEC)) < 0)
        st = tsr_error(scratch, TSR_ERR_IO, "cannot create a work file in %s", run->work);
    if (!st && found)
        st = tsr_backup_copy_fd(scratch, in, out, name, got_sha, &got);
    if (st)
        rc = tsr_verify_add_problem(ctx, run->report, name, "unreadable (%s): %s", where,
                                    tsr_ctx_message(scratch));
    else if (!found)
        rc = tsr_verify_add_problem(ctx, run->report, name, "missing (%s)", where);
    else if (got != bytes)
        rc = tsr_verify_add_problem(ctx, run->report, name,
                                    "truncated or grown (%s): %llu bytes, the manifest says %llu",
                                    where, (unsigned long long)got, (unsigned long long)bytes);
    else if (strcmp(got_sha, sha) != 0)
        rc = tsr_verify_add_problem(ctx, run->report, name,
                                    "failed its SHA-256 check (%s): the bytes were changed", where);
    else
        match = true;
    if (!st && found && !kept) {
        run->report->blobs++;
        run->report->bytes += got;
    }
    if (kept)
        snprintf(kept, PATH_MAX, "%s", match ? path : "");
    if (out >= 0 && !(kept && match))
        unlink(path);
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    tsr_ctx_free(scratch);
    return rc;
}

/* Checks a pg_dump archive reads (pg_restore --list); its blob list was
 * read in the dump's own snapshot when it was taken, so the manifest is
 * the list. */
static tsr_status check_dump(check_run *run, tsr_ctx *ctx, const char *name, const char *path) {
    char *problems = NULL;
    tsr_status rc = tsr_backup_pg_check(ctx, path, &problems);
    if (!rc && problems)
        rc = tsr_verify_add_problem(ctx, run->report, name, "not a readable pg_dump archive: %s",
                                    problems);
    free(problems);
    return rc;
}

/* Checks an opened metadata copy: integrity, and its blobs all listed. */
static tsr_status check_db(check_run *run, tsr_ctx *ctx, const tsr_manifest *m, const char *name,
                           const char *path) {
    tsr_db *db = NULL;
    char *problems = NULL;
    tsr_blob_ref *refs = NULL;
    size_t n = 0;
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    tsr_status rc = TSR_OK, st = tsr_backup_db_open(scratch, path, &db);
    if (!st && !(st = tsr_backup_db_integrity(scratch, db, &problems)) && problems)
        rc = tsr_verify_add_problem(ctx, run->report, name, "fails PRAGMA integrity_check: %s",
                                    problems);
    if (!st && !problems)
        st = tsr_backup_db_refs(scratch, db, m->schema_version, &refs, &n);
    if (st)
        rc = tsr_verify_add_problem(ctx, run->report, name, "not a readable database: %s",
                                    tsr_ctx_message(scratch));
    for (size_t i = 0; !rc && i < n; i++)
        if (!tsr_manifest_find(m, refs[i].id))
            rc = tsr_verify_add_problem(ctx, run->report, name,
                                        "refers to blob %s, which the manifest lacks", refs[i].id);
    tsr_db_close(db);
    free(problems);
    free(refs);
    tsr_ctx_free(scratch);
    return rc;
}

/* Checks one snapshot's manifest and metadata, and notes its blobs. */
static tsr_status check_snapshot(check_run *run, tsr_ctx *ctx, const tsr_backup_snapshot *snap) {
    char name[TSR_BACKUP_NAME_MAX + 64], path[PATH_MAX] = "";
    tsr_manifest m;
    snprintf(name, sizeof name, TSR_BACKUP_SNAPSHOTS_DIR "%s/" TSR_BACKUP_MANIFEST, snap->name);
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    run->report->snapshots++;
    tsr_status rc = TSR_OK;
    if (tsr_backup_dest_manifest(run->src, scratch, snap->name, &m)) {
        rc = tsr_verify_add_problem(ctx, run->report, name, "%s", tsr_ctx_message(scratch));
        tsr_ctx_free(scratch);
        return rc;
    }
    tsr_ctx_free(scratch);
    snprintf(name, sizeof name, TSR_BACKUP_SNAPSHOTS_DIR "%s/%s", snap->name,
             tsr_manifest_metadata_name(&m));
    rc = check_object(run, ctx, name, m.metadata_bytes, m.metadata_sha256, "the metadata", path);
    if (!rc && path[0])
        rc = m.metadata_pg ? check_dump(run, ctx, name, path) : check_db(run, ctx, &m, name, path);
    if (!rc)
        rc = want(run, ctx, &m);
    if (path[0])
        unlink(path);
    tsr_manifest_clear(&m);
    return rc;
}

static int wanted_cmp(const void *a, const void *b) {
    const wanted *x = a, *y = b;
    int c = strcmp(x->sha, y->sha);
    return c ? c : (x->bytes > y->bytes) - (x->bytes < y->bytes);
}

/* Checks every wanted blob once (per sha and size), then lists orphans. */
static tsr_status check_blobs(check_run *run, tsr_ctx *ctx, bool orphans) {
    char name[TSR_STORE_SHA256_LEN + 16], where[128];
    tsr_backup_blob_set held = {0};
    tsr_status rc = TSR_OK;
    if (run->count > 1)
        qsort(run->blobs, run->count, sizeof *run->blobs, wanted_cmp);
    for (size_t i = 0; !rc && i < run->count; i++) {
        const wanted *w = &run->blobs[i];
        if (i && !wanted_cmp(w, &run->blobs[i - 1]))
            continue;
        snprintf(name, sizeof name, TSR_BACKUP_BLOBS_DIR "%s", w->sha);
        snprintf(where, sizeof where, "blob %s of snapshot %s", w->id, w->snapshot);
        rc = check_object(run, ctx, name, w->bytes, w->sha, where, NULL);
    }
    if (rc || !orphans || (rc = tsr_backup_dest_blobs(run->src, ctx, &held)))
        return rc;
    for (size_t i = 0, j = 0; !rc && i < held.count; i++) {
        while (j < run->count && strcmp(run->blobs[j].sha, held.items[i].sha) < 0)
            j++;
        if (j == run->count || strcmp(run->blobs[j].sha, held.items[i].sha) != 0) {
            snprintf(name, sizeof name, TSR_BACKUP_BLOBS_DIR "%s", held.items[i].sha);
            rc = tsr_verify_add_orphan(ctx, run->report, name);
        }
    }
    tsr_backup_blob_set_clear(&held);
    return rc;
}

/* Checks the snapshots (all, or `only`). */
static tsr_status check_snapshots(check_run *run, tsr_ctx *ctx, const char *only) {
    tsr_backup_snapshot *snaps = NULL;
    size_t n = 0, checked = 0;
    tsr_status rc = tsr_backup_dest_snapshots(run->src, ctx, &snaps, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        char name[TSR_BACKUP_NAME_MAX + 16];
        if (only && strcmp(only, snaps[i].name) != 0)
            continue;
        checked++;
        snprintf(name, sizeof name, TSR_BACKUP_SNAPSHOTS_DIR "%s", snaps[i].name);
        if (!snaps[i].complete) {
            run->report->snapshots++;
            rc = tsr_verify_add_problem(ctx, run->report, name,
                                        "has no %s: an interrupted backup (it may be deleted)",
                                        TSR_BACKUP_MANIFEST);
        } else {
            rc = check_snapshot(run, ctx, &snaps[i]);
        }
    }
    free(snaps);
    if (!rc && !checked)
        rc = only ? tsr_error(ctx, TSR_ERR_USAGE, "verify: %s has no snapshot %s",
                              tsr_backup_dest_where(run->src), only)
                  : tsr_verify_add_problem(ctx, run->report, tsr_backup_dest_where(run->src),
                                           "holds no snapshot");
    return rc;
}

tsr_status tsr_verify_backup(tsr_ctx *ctx, const char *src, const char *endpoint,
                             const char *snapshot, tsr_verify_report *out) {
    check_run run = {.report = out};
    memset(out, 0, sizeof *out);
    if (snapshot && !tsr_backup_snapshot_name_valid(snapshot))
        return tsr_error(ctx, TSR_ERR_USAGE, "verify: '%.40s' is not a snapshot name", snapshot);
    tsr_status rc = tsr_backup_work_dir(ctx, run.work);
    if (!rc && !(rc = tsr_backup_dest_open(ctx, src, endpoint, false, run.work, &run.src)) &&
        !(rc = check_snapshots(&run, ctx, snapshot)))
        rc = check_blobs(&run, ctx, snapshot == NULL);
    tsr_backup_dest_free(run.src);
    tsr_backup_remove_tree(run.work);
    free(run.blobs);
    return rc;
}
