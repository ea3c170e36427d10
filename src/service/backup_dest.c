/* A backup location (backup_internal.h): a folder, where each object is a
 * file written beside its final name, synced and renamed (so it is wholly
 * there or not there), or an S3 prefix through s3_client.h, where every
 * object carries its SHA-256 and each download is checked against it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/backup_internal.h"
#include "service/blob_backend.h"
#include "service/s3_client.h"

#define DEST_S3_ATTEMPTS 8 /* tries per request, as the blob store's */
#define LIST_DEPTH       2 /* folders below "snapshots/": <name>/<file> */

struct tsr_backup_dest {
    char where[PATH_MAX - 64]; /* the location as given */
    char dir[PATH_MAX - 64];   /* a folder location's path; "" on S3 */
    tsr_s3_client *s3;         /* owned; NULL for a folder */
    char work[PATH_MAX - 64];  /* where downloads land */
};

/* Creates `path` (0700) unless it is a folder already. */
static tsr_status make_dir(tsr_ctx *ctx, const char *path) {
    struct stat sb;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return tsr_error(ctx, TSR_ERR_IO, "backup: cannot create %s: %s", path, strerror(errno));
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tsr_error(ctx, TSR_ERR_USAGE, "backup: %s is not a folder", path);
    return TSR_OK;
}

/* Opens a folder location, creating it and its two folders with `create`. */
static tsr_status open_folder(tsr_ctx *ctx, tsr_backup_dest *d, const char *path, bool create) {
    struct stat sb;
    char sub[PATH_MAX];
    if (strlen(path) >= sizeof d->dir - 32)
        return tsr_error(ctx, TSR_ERR_USAGE, "backup: the path %.100s... is too long", path);
    snprintf(d->dir, sizeof d->dir, "%s", path);
    if (!create) {
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return tsr_error(ctx, TSR_ERR_USAGE, "backup: there is no backup folder at %s", path);
        return TSR_OK;
    }
    tsr_status rc = make_dir(ctx, path);
    snprintf(sub, sizeof sub, "%s/blobs", path);
    if (!rc)
        rc = make_dir(ctx, sub);
    snprintf(sub, sizeof sub, "%s/snapshots", path);
    return rc ? rc : make_dir(ctx, sub);
}

tsr_status tsr_backup_dest_open(tsr_ctx *ctx, const char *where, const char *endpoint, bool create,
                                const char *work_dir, tsr_backup_dest **out) {
    *out = NULL;
    if (!where || !*where)
        return tsr_error(ctx, TSR_ERR_USAGE, "backup: no backup location given");
    tsr_backup_dest *d = calloc(1, sizeof *d);
    if (!d)
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    snprintf(d->where, sizeof d->where, "%s", where);
    snprintf(d->work, sizeof d->work, "%s", work_dir);
    tsr_status rc;
    if (!strncmp(where, "s3://", 5)) {
        tsr_s3_location loc;
        tsr_s3_config cfg = {.endpoint = endpoint, .max_attempts = DEST_S3_ATTEMPTS};
        if (!(rc = tsr_s3_location_parse(ctx, where, &loc)) &&
            !(rc = tsr_s3_client_new(ctx, &cfg, &loc, &d->s3)))
            rc = tsr_s3_check(d->s3, ctx);
    } else {
        rc = open_folder(ctx, d, !strncmp(where, "file:", 5) ? where + 5 : where, create);
    }
    if (rc) {
        tsr_backup_dest_free(d);
        return rc;
    }
    *out = d;
    return TSR_OK;
}

void tsr_backup_dest_free(tsr_backup_dest *d) {
    if (!d)
        return;
    tsr_s3_client_free(d->s3);
    free(d);
}

const char *tsr_backup_dest_where(const tsr_backup_dest *d) {
    return d->where;
}

/* Makes the folders of object `name` under the location's folder. */
static tsr_status make_parents(tsr_ctx *ctx, const tsr_backup_dest *d, const char *name) {
    char path[PATH_MAX];
    for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
        snprintf(path, sizeof path, "%s/%.*s", d->dir, (int)(slash - name), name);
        tsr_status rc = make_dir(ctx, path);
        if (rc)
            return rc;
    }
    return TSR_OK;
}

/* Writes `fd` to a hidden file beside `path`, syncs it and renames it; the
 * folder is synced too unless `sync_dir` is false (blobs: one sync of
 * blobs/ before the snapshot's manifest, tsr_backup_dest_flush). */
