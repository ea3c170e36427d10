/* The blob store, whatever the backend (blob_backend.h): a blob is written
 * to data_dir/tmp first, synced, and only then handed to the backend, which
 * renames it into data_dir/blobs (files) or uploads it (s3), so a blob is
 * either wholly there or not there, even across a crash or power loss. With
 * a data key every blob is sealed (blob_crypt.h) before it reaches the
 * backend, and plaintext lives only in memfds. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h> /* memfd_create (_GNU_SOURCE is set by the build) */
#include <sys/stat.h>
#include <unistd.h>

#include "service/store_internal.h"
#include "util/hex.h"
#include "util/log.h"

struct tsr_blob_writer {
    tsr_store *store;             /* borrowed; outlives the writer */
    int fd;                       /* the temp file, -1 once closed */
    char temp[PATH_MAX];          /* its path under data_dir/tmp, or /proc/self/fd/N of a memfd */
    uint64_t bytes;               /* written so far */
    uint64_t max_bytes;           /* cap on `bytes` */
    crypto_hash_sha256_state sha; /* hash of the bytes so far */
    bool committed;               /* renamed into the store */
    bool failed;                  /* a write failed: no commit allowed */
    bool memory;                  /* `fd` is a memfd (encrypted store): nothing to unlink */
};

/* A producer's scratch file (store.h). */
struct tsr_blob_file {
    tsr_store *store;    /* borrowed; outlives the file */
    int fd;              /* read-write; -1 once committed */
    char path[PATH_MAX]; /* tmp/<random>.part, or /proc/self/fd/N of a memfd */
    bool memory;         /* a memfd (encrypted store) */
    bool committed;      /* moved into the store */
};

/* A reader of verified plaintext (store.h). */
struct tsr_blob_reader {
    int fd;              /* read-only: the blob file or a memfd; -1 once taken */
    char path[PATH_MAX]; /* the blob's path, or /proc/self/fd/N of the memfd */
    uint64_t size;       /* plaintext bytes */
};

tsr_status tsr_blob_dirs_prepare(tsr_store *s, tsr_ctx *ctx) {
    if (mkdir(s->tmp, 0700) != 0 && errno != EEXIST)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot create directory %s: %s", s->tmp,
                         strerror(errno));
    return s->backend->ops->prepare(s->backend, ctx);
}

tsr_status tsr_blob_tmp_clean(tsr_store *s, tsr_ctx *ctx) {
    DIR *d = opendir(s->tmp);
    if (!d)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot read %s: %s", s->tmp,
                         strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        unlinkat(dirfd(d), e->d_name, 0); /* a stray directory is left alone */
    }
    closedir(d);
    return TSR_OK;
}

tsr_status tsr_blob_path(tsr_store *store, tsr_ctx *ctx, const char *id, char *path) {
    if (!tsr_store_id_valid(id))
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: '%.40s' is not a blob id", id ? id : "");
    if (!store->backend->ops->path)
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: %s blobs have no local path",
                         store->backend->ops->name);
    return store->backend->ops->path(store->backend, ctx, id, path);
}

tsr_status tsr_blob_install(tsr_store *s, tsr_ctx *ctx, const char *temp, const char *id) {
    return s->backend->ops->install(s->backend, ctx, temp, id);
}

tsr_status tsr_blob_create_temp(tsr_store *s, tsr_ctx *ctx, char *path, int *fd) {
    char name[TSR_STORE_ID_LEN + 1];
    *fd = -1;
    tsr_status rc = tsr_store_random_id(ctx, name);
    if (rc)
        return rc;
    snprintf(path, PATH_MAX, "%s/%s.part", s->tmp, name);
    *fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (*fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot create a temp file in %s: %s", s->tmp,
                         strerror(errno));
    return TSR_OK;
}

/* Refuses blob work on an encrypted store opened without its key. */
static tsr_status check_usable(tsr_store *s, tsr_ctx *ctx) {
    if (s->blobs_refused)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "blob store: this store is encrypted; start with --data-key FILE");
    return TSR_OK;
}

/* Creates a plaintext scratch file: a memfd named by /proc/self/fd/N on an
 * encrypted store, else a fresh tmp/ file. */
