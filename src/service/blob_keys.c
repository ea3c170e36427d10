/* The store's identity under a data key (the keycheck record) and key
 * rotation (`tessera data rotate-key`). Files in data_dir:
 *   keycheck  a known value sealed under the store's key, label "keycheck";
 *             present exactly when the store is encrypted
 *   rotation  present while a rotation runs: the store refuses to serve
 *             until a rerun finishes it */
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

#define KEYCHECK_LABEL "keycheck"
#define ROTATE_HINT    "tessera data rotate-key"

static const char keycheck_value[] = "tessera keycheck v1\n";

/* Writes data_dir/<name> into `path` (PATH_MAX bytes). */
static void dir_file(const tsr_store *s, const char *name, char *path) {
    snprintf(path, PATH_MAX, "%s/%s", s->dir, name);
}

static bool exists(const tsr_store *s, const char *name) {
    char path[PATH_MAX];
    dir_file(s, name, path);
    return access(path, F_OK) == 0;
}

static int new_memfd(tsr_ctx *ctx, tsr_status *rc) {
    int fd = memfd_create("tessera-blob", MFD_CLOEXEC);
    if (fd < 0)
        *rc = tsr_error(ctx, TSR_ERR_IO, "blob store: cannot create a memory file: %s",
                        strerror(errno));
    return fd;
}

/* Moves the synced temp file `temp` to data_dir/<name> durably. */
static tsr_status place(tsr_store *s, tsr_ctx *ctx, const char *temp, const char *name) {
    char path[PATH_MAX];
    dir_file(s, name, path);
    if (rename(temp, path) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot write %s: %s", path, strerror(errno));
    return tsr_blob_sync_dir(ctx, s->dir);
}

/* Removes data_dir/<name> durably; a missing file is fine. */
static tsr_status remove_file(tsr_store *s, tsr_ctx *ctx, const char *name) {
    char path[PATH_MAX];
    dir_file(s, name, path);
    if (unlink(path) != 0 && errno != ENOENT)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot remove %s: %s", path, strerror(errno));
    return tsr_blob_sync_dir(ctx, s->dir);
}

/* Writes the keycheck record under `key`. */
static tsr_status write_keycheck(tsr_store *s, tsr_ctx *ctx, const tsr_blob_key *key) {
    char temp[PATH_MAX];
    int out = -1;
    tsr_status rc = TSR_OK;
    int plain = new_memfd(ctx, &rc);
    if (plain < 0)
        return rc;
    if (write(plain, keycheck_value, sizeof keycheck_value - 1) !=
        (ssize_t)(sizeof keycheck_value - 1)) {
        rc = tsr_error(ctx, TSR_ERR_IO, "store: cannot write the keycheck: %s", strerror(errno));
        goto out;
    }
    if ((rc = tsr_blob_create_temp(s, ctx, temp, &out)) ||
        (rc = tsr_blob_encrypt_fd(ctx, key, KEYCHECK_LABEL, plain, out, NULL)))
        goto out;
    if (fsync(out) != 0) {
        rc = tsr_error(ctx, TSR_ERR_IO, "store: cannot sync the keycheck: %s", strerror(errno));
        goto out;
    }
    rc = place(s, ctx, temp, KEYCHECK_LABEL);
out:
    close(plain);
    if (out >= 0) {
        close(out);
        if (rc)
            unlink(temp);
    }
    return rc;
}

/* Reads the keycheck's fingerprint into `fp`. */
static tsr_status keycheck_fingerprint(tsr_store *s, tsr_ctx *ctx, uint8_t fp[TSR_BLOB_FP_BYTES]) {
    char path[PATH_MAX];
    bool encrypted = false;
    dir_file(s, KEYCHECK_LABEL, path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "store: cannot open %s: %s", path, strerror(errno));
    tsr_status rc = tsr_blob_probe(ctx, fd, &encrypted, fp);
    close(fd);
    if (!rc && !encrypted)
        rc = tsr_error(ctx, TSR_ERR_CORRUPT, "store: %s is damaged (no header)", path);
    return rc;
}

/* Checks that the keycheck opens under `key` and holds the known value;
 * `which` names the key in messages ("the data key", "--old-key"). */
static tsr_status verify_keycheck(tsr_store *s, tsr_ctx *ctx, const tsr_blob_key *key,
                                  const char *which) {
    char path[PATH_MAX], have[2 * TSR_BLOB_FP_BYTES + 1], want[2 * TSR_BLOB_FP_BYTES + 1];
    uint8_t fp[TSR_BLOB_FP_BYTES], value[sizeof keycheck_value];
    tsr_status rc = keycheck_fingerprint(s, ctx, fp);
    if (rc)
        return rc;
    if (sodium_memcmp(fp, tsr_blob_key_fingerprint(key), TSR_BLOB_FP_BYTES) != 0) {
        tsr_blob_fingerprint_hex(fp, have);
        tsr_blob_fingerprint_hex(tsr_blob_key_fingerprint(key), want);
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "%s is not this store's key: %s is encrypted under key fingerprint %s, "
                         "%s has fingerprint %s",
                         which, s->dir, have, which, want);
    }
    dir_file(s, KEYCHECK_LABEL, path);
    int in = open(path, O_RDONLY | O_CLOEXEC), plain = new_memfd(ctx, &rc);
    uint64_t n = 0;
    if (in < 0 && !rc)
        rc = tsr_error(ctx, TSR_ERR_IO, "store: cannot open %s: %s", path, strerror(errno));
    if (!rc && !(rc = tsr_blob_decrypt_fd(ctx, key, KEYCHECK_LABEL, in, plain, &n)) &&
        (n != sizeof keycheck_value - 1 || pread(plain, value, (size_t)n, 0) != (ssize_t)n ||
         memcmp(value, keycheck_value, (size_t)n) != 0))
        rc = tsr_error(ctx, TSR_ERR_CORRUPT, "store: %s holds an unexpected value", path);
    if (in >= 0)
        close(in);
    if (plain >= 0)
        close(plain);
    return rc;
}