static tsr_status put_file(tsr_ctx *ctx, const char *path, const char *name, int fd,
                           bool sync_dir) {
    char part[PATH_MAX], sha[TSR_STORE_SHA256_LEN + 1], parent[PATH_MAX];
    const char *base = strrchr(path, '/');
    snprintf(parent, sizeof parent, "%.*s", (int)(base - path), path);
    if (snprintf(part, sizeof part, "%s/.%s.XXXXXX", parent, base + 1) >= (int)sizeof part)
        return tsr_error(ctx, TSR_ERR_USAGE, "backup: the path %s is too long", path);
    int out = mkostemp(part, O_CLOEXEC);
    if (out < 0)
        return tsr_error(ctx, TSR_ERR_IO, "backup: cannot create a file in %s: %s", parent,
                         strerror(errno));
    tsr_status rc = tsr_backup_copy_fd(ctx, fd, out, name, sha, NULL);
    /* data first, then the name: a name that survives a crash has its bytes */
    if (!rc && (fsync(out) != 0 || rename(part, path) != 0))
        rc = tsr_error(ctx, TSR_ERR_IO, "backup: cannot write %s: %s", path, strerror(errno));
    close(out);
    if (rc) {
        unlink(part);
        return rc;
    }
    return sync_dir ? tsr_blob_sync_dir(ctx, parent) : TSR_OK;
}

tsr_status tsr_backup_dest_put(tsr_backup_dest *d, tsr_ctx *ctx, const char *name, int fd) {
    char path[PATH_MAX];
    if (d->s3)
        return tsr_s3_put_fd(d->s3, ctx, name, fd, NULL);
    tsr_status rc = make_parents(ctx, d, name);
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    bool blob = !strncmp(name, TSR_BACKUP_BLOBS_DIR, strlen(TSR_BACKUP_BLOBS_DIR));
    return rc ? rc : put_file(ctx, path, name, fd, !blob);
}

tsr_status tsr_backup_dest_flush(tsr_backup_dest *d, tsr_ctx *ctx) {
    char path[PATH_MAX];
    if (d->s3)
        return TSR_OK; /* an object is durable once its PUT is answered */
    snprintf(path, sizeof path, "%s/blobs", d->dir);
    return tsr_blob_sync_dir(ctx, path);
}

tsr_status tsr_backup_dest_get(tsr_backup_dest *d, tsr_ctx *ctx, const char *name, bool *found,
                               int *fd) {
    char path[PATH_MAX];
    *found = false;
    *fd = -1;
    if (!d->s3) {
        snprintf(path, sizeof path, "%s/%s", d->dir, name);
        if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0 || errno == ENOENT) {
            *found = *fd >= 0;
            return TSR_OK;
        }
        return tsr_error(ctx, TSR_ERR_IO, "backup: cannot read %s: %s", path, strerror(errno));
    }
    snprintf(path, sizeof path, "%s/s3-get-XXXXXX", d->work);
    if ((*fd = mkostemp(path, O_CLOEXEC)) < 0)
        return tsr_error(ctx, TSR_ERR_IO, "backup: cannot create a file in %s: %s", d->work,
                         strerror(errno));
    unlink(path);
    tsr_status rc = tsr_s3_get_fd(d->s3, ctx, name, *fd, found, NULL);
    if (rc || !*found) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

tsr_status tsr_backup_dest_remove(tsr_backup_dest *d, tsr_ctx *ctx, const char *name) {
    char path[PATH_MAX];
    if (d->s3)
        return tsr_s3_delete(d->s3, ctx, name);
    snprintf(path, sizeof path, "%s/%s", d->dir, name);
    if (unlink(path) != 0 && errno != ENOENT)
        return tsr_error(ctx, TSR_ERR_IO, "backup: cannot remove %s: %s", path, strerror(errno));
    *strrchr(path, '/') = '\0';
    rmdir(path); /* a snapshot's folder once empty; fails harmlessly otherwise */
    return TSR_OK;
}

/* Lists folder `rel` (a name prefix ending in '/') under the location,
 * `depth` levels down; hidden names (files being written) are skipped. */
