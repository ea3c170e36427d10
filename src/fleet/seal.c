/* Sealed tile payloads (see seal.h). */
#include "fleet/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/hex.h"
#include "util/random.h"

static int is_space(uint8_t c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* Decodes 64 hex digits between optional whitespace; 1 on success. */
static int parse_hex(const uint8_t *s, size_t n, uint8_t *out) {
    while (n && is_space(s[n - 1]))
        n--;
    while (n && is_space(s[0])) {
        s++;
        n--;
    }
    size_t got = 0;
    return n == 2 * TSR_CLUSTER_KEY_BYTES &&
           !tsr_hex_decode((const char *)s, n, out, TSR_CLUSTER_KEY_BYTES, &got);
}

tsr_status tsr_cluster_key_load(tsr_ctx *ctx, const char *path, tsr_cluster_key *out) {
    uint8_t text[160];
    tsr_status st = TSR_OK;
    struct stat sb;
    ssize_t n = 0;
    if (sodium_init() < 0)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "cluster key: libsodium failed to start");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tsr_error(ctx, TSR_ERR_IO, "cluster key %s: %s", path, strerror(errno));
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        st = tsr_error(ctx, TSR_ERR_USAGE, "cluster key %s: not a regular file", path);
        goto out;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        st = tsr_error(ctx, TSR_ERR_USAGE,
                       "cluster key %s: mode %03o lets the group or others read it; chmod 600",
                       path, (unsigned)(sb.st_mode & 0777));
        goto out;
    }
    n = read(fd, text, sizeof text);
    if (n < 0) {
        st = tsr_error(ctx, TSR_ERR_IO, "cluster key %s: %s", path, strerror(errno));
        goto out;
    }
    if (parse_hex(text, (size_t)n, out->k))
        goto out;
    if (n == TSR_CLUSTER_KEY_BYTES) {
        memcpy(out->k, text, TSR_CLUSTER_KEY_BYTES);
        goto out;
    }
    st = tsr_error(ctx, TSR_ERR_USAGE, "cluster key %s: want 64 hex digits or 32 raw bytes", path);
out:
    sodium_memzero(text, sizeof text);
    close(fd);
    return st;
}

tsr_status tsr_payload_seal(tsr_ctx *ctx, const tsr_cluster_key *key, const char *ad,
                            const uint8_t *inner, size_t len, tsr_buffer *out) {
    size_t need = 1 + TSR_SEAL_NONCE_BYTES + len + TSR_SEAL_TAG_BYTES;
    tsr_status st = tsr_buffer_reserve(out, need);
    if (st)
        return tsr_error(ctx, st, "seal: out of memory for %zu bytes", need);
    uint8_t *p = out->data + out->len;
    p[0] = 'S';
    if ((st = tsr_random_bytes(ctx, p + 1, TSR_SEAL_NONCE_BYTES)))
        return st;
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + 1 + TSR_SEAL_NONCE_BYTES, &clen, inner, len,
                                               (const uint8_t *)ad, strlen(ad), NULL, p + 1,
                                               key->k);
    out->len += 1 + TSR_SEAL_NONCE_BYTES + (size_t)clen;
    return TSR_OK;
}

tsr_status tsr_payload_open(tsr_ctx *ctx, const tsr_cluster_key *key, const char *ad,
                            const uint8_t *bytes, size_t len, tsr_buffer *out) {
    if (!tsr_payload_is_sealed(bytes, len))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "payload is not sealed");
    size_t clen = len - 1 - TSR_SEAL_NONCE_BYTES;
    tsr_status st = tsr_buffer_reserve(out, clen - TSR_SEAL_TAG_BYTES);
    if (st)
        return tsr_error(ctx, st, "open: out of memory for %zu bytes", clen);
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            out->data + out->len, &mlen, NULL, bytes + 1 + TSR_SEAL_NONCE_BYTES, clen,
            (const uint8_t *)ad, strlen(ad), bytes + 1, key->k))
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "sealed payload does not open (altered, another key or another entry)");
    out->len += (size_t)mlen;
    return TSR_OK;
}

int tsr_payload_is_sealed(const uint8_t *bytes, size_t len) {
    return len >= 1 + TSR_SEAL_NONCE_BYTES + TSR_SEAL_TAG_BYTES && bytes[0] == 'S';
}
