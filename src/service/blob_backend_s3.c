/* The S3 backend (blob_backend.h): blob ID is object PREFIX/blobs/ID of an
 * S3-compatible store, reached through s3_client.h. Install uploads the
 * synced temp file (one PUT, or multipart above 16 MiB; every object
 * carries its SHA-256) and removes it; open downloads the object into a
 * temp file under data_dir/tmp that is unlinked at once (the fd is all that
 * names it), checking the SHA-256. Nothing else is cached locally. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/blob_backend.h"
#include "service/s3_client.h"
#include "service/store_internal.h"

/* Tries per request of blob traffic: with the client's backoff (100 ms
 * doubling, half of it random) the last try comes 6 to 13 s after the
 * first, so a store restarted within a few seconds costs no job. The
 * start-up check keeps the client's default (TSR_S3_ATTEMPTS), so a wrong
 * endpoint is reported within two seconds. */
#define BLOB_S3_ATTEMPTS 8

typedef struct s3_backend {
    tsr_blob_backend base;   /* first: the ops */
    tsr_s3_client *client;   /* owned; BLOB_S3_ATTEMPTS tries per request */
    tsr_s3_client *checker;  /* owned; default tries, for prepare only */
    char tmp[PATH_MAX - 64]; /* where downloads land (data_dir/tmp) */
} s3_backend;

/* Writes the object name of blob `id` into `name`. */
static void object_name(const char *id, char name[TSR_STORE_ID_LEN + 16]) {
    snprintf(name, TSR_STORE_ID_LEN + 16, TSR_BLOB_S3_DIR "%s", id);
}

static tsr_status s3_prepare(tsr_blob_backend *b, tsr_ctx *ctx) {
    return tsr_s3_check(((s3_backend *)b)->checker, ctx);
}

/* Uploads `temp` as blob `id`, then removes it. A failed upload may still
 * have reached the store (an answer lost after the last try), so the object
 * is deleted, best effort: a failed commit leaves no object behind. */
static tsr_status s3_install(tsr_blob_backend *b, tsr_ctx *ctx, const char *temp, const char *id) {
    s3_backend *s = (s3_backend *)b;
    char name[TSR_STORE_ID_LEN + 16];
    object_name(id, name);
    int fd = open(temp, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot open %s: %s", temp, strerror(errno));
    tsr_status rc = tsr_s3_put_fd(s->client, ctx, name, fd, NULL);
    close(fd);
    if (rc) {
        tsr_ctx *scratch = tsr_ctx_new(); /* keeps the upload's message on ctx */
        if (scratch)
            tsr_s3_delete(s->client, scratch, name);
        tsr_ctx_free(scratch);
        return rc;
    }
    unlink(temp);
    return TSR_OK;
}

/* Creates an anonymous read-write file under `dir`: created, then unlinked. */
static tsr_status anonymous_file(tsr_ctx *ctx, const char *dir, int *fd) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/s3-get-XXXXXX", dir);
    if ((*fd = mkostemp(path, O_CLOEXEC)) < 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot create a temp file in %s: %s", dir,
                         strerror(errno));
    unlink(path);
    return TSR_OK;
}

static tsr_status s3_open(tsr_blob_backend *b, tsr_ctx *ctx, const char *id, int *fd, char *path) {
    s3_backend *s = (s3_backend *)b;
    char name[TSR_STORE_ID_LEN + 16];
    bool found = false;
    object_name(id, name);
    tsr_status rc = anonymous_file(ctx, s->tmp, fd);
    if (rc)
        return rc;
    if (!(rc = tsr_s3_get_fd(s->client, ctx, name, *fd, &found, NULL)) && !found)
        rc = tsr_error(ctx, TSR_ERR_IO, "blob %s: the stored object is missing", id);
    if (rc) {
        close(*fd);
        *fd = -1;
        return rc;
    }
    snprintf(path, PATH_MAX, "/proc/self/fd/%d", *fd);
    return TSR_OK;
}

static tsr_status s3_remove(tsr_blob_backend *b, tsr_ctx *ctx, const char *id) {
    char name[TSR_STORE_ID_LEN + 16];
    object_name(id, name);
    return tsr_s3_delete(((s3_backend *)b)->client, ctx, name);
}

