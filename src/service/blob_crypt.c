/* Encryption at rest: data keys and the chunked secretstream blob format
 * (blob_crypt.h). */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "service/blob_crypt.h"
#include "util/hex.h"
#include "util/random.h"

#define ABYTES        crypto_secretstream_xchacha20poly1305_ABYTES
#define STREAM_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define CIPHER_CHUNK  (TSR_BLOB_CHUNK_BYTES + ABYTES)
#define KEY_FILE_MAX  200 /* bytes read of a key file: 64 hex + whitespace */

static const char fingerprint_context[] = "tessera data key fingerprint v1";
static const char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "tsrblob_";

struct tsr_blob_key {
    uint8_t stream[crypto_secretstream_xchacha20poly1305_KEYBYTES]; /* subkey that seals blobs */
    uint8_t fp[TSR_BLOB_FP_BYTES];                                  /* names the key in headers */
};

_Static_assert(STREAM_HEADER + TSR_BLOB_FP_BYTES + TSR_BLOB_MAGIC_BYTES == TSR_BLOB_HEADER_BYTES,
               "header layout");

tsr_status tsr_blob_key_from_bytes(tsr_ctx *ctx, const uint8_t raw[TSR_BLOB_KEY_BYTES],
                                   tsr_blob_key **out) {
    uint8_t hash[crypto_generichash_BYTES];
    *out = NULL;
    if (sodium_init() < 0)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "data key: libsodium failed to initialise");
    tsr_blob_key *k = sodium_malloc(sizeof *k);
    if (!k)
        return tsr_error(ctx, TSR_ERR_NOMEM, "data key: out of memory");
    crypto_kdf_derive_from_key(k->stream, sizeof k->stream, 1, kdf_context, raw);
    crypto_generichash(hash, sizeof hash, (const uint8_t *)fingerprint_context,
                       sizeof fingerprint_context - 1, raw, TSR_BLOB_KEY_BYTES);
    memcpy(k->fp, hash, sizeof k->fp);
    sodium_mprotect_readonly(k);
    *out = k;
    return TSR_OK;
}

void tsr_blob_key_free(tsr_blob_key *key) {
    if (key)
        sodium_free(key); /* wipes and unlocks */
}

const uint8_t *tsr_blob_key_fingerprint(const tsr_blob_key *key) {
    return key->fp;
}

void tsr_blob_fingerprint_hex(const uint8_t fp[TSR_BLOB_FP_BYTES],
                              char out[2 * TSR_BLOB_FP_BYTES + 1]) {
    tsr_hex_encode(out, fp, TSR_BLOB_FP_BYTES);
}

/* Reads up to `len` bytes at `off`, stopping only at the end of the file;
 * *got receives the count. */