/* A listing's callback that stops at the first blob. */
static int found_one(void *arg, const char *id) {
    (void)id;
    *(bool *)arg = true;
    return 1;
}

/* Whether the backend holds any blob (*found); errors as listing's. */
static tsr_status has_blobs(tsr_store *s, tsr_ctx *ctx, bool *found) {
    *found = false;
    return s->backend->ops->list(s->backend, ctx, found_one, found);
}

tsr_status tsr_blob_identity_check(tsr_store *s, tsr_ctx *ctx, bool metadata_only) {
    bool keycheck = exists(s, KEYCHECK_LABEL);
    if (metadata_only) {
        s->blobs_refused = keycheck && !s->key;
        return s->key && keycheck ? verify_keycheck(s, ctx, s->key, "the data key") : TSR_OK;
    }
    if (exists(s, "rotation"))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: a key rotation of %s was interrupted; rerun `" ROTATE_HINT
                         "` with the same arguments to finish it",
                         s->dir);
    if (keycheck && !s->key)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: %s is encrypted; start with --data-key FILE (its data key)",
                         s->dir);
    if (keycheck)
        return verify_keycheck(s, ctx, s->key, "the data key");
    if (!s->key)
        return TSR_OK;
    bool plaintext = false;
    tsr_status rc = has_blobs(s, ctx, &plaintext);
    if (rc)
        return rc;
    if (plaintext)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "store: %s has no keycheck record but its store holds blobs: if they "
                         "are unencrypted, encrypt them first with `" ROTATE_HINT
                         " --data %s --new-key FILE` (with no server running); if another "
                         "coordinator shares this store, copy the keycheck file from its data "
                         "folder into this one (docs/serve.md)",
                         s->dir, s->dir);
    return write_keycheck(s, ctx, s->key); /* a fresh store becomes encrypted */
}

/* ---- rotation ---- */

/* The keys of one rotation. */
typedef struct rotation {
    tsr_store *store;          /* opened for rotation; owned */
    tsr_blob_key *old_key;     /* NULL: the store is plaintext */
    tsr_blob_key *new_key;     /* NULL: decrypt back to plaintext */
    tsr_store_rotation *stats; /* what was done; borrowed */
} rotation;

/* Copies all of `in` (from offset 0) to `out`. */
static tsr_status copy_fd(tsr_ctx *ctx, const char *id, int in, int out, uint64_t *bytes) {
    char buf[65536];
    uint64_t off = 0;
    for (;;) {
        ssize_t n = pread(in, buf, sizeof buf, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot read: %s", id, strerror(errno));
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot write: %s", id, strerror(errno));
            done += w;
        }
        off += (uint64_t)n;
    }
    *bytes = off;
    return TSR_OK;
}

/* Gets the verified plaintext of the blob open on `fd` into *plain: the
 * file itself when plaintext, else a memfd decrypted under the old key.
 * *skip is set when the blob is already in the target form. */
