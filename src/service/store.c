/* Opening and closing the store, migrations, and the SQL helpers its files
 * share. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/store_internal.h"
#include "tessera/image.h"
#include "util/hex.h"
#include "util/random.h"

static const char *const role_names[] = {"admin", "user", "viewer"};
static const char *const state_names[] = {"queued", "running", "succeeded", "failed", "cancelled"};

const char *tsr_role_name(tsr_role role) {
    return (unsigned)role < 3 ? role_names[role] : "viewer";
}

bool tsr_role_parse(const char *name, tsr_role *out) {
    for (int i = 0; i < 3; i++) {
        if (name && strcmp(name, role_names[i]) == 0) {
            *out = (tsr_role)i;
            return true;
        }
    }
    return false;
}

const char *tsr_job_state_name(tsr_job_state state) {
    return (unsigned)state < TSR_JOB_STATE_COUNT ? state_names[state] : "unknown";
}

bool tsr_job_state_terminal(tsr_job_state state) {
    return state == TSR_JOB_SUCCEEDED || state == TSR_JOB_FAILED || state == TSR_JOB_CANCELLED;
}

tsr_status tsr_store_random_id(tsr_ctx *ctx, char id[TSR_STORE_ID_LEN + 1]) {
    return tsr_random_hex(ctx, id, TSR_STORE_ID_LEN);
}

bool tsr_store_id_valid(const char *id) {
    return tsr_hex_is_lower(id, TSR_STORE_ID_LEN);
}

bool tsr_store_may_see(const tsr_store_user *caller, int64_t owner) {
    return caller && (caller->role == TSR_ROLE_ADMIN || caller->id == owner);
}

int64_t tsr_store_owner_filter(const tsr_store_user *caller) {
    return caller->role == TSR_ROLE_ADMIN ? -1 : caller->id;
}

/* Creates `path` as a directory (0700) unless it exists as one. */
static tsr_status make_dir(tsr_ctx *ctx, const char *path) {
    struct stat sb;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot create directory %s: %s", path,
                         strerror(errno));
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return tsr_error(ctx, TSR_ERR_IO, "store: %s is not a directory", path);
    return TSR_OK;
}

/* Takes the data directory's lock file so a second process cannot open it. */
static tsr_status lock_dir(tsr_store *s, tsr_ctx *ctx) {
    char path[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot open %s: %s", path, strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return tsr_error(ctx, TSR_ERR_IO,
                         "store: data directory %s is in use by another tessera process (%s)",
                         s->dir, strerror(errno));
    return TSR_OK;
}

/* Opens the store; `opts` as for tsr_store_open_with; `rotating` skips the
 * identity check (tsr_store_open_for_rotation). */
/* The blob store a data folder was first opened with, kept in
 * data_dir/store-url, must be the one it is opened with again: a restart
 * that forgot `--store s3://...` (or named another bucket or prefix) would
 * otherwise serve a store whose every blob is missing. The first open that
 * touches blobs and succeeds records it (record_store_url); metadata-only
 * opens (accounts) neither check nor record. */
static const char *store_url_of(const tsr_store_options *opts) {
    return opts && opts->store_url && *opts->store_url ? opts->store_url : "";
}

static tsr_status check_store_url(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts) {
    if (opts && opts->metadata_only)
        return TSR_OK;
    const char *url = store_url_of(opts);
    char path[PATH_MAX], have[1024] = "";
    snprintf(path, sizeof path, "%s/store-url", s->dir);
    FILE *f = fopen(path, "re");
    if (!f)
        return errno == ENOENT
                   ? TSR_OK
                   : tsr_error(ctx, TSR_ERR_IO, "store: cannot read %s: %s", path, strerror(errno));
    size_t n = fread(have, 1, sizeof have - 1, f);
    fclose(f);
    have[n] = '\0';
    have[strcspn(have, "\n")] = '\0';
    if (!strcmp(have, url))
        return TSR_OK;
    if (!*have)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: this data folder keeps its blobs in its own blobs/ folder (%s); "
                         "start it without --store",
                         path);
    return tsr_error(ctx, TSR_ERR_USAGE,
                     "store: this data folder keeps its blobs in %s (%s); start it with --store %s",
                     have, path, have);
}