static int read_at(int fd, void *buf, size_t len, uint64_t off, size_t *got) {
    *got = 0;
    while (*got < len) {
        ssize_t n = pread(fd, (char *)buf + *got, len - *got, (off_t)(off + *got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return 0;
}

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

tsr_status tsr_blob_key_load(tsr_ctx *ctx, const char *path, tsr_blob_key **out) {
    uint8_t raw[TSR_BLOB_KEY_BYTES];
    char *text = NULL;
    size_t len = 0;
    struct stat sb;
    tsr_status rc = TSR_OK;
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "data key: cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = tsr_error(ctx, TSR_ERR_USAGE, "data key: %s is not a regular file", path);
        goto out;
    }
    if (sb.st_mode & 077) {
        rc = tsr_error(ctx, TSR_ERR_USAGE,
                       "data key: permissions %04o for %s are too open: the group or others may "
                       "access it; run chmod 600 %s",
                       (unsigned)(sb.st_mode & 07777), path, path);
        goto out;
    }
    if (sodium_init() < 0 || !(text = sodium_malloc(KEY_FILE_MAX + 1))) {
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "data key: out of memory");
        goto out;
    }
    if (read_at(fd, text, KEY_FILE_MAX, 0, &len) != 0) {
        rc = tsr_error(ctx, TSR_ERR_IO, "data key: cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (len != 2 * TSR_BLOB_KEY_BYTES || tsr_hex_decode(text, len, raw, sizeof raw, NULL)) {
        rc = tsr_error(ctx, TSR_ERR_USAGE,
                       "data key: %s must hold 64 hex digits (32 random bytes); make one with "
                       "`tessera data keygen FILE`",
                       path);
        goto out;
    }
    rc = tsr_blob_key_from_bytes(ctx, raw, out);
out:
    sodium_memzero(raw, sizeof raw);
    if (text)
        sodium_free(text);
    close(fd);
    return rc;
}

tsr_status tsr_blob_key_generate(tsr_ctx *ctx, const char *path) {
    char hex[2 * TSR_BLOB_KEY_BYTES + 2];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "data key: %s already exists; refusing to overwrite it", path);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "data key: cannot create %s: %s", path, strerror(errno));
    tsr_status rc = tsr_random_hex(ctx, hex, 2 * TSR_BLOB_KEY_BYTES);
    hex[2 * TSR_BLOB_KEY_BYTES] = '\n';
    if (!rc && (write_all(fd, hex, 2 * TSR_BLOB_KEY_BYTES + 1) != 0 || fsync(fd) != 0))
        rc = tsr_error(ctx, TSR_ERR_IO, "data key: cannot write %s: %s", path, strerror(errno));
    if (rc)
        unlink(path);
    close(fd);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

tsr_status tsr_blob_probe(tsr_ctx *ctx, int fd, bool *encrypted, uint8_t fp[TSR_BLOB_FP_BYTES]) {
    uint8_t head[TSR_BLOB_HEADER_BYTES];
    size_t got = 0;
    *encrypted = false;
    if (read_at(fd, head, sizeof head, 0, &got) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob store: cannot read a blob: %s", strerror(errno));
    if (got < sizeof head || memcmp(head, TSR_BLOB_MAGIC, TSR_BLOB_MAGIC_BYTES) != 0)
        return TSR_OK;
    *encrypted = true;
    if (fp)
        memcpy(fp, head + TSR_BLOB_MAGIC_BYTES, TSR_BLOB_FP_BYTES);
    return TSR_OK;
}

tsr_status tsr_blob_encrypt_fd(tsr_ctx *ctx, const tsr_blob_key *key, const char *label, int in,
                               int out, uint64_t *plain_bytes) {
    crypto_secretstream_xchacha20poly1305_state st;
    uint8_t head[TSR_BLOB_HEADER_BYTES];
    uint8_t *cur = malloc(TSR_BLOB_CHUNK_BYTES), *next = malloc(TSR_BLOB_CHUNK_BYTES);
    uint8_t *cipher = malloc(CIPHER_CHUNK);
    size_t cur_len = 0, next_len = 0, label_len = strlen(label);
    uint64_t off = 0;
    tsr_status rc = TSR_OK;
    if (!cur || !next || !cipher) {
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "blob %s: out of memory encrypting", label);
        goto out;
    }
    memcpy(head, TSR_BLOB_MAGIC, TSR_BLOB_MAGIC_BYTES);
    memcpy(head + TSR_BLOB_MAGIC_BYTES, key->fp, TSR_BLOB_FP_BYTES);
    crypto_secretstream_xchacha20poly1305_init_push(
        &st, head + TSR_BLOB_MAGIC_BYTES + TSR_BLOB_FP_BYTES, key->stream);
    if (write_all(out, head, sizeof head) != 0)
        goto write_error;
    if (read_at(in, cur, TSR_BLOB_CHUNK_BYTES, off, &cur_len) != 0)
        goto read_error;
    off += cur_len;
    for (;;) {
        /* A full chunk is final only when nothing follows it. */
        bool final = cur_len < TSR_BLOB_CHUNK_BYTES;
        if (!final) {
            if (read_at(in, next, TSR_BLOB_CHUNK_BYTES, off, &next_len) != 0)
                goto read_error;
            off += next_len;
            final = next_len == 0;
        }
        unsigned char tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                  : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
        unsigned long long clen = 0;
        crypto_secretstream_xchacha20poly1305_push(&st, cipher, &clen, cur, cur_len,
                                                   (const uint8_t *)label, label_len, tag);
        if (write_all(out, cipher, (size_t)clen) != 0)
            goto write_error;
        if (final)
            break;
        uint8_t *swap = cur;
        cur = next;
        next = swap;
        cur_len = next_len;
    }
    if (plain_bytes)
        *plain_bytes = off;
    goto out;
read_error:
    rc = tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot read the plaintext: %s", label,
                   strerror(errno));
    goto out;
write_error:
    rc = tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot write the encrypted file: %s", label,
                   strerror(errno));
