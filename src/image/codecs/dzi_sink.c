/* Where Deep Zoom tiles go: a folder (NAME_files/, built under a temporary
 * name and renamed into place at commit) or one stored zip written through
 * a descriptor (what the service keeps as a result blob). The zip is
 * written front to back with each entry's size and CRC known up front, so
 * no data descriptors; the central directory is kept in memory (about 48
 * bytes and the name per tile) and ZIP64 records appear only when the
 * archive passes 65535 entries or 4 GiB. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyramid_internal.h"

#define ZIP_MAX16 0xFFFFu
#define ZIP_MAX32 0xFFFFFFFFu
#define ZIP_DATE  0x0021 /* DOS date 1980-01-01: the archive's bytes do not depend on the clock */

/* One member of the zip, for the central directory. */
typedef struct zip_entry {
    char *name;      /* full name in the archive; owned */
    uint32_t crc;    /* CRC-32 of the bytes */
    uint64_t size;   /* bytes (stored, so compressed = uncompressed) */
    uint64_t offset; /* of its local header */
} zip_entry;

struct tsr_dzi_sink {
    tsr_ctx *ctx;       /* where errors go; borrowed */
    bool zip;           /* zip through fd, else a folder */
    int fd;             /* zip: the descriptor (borrowed); folder: the .dzi file (borrowed) */
    char *prefix;       /* zip: "NAME_files/"; folder: the final NAME_files path */
    char *temp;         /* folder: the temporary folder's name */
    bool made;          /* folder: temp exists and is ours to remove (until renamed) */
    int dir;            /* folder: the temporary folder, open; -1 when none */
    uint64_t offset;    /* zip: bytes written */
    zip_entry *entries; /* zip: members so far */
    size_t n, cap;      /* zip: entries in use and allocated */
    char *xml_name;     /* zip: "NAME.dzi" */
};

static uint32_t crc32_of(const uint8_t *p, size_t n) {
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    uint32_t c = ZIP_MAX32;
    while (n--)
        c = table[(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c ^ ZIP_MAX32;
}

static tsr_status write_all(tsr_dzi_sink *s, int fd, const void *bytes, size_t n) {
    const uint8_t *p = bytes;
    while (n) {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return tsr_error(s->ctx, TSR_ERR_IO, "dzi: write: %s",
                             put < 0 ? strerror(errno) : "no space");
        p += put, n -= (size_t)put;
        if (fd == s->fd)
            s->offset += (uint64_t)put;
    }
    return TSR_OK;
}

static uint8_t *put16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8);
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v) {
    return put16(put16(p, v & ZIP_MAX16), v >> 16);
}

static uint8_t *put64(uint8_t *p, uint64_t v) {
    return put32(put32(p, (uint32_t)v), (uint32_t)(v >> 32));
}

/* Appends a stored member `name` holding n bytes. */
static tsr_status zip_add(tsr_dzi_sink *s, const char *name, const void *bytes, size_t n) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        zip_entry *e = realloc(s->entries, cap * sizeof *e);
        if (!e)
            return tsr_error(s->ctx, TSR_ERR_NOMEM, "dzi: out of memory");
        s->entries = e, s->cap = cap;
    }
    size_t len = strlen(name);
    zip_entry e = {.name = strdup(name), .crc = crc32_of(bytes, n), .size = n, .offset = s->offset};
    if (!e.name)
        return tsr_error(s->ctx, TSR_ERR_NOMEM, "dzi: out of memory");
    if ((uint64_t)n >= ZIP_MAX32 || len > ZIP_MAX16) {
        free(e.name);
        return tsr_error(s->ctx, TSR_ERR_LIMIT, "dzi: member %s is too large for a zip", name);
    }
    s->entries[s->n++] = e;
    uint8_t head[30], *p = head;
    p = put32(p, 0x04034b50), p = put16(p, 20), p = put16(p, 0), p = put16(p, 0);
    p = put16(p, 0), p = put16(p, ZIP_DATE), p = put32(p, e.crc);
    p = put32(p, (uint32_t)n), p = put32(p, (uint32_t)n), p = put16(p, (uint32_t)len);
    put16(p, 0);
    tsr_status st = write_all(s, s->fd, head, sizeof head);
    if (!st)
        st = write_all(s, s->fd, name, len);
    if (!st)
        st = write_all(s, s->fd, bytes, n);
    return st;
}

