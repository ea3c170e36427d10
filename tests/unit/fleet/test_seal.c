/* Sealed tile payloads (fleet/seal.h): round trip, tamper, foreign key,
 * moved entry, unsealed input, and key files (hex, raw, mode checks). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fleet/redis_link.h"
#include "fleet/seal.h"

static tsr_cluster_key key_a, key_b; /* two different keys */

static void make_keys(void) {
    for (int i = 0; i < TSR_CLUSTER_KEY_BYTES; i++) {
        key_a.k[i] = (uint8_t)(i * 7 + 1);
        key_b.k[i] = (uint8_t)(i * 7 + 2);
    }
}

/* A compressed payload of a recognizable pixel-like run, sealed for "T:k1". */
static void sealed_sample(tsr_ctx *ctx, tsr_buffer *inner, tsr_buffer *sealed) {
    uint8_t px[4096];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 31 + (i >> 5));
    CHECK(!tsr_payload_pack(ctx, 1, px, sizeof px, inner));
    CHECK(!tsr_payload_seal(ctx, &key_a, "T:k1", inner->data, inner->len, sealed));
}

static void test_round_trip(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_buffer inner = {0}, sealed = {0}, opened = {0}, again = {0};
    sealed_sample(ctx, &inner, &sealed);
    CHECK(tsr_payload_is_sealed(sealed.data, sealed.len));
    CHECK_EQ_INT((int)sealed.len, (int)(inner.len + 1 + TSR_SEAL_NONCE_BYTES + TSR_SEAL_TAG_BYTES));
    CHECK(!tsr_payload_open(ctx, &key_a, "T:k1", sealed.data, sealed.len, &opened));
    CHECK_EQ_INT((int)opened.len, (int)inner.len);
    CHECK(!memcmp(opened.data, inner.data, inner.len));
    /* A fresh nonce each time: the same payload never seals the same way. */
    CHECK(!tsr_payload_seal(ctx, &key_a, "T:k1", inner.data, inner.len, &again));
    CHECK(again.len == sealed.len && memcmp(again.data, sealed.data, sealed.len));
    /* The empty payload seals too. */
    tsr_buffer e = {0}, eo = {0};
    CHECK(!tsr_payload_seal(ctx, &key_a, "R:x", (const uint8_t *)"", 0, &e));
    CHECK(!tsr_payload_open(ctx, &key_a, "R:x", e.data, e.len, &eo));
    CHECK_EQ_INT((int)eo.len, 0);
    tsr_buffer_free(&e);
    tsr_buffer_free(&eo);
    tsr_buffer_free(&inner);
    tsr_buffer_free(&sealed);
    tsr_buffer_free(&opened);
    tsr_buffer_free(&again);
    tsr_ctx_free(ctx);
}

static void test_tamper_rejected(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_buffer inner = {0}, sealed = {0}, out = {0};
    sealed_sample(ctx, &inner, &sealed);
    /* Every single-byte flip after the format byte is detected. */
    int detected = 0, tried = 0;
    for (size_t i = 1; i < sealed.len; i += 1 + sealed.len / 97) {
        sealed.data[i] ^= 0x01;
        out.len = 0;
        tried++;
        detected +=
            tsr_payload_open(ctx, &key_a, "T:k1", sealed.data, sealed.len, &out) == TSR_ERR_CORRUPT;
        sealed.data[i] ^= 0x01;
    }
    CHECK_EQ_INT(detected, tried);
    /* Truncated. */
    out.len = 0;
    CHECK_EQ_INT(tsr_payload_open(ctx, &key_a, "T:k1", sealed.data, sealed.len - 1, &out),
                 TSR_ERR_CORRUPT);
    CHECK_EQ_INT(tsr_payload_open(ctx, &key_a, "T:k1", sealed.data, 20, &out), TSR_ERR_CORRUPT);
    /* Foreign key. */
    CHECK_EQ_INT(tsr_payload_open(ctx, &key_b, "T:k1", sealed.data, sealed.len, &out),
                 TSR_ERR_CORRUPT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "does not open");
    /* Moved to another entry, or a task replayed as a result. */
    CHECK_EQ_INT(tsr_payload_open(ctx, &key_a, "T:k2", sealed.data, sealed.len, &out),
                 TSR_ERR_CORRUPT);
    CHECK_EQ_INT(tsr_payload_open(ctx, &key_a, "R:k1", sealed.data, sealed.len, &out),
                 TSR_ERR_CORRUPT);
    /* Unsealed payloads do not open. */
    CHECK(!tsr_payload_is_sealed(inner.data, inner.len));
    CHECK_EQ_INT(tsr_payload_open(ctx, &key_a, "T:k1", inner.data, inner.len, &out),
                 TSR_ERR_CORRUPT);
    CHECK_EQ_INT((int)out.len, 0);
    tsr_buffer_free(&inner);
    tsr_buffer_free(&sealed);
    tsr_buffer_free(&out);
    tsr_ctx_free(ctx);
}

/* Writes a key file with `mode`; returns its path in `path`. */
static void write_key(char *path, size_t size, const void *bytes, size_t n, mode_t mode) {
    snprintf(path, size, "/tmp/tessera-seal-test-%d-XXXXXX", (int)getpid());
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes, n) == (ssize_t)n);
    CHECK(!fchmod(fd, mode));
    close(fd);
}

static void test_key_files(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char path[128], hex[80] = "";
    tsr_cluster_key k;
    for (int i = 0; i < TSR_CLUSTER_KEY_BYTES; i++)
        snprintf(hex + 2 * i, sizeof hex - 2 * (size_t)i, "%02x", key_a.k[i]);
    strcat(hex, "\n");
    write_key(path, sizeof path, hex, strlen(hex), 0600);
    memset(&k, 0, sizeof k);
    CHECK(!tsr_cluster_key_load(ctx, path, &k));
    CHECK(!memcmp(k.k, key_a.k, sizeof k.k));
    unlink(path);
    write_key(path, sizeof path, key_b.k, sizeof key_b.k, 0400);
    CHECK(!tsr_cluster_key_load(ctx, path, &k));
    CHECK(!memcmp(k.k, key_b.k, sizeof k.k));
    unlink(path);
    write_key(path, sizeof path, hex, strlen(hex), 0644);
    CHECK_EQ_INT(tsr_cluster_key_load(ctx, path, &k), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "chmod 600");
    unlink(path);
    write_key(path, sizeof path, "abcd\n", 5, 0600);
    CHECK_EQ_INT(tsr_cluster_key_load(ctx, path, &k), TSR_ERR_USAGE);
    unlink(path);
    CHECK_EQ_INT(tsr_cluster_key_load(ctx, "/nonexistent/tessera.key", &k), TSR_ERR_IO);
    tsr_ctx_free(ctx);
}

int main(void) {
    make_keys();
    RUN(test_round_trip);
    RUN(test_tamper_rejected);
    RUN(test_key_files);
    return check_finish();
}