static tsr_status source_of(rotation *rot, tsr_ctx *ctx, const char *id, int fd, int *plain,
                            bool *skip) {
    uint8_t fp[TSR_BLOB_FP_BYTES];
    bool encrypted = false;
    tsr_status rc = tsr_blob_probe(ctx, fd, &encrypted, fp);
    *plain = -1;
    *skip = false;
    if (rc)
        return rc;
    if (!encrypted) {
        *skip = !rot->new_key;
        if (!*skip && rot->old_key)
            return tsr_error(ctx, TSR_ERR_CORRUPT,
                             "blob %s: failed its integrity check (it is not encrypted, but the "
                             "store is)",
                             id);
        *plain = fd;
        return TSR_OK;
    }
    if (rot->new_key &&
        sodium_memcmp(fp, tsr_blob_key_fingerprint(rot->new_key), TSR_BLOB_FP_BYTES) == 0) {
        *skip = true;
        return TSR_OK;
    }
    if (!rot->old_key)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "blob %s is encrypted: give the store's key with --old-key FILE", id);
    if ((*plain = new_memfd(ctx, &rc)) < 0)
        return rc;
    return tsr_blob_decrypt_fd(ctx, rot->old_key, id, fd, *plain, NULL);
}

/* Rewrites blob `id` into the target form: fetch, re-seal into a temp,
 * fsync, install over itself (rename, or upload under the same id). */
static tsr_status rotate_blob(rotation *rot, tsr_ctx *ctx, const char *id) {
    tsr_store *s = rot->store;
    char path[PATH_MAX], temp[PATH_MAX];
    int fd = -1, plain = -1, out = -1;
    bool skip = false;
    uint64_t bytes = 0;
    tsr_status rc = s->backend->ops->open(s->backend, ctx, id, &fd, path);
    if (rc)
        return rc;
    if ((rc = source_of(rot, ctx, id, fd, &plain, &skip)) || skip)
        goto out;
    if ((rc = tsr_blob_create_temp(s, ctx, temp, &out)))
        goto out;
    rc = rot->new_key ? tsr_blob_encrypt_fd(ctx, rot->new_key, id, plain, out, &bytes)
                      : copy_fd(ctx, id, plain, out, &bytes);
    if (!rc && fsync(out) != 0)
        rc = tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot sync: %s", id, strerror(errno));
    if (!rc)
        rc = tsr_blob_install(s, ctx, temp, id);
    if (rc)
        unlink(temp);
    else
        rot->stats->rewritten++, rot->stats->bytes += bytes;
out:
    if (skip)
        rot->stats->skipped++;
    if (plain >= 0 && plain != fd)
        close(plain);
    if (out >= 0)
        close(out);
    close(fd);
    return rc;
}

/* The ids a listing gathers. */
typedef struct id_list {
    char (*ids)[TSR_STORE_ID_LEN + 1]; /* malloc'ed */
    size_t count, cap;                 /* used and allocated entries */
    bool oom;                          /* an append failed */
} id_list;

static int gather_id(void *arg, const char *id) {
    id_list *l = arg;
    if (l->count == l->cap) {
        size_t ncap = l->cap ? 2 * l->cap : 256;
        void *grown = realloc(l->ids, ncap * sizeof *l->ids);
        if (!grown) {
            l->oom = true;
            return 1;
        }
        l->ids = grown;
        l->cap = ncap;
    }
    memcpy(l->ids[l->count++], id, TSR_STORE_ID_LEN + 1);
    return 0;
}

/* Lists every blob id in the store into *ids (malloc'ed, *count entries). */
static tsr_status list_blobs(tsr_store *s, tsr_ctx *ctx, char (**ids)[TSR_STORE_ID_LEN + 1],
                             size_t *count) {
    id_list l = {0};
    tsr_status rc = s->backend->ops->list(s->backend, ctx, gather_id, &l);
    if (!rc && l.oom)
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "blob store: out of memory");
    if (rc) {
        free(l.ids);
        l.ids = NULL, l.count = 0;
    }
    *ids = l.ids;
    *count = l.count;
    return rc;
}