static tsr_status list_folder(tsr_backup_dest *d, tsr_ctx *ctx, const char *rel, int depth,
                              tsr_backup_name_fn fn, void *arg, bool *stop) {
    char path[PATH_MAX], name[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", d->dir, rel);
    DIR *dir = opendir(path);
    if (!dir)
        return errno == ENOENT ? TSR_OK
                               : tsr_error(ctx, TSR_ERR_IO, "backup: cannot read %s: %s", path,
                                           strerror(errno));
    tsr_status rc = TSR_OK;
    struct dirent *e;
    while (!rc && !*stop && (e = readdir(dir))) {
        struct stat sb;
        if (e->d_name[0] == '.' ||
            snprintf(name, sizeof name, "%s%s", rel, e->d_name) >= (int)sizeof name - 1 ||
            fstatat(dirfd(dir), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(sb.st_mode) && depth > 1) {
            strcat(name, "/");
            rc = list_folder(d, ctx, name, depth - 1, fn, arg, stop);
        } else if (S_ISREG(sb.st_mode)) {
            *stop = fn(arg, name, (uint64_t)sb.st_size) != 0;
        }
    }
    closedir(dir);
    return rc;
}

/* tsr_s3_list's callback, passing names on. */
typedef struct relay {
    tsr_backup_name_fn fn; /* the caller's */
    void *arg;             /* its argument */
} relay;

static int relay_name(void *arg, const char *name, uint64_t size) {
    relay *r = arg;
    return r->fn(r->arg, name, size);
}

tsr_status tsr_backup_dest_list(tsr_backup_dest *d, tsr_ctx *ctx, const char *dir,
                                tsr_backup_name_fn fn, void *arg) {
    bool stop = false;
    relay r = {.fn = fn, .arg = arg};
    if (d->s3)
        return tsr_s3_list(d->s3, ctx, dir, relay_name, &r);
    return list_folder(d, ctx, dir, LIST_DEPTH, fn, arg, &stop);
}

/* ---- snapshots ---- */

/* The snapshot list being gathered, and the first error. */
typedef struct gathering {
    tsr_backup_snapshot *items; /* owned until handed out */
    size_t count;               /* in use */
    size_t cap;                 /* allocated */
    bool oom;                   /* an allocation failed */
} gathering;

/* Records the snapshot a name "snapshots/<name>/<file>" belongs to. */
static int gather(void *arg, const char *name, uint64_t size) {
    gathering *g = arg;
    char snap[TSR_BACKUP_NAME_MAX + 1];
    const char *rest = name + strlen(TSR_BACKUP_SNAPSHOTS_DIR), *slash = strchr(rest, '/');
    (void)size;
    if (!slash || slash - rest > TSR_BACKUP_NAME_MAX)
        return 0;
    snprintf(snap, sizeof snap, "%.*s", (int)(slash - rest), rest);
    if (!tsr_backup_snapshot_name_valid(snap))
        return 0;
    bool manifest = !strcmp(slash + 1, TSR_BACKUP_MANIFEST);
    for (size_t i = 0; i < g->count; i++) {
        if (!strcmp(g->items[i].name, snap)) {
            g->items[i].complete |= manifest;
            return 0;
        }
    }
    if (g->count == g->cap) {
        tsr_backup_snapshot *grown =
            realloc(g->items, (g->cap = g->cap ? g->cap * 2 : 16) * sizeof *grown);
        if (!grown) {
            g->oom = true;
            return 1;
        }
        g->items = grown;
    }
    snprintf(g->items[g->count].name, sizeof g->items[g->count].name, "%s", snap);
    g->items[g->count++].complete = manifest;
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const tsr_backup_snapshot *)a)->name, ((const tsr_backup_snapshot *)b)->name);
}

tsr_status tsr_backup_dest_snapshots(tsr_backup_dest *d, tsr_ctx *ctx, tsr_backup_snapshot **out,
                                     size_t *count) {
    gathering g = {0};
    tsr_status rc = tsr_backup_dest_list(d, ctx, TSR_BACKUP_SNAPSHOTS_DIR, gather, &g);
    if (!rc && g.oom)
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    if (rc) {
        free(g.items);
        return rc;
    }
    if (g.count > 1)
        qsort(g.items, g.count, sizeof *g.items, by_name);
    *out = g.items;
    *count = g.count;
    return TSR_OK;
}

