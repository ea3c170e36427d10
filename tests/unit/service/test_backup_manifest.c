/* A backup snapshot's manifest (src/service/backup_manifest.c): encode and
 * decode round trip every field, blobs come back sorted and findable, and
 * damaged or hostile manifests are refused with a message naming what is
 * wrong; snapshot names sort in time order and are checked. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "service/backup_manifest.h"

#define ID_A  "0123456789abcdef0123456789abcdef"
#define ID_B  "fedcba9876543210fedcba9876543210"
#define ID_C  "00000000000000000000000000000001"
#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static tsr_ctx *ctx;

/* A manifest with three blobs (not in id order), a key and counts. */
static void sample(tsr_manifest *m) {
    memset(m, 0, sizeof *m);
    snprintf(m->snapshot, sizeof m->snapshot, "20261207T101500.123Z");
    m->created = 1796638500123;
    snprintf(m->tessera_version, sizeof m->tessera_version, "0.1.0");
    m->schema_version = 3;
    snprintf(m->store_url, sizeof m->store_url, "s3://bucket/prefix");
    snprintf(m->key_fingerprint, sizeof m->key_fingerprint, "0011223344556677");
    m->keycheck_hex = strdup("545352424c4f4231");
    m->metadata_bytes = 86016;
    snprintf(m->metadata_sha256, sizeof m->metadata_sha256, "%s", SHA_B);
    m->transfer = (tsr_manifest_transfer){
        .copied_blobs = 1, .copied_bytes = 10, .reused_blobs = 2, .reused_bytes = 9000000000ull};
    tsr_manifest_blob blobs[] = {
        {.id = ID_B, .bytes = 9000000000ull, .sha256 = SHA_A, .stamp = "12:34:56.000000001"},
        {.id = ID_A, .bytes = 0, .sha256 = SHA_B},
        {.id = ID_C, .bytes = 10, .sha256 = SHA_A},
    };
    for (size_t i = 0; i < 3; i++)
        CHECK_EQ_INT(tsr_manifest_add_blob(ctx, m, &blobs[i]), TSR_OK);
}

static void test_round_trip(void) {
    tsr_manifest m, back;
    char *text = NULL;
    size_t len = 0;
    sample(&m);
    CHECK_EQ_INT(tsr_manifest_encode(ctx, &m, &text, &len), TSR_OK);
    CHECK(text && strlen(text) == len);
    CHECK_STR_CONTAINS(text, "\"key_fingerprint\": \"0011223344556677\"");
    CHECK_EQ_INT(tsr_manifest_decode(ctx, text, len, &back), TSR_OK);
    CHECK(!strcmp(back.snapshot, m.snapshot));
    CHECK_EQ_INT(back.created, m.created);
    CHECK(!strcmp(back.tessera_version, "0.1.0"));
    CHECK_EQ_INT(back.schema_version, 3);
    CHECK(!strcmp(back.store_url, "s3://bucket/prefix"));
    CHECK(!strcmp(back.key_fingerprint, "0011223344556677"));
    CHECK(back.keycheck_hex && !strcmp(back.keycheck_hex, m.keycheck_hex));
    CHECK_EQ_INT(back.metadata_bytes, 86016);
    CHECK(!strcmp(back.metadata_sha256, SHA_B));
    CHECK_EQ_INT(back.transfer.reused_bytes, 9000000000ull);
    CHECK_EQ_INT(back.transfer.copied_blobs, 1);
    CHECK_EQ_INT(back.blob_count, 3);
    /* sorted by id, each field kept */
    CHECK(!strcmp(back.blobs[0].id, ID_C) && !strcmp(back.blobs[1].id, ID_A) &&
          !strcmp(back.blobs[2].id, ID_B));
    const tsr_manifest_blob *b = tsr_manifest_find(&back, ID_B);
    CHECK(b && b->bytes == 9000000000ull && !strcmp(b->sha256, SHA_A) &&
          !strcmp(b->stamp, "12:34:56.000000001"));
    CHECK(tsr_manifest_find(&back, ID_A) && !tsr_manifest_find(&back, ID_A "0"));
    CHECK(!tsr_manifest_find(&back, "ffffffffffffffffffffffffffffffff"));
    CHECK_EQ_INT(tsr_manifest_blob_bytes(&back), 9000000010ull);
    free(text);
    tsr_manifest_clear(&m);
    tsr_manifest_clear(&back);
    CHECK(back.blobs == NULL && back.blob_count == 0);
    tsr_manifest_clear(NULL);
}

static void test_plaintext_and_empty(void) {
    tsr_manifest m = {0}, back;
    char *text = NULL;
    size_t len = 0;
    snprintf(m.snapshot, sizeof m.snapshot, "20260101T000000.000Z");
    snprintf(m.tessera_version, sizeof m.tessera_version, "0.1.0");
    m.schema_version = 1;
    snprintf(m.metadata_sha256, sizeof m.metadata_sha256, "%s", SHA_A);
    CHECK_EQ_INT(tsr_manifest_encode(ctx, &m, &text, &len), TSR_OK);
    CHECK_STR_CONTAINS(text, "\"key_fingerprint\": null");
    CHECK_EQ_INT(tsr_manifest_decode(ctx, text, len, &back), TSR_OK);
    CHECK_EQ_INT(back.blob_count, 0);
    CHECK(back.keycheck_hex == NULL && back.key_fingerprint[0] == '\0');
    CHECK(back.store_url[0] == '\0');
    free(text);
    tsr_manifest_clear(&back);
}

/* Encodes the sample, replaces `from` by `to` once, and decodes: the
 * status, with the message containing `needle`. */