static tsr_status record_store_url(tsr_store *s, tsr_ctx *ctx, const tsr_store_options *opts) {
    char path[PATH_MAX], line[1040];
    snprintf(path, sizeof path, "%s/store-url", s->dir);
    if ((opts && opts->metadata_only) || access(path, F_OK) == 0)
        return TSR_OK;
    int n = snprintf(line, sizeof line, "%s\n", store_url_of(opts));
    return tsr_file_write_atomic(ctx, path, line, (size_t)n);
}

/* A fresh handle on folder `dir` (its `what` names it in messages), with
 * its tmp/ path; nothing opened yet. */
static tsr_status store_new(tsr_ctx *ctx, const char *dir, const char *what, tsr_store **out) {
    *out = NULL;
    if (!dir || !*dir || strlen(dir) >= sizeof((tsr_store *)0)->dir)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: the %s directory path is empty or too long",
                         what);
    if (sodium_init() < 0)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "store: libsodium failed to initialise");
    tsr_store *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory");
    pthread_mutex_init(&s->lock, NULL);
    s->lock_fd = -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->tmp, sizeof s->tmp, "%s/tmp", dir);
    *out = s;
    return TSR_OK;
}

static tsr_status open_store(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                             bool rotating, tsr_store **out) {
    tsr_store *s = NULL;
    tsr_status rc = store_new(ctx, data_dir, "data", &s);
    *out = NULL;
    if (rc)
        return rc;
    snprintf(s->blobs, sizeof s->blobs, "%s/blobs", data_dir);
    tsr_blob_backend_config blobs = {
        .url = opts ? opts->store_url : NULL,
        .default_dir = s->blobs,
        .tmp_dir = s->tmp,
        .s3_endpoint = opts ? opts->s3_endpoint : NULL,
    };
    if ((opts && opts->data_key_file &&
         (rc = tsr_blob_key_load(ctx, opts->data_key_file, &s->key))) ||
        (rc = tsr_blob_backend_new(ctx, &blobs, &s->backend)))
        goto out;
    if ((rc = make_dir(ctx, s->dir)) || (rc = lock_dir(s, ctx)) ||
        (!rotating && (rc = check_store_url(s, ctx, opts))) ||
        (rc = tsr_blob_dirs_prepare(s, ctx)) || (rc = tsr_blob_tmp_clean(s, ctx)) ||
        (!rotating && (rc = tsr_blob_identity_check(s, ctx, opts && opts->metadata_only))) ||
        (rc = tsr_store_db_open(s, ctx, opts)) || (rc = tsr_blob_collect_garbage(s, ctx)) ||
        (!rotating && (rc = record_store_url(s, ctx, opts))))
        goto out;
    *out = s;
out:
    if (rc)
        tsr_store_close(s);
    return rc;
}

tsr_status tsr_store_open_blobs(tsr_ctx *ctx, const char *work_dir, const tsr_store_options *opts,
                                tsr_store **out) {
    *out = NULL;
    if (!opts || !opts->store_url || !*opts->store_url)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: a worker needs the coordinators' store: --store "
                         "s3://BUCKET[/PREFIX] or --store file:DIR (a folder every host shares)");
    tsr_store *s = NULL;
    tsr_status rc = store_new(ctx, work_dir, "work", &s);
    if (rc)
        return rc;
    tsr_blob_backend_config blobs = {
        .url = opts->store_url, .tmp_dir = s->tmp, .s3_endpoint = opts->s3_endpoint};
    if ((opts->data_key_file && (rc = tsr_blob_key_load(ctx, opts->data_key_file, &s->key))) ||
        (rc = tsr_blob_backend_new(ctx, &blobs, &s->backend)) || (rc = make_dir(ctx, s->dir)) ||
        (rc = lock_dir(s, ctx)) || (rc = tsr_blob_dirs_prepare(s, ctx)) ||
        (rc = tsr_blob_tmp_clean(s, ctx))) {
        tsr_store_close(s);
        return rc;
    }
    *out = s;
    return TSR_OK;
}