/* Writes the central directory record of entry e (ZIP64 offset when far). */
static tsr_status zip_central(tsr_dzi_sink *s, const zip_entry *e) {
    bool far = e->offset >= ZIP_MAX32;
    size_t len = strlen(e->name);
    uint8_t head[46 + 12], *p = head;
    p = put32(p, 0x02014b50), p = put16(p, far ? 45 : 20), p = put16(p, far ? 45 : 20);
    p = put16(p, 0), p = put16(p, 0), p = put16(p, 0), p = put16(p, ZIP_DATE);
    p = put32(p, e->crc), p = put32(p, (uint32_t)e->size), p = put32(p, (uint32_t)e->size);
    p = put16(p, (uint32_t)len), p = put16(p, far ? 12 : 0), p = put16(p, 0);
    p = put16(p, 0), p = put16(p, 0), p = put32(p, 0);
    p = put32(p, far ? ZIP_MAX32 : (uint32_t)e->offset);
    tsr_status st = write_all(s, s->fd, head, 46);
    if (!st)
        st = write_all(s, s->fd, e->name, len);
    if (!st && far) {
        p = put16(put16(head, 0x0001), 8);
        put64(p, e->offset);
        st = write_all(s, s->fd, head, 12);
    }
    return st;
}

/* Writes the end records: ZIP64 ones when the counts or offsets need them. */
static tsr_status zip_end(tsr_dzi_sink *s, uint64_t cd_at, uint64_t cd_size) {
    uint8_t rec[56 + 20 + 22], *p = rec;
    bool big = s->n >= ZIP_MAX16 || cd_at >= ZIP_MAX32 || cd_size >= ZIP_MAX32;
    if (big) {
        uint64_t at = s->offset;
        p = put32(p, 0x06064b50), p = put64(p, 44), p = put16(p, 45), p = put16(p, 45);
        p = put32(p, 0), p = put32(p, 0), p = put64(p, s->n), p = put64(p, s->n);
        p = put64(p, cd_size), p = put64(p, cd_at);
        p = put32(p, 0x07064b50), p = put32(p, 0), p = put64(p, at), p = put32(p, 1);
    }
    p = put32(p, 0x06054b50), p = put16(p, 0), p = put16(p, 0);
    uint32_t count = big ? ZIP_MAX16 : (uint32_t)s->n;
    p = put16(p, count), p = put16(p, count);
    p = put32(p, big ? ZIP_MAX32 : (uint32_t)cd_size);
    p = put32(p, big ? ZIP_MAX32 : (uint32_t)cd_at), p = put16(p, 0);
    return write_all(s, s->fd, rec, (size_t)(p - rec));
}

tsr_status tsr_dzi_sink_zip(tsr_ctx *ctx, int fd, const char *name, tsr_dzi_sink **out) {
    *out = NULL;
    tsr_dzi_sink *s = calloc(1, sizeof *s);
    size_t n = strlen(name) + 16;
    if (s) {
        s->prefix = malloc(n), s->xml_name = malloc(n);
    }
    if (!s || !s->prefix || !s->xml_name) {
        tsr_dzi_sink_free(s);
        return tsr_error(ctx, TSR_ERR_NOMEM, "dzi: out of memory");
    }
    snprintf(s->prefix, n, "%s_files/", name);
    snprintf(s->xml_name, n, "%s.dzi", name);
    s->ctx = ctx, s->zip = true, s->fd = fd, s->dir = -1;
    *out = s;
    return TSR_OK;
}

/* NAME_files beside `dzi_path` (NAME.dzi, or any path: then PATH_files). */
static char *files_dir_of(const char *dzi_path) {
    size_t n = strlen(dzi_path);
    if (n > 4 && !strcmp(dzi_path + n - 4, ".dzi"))
        n -= 4;
    char *dir = malloc(n + 8);
    if (dir)
        snprintf(dir, n + 8, "%.*s_files", (int)n, dzi_path);
    return dir;
}

