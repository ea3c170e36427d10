/* The encrypted blob format (src/service/blob_crypt.c): round trips at the
 * chunk boundaries, and every kind of damage detected: a flipped byte in
 * each region, truncation, a blob moved to another id, another key. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "service/blob_crypt.h"

#define ID_A         "0123456789abcdef0123456789abcdef"
#define ID_B         "fedcba9876543210fedcba9876543210"
#define CHUNK        TSR_BLOB_CHUNK_BYTES
#define SEALED_CHUNK (CHUNK + 17)

static tsr_ctx *ctx;
static tsr_blob_key *key, *other;

static int memfd_with(const void *data, size_t len) {
    int fd = memfd_create("test", MFD_CLOEXEC);
    if (len)
        CHECK_EQ_INT(write(fd, data, len), (long long)len);
    return fd;
}

/* The whole content of fd. The caller frees it. */
static uint8_t *content(int fd, size_t *len) {
    struct stat sb;
    fstat(fd, &sb);
    *len = (size_t)sb.st_size;
    uint8_t *buf = malloc(*len + 1);
    CHECK_EQ_INT(pread(fd, buf, *len, 0), (long long)*len);
    return buf;
}

/* Seals `len` pseudo-random bytes as blob ID_A; returns the sealed bytes. */
static uint8_t *seal(size_t len, uint8_t **plain, size_t *sealed_len) {
    *plain = malloc(len + 1);
    for (size_t i = 0; i < len; i++)
        (*plain)[i] = (uint8_t)(i * 131 + (i >> 9));
    int in = memfd_with(*plain, len), out = memfd_with(NULL, 0);
    uint64_t n = 0;
    CHECK_EQ_INT(tsr_blob_encrypt_fd(ctx, key, ID_A, in, out, &n), TSR_OK);
    CHECK_EQ_INT(n, len);
    uint8_t *sealed = content(out, sealed_len);
    close(in);
    close(out);
    return sealed;
}

/* Opens sealed bytes as blob `id` under key `k`; the status, and the
 * plaintext in *out (freed by the caller) when it opened. */
static tsr_status open_as(const uint8_t *sealed, size_t len, const char *id, const tsr_blob_key *k,
                          uint8_t **out, size_t *out_len) {
    int in = memfd_with(sealed, len), plain = memfd_with(NULL, 0);
    uint64_t n = 0;
    tsr_ctx_reset(ctx);
    tsr_status st = tsr_blob_decrypt_fd(ctx, k, id, in, plain, &n);
    *out = NULL;
    if (!st) {
        *out = content(plain, out_len);
        CHECK_EQ_INT(n, *out_len);
    }
    close(in);
    close(plain);
    return st;
}

static void test_round_trips(void) {
    size_t sizes[] = {0, 1, CHUNK - 1, CHUNK, CHUNK + 1, (1u << 20) + 7};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        uint8_t *plain, *back;
        size_t sealed_len, back_len;
        uint8_t *sealed = seal(sizes[i], &plain, &sealed_len);
        size_t chunks = sizes[i] ? (sizes[i] + CHUNK - 1) / CHUNK : 1;
        CHECK_EQ_INT(sealed_len, TSR_BLOB_HEADER_BYTES + sizes[i] + 17 * chunks);
        CHECK(!memcmp(sealed, TSR_BLOB_MAGIC, TSR_BLOB_MAGIC_BYTES));
        CHECK(!memcmp(sealed + 8, tsr_blob_key_fingerprint(key), TSR_BLOB_FP_BYTES));
        CHECK_EQ_INT(open_as(sealed, sealed_len, ID_A, key, &back, &back_len), TSR_OK);
        CHECK_EQ_INT(back_len, sizes[i]);
        CHECK(back && !memcmp(back, plain, sizes[i]));
        free(back);
        free(plain);
        free(sealed);
    }
}

/* Every region: magic, fingerprint, stream header, first chunk's body and
 * tag, a middle chunk, the last chunk. */
static void test_flips(void) {
    uint8_t *plain, *back;
    size_t len, back_len;
    uint8_t *sealed = seal(3 * CHUNK + 100, &plain, &len);
    size_t at[] = {0,
                   7,
                   8,
                   15,
                   16,
                   39,
                   40,
                   40 + 1000,
                   40 + SEALED_CHUNK - 1,
                   40 + SEALED_CHUNK + 5,
                   40 + 2 * SEALED_CHUNK + 70,
                   len - 1};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        sealed[at[i]] ^= 0x01;
        tsr_status st = open_as(sealed, len, ID_A, key, &back, &back_len);
        CHECK_EQ_INT(st, TSR_ERR_CORRUPT);
        if (st != TSR_ERR_CORRUPT)
            fprintf(stderr, "flip at %zu not detected\n", at[i]);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "blob " ID_A);
        free(back);
        sealed[at[i]] ^= 0x01;
    }
    CHECK_EQ_INT(open_as(sealed, len, ID_A, key, &back, &back_len), TSR_OK);
    free(back);
    free(plain);
    free(sealed);
}