tsr_status tsr_backup_dest_manifest(tsr_backup_dest *d, tsr_ctx *ctx, const char *name,
                                    tsr_manifest *out) {
    char object[TSR_BACKUP_NAME_MAX + 64], *text = NULL;
    size_t len = 0;
    bool found = false;
    int fd = -1;
    memset(out, 0, sizeof *out);
    snprintf(object, sizeof object, TSR_BACKUP_SNAPSHOTS_DIR "%s/" TSR_BACKUP_MANIFEST, name);
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    tsr_status rc = tsr_backup_dest_get(d, scratch, object, &found, &fd);
    if (!rc && !found)
        rc = tsr_error(scratch, TSR_ERR_USAGE, "it has no %s (an interrupted backup)",
                       TSR_BACKUP_MANIFEST);
    if (!rc)
        rc = tsr_backup_read_fd(scratch, fd, TSR_MANIFEST_MAX_BYTES, object, &text, &len);
    if (!rc)
        rc = tsr_manifest_decode(scratch, text, len, out);
    if (rc)
        tsr_error(ctx, rc, "snapshot %s in %s: %s", name, d->where, tsr_ctx_message(scratch));
    if (fd >= 0)
        close(fd);
    free(text);
    tsr_ctx_free(scratch);
    return rc;
}

/* ---- the blobs a location holds ---- */

static int entry_cmp(const void *a, const void *b) {
    return strcmp(((const tsr_backup_blob_entry *)a)->sha, ((const tsr_backup_blob_entry *)b)->sha);
}

/* Makes room for one more entry. */
static tsr_status set_grow(tsr_ctx *ctx, tsr_backup_blob_set *s) {
    if (s->count < s->cap)
        return TSR_OK;
    size_t cap = s->cap ? s->cap * 2 : 1024;
    tsr_backup_blob_entry *grown = realloc(s->items, cap * sizeof *grown);
    if (!grown)
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    s->items = grown;
    s->cap = cap;
    return TSR_OK;
}

bool tsr_backup_blob_set_has(const tsr_backup_blob_set *set, const char *sha, uint64_t *bytes) {
    tsr_backup_blob_entry key;
    if (!set->count || !tsr_backup_sha256_valid(sha))
        return false;
    snprintf(key.sha, sizeof key.sha, "%s", sha);
    const tsr_backup_blob_entry *e =
        bsearch(&key, set->items, set->count, sizeof *set->items, entry_cmp);
    if (e && bytes)
        *bytes = e->bytes;
    return e != NULL;
}

tsr_status tsr_backup_blob_set_add(tsr_ctx *ctx, tsr_backup_blob_set *set, const char *sha,
                                   uint64_t bytes) {
    size_t lo = 0, hi = set->count;
    while (lo < hi) { /* the first entry not below sha */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(set->items[mid].sha, sha) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < set->count && !strcmp(set->items[lo].sha, sha)) {
        set->items[lo].bytes = bytes; /* rewritten */
        return TSR_OK;
    }
    tsr_status rc = set_grow(ctx, set);
    if (rc)
        return rc;
    memmove(&set->items[lo + 1], &set->items[lo], (set->count - lo) * sizeof *set->items);
    snprintf(set->items[lo].sha, sizeof set->items[lo].sha, "%s", sha);
    set->items[lo].bytes = bytes;
    set->count++;
    return TSR_OK;
}

void tsr_backup_blob_set_clear(tsr_backup_blob_set *set) {
    if (!set)
        return;
    free(set->items);
    memset(set, 0, sizeof *set);
}

/* The listing's state: the set and the first error. */
typedef struct blob_listing {
    tsr_ctx *ctx;             /* where errors go */
    tsr_backup_blob_set *set; /* being filled, unsorted */
    tsr_status rc;            /* first error */
} blob_listing;

static int on_blob(void *arg, const char *name, uint64_t size) {
    blob_listing *l = arg;
    const char *sha = name + strlen(TSR_BACKUP_BLOBS_DIR);
    if (!tsr_backup_sha256_valid(sha) || (l->rc = set_grow(l->ctx, l->set)))
        return l->rc != TSR_OK;
    snprintf(l->set->items[l->set->count].sha, sizeof l->set->items[0].sha, "%s", sha);
    l->set->items[l->set->count++].bytes = size;
    return 0;
}

tsr_status tsr_backup_dest_blobs(tsr_backup_dest *d, tsr_ctx *ctx, tsr_backup_blob_set *out) {
    blob_listing l = {.ctx = ctx, .set = out};
    memset(out, 0, sizeof *out);
    tsr_status rc = tsr_backup_dest_list(d, ctx, TSR_BACKUP_BLOBS_DIR, on_blob, &l);
    if (!rc)
        rc = l.rc;
    if (rc) {
        tsr_backup_blob_set_clear(out);
        return rc;
    }
    if (out->count > 1)
        qsort(out->items, out->count, sizeof *out->items, entry_cmp);
    return TSR_OK;
}
