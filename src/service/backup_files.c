/* File helpers of backup, restore and verify: hashing and copying whole
 * descriptors, work folders, the emptiness of a restore target, the
 * store's keycheck record. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/backup_internal.h"
#include "service/blob_crypt.h"
#include "util/hex.h"

#define COPY_BUFFER (256u << 10) /* bytes read at a time */

/* Reads from `in` at `off` until `buf` is full or the end; -1 on error. */
static ssize_t read_at(int in, void *buf, size_t len, uint64_t off) {
    for (;;) {
        ssize_t n = pread(in, buf, len, (off_t)off);
        if (n >= 0 || errno != EINTR)
            return n;
    }
}

static int write_all(int out, const unsigned char *p, size_t len) {
    while (len) {
        ssize_t w = write(out, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads all of `in` from offset 0, hashing it, and writes it to `out`
 * unless `out` is -1. */
static tsr_status stream(tsr_ctx *ctx, int in, int out, const char *what,
                         char sha[TSR_STORE_SHA256_LEN + 1], uint64_t *bytes) {
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    unsigned char *buf = malloc(COPY_BUFFER);
    uint64_t off = 0;
    tsr_status rc = TSR_OK;
    if (!buf)
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    crypto_hash_sha256_init(&st);
    for (;;) {
        ssize_t n = read_at(in, buf, COPY_BUFFER, off);
        if (n < 0) {
            rc = tsr_error(ctx, TSR_ERR_IO, "%s: cannot read: %s", what, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        crypto_hash_sha256_update(&st, buf, (size_t)n);
        if (out >= 0 && write_all(out, buf, (size_t)n) != 0) {
            rc = tsr_error(ctx, TSR_ERR_IO, "%s: cannot write a copy: %s", what, strerror(errno));
            break;
        }
        off += (uint64_t)n;
    }
    free(buf);
    crypto_hash_sha256_final(&st, digest);
    tsr_hex_encode(sha, digest, sizeof digest);
    if (bytes)
        *bytes = off;
    return rc;
}

tsr_status tsr_backup_hash_fd(tsr_ctx *ctx, int fd, const char *what,
                              char sha[TSR_STORE_SHA256_LEN + 1], uint64_t *bytes) {
    return stream(ctx, fd, -1, what, sha, bytes);
}

tsr_status tsr_backup_copy_fd(tsr_ctx *ctx, int in, int out, const char *what,
                              char sha[TSR_STORE_SHA256_LEN + 1], uint64_t *bytes) {
    return stream(ctx, in, out, what, sha, bytes);
}

tsr_status tsr_backup_read_fd(tsr_ctx *ctx, int fd, uint64_t max, const char *what, char **out,
                              size_t *len) {
    struct stat sb;
    *out = NULL;
    if (fstat(fd, &sb) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "%s: cannot read: %s", what, strerror(errno));
    if ((uint64_t)sb.st_size > max)
        return tsr_error(ctx, TSR_ERR_LIMIT, "%s: larger than %llu bytes", what,
                         (unsigned long long)max);
    char *buf = malloc((size_t)sb.st_size + 1);
    if (!buf)
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t n = read_at(fd, buf + got, (size_t)sb.st_size - got, got);
        if (n <= 0) {
            free(buf);
            return tsr_error(ctx, TSR_ERR_IO, "%s: cannot read: %s", what,
                             n < 0 ? strerror(errno) : "cut short");
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return TSR_OK;
}

tsr_status tsr_backup_work_dir(tsr_ctx *ctx, char path[TSR_BACKUP_WORK_MAX]) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    if (snprintf(path, TSR_BACKUP_WORK_MAX, "%s/tessera-backup-XXXXXX", base) >=
        TSR_BACKUP_WORK_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "backup: $TMPDIR is too long");
    if (!mkdtemp(path))
        return tsr_error(ctx, TSR_ERR_IO, "backup: cannot create a work folder in %s: %s", base,
                         strerror(errno));
    return TSR_OK;
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void tsr_backup_remove_tree(const char *path) {
    if (path && *path)
        nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

tsr_status tsr_backup_dir_empty(tsr_ctx *ctx, const char *path, bool *exists, bool *empty) {
    struct stat sb;
    *exists = *empty = false;
    if (lstat(path, &sb) != 0) {
        if (errno == ENOENT)
            return TSR_OK;
        return tsr_error(ctx, TSR_ERR_IO, "cannot look at %s: %s", path, strerror(errno));
    }
    *exists = true;
    if (!S_ISDIR(sb.st_mode))
        return tsr_error(ctx, TSR_ERR_USAGE, "%s exists and is not a folder", path);
    DIR *d = opendir(path);
    if (!d)
        return tsr_error(ctx, TSR_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    struct dirent *e;
    *empty = true;
    while (*empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            *empty = false;
    closedir(d);
    return TSR_OK;
}

tsr_status tsr_backup_read_keycheck(tsr_ctx *ctx, const char *data_dir, char **hex,
                                    char fp[TSR_MANIFEST_FP_HEX + 1]) {
    char path[PATH_MAX], *raw = NULL;
    uint8_t print[TSR_BLOB_FP_BYTES];
    bool sealed = false;
    size_t len = 0;
    *hex = NULL;
    fp[0] = '\0';
    snprintf(path, sizeof path, "%s/keycheck", data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? TSR_OK
                               : tsr_error(ctx, TSR_ERR_IO, "backup: cannot read %s: %s", path,
                                           strerror(errno));
    tsr_status rc = tsr_blob_probe(ctx, fd, &sealed, print);
    if (!rc && !sealed)
        rc = tsr_error(ctx, TSR_ERR_CORRUPT, "backup: %s is damaged (no header)", path);
    if (!rc)
        rc = tsr_backup_read_fd(ctx, fd, TSR_MANIFEST_KEYCHECK_MAX, path, &raw, &len);
    close(fd);
    if (!rc && !(*hex = malloc(2 * len + 1)))
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    if (!rc) {
        tsr_hex_encode(*hex, raw, len);
        tsr_blob_fingerprint_hex(print, fp);
    }
    free(raw);
    return rc;
}