static void refused(const char *from, const char *to, tsr_status want, const char *needle) {
    tsr_manifest m, back;
    char *text = NULL;
    size_t len = 0;
    sample(&m);
    CHECK_EQ_INT(tsr_manifest_encode(ctx, &m, &text, &len), TSR_OK);
    char *at = strstr(text, from);
    CHECK(at != NULL);
    if (at) {
        size_t fl = strlen(from), tl = strlen(to);
        char *edited = malloc(len - fl + tl + 1);
        memcpy(edited, text, (size_t)(at - text));
        memcpy(edited + (at - text), to, tl);
        strcpy(edited + (at - text) + tl, at + fl);
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_manifest_decode(ctx, edited, strlen(edited), &back), want);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), needle);
        CHECK(back.blobs == NULL && back.keycheck_hex == NULL);
        free(edited);
    }
    free(text);
    tsr_manifest_clear(&m);
}

static void test_damage_refused(void) {
    refused("\"format\": 1", "\"format\": 2", TSR_ERR_FORMAT, "newer tessera");
    refused("\"format\": 1", "\"fmt\": 1", TSR_ERR_CORRUPT, "not a tessera manifest");
    refused("{", "[", TSR_ERR_CORRUPT, "not JSON");
    refused("\"snapshot\": \"20261207T101500.123Z\"", "\"snapshot\": \"../../etc\"",
            TSR_ERR_CORRUPT, "snapshot name");
    refused("\"id\": \"" ID_A "\"", "\"id\": \"" ID_A "0\"", TSR_ERR_CORRUPT, "\"id\"");
    refused("\"id\": \"" ID_A "\"", "\"id\": \"0123456789ABCDEF0123456789abcdef\"", TSR_ERR_CORRUPT,
            "malformed id");
    refused("\"id\": \"" ID_A "\"", "\"id\": \"" ID_B "\"", TSR_ERR_CORRUPT, "listed twice");
    refused("\"sha256\": \"" SHA_B "\"", "\"sha256\": \"" SHA_B "a\"", TSR_ERR_CORRUPT,
            "\"sha256\"");
    refused("\"bytes\": 0", "\"bytes\": -1", TSR_ERR_CORRUPT, "not a size");
    refused("\"bytes\": 0", "\"bytes\": 18014398509481984", TSR_ERR_CORRUPT, "not a size");
    refused("\"bytes\": 0", "\"bytes\": \"0\"", TSR_ERR_CORRUPT, "not a size");
    refused("\"key_fingerprint\": \"0011223344556677\"", "\"key_fingerprint\": null",
            TSR_ERR_CORRUPT, "fingerprint or keycheck");
    refused("\"key_fingerprint\": \"0011223344556677\"", "\"key_fingerprint\": \"00112233\"",
            TSR_ERR_CORRUPT, "fingerprint or keycheck");
    refused("\"keycheck\": \"5453", "\"keycheck\": \"X453", TSR_ERR_CORRUPT,
            "fingerprint or keycheck");
    refused("\"url\": \"s3://bucket/prefix\"", "\"url\": \"s3://a\\u0000b\"", TSR_ERR_CORRUPT,
            "NUL");
    refused("\"schema_version\": 3", "\"schema_version\": 0", TSR_ERR_CORRUPT, "schema");
    refused("\"tessera_version\"", "\"format\": 1, \"tessera_version\"", TSR_ERR_CORRUPT,
            "not JSON");
    refused("\"blobs\": [", "\"blobs\": 7, \"x\": [", TSR_ERR_CORRUPT, "not a list");
}

static void test_cut_text_refused(void) {
    tsr_manifest m, back;
    char *text = NULL;
    size_t len = 0;
    sample(&m);
    CHECK_EQ_INT(tsr_manifest_encode(ctx, &m, &text, &len), TSR_OK);
    for (size_t cut = 0; cut < len; cut += len / 13 + 1) {
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_manifest_decode(ctx, text, cut, &back), TSR_ERR_CORRUPT);
    }
    free(text);
    tsr_manifest_clear(&m);
}

static void test_snapshot_names(void) {
    char a[TSR_BACKUP_NAME_MAX + 1], b[TSR_BACKUP_NAME_MAX + 1];
    tsr_backup_snapshot_name(1796638500123, a);
    CHECK(!strcmp(a, "20261207T101500.123Z"));
    CHECK(tsr_backup_snapshot_name_valid(a));
    tsr_backup_snapshot_name(1796638500124, b);
    CHECK(strcmp(a, b) < 0);
    tsr_backup_snapshot_name(1796638501000, b);
    CHECK(!strcmp(b, "20261207T101501.000Z") && strcmp(a, b) < 0);
    CHECK(!tsr_backup_snapshot_name_valid(NULL));
    CHECK(!tsr_backup_snapshot_name_valid(""));
    CHECK(!tsr_backup_snapshot_name_valid("20261207T101500.123"));
    CHECK(!tsr_backup_snapshot_name_valid("20261207T101500.123Z/"));
    CHECK(!tsr_backup_snapshot_name_valid("2026120xT101500.123Z"));
    CHECK(!tsr_backup_snapshot_name_valid("../../../../../../.."));
    CHECK(tsr_backup_sha256_valid(SHA_A));
    CHECK(!tsr_backup_sha256_valid(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    CHECK(!tsr_backup_sha256_valid(SHA_A "a"));
}

int main(void) {
    ctx = tsr_ctx_new();
    RUN(test_round_trip);
    RUN(test_plaintext_and_empty);
    RUN(test_damage_refused);
    RUN(test_cut_text_refused);
    RUN(test_snapshot_names);
    tsr_ctx_free(ctx);
    return check_finish();
}