static tsr_status create_scratch(tsr_store *s, tsr_ctx *ctx, char *path, int *fd, bool *memory) {
    tsr_status rc = check_usable(s, ctx);
    *memory = s->key != NULL;
    *fd = -1;
    if (rc || !*memory)
        return rc ? rc : tsr_blob_create_temp(s, ctx, path, fd);
    if ((*fd = memfd_create("tessera-blob", MFD_CLOEXEC)) < 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot create a memory file: %s",
                         strerror(errno));
    snprintf(path, PATH_MAX, "/proc/self/fd/%d", *fd);
    return TSR_OK;
}

/* Seals the whole of plaintext `fd` into the store as blob `id` (a new
 * random one unless `given`): encrypt into tmp/, fsync, install. */
static tsr_status seal_into_store(tsr_store *s, tsr_ctx *ctx, int fd, char id[TSR_STORE_ID_LEN + 1],
                                  bool given, uint64_t *bytes) {
    char temp[PATH_MAX];
    int out = -1;
    /* first: the id is the additional data */
    tsr_status rc = given ? TSR_OK : tsr_store_random_id(ctx, id);
    if (rc || (rc = tsr_blob_create_temp(s, ctx, temp, &out)))
        return rc;
    if ((rc = tsr_blob_encrypt_fd(ctx, s->key, id, fd, out, bytes)))
        goto out;
    if (fsync(out) != 0) {
        rc = tsr_error(ctx, TSR_ERR_IO, "blob store: cannot sync %s: %s", temp, strerror(errno));
        goto out;
    }
    rc = tsr_blob_install(s, ctx, temp, id);
out:
    close(out);
    if (rc)
        unlink(temp);
    return rc;
}

tsr_status tsr_blob_writer_new(tsr_store *store, tsr_ctx *ctx, uint64_t max_bytes,
                               tsr_blob_writer **out) {
    *out = NULL;
    tsr_blob_writer *w = calloc(1, sizeof *w);
    if (!w)
        return tsr_error(ctx, TSR_ERR_NOMEM, "blob store: out of memory");
    w->store = store;
    w->max_bytes = max_bytes ? max_bytes : tsr_ctx_limits(ctx)->max_file_bytes;
    crypto_hash_sha256_init(&w->sha);
    tsr_status rc = create_scratch(store, ctx, w->temp, &w->fd, &w->memory);
    if (rc) {
        free(w);
        return rc;
    }
    *out = w;
    return TSR_OK;
}

tsr_status tsr_blob_writer_write(tsr_blob_writer *w, tsr_ctx *ctx, const void *data, size_t len) {
    if (w->failed || w->committed || w->fd < 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: write to a finished or failed writer");
    if (len > w->max_bytes - w->bytes) {
        w->failed = true;
        return tsr_error(ctx, TSR_ERR_LIMIT,
                         "blob store: upload is larger than the limit of %llu "
                         "bytes",
                         (unsigned long long)w->max_bytes);
    }
    const unsigned char *p = data;
    crypto_hash_sha256_update(&w->sha, p, len);
    w->bytes += len;
    while (len) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            w->failed = true;
            return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot write %s: %s", w->temp,
                             strerror(errno));
        }
        p += n;
        len -= (size_t)n;
    }
    return TSR_OK;
}

const char *tsr_blob_writer_temp_path(const tsr_blob_writer *w) {
    return w->temp;
}

uint64_t tsr_blob_writer_bytes(const tsr_blob_writer *w) {
    return w->bytes;
}

void tsr_blob_writer_sha256(const tsr_blob_writer *w, char sha256[TSR_STORE_SHA256_LEN + 1]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state copy = w->sha;
    crypto_hash_sha256_final(&copy, digest);
    tsr_hex_encode(sha256, digest, sizeof digest);
}

