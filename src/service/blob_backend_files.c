/* The files backend (blob_backend.h): blob ID is DIR/<first 2 hex>/ID. A
 * blob is installed from a synced temp file by rename, and the directory is
 * fsync'ed after the rename, so a blob is either wholly there or not there,
 * even across a crash or power loss (the temp must be on DIR's file system:
 * data_dir/tmp beside data_dir/blobs). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/blob_backend.h"
#include "service/store_internal.h"
#include "util/hex.h"

typedef struct files_backend {
    tsr_blob_backend base;   /* first: the ops */
    char dir[PATH_MAX - 64]; /* the blobs directory */
} files_backend;

tsr_status tsr_blob_sync_dir(tsr_ctx *ctx, const char *path) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot sync directory %s: %s", path,
                         strerror(err));
    }
    close(fd);
    return TSR_OK;
}

static tsr_status make_dir(tsr_ctx *ctx, const char *path, bool *created) {
    if (created)
        *created = false;
    if (mkdir(path, 0700) == 0) {
        if (created)
            *created = true;
        return TSR_OK;
    }
    if (errno == EEXIST)
        return TSR_OK;
    return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot create directory %s: %s", path,
                     strerror(errno));
}

static tsr_status files_prepare(tsr_blob_backend *b, tsr_ctx *ctx) {
    return make_dir(ctx, ((files_backend *)b)->dir, NULL);
}

static tsr_status files_path(tsr_blob_backend *b, tsr_ctx *ctx, const char *id, char *path) {
    (void)ctx;
    snprintf(path, PATH_MAX, "%s/%.2s/%s", ((files_backend *)b)->dir, id, id);
    return TSR_OK;
}

/* Copies `temp` to a synced hidden file `.<id>.XXXXXX` in `dir` and renames
 * that to `path`: for a temp folder on another file system than the store
 * (a worker's own folder beside a shared `file:` store), where rename fails
 * with EXDEV. The temp file is removed on success. */
static tsr_status install_by_copy(tsr_ctx *ctx, const char *temp, const char *dir, const char *id,
                                  const char *path) {
    char part[PATH_MAX];
    if (snprintf(part, sizeof part, "%s/.%s.XXXXXX", dir, id) >= (int)sizeof part)
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: the path %s is too long", dir);
    int in = open(temp, O_RDONLY | O_CLOEXEC), out = mkostemp(part, O_CLOEXEC);
    tsr_status rc = TSR_OK;
    ssize_t n = 1;
    while (in >= 0 && out >= 0 && n > 0)
        n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
    if (in < 0 || out < 0 || n < 0 || fsync(out) != 0 || rename(part, path) != 0)
        rc = tsr_error(ctx, TSR_ERR_IO, "blob store: cannot copy %s into the store: %s", temp,
                       strerror(errno));
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    if (rc)
        unlink(part);
    else
        unlink(temp);
    return rc;
}

/* Moves the synced file `temp` into the store as blob `id`: make the 2-hex
 * directory (syncing the blobs directory if it is new), rename, sync the
 * directory. */
static tsr_status files_install(tsr_blob_backend *b, tsr_ctx *ctx, const char *temp,
                                const char *id) {
    files_backend *f = (files_backend *)b;
    char dir[PATH_MAX], path[PATH_MAX];
    bool created;
    snprintf(dir, sizeof dir, "%s/%.2s", f->dir, id);
    tsr_status rc = make_dir(ctx, dir, &created);
    if (rc || (created && (rc = tsr_blob_sync_dir(ctx, f->dir))))
        return rc;
    files_path(b, ctx, id, path);
    if (rename(temp, path) != 0) {
        int e = errno;
        rc = e == EXDEV
                 ? install_by_copy(ctx, temp, dir, id, path)
                 : tsr_error(ctx, TSR_ERR_IO, "blob store: cannot move %s into the store: %s", temp,
                             strerror(e));
        if (rc)
            return rc;
    }
    if ((rc = tsr_blob_sync_dir(ctx, dir))) {
        unlink(path);
        return rc;
    }
    return TSR_OK;
}

static tsr_status files_open(tsr_blob_backend *b, tsr_ctx *ctx, const char *id, int *fd,
                             char *path) {
    files_path(b, ctx, id, path);
    if ((*fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob %s: the stored file is missing or unreadable: %s",
                         id, strerror(errno));
    return TSR_OK;
}

static tsr_status files_remove(tsr_blob_backend *b, tsr_ctx *ctx, const char *id) {
    char path[PATH_MAX];
    files_path(b, ctx, id, path);
    if (unlink(path) != 0 && errno != ENOENT)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot remove %s: %s", path,
                         strerror(errno));
    return TSR_OK;
}

/* Calls fn for the blobs of one 2-hex directory; *stop when fn asked. */
static tsr_status list_dir(tsr_ctx *ctx, const char *dir, tsr_blob_id_fn fn, void *arg,
                           bool *stop) {
    DIR *d = opendir(dir);
    if (!d)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot read %s: %s", dir, strerror(errno));
    struct dirent *e;
    while (!*stop && (e = readdir(d)))
        if (tsr_store_id_valid(e->d_name)) /* not ours: leave it */
            *stop = fn(arg, e->d_name) != 0;
    closedir(d);
    return TSR_OK;
}

static tsr_status files_list(tsr_blob_backend *b, tsr_ctx *ctx, tsr_blob_id_fn fn, void *arg) {
    files_backend *f = (files_backend *)b;
    DIR *d = opendir(f->dir);
    if (!d)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot read %s: %s", f->dir,
                         strerror(errno));
    tsr_status rc = TSR_OK;
    bool stop = false;
    struct dirent *e;
    while (!rc && !stop && (e = readdir(d))) {
        char dir[PATH_MAX];
        if (strlen(e->d_name) != 2 || !tsr_hex_is_lower(e->d_name, 2))
            continue;
        snprintf(dir, sizeof dir, "%s/%.2s", f->dir, e->d_name); /* the name is 2 hex digits */
        rc = list_dir(ctx, dir, fn, arg, &stop);
    }
    closedir(d);
    return rc;
}

static void files_free(tsr_blob_backend *b) {
    free(b);
}

static const tsr_blob_backend_ops files_ops = {
    .name = "files",
    .prepare = files_prepare,
    .install = files_install,
    .open = files_open,
    .remove = files_remove,
    .list = files_list,
    .path = files_path,
    .free = files_free,
};

tsr_status tsr_blob_backend_files_new(tsr_ctx *ctx, const char *dir, tsr_blob_backend **out) {
    *out = NULL;
    if (!dir || !*dir || strlen(dir) >= sizeof((files_backend *)0)->dir)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "blob store: the blobs directory is empty or too long");
    files_backend *f = calloc(1, sizeof *f);
    if (!f)
        return tsr_error(ctx, TSR_ERR_NOMEM, "blob store: out of memory");
    f->base.ops = &files_ops;
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    *out = &f->base;
    return TSR_OK;
}