static tsr_status s3_head(tsr_blob_backend *b, tsr_ctx *ctx, const char *id, bool *found,
                          uint64_t *bytes, char sha256[65]) {
    char name[TSR_STORE_ID_LEN + 16];
    tsr_s3_object info = {0};
    object_name(id, name);
    tsr_status rc = tsr_s3_head(((s3_backend *)b)->client, ctx, name, found, &info);
    *bytes = info.size;
    snprintf(sha256, TSR_S3_SHA256_HEX + 1, "%s", info.sha256);
    return rc;
}

/* tsr_s3_list's callback: passes blob ids on to the backend's caller. */
typedef struct list_state {
    tsr_blob_id_fn fn; /* the caller's callback */
    void *arg;         /* its argument */
} list_state;

static int on_object(void *arg, const char *name, uint64_t size) {
    list_state *st = arg;
    const char *id = name + strlen(TSR_BLOB_S3_DIR);
    (void)size;
    if (strncmp(name, TSR_BLOB_S3_DIR, strlen(TSR_BLOB_S3_DIR)) != 0 || !tsr_store_id_valid(id))
        return 0; /* not ours: leave it */
    return st->fn(st->arg, id);
}

static tsr_status s3_list(tsr_blob_backend *b, tsr_ctx *ctx, tsr_blob_id_fn fn, void *arg) {
    list_state st = {.fn = fn, .arg = arg};
    return tsr_s3_list(((s3_backend *)b)->client, ctx, TSR_BLOB_S3_DIR, on_object, &st);
}

static void s3_free(tsr_blob_backend *b) {
    if (!b)
        return;
    tsr_s3_client_free(((s3_backend *)b)->client);
    tsr_s3_client_free(((s3_backend *)b)->checker);
    free(b);
}

static const tsr_blob_backend_ops s3_ops = {
    .name = "s3",
    .shared = true,
    .prepare = s3_prepare,
    .install = s3_install,
    .open = s3_open,
    .remove = s3_remove,
    .head = s3_head,
    .list = s3_list,
    .path = NULL,
    .free = s3_free,
};

tsr_status tsr_blob_backend_s3_new(tsr_ctx *ctx, const char *url, const char *endpoint,
                                   const char *tmp_dir, tsr_blob_backend **out) {
    tsr_s3_location loc;
    tsr_s3_config blobs = {.endpoint = endpoint, .max_attempts = BLOB_S3_ATTEMPTS};
    tsr_s3_config check = {.endpoint = endpoint};
    *out = NULL;
    tsr_status rc = tsr_s3_location_parse(ctx, url, &loc);
    if (rc)
        return rc;
    s3_backend *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(ctx, TSR_ERR_NOMEM, "blob store: out of memory");
    s->base.ops = &s3_ops;
    snprintf(s->tmp, sizeof s->tmp, "%s", tmp_dir);
    if ((rc = tsr_s3_client_new(ctx, &blobs, &loc, &s->client)) ||
        (rc = tsr_s3_client_new(ctx, &check, &loc, &s->checker))) {
        s3_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return TSR_OK;
}

tsr_status tsr_blob_backend_new(tsr_ctx *ctx, const tsr_blob_backend_config *cfg,
                                tsr_blob_backend **out) {
    const char *url = cfg->url ? cfg->url : "";
    *out = NULL;
    if (!*url)
        return tsr_blob_backend_files_new(ctx, cfg->default_dir, out);
    if (!strncmp(url, "file:", 5))
        return tsr_blob_backend_files_new(ctx, url + 5, out);
    if (!strncmp(url, "s3://", 5))
        return tsr_blob_backend_s3_new(ctx, url, cfg->s3_endpoint, cfg->tmp_dir, out);
    return tsr_error(ctx, TSR_ERR_USAGE,
                     "blob store: --store wants file:DIR or s3://BUCKET[/PREFIX] (got %.200s)",
                     url);
}

void tsr_blob_backend_free(tsr_blob_backend *b) {
    if (b)
        b->ops->free(b);
}