tsr_status tsr_blob_writer_commit(tsr_blob_writer *w, tsr_ctx *ctx, char id[TSR_STORE_ID_LEN + 1],
                                  char sha256[TSR_STORE_SHA256_LEN + 1]) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    if (w->failed || w->committed || w->fd < 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: commit of a finished or failed writer");
    int fd = w->fd;
    w->fd = -1;
    tsr_status rc = TSR_OK;
    if (w->memory) {
        rc = seal_into_store(w->store, ctx, fd, id, false, NULL);
        close(fd);
    } else if (fsync(fd) != 0 || close(fd) != 0) {
        w->failed = true;
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot sync %s: %s", w->temp,
                         strerror(errno));
    } else {
        if (!(rc = tsr_store_random_id(ctx, id)))
            rc = tsr_blob_install(w->store, ctx, w->temp, id);
    }
    if (rc) {
        w->failed = true;
        return rc;
    }
    w->committed = true;
    crypto_hash_sha256_final(&w->sha, digest);
    if (sha256)
        tsr_hex_encode(sha256, digest, sizeof digest);
    return TSR_OK;
}

void tsr_blob_writer_free(tsr_blob_writer *w) {
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (!w->committed && !w->memory)
        unlink(w->temp);
    free(w);
}

tsr_status tsr_blob_file_new(tsr_store *store, tsr_ctx *ctx, tsr_blob_file **out) {
    *out = NULL;
    tsr_blob_file *f = calloc(1, sizeof *f);
    if (!f)
        return tsr_error(ctx, TSR_ERR_NOMEM, "blob store: out of memory");
    f->store = store;
    tsr_status rc = create_scratch(store, ctx, f->path, &f->fd, &f->memory);
    if (rc) {
        free(f);
        return rc;
    }
    *out = f;
    return TSR_OK;
}

int tsr_blob_file_fd(const tsr_blob_file *f) {
    return f->fd;
}

const char *tsr_blob_file_path(const tsr_blob_file *f) {
    return f->path;
}

static tsr_status put_file(tsr_store *store, tsr_ctx *ctx, const char *path,
                           char id[TSR_STORE_ID_LEN + 1], bool given, uint64_t *bytes);

/* Commits `f` as blob `id`: a new random one unless `given`. */
static tsr_status file_commit(tsr_blob_file *f, tsr_ctx *ctx, char id[TSR_STORE_ID_LEN + 1],
                              bool given, uint64_t *bytes) {
    if (f->committed || f->fd < 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: commit of a finished scratch file");
    if (given && !tsr_store_id_valid(id))
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: '%.40s' is not a blob id", id);
    if (f->memory) {
        tsr_status rc = seal_into_store(f->store, ctx, f->fd, id, given, bytes);
        if (!rc) {
            close(f->fd);
            f->fd = -1;
            f->committed = true;
        }
        return rc;
    }
    close(f->fd); /* put_file reopens by path: a producer may have replaced the file */
    f->fd = -1;
    f->committed = true; /* put_file moves or removes it */
    return put_file(f->store, ctx, f->path, id, given, bytes);
}

tsr_status tsr_blob_file_commit(tsr_blob_file *f, tsr_ctx *ctx, char id[TSR_STORE_ID_LEN + 1],
                                uint64_t *bytes) {
    return file_commit(f, ctx, id, false, bytes);
}

tsr_status tsr_blob_file_commit_as(tsr_blob_file *f, tsr_ctx *ctx, const char *id,
                                   uint64_t *bytes) {
    char copy[TSR_STORE_ID_LEN + 1];
    snprintf(copy, sizeof copy, "%s", id ? id : "");
    return file_commit(f, ctx, copy, true, bytes);
}

tsr_status tsr_blob_file_reopen(tsr_blob_file *f, tsr_ctx *ctx, int *fd) {
    *fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (*fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot reopen a scratch file: %s",
                         strerror(errno));
    return TSR_OK;
}

void tsr_blob_file_free(tsr_blob_file *f) {
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (!f->committed && !f->memory)
        unlink(f->path);
    free(f);
}

tsr_status tsr_blob_open_read(tsr_store *store, tsr_ctx *ctx, const char *id,
                              tsr_blob_reader **out) {
    char path[PATH_MAX];
    struct stat sb;
    int fd = -1;
    *out = NULL;
    tsr_status rc = check_usable(store, ctx);
    if (rc)
        return rc;
    if (!tsr_store_id_valid(id))
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: '%.40s' is not a blob id", id ? id : "");
    tsr_blob_reader *r = calloc(1, sizeof *r);
    if (!r)
        return tsr_error(ctx, TSR_ERR_NOMEM, "blob store: out of memory");
    r->fd = -1;
    if ((rc = store->backend->ops->open(store->backend, ctx, id, &fd, path))) {
        if (rc == TSR_ERR_CORRUPT)
            atomic_fetch_add(&store->integrity_failures, 1);
        goto out;
    }
    if (fstat(fd, &sb) != 0) {
        rc = tsr_error(ctx, TSR_ERR_IO, "blob %s: the stored file is unreadable: %s", id,
                       strerror(errno));
        goto out;
    }
    if (!store->key) {
        r->fd = fd;
        fd = -1;
        r->size = (uint64_t)sb.st_size;
        snprintf(r->path, sizeof r->path, "%s", path);
        goto out;
    }
    if ((r->fd = memfd_create("tessera-blob", MFD_CLOEXEC)) < 0) {
        rc = tsr_error(ctx, TSR_ERR_IO, "blob store: cannot create a memory file: %s",
                       strerror(errno));
        goto out;
    }
    if ((rc = tsr_blob_decrypt_fd(ctx, store->key, id, fd, r->fd, &r->size))) {
        if (rc == TSR_ERR_CORRUPT)
            atomic_fetch_add(&store->integrity_failures, 1);
        goto out;
    }
    snprintf(r->path, sizeof r->path, "/proc/self/fd/%d", r->fd);
out:
    if (fd >= 0)
        close(fd);
    if (rc) {
        tsr_blob_reader_free(r);
        return rc;
    }
    *out = r;
    return TSR_OK;
}

const char *tsr_blob_reader_path(const tsr_blob_reader *r) {
    return r->path;
}

uint64_t tsr_blob_reader_size(const tsr_blob_reader *r) {
    return r->size;
}

int tsr_blob_reader_take_fd(tsr_blob_reader *r) {
    int fd = r->fd;
    r->fd = -1;
    return fd;
}

void tsr_blob_reader_free(tsr_blob_reader *r) {
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r);
}