tsr_status tsr_store_open(tsr_ctx *ctx, const char *data_dir, tsr_store **out) {
    return open_store(ctx, data_dir, NULL, false, out);
}

tsr_status tsr_store_open_with(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                               tsr_store **out) {
    return open_store(ctx, data_dir, opts, false, out);
}

tsr_status tsr_store_open_for_rotation(tsr_ctx *ctx, const char *data_dir,
                                       const tsr_store_options *opts, tsr_store **out) {
    tsr_store_options blobs_only = {
        .store_url = opts ? opts->store_url : NULL,
        .s3_endpoint = opts ? opts->s3_endpoint : NULL,
        .db_url = opts ? opts->db_url : NULL,
    };
    return open_store(ctx, data_dir, &blobs_only, true, out);
}

/* The checks of a reader's identity: no interrupted rotation, a key only
 * on an encrypted store (and then its key). */
static tsr_status check_reader_identity(tsr_store *s, tsr_ctx *ctx) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/rotation", s->dir);
    if (access(path, F_OK) == 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: a key rotation of %s is running or was interrupted; finish it "
                         "first (tessera data rotate-key)",
                         s->dir);
    snprintf(path, sizeof path, "%s/keycheck", s->dir);
    if (s->key && access(path, F_OK) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "store: %s is not encrypted; leave out --data-key",
                         s->dir);
    return tsr_blob_identity_check(s, ctx, true);
}

tsr_status tsr_store_open_reader(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                                 tsr_store **out) {
    tsr_store *s = NULL;
    tsr_status rc = store_new(ctx, data_dir, "data", &s);
    *out = NULL;
    if (rc)
        return rc;
    snprintf(s->blobs, sizeof s->blobs, "%s/blobs", data_dir);
    tsr_blob_backend_config blobs = {
        .url = opts ? opts->store_url : NULL,
        .default_dir = s->blobs,
        .tmp_dir = s->tmp,
        .s3_endpoint = opts ? opts->s3_endpoint : NULL,
    };
    if ((rc = tsr_store_db_open_reader(s, ctx, opts)) ||
        (opts && opts->data_key_file &&
         (rc = tsr_blob_key_load(ctx, opts->data_key_file, &s->key))) ||
        (rc = tsr_blob_backend_new(ctx, &blobs, &s->backend)) ||
        (rc = check_store_url(s, ctx, opts)) || (rc = check_reader_identity(s, ctx)) ||
        (rc = make_dir(ctx, s->tmp)) || /* S3 downloads land there; serve makes it too */
        (rc = s->backend->ops->prepare(s->backend, ctx))) {
        tsr_store_close(s);
        return rc;
    }
    *out = s;
    return TSR_OK;
}

bool tsr_store_encrypted(const tsr_store *store) {
    return store->key != NULL;
}

bool tsr_store_blob_paths_stable(const tsr_store *store) {
    return !store->key && store->backend->ops->path != NULL;
}

void tsr_store_close(tsr_store *store) {
    if (!store)
        return;
    tsr_blob_key_free(store->key);
    tsr_blob_backend_free(store->backend);
    tsr_db_close(store->db);
    if (store->lock_fd >= 0)
        close(store->lock_fd); /* releases the flock */
    pthread_mutex_destroy(&store->lock);
    free(store);
}

int tsr_store_schema_version(tsr_store *store) {
    return store->schema_version;
}
