/*
 * Where committed blobs live: the blob store's backends (design notes:
 * docs/internals/store.md). The store (blobstore.c) keeps everything that
 * does not depend on where blobs live: temp files under data_dir/tmp,
 * hashing, caps, encryption at rest (blob_crypt.h), the SQLite references
 * and garbage collection. A backend only stores, fetches, removes and lists
 * whole blobs by id:
 *
 *   files  blobs under DIR/<2 hex>/<id>, installed by fsync + rename +
 *          fsync of the directory (blob_backend_files.c; the default,
 *          DIR = data_dir/blobs)
 *   s3     objects PREFIX/blobs/<id> of an S3-compatible store, uploaded
 *          from the temp file (multipart when large, SHA-256 metadata) and
 *          downloaded, hash-checked, into an unlinked temp file
 *          (blob_backend_s3.c, on s3_client.h)
 *
 * A backend sees blobs exactly as they are stored: sealed ones stay sealed.
 * Threads: every call may run on any number of threads at once.
 */
#ifndef TESSERA_SERVICE_BLOB_BACKEND_H
#define TESSERA_SERVICE_BLOB_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/status.h"

#define TSR_BLOB_S3_DIR "blobs/" /* object name of blob ID under the prefix: blobs/ID */

typedef struct tsr_blob_backend tsr_blob_backend;

/* Called once per blob id by list; return non-zero to stop the listing. */
typedef int (*tsr_blob_id_fn)(void *arg, const char *id);

/* The operations of one backend. `id` is always a valid blob id. */
typedef struct tsr_blob_backend_ops {
    const char *name; /* "files", "s3" */
    bool shared;      /* other processes may write here (a bucket shared by coordinators and
                         workers): blobs this store's database does not know are left alone */
    /* Makes the store usable at open: creates DIR, or checks that the
     * bucket answers to our credentials (one clear message if not). */
    tsr_status (*prepare)(tsr_blob_backend *b, tsr_ctx *ctx);
    /* Makes the synced file `temp` (under data_dir/tmp) blob `id`, replacing
     * a blob of that id. On success `temp` is gone (moved or uploaded and
     * removed); on failure it stays for the caller to remove and no blob
     * `id` was created (an older one stays). */
    tsr_status (*install)(tsr_blob_backend *b, tsr_ctx *ctx, const char *temp, const char *id);
    /* Opens the stored bytes of blob `id`: *fd (read-only, owned by the
     * caller) and a path naming it in `path` (PATH_MAX bytes). A missing or
     * unreadable blob is TSR_ERR_IO; a download failing its hash
     * TSR_ERR_CORRUPT. */
    tsr_status (*open)(tsr_blob_backend *b, tsr_ctx *ctx, const char *id, int *fd, char *path);
    /* Removes blob `id`; a missing one is not an error. */
    tsr_status (*remove)(tsr_blob_backend *b, tsr_ctx *ctx, const char *id);
    /* Size and SHA-256 of the stored form of blob `id` from the backend's
     * own record, without reading it (s3: the object's metadata); *found =
     * false when absent. NULL where there is no such record (files). */
    tsr_status (*head)(tsr_blob_backend *b, tsr_ctx *ctx, const char *id, bool *found,
                       uint64_t *bytes, char sha256[65]);
    /* Calls fn for every blob id the backend holds (other names are
     * skipped); fn may remove the blob it is given. */
    tsr_status (*list)(tsr_blob_backend *b, tsr_ctx *ctx, tsr_blob_id_fn fn, void *arg);
    /* The local path of blob `id` (PATH_MAX bytes), or NULL when blobs have
     * none (s3). */
    tsr_status (*path)(tsr_blob_backend *b, tsr_ctx *ctx, const char *id, char *path);
    void (*free)(tsr_blob_backend *b); /* accepts NULL */
} tsr_blob_backend_ops;

/* The head of every backend's state. */
struct tsr_blob_backend {
    const tsr_blob_backend_ops *ops; /* the backend's operations */
};

/* How the store chooses its backend. Strings are borrowed. */
typedef struct tsr_blob_backend_config {
    const char *url; /* "" / NULL: files in default_dir; "file:DIR"; "s3://BUCKET[/PREFIX]" */
    const char *default_dir; /* data_dir/blobs */
    const char *tmp_dir;     /* data_dir/tmp: downloads land here (unlinked at once) */
    const char *s3_endpoint; /* --s3-endpoint; NULL = $TESSERA_S3_ENDPOINT or AWS */
} tsr_blob_backend_config;

/* Creates the backend `cfg->url` names; sends no request and touches no
 * file (prepare does). A malformed URL is TSR_ERR_USAGE. The caller frees
 * *out with tsr_blob_backend_free. */
tsr_status tsr_blob_backend_new(tsr_ctx *ctx, const tsr_blob_backend_config *cfg,
                                tsr_blob_backend **out);
/* The files backend over `dir` (copied). */
tsr_status tsr_blob_backend_files_new(tsr_ctx *ctx, const char *dir, tsr_blob_backend **out);
/* The S3 backend at `url` ("s3://BUCKET[/PREFIX]"); downloads go to
 * `tmp_dir`. `endpoint` may be NULL. */
tsr_status tsr_blob_backend_s3_new(tsr_ctx *ctx, const char *url, const char *endpoint,
                                   const char *tmp_dir, tsr_blob_backend **out);
/* Frees a backend. Accepts NULL. */
void tsr_blob_backend_free(tsr_blob_backend *b);

/* fsyncs a directory so a rename or create in it is durable. */
tsr_status tsr_blob_sync_dir(tsr_ctx *ctx, const char *path);

#endif