uint64_t tsr_blob_integrity_failures(tsr_store *store) {
    return atomic_load(&store->integrity_failures);
}

tsr_status tsr_blob_temp_path(tsr_store *store, tsr_ctx *ctx, char *path) {
    int fd;
    if (store->key || store->blobs_refused)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "blob store: an encrypted store has no plaintext temp paths; use "
                         "tsr_blob_file_new");
    tsr_status rc = tsr_blob_create_temp(store, ctx, path, &fd);
    if (!rc)
        close(fd);
    return rc;
}

/* Whether `path` is a name tsr_blob_temp_path makes: tmp/<32 hex>.part in
 * this store (so it is on the store's file system and no caller's file). */
static bool in_tmp(const tsr_store *s, const char *path) {
    char id[TSR_STORE_ID_LEN + 1];
    size_t n = strlen(s->tmp);
    if (strncmp(path, s->tmp, n) != 0 || path[n] != '/' ||
        strlen(path + n + 1) != TSR_STORE_ID_LEN + 5 ||
        strcmp(path + n + 1 + TSR_STORE_ID_LEN, ".part") != 0)
        return false;
    memcpy(id, path + n + 1, TSR_STORE_ID_LEN);
    id[TSR_STORE_ID_LEN] = '\0';
    return tsr_store_id_valid(id);
}

tsr_status tsr_blob_put_file(tsr_store *store, tsr_ctx *ctx, const char *path,
                             char id[TSR_STORE_ID_LEN + 1], uint64_t *bytes) {
    return put_file(store, ctx, path, id, false, bytes);
}