out:
    sodium_memzero(&st, sizeof st);
    if (cur)
        sodium_memzero(cur, TSR_BLOB_CHUNK_BYTES);
    if (next)
        sodium_memzero(next, TSR_BLOB_CHUNK_BYTES);
    free(cur);
    free(next);
    free(cipher);
    return rc;
}

/* The TSR_ERR_CORRUPT of a blob that failed its check. */
static tsr_status integrity(tsr_ctx *ctx, const char *label, const char *why) {
    return tsr_error(ctx, TSR_ERR_CORRUPT, "blob %s: failed its integrity check (%s)", label, why);
}

/* Checks the header at offset 0 of `in` and starts the pull state. */
static tsr_status open_header(tsr_ctx *ctx, const tsr_blob_key *key, const char *label, int in,
                              crypto_secretstream_xchacha20poly1305_state *st) {
    uint8_t head[TSR_BLOB_HEADER_BYTES];
    size_t got = 0;
    char have[2 * TSR_BLOB_FP_BYTES + 1], want[2 * TSR_BLOB_FP_BYTES + 1];
    if (read_at(in, head, sizeof head, 0, &got) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot read: %s", label, strerror(errno));
    if (got < sizeof head || memcmp(head, TSR_BLOB_MAGIC, TSR_BLOB_MAGIC_BYTES) != 0)
        return integrity(ctx, label, "not an encrypted blob, or its header is cut");
    if (sodium_memcmp(head + TSR_BLOB_MAGIC_BYTES, key->fp, TSR_BLOB_FP_BYTES) != 0) {
        tsr_blob_fingerprint_hex(head + TSR_BLOB_MAGIC_BYTES, have);
        tsr_blob_fingerprint_hex(key->fp, want);
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "blob %s: encrypted under another key (fingerprint %s; the data key's "
                         "is %s)",
                         label, have, want);
    }
    if (crypto_secretstream_xchacha20poly1305_init_pull(
            st, head + TSR_BLOB_MAGIC_BYTES + TSR_BLOB_FP_BYTES, key->stream) != 0)
        return integrity(ctx, label, "bad stream header");
    return TSR_OK;
}

tsr_status tsr_blob_decrypt_fd(tsr_ctx *ctx, const tsr_blob_key *key, const char *label, int in,
                               int out, uint64_t *plain_bytes) {
    crypto_secretstream_xchacha20poly1305_state st;
    uint8_t *cipher = malloc(CIPHER_CHUNK), *plain = malloc(TSR_BLOB_CHUNK_BYTES);
    uint64_t off = TSR_BLOB_HEADER_BYTES, total = 0;
    size_t label_len = strlen(label);
    tsr_status rc = TSR_OK;
    if (!cipher || !plain) {
        rc = tsr_error(ctx, TSR_ERR_NOMEM, "blob %s: out of memory decrypting", label);
        goto out;
    }
    if ((rc = open_header(ctx, key, label, in, &st)))
        goto out;
    for (;;) {
        size_t got = 0;
        unsigned long long mlen = 0;
        unsigned char tag = 0;
        if (read_at(in, cipher, CIPHER_CHUNK, off, &got) != 0) {
            rc = tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot read: %s", label, strerror(errno));
            goto out;
        }
        if (got == 0) {
            rc = integrity(ctx, label, "truncated: the final chunk is missing");
            goto out;
        }
        if (got < ABYTES ||
            crypto_secretstream_xchacha20poly1305_pull(&st, plain, &mlen, &tag, cipher, got,
                                                       (const uint8_t *)label, label_len) != 0) {
            rc = integrity(ctx, label,
                           "a chunk failed authentication: altered, cut short, or moved from "
                           "another blob");
            goto out;
        }
        off += got;
        if (write_all(out, plain, (size_t)mlen) != 0) {
            rc = tsr_error(ctx, TSR_ERR_IO, "blob %s: cannot write the plaintext: %s", label,
                           strerror(errno));
            goto out;
        }
        total += mlen;
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
            uint8_t extra;
            if (read_at(in, &extra, 1, off, &got) != 0 || got != 0)
                rc = integrity(ctx, label, "bytes follow the final chunk");
            break;
        }
        if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE || got < CIPHER_CHUNK) {
            rc = integrity(ctx, label, "a chunk is out of place");
            goto out;
        }
    }
    if (!rc && plain_bytes)
        *plain_bytes = total;
out:
    sodium_memzero(&st, sizeof st);
    if (plain)
        sodium_memzero(plain, TSR_BLOB_CHUNK_BYTES);
    free(cipher);
    free(plain);
    return rc;
}