static void test_truncation(void) {
    uint8_t *plain, *back;
    size_t len, back_len;
    uint8_t *sealed = seal(2 * CHUNK + 10, &plain, &len);
    size_t cuts[] = {0,
                     5,
                     TSR_BLOB_HEADER_BYTES,
                     TSR_BLOB_HEADER_BYTES + 3,
                     TSR_BLOB_HEADER_BYTES + SEALED_CHUNK, /* at a chunk boundary */
                     TSR_BLOB_HEADER_BYTES + 2 * SEALED_CHUNK,
                     len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        CHECK_EQ_INT(open_as(sealed, cuts[i], ID_A, key, &back, &back_len), TSR_ERR_CORRUPT);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "failed its integrity check");
        free(back);
    }
    /* Trailing bytes after the final chunk. */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, sealed, len);
    longer[len] = 0;
    CHECK_EQ_INT(open_as(longer, len + 1, ID_A, key, &back, &back_len), TSR_ERR_CORRUPT);
    free(back);
    /* A whole-chunk-multiple blob cut after its first chunk. */
    free(plain);
    free(sealed);
    sealed = seal(2 * CHUNK, &plain, &len);
    CHECK_EQ_INT(open_as(sealed, TSR_BLOB_HEADER_BYTES + SEALED_CHUNK, ID_A, key, &back, &back_len),
                 TSR_ERR_CORRUPT);
    free(back);
    free(longer);
    free(plain);
    free(sealed);
}

static void test_swap_id_and_wrong_key(void) {
    uint8_t *plain, *back;
    size_t len, back_len;
    uint8_t *sealed = seal(1000, &plain, &len);
    CHECK_EQ_INT(open_as(sealed, len, ID_B, key, &back, &back_len), TSR_ERR_CORRUPT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "blob " ID_B ": failed its integrity check");
    free(back);
    CHECK_EQ_INT(open_as(sealed, len, ID_A, other, &back, &back_len), TSR_ERR_CORRUPT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "encrypted under another key");
    free(back);
    /* A forged header naming the other key's fingerprint still fails. */
    memcpy(sealed + 8, tsr_blob_key_fingerprint(other), TSR_BLOB_FP_BYTES);
    CHECK_EQ_INT(open_as(sealed, len, ID_A, other, &back, &back_len), TSR_ERR_CORRUPT);
    free(back);
    free(plain);
    free(sealed);
}

static void test_probe(void) {
    uint8_t *plain, fp[TSR_BLOB_FP_BYTES];
    size_t len;
    bool enc = false;
    uint8_t *sealed = seal(10, &plain, &len);
    int fd = memfd_with(sealed, len);
    CHECK_EQ_INT(tsr_blob_probe(ctx, fd, &enc, fp), TSR_OK);
    CHECK(enc && !memcmp(fp, tsr_blob_key_fingerprint(key), TSR_BLOB_FP_BYTES));
    close(fd);
    fd = memfd_with("\x89PNG\r\n\x1a\n plus more bytes than a header holds....", 48);
    CHECK_EQ_INT(tsr_blob_probe(ctx, fd, &enc, fp), TSR_OK);
    CHECK(!enc);
    close(fd);
    free(plain);
    free(sealed);
}

static void test_key_files(void) {
    char dir[] = "/tmp/tessera-keytest-XXXXXX", path[128];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/k", dir);
    tsr_blob_key *k = NULL, *k2 = NULL;
    CHECK_EQ_INT(tsr_blob_key_generate(ctx, path), TSR_OK);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600 && sb.st_size == 65);
    CHECK_EQ_INT(tsr_blob_key_generate(ctx, path), TSR_ERR_USAGE); /* never overwrites */
    CHECK_EQ_INT(tsr_blob_key_load(ctx, path, &k), TSR_OK);
    CHECK_EQ_INT(tsr_blob_key_load(ctx, path, &k2), TSR_OK);
    CHECK(k && k2 && !memcmp(tsr_blob_key_fingerprint(k), tsr_blob_key_fingerprint(k2), 8));
    tsr_blob_key_free(k2);
    chmod(path, 0640);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_blob_key_load(ctx, path, &k2), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "too open");
    chmod(path, 0600);
    int fd = open(path, O_WRONLY | O_TRUNC);
    CHECK_EQ_INT(write(fd, "abcd\n", 5), 5);
    close(fd);
    CHECK_EQ_INT(tsr_blob_key_load(ctx, path, &k2), TSR_ERR_USAGE);
    unlink(path);
    CHECK_EQ_INT(tsr_blob_key_load(ctx, path, &k2), TSR_ERR_IO);
    rmdir(dir);
    tsr_blob_key_free(k);
    tsr_blob_key_free(NULL);
}

int main(void) {
    uint8_t raw[TSR_BLOB_KEY_BYTES], raw2[TSR_BLOB_KEY_BYTES];
    memset(raw, 7, sizeof raw);
    memset(raw2, 9, sizeof raw2);
    ctx = tsr_ctx_new();
    if (tsr_blob_key_from_bytes(ctx, raw, &key) || tsr_blob_key_from_bytes(ctx, raw2, &other))
        return 1;
    RUN(test_round_trips);
    RUN(test_flips);
    RUN(test_truncation);
    RUN(test_swap_id_and_wrong_key);
    RUN(test_probe);
    RUN(test_key_files);
    tsr_blob_key_free(key);
    tsr_blob_key_free(other);
    tsr_ctx_free(ctx);
    return check_finish();
}