static tsr_status put_file(tsr_store *store, tsr_ctx *ctx, const char *path,
                           char id[TSR_STORE_ID_LEN + 1], bool given, uint64_t *bytes) {
    struct stat sb;
    tsr_status rc = TSR_OK;
    if (store->key || store->blobs_refused)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "blob store: an encrypted store takes no plaintext files; use "
                         "tsr_blob_file_commit");
    if (!path || !in_tmp(store, path))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "blob store: put_file takes a file from tsr_blob_temp_path, not %s",
                         path ? path : "(null)");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || fsync(fd) != 0) {
        rc = tsr_error(ctx, TSR_ERR_IO, "blob store: cannot sync %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = tsr_error(ctx, TSR_ERR_USAGE, "blob store: %s is not a regular file", path);
        goto out;
    }
    if ((!given && (rc = tsr_store_random_id(ctx, id))) ||
        (rc = tsr_blob_install(store, ctx, path, id)))
        goto out;
    if (bytes)
        *bytes = (uint64_t)sb.st_size;
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(path);
    return rc;
}

tsr_status tsr_blob_remove(tsr_store *s, tsr_ctx *ctx, const char *id) {
    if (!tsr_store_id_valid(id))
        return tsr_error(ctx, TSR_ERR_USAGE, "blob store: '%.40s' is not a blob id", id ? id : "");
    if (ctx)
        return s->backend->ops->remove(s->backend, ctx, id);
    tsr_ctx *scratch = tsr_ctx_new(); /* callers that ignore the outcome pass NULL */
    if (!scratch)
        return TSR_ERR_NOMEM;
    tsr_status rc = s->backend->ops->remove(s->backend, scratch, id);
    tsr_ctx_free(scratch);
    return rc;
}

tsr_status tsr_blob_delete(tsr_store *store, tsr_ctx *ctx, const char *id) {
    return tsr_blob_remove(store, ctx, id);
}

/* The state of a garbage collection: the lookup and the first error. */
typedef struct collection {
    tsr_store *store; /* borrowed */
    tsr_ctx *ctx;     /* where errors go */
    tsr_db_stmt *st;  /* "is this blob referenced?" */
    tsr_status rc;    /* first error; stops the listing */
    uint64_t unknown; /* unreferenced blobs left alone on a shared backend */
} collection;

/* Whether any image or job item refers to blob `id`. */
static tsr_status referenced(collection *c, const char *id, bool *used) {
    tsr_db_reset(c->st);
    tsr_db_bind_text(c->st, 1, id);
    int step = tsr_db_step(c->st);
    if (step != TSR_DB_ROW && step != TSR_DB_DONE)
        return tsr_store_sql_error(c->store, c->ctx, "look for a blob's owner");
    *used = step == TSR_DB_ROW;
    return TSR_OK;
}

/* Removes blob `id` when nothing refers to it (a listing's callback); the
 * removal is best effort: a blob left over is collected at the next open.
 * On a shared backend it is only counted: another coordinator or a worker
 * may have written it and not recorded it yet. */
static int collect_one(void *arg, const char *id) {
    collection *c = arg;
    bool used = true;
    if (!(c->rc = referenced(c, id, &used)) && !used && c->store->backend->ops->shared) {
        c->unknown++;
    } else if (!c->rc && !used) {
        tsr_ctx *scratch = tsr_ctx_new(); /* a failed removal's message stays off ctx */
        if (scratch)
            c->store->backend->ops->remove(c->store->backend, scratch, id);
        tsr_ctx_free(scratch);
    }
    return c->rc != TSR_OK;
}

tsr_status tsr_blob_collect_garbage(tsr_store *s, tsr_ctx *ctx) {
    collection c = {.store = s, .ctx = ctx};
    tsr_status rc = tsr_store_prepare(s, ctx,
                                      "SELECT 1 FROM images WHERE blob = ?1 UNION ALL "
                                      "SELECT 1 FROM images WHERE thumb_blob = ?1 UNION ALL "
                                      "SELECT 1 FROM job_items WHERE result_blob = ?1 LIMIT 1",
                                      &c.st);
    if (!rc && !(rc = s->backend->ops->list(s->backend, ctx, collect_one, &c)))
        rc = c.rc;
    tsr_db_finalize(c.st);
    if (c.unknown) {
        tsr_log_field f[] = {TSR_LOG_FIELD_INT("objects", (int64_t)c.unknown),
                             TSR_LOG_FIELD_STRING("backend", s->backend->ops->name)};
        tsr_log(TSR_LOG_WARN,
                "blob store: objects this store's database does not refer to were left in place "
                "(a shared store is never swept at start)",
                f, 2);
    }
    return rc;
}