tsr_status tsr_dzi_sink_dir(tsr_ctx *ctx, const char *dzi_path, int fd, tsr_dzi_sink **out) {
    *out = NULL;
    tsr_dzi_sink *s = calloc(1, sizeof *s);
    if (!s || !(s->prefix = files_dir_of(dzi_path)) ||
        !(s->temp = malloc(strlen(s->prefix) + 16))) {
        tsr_dzi_sink_free(s);
        return tsr_error(ctx, TSR_ERR_NOMEM, "dzi: out of memory");
    }
    s->ctx = ctx, s->fd = fd, s->dir = -1;
    struct stat sb;
    tsr_status st = TSR_OK;
    sprintf(s->temp, "%s.XXXXXX", s->prefix);
    if (lstat(s->prefix, &sb) == 0)
        st = tsr_error(ctx, TSR_ERR_IO, "%s exists: remove it or choose another output name",
                       s->prefix);
    else if (!(s->made = mkdtemp(s->temp) != NULL))
        st = tsr_error(ctx, TSR_ERR_IO, "%s: cannot create a folder: %s", s->temp, strerror(errno));
    else if ((s->dir = open(s->temp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        st = tsr_error(ctx, TSR_ERR_IO, "%s: %s", s->temp, strerror(errno));
    if (st) {
        tsr_dzi_sink_free(s);
        return st;
    }
    chmod(s->temp, 0755);
    *out = s;
    return TSR_OK;
}

/* Writes `rel` under the temporary folder, creating its level folder. */
static tsr_status dir_put(tsr_dzi_sink *s, const char *rel, const void *bytes, size_t n) {
    const char *slash = strchr(rel, '/');
    if (slash) {
        char level[32];
        snprintf(level, sizeof level, "%.*s", (int)(slash - rel), rel);
        if (mkdirat(s->dir, level, 0755) != 0 && errno != EEXIST)
            return tsr_error(s->ctx, TSR_ERR_IO, "%s/%s: %s", s->temp, level, strerror(errno));
    }
    int fd = openat(s->dir, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return tsr_error(s->ctx, TSR_ERR_IO, "%s/%s: %s", s->temp, rel, strerror(errno));
    tsr_status st = write_all(s, fd, bytes, n);
    if (close(fd) != 0 && !st)
        st = tsr_error(s->ctx, TSR_ERR_IO, "%s/%s: close: %s", s->temp, rel, strerror(errno));
    return st;
}

tsr_status tsr_dzi_sink_tile(tsr_dzi_sink *s, const char *rel, const void *bytes, size_t n) {
    if (!s->zip)
        return dir_put(s, rel, bytes, n);
    char name[512];
    snprintf(name, sizeof name, "%s%s", s->prefix, rel);
    return zip_add(s, name, bytes, n);
}

/* Zip: the descriptor, the central directory and the end records. */
static tsr_status zip_commit(tsr_dzi_sink *s, const char *xml, size_t n) {
    tsr_status st = zip_add(s, s->xml_name, xml, n);
    uint64_t cd_at = s->offset;
    for (size_t i = 0; i < s->n && !st; i++)
        st = zip_central(s, &s->entries[i]);
    return st ? st : zip_end(s, cd_at, s->offset - cd_at);
}

tsr_status tsr_dzi_sink_commit(tsr_dzi_sink *s, const char *xml, size_t n) {
    if (s->zip)
        return zip_commit(s, xml, n);
    if (syncfs(s->dir) != 0)
        return tsr_error(s->ctx, TSR_ERR_IO, "%s: sync: %s", s->temp, strerror(errno));
    if (renameat2(AT_FDCWD, s->temp, AT_FDCWD, s->prefix, RENAME_NOREPLACE) != 0 &&
        (errno != EINVAL || rename(s->temp, s->prefix) != 0))
        return tsr_error(s->ctx, TSR_ERR_IO, "%s: rename: %s", s->prefix, strerror(errno));
    s->made = false;
    return write_all(s, s->fd, xml, n);
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

void tsr_dzi_sink_free(tsr_dzi_sink *s) {
    if (!s)
        return;
    if (s->dir >= 0)
        close(s->dir);
    if (s->made)
        nftw(s->temp, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    for (size_t i = 0; i < s->n; i++)
        free(s->entries[i].name);
    free(s->entries);
    free(s->prefix);
    free(s->temp);
    free(s->xml_name);
    free(s);
}