/* Checks that the store's state fits the keys given (see tsr_store_rotate_key). */
static tsr_status check_start(rotation *rot, tsr_ctx *ctx) {
    tsr_store *s = rot->store;
    uint8_t fp[TSR_BLOB_FP_BYTES];
    tsr_status rc;
    if (!exists(s, KEYCHECK_LABEL)) {
        if (rot->old_key && !exists(s, "rotation"))
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "%s is not encrypted: leave out --old-key to encrypt it", s->dir);
        return TSR_OK;
    }
    if ((rc = keycheck_fingerprint(s, ctx, fp)))
        return rc;
    if (rot->new_key &&
        sodium_memcmp(fp, tsr_blob_key_fingerprint(rot->new_key), TSR_BLOB_FP_BYTES) == 0)
        return verify_keycheck(s, ctx, rot->new_key, "--new-key"); /* finishing a rerun */
    if (!rot->old_key)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "%s is encrypted: give its current key with --old-key FILE", s->dir);
    return verify_keycheck(s, ctx, rot->old_key, "--old-key");
}

/* Writes the rotation marker durably. */
static tsr_status write_marker(tsr_store *s, tsr_ctx *ctx, const tsr_blob_key *target) {
    char temp[PATH_MAX], text[64], hex[2 * TSR_BLOB_FP_BYTES + 1] = "plaintext";
    int fd = -1;
    tsr_status rc = tsr_blob_create_temp(s, ctx, temp, &fd);
    if (rc)
        return rc;
    if (target)
        tsr_blob_fingerprint_hex(tsr_blob_key_fingerprint(target), hex);
    int n = snprintf(text, sizeof text, "rotating to %s\n", hex);
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0)
        rc = tsr_error(ctx, TSR_ERR_IO, "store: cannot write the rotation marker: %s",
                       strerror(errno));
    close(fd);
    if (!rc)
        rc = place(s, ctx, temp, "rotation");
    if (rc)
        unlink(temp);
    return rc;
}

tsr_status tsr_store_rotate_key(tsr_ctx *ctx, const char *data_dir, const char *old_key_file,
                                const char *new_key_file, tsr_store_rotation_progress progress,
                                void *user, tsr_store_rotation *out) {
    return tsr_store_rotate_key_with(ctx, data_dir, NULL, old_key_file, new_key_file, progress,
                                     user, out);
}

tsr_status tsr_store_rotate_key_with(tsr_ctx *ctx, const char *data_dir,
                                     const tsr_store_options *where, const char *old_key_file,
                                     const char *new_key_file, tsr_store_rotation_progress progress,
                                     void *user, tsr_store_rotation *out) {
    rotation rot = {NULL, NULL, NULL, out};
    char(*ids)[TSR_STORE_ID_LEN + 1] = NULL;
    size_t count = 0;
    tsr_status rc = TSR_OK;
    memset(out, 0, sizeof *out);
    char db[PATH_MAX];
    if (!old_key_file && !new_key_file)
        return tsr_error(ctx, TSR_ERR_USAGE, "rotate-key: give --old-key, --new-key or both");
    /* a folder opened with --db keeps that in db-url, else it has tessera.db */
    snprintf(db, sizeof db, "%s/%s", data_dir,
             where && where->db_url && *where->db_url ? "db-url" : "tessera.db");
    if (access(db, F_OK) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "rotate-key: %s holds no tessera store", data_dir);
    if ((old_key_file && (rc = tsr_blob_key_load(ctx, old_key_file, &rot.old_key))) ||
        (new_key_file && (rc = tsr_blob_key_load(ctx, new_key_file, &rot.new_key))))
        goto out;
    if (rot.old_key && rot.new_key &&
        sodium_memcmp(tsr_blob_key_fingerprint(rot.old_key), tsr_blob_key_fingerprint(rot.new_key),
                      TSR_BLOB_FP_BYTES) == 0) {
        rc = tsr_error(ctx, TSR_ERR_USAGE, "rotate-key: --old-key and --new-key are the same key");
        goto out;
    }
    if ((rc = tsr_store_open_for_rotation(ctx, data_dir, where, &rot.store)) ||
        (rc = check_start(&rot, ctx)) || (rc = write_marker(rot.store, ctx, rot.new_key)) ||
        (rc = list_blobs(rot.store, ctx, &ids, &count)))
        goto out;
    out->blobs = count;
    for (size_t i = 0; i < count && !rc; i++) {
        rc = rotate_blob(&rot, ctx, ids[i]);
        if (!rc && progress)
            progress(user, i + 1, count);
    }
    if (rc)
        goto out;
    rc = rot.new_key ? write_keycheck(rot.store, ctx, rot.new_key)
                     : remove_file(rot.store, ctx, KEYCHECK_LABEL);
    if (!rc)
        rc = remove_file(rot.store, ctx, "rotation");
out:
    free(ids);
    tsr_store_close(rot.store);
    tsr_blob_key_free(rot.old_key);
    tsr_blob_key_free(rot.new_key);
    return rc;
}
