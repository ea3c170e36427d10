/* Random ids and hex (src/util/random.h, src/util/hex.h): lengths,
 * charset, two ids differ, round trips, and strict decoding. */
#include <stdint.h>

#include "check.h"
#include "util/hex.h"
#include "util/random.h"

static void test_random_bytes_fill(void) {
    uint8_t a[64] = {0}, b[64] = {0};
    CHECK_EQ_INT(tsr_random_bytes(NULL, a, sizeof a), TSR_OK);
    CHECK_EQ_INT(tsr_random_bytes(NULL, b, sizeof b), TSR_OK);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_EQ_INT(tsr_random_bytes(NULL, a, 0), TSR_OK);
    size_t big = 1 << 20; /* more than one getrandom call may return */
    uint8_t *p = calloc(1, big);
    CHECK_EQ_INT(tsr_random_bytes(NULL, p, big), TSR_OK);
    size_t zeros = 0;
    for (size_t i = 0; i < big; i++)
        zeros += p[i] == 0;
    CHECK(zeros < big / 128); /* about 1/256 expected */
    free(p);
}

static void test_random_hex_length_and_charset(void) {
    static const size_t lengths[] = {0, 1, 7, 8, 32, 64, 65, 200};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t n = lengths[i];
        char id[256];
        memset(id, 'x', sizeof id);
        CHECK_EQ_INT(tsr_random_hex(NULL, id, n), TSR_OK);
        CHECK_EQ_INT(strlen(id), n);
        CHECK(tsr_hex_is_lower(id, n));
        CHECK_EQ_INT(strspn(id, "0123456789abcdef"), n);
    }
}

static void test_two_ids_differ(void) {
    char a[33], b[33];
    CHECK_EQ_INT(tsr_random_hex(NULL, a, 32), TSR_OK);
    CHECK_EQ_INT(tsr_random_hex(NULL, b, 32), TSR_OK);
    CHECK(strcmp(a, b) != 0);
}

static void test_hex_round_trip(void) {
    uint8_t bytes[256], back[256];
    char hex[2 * sizeof bytes + 1];
    for (int i = 0; i < 256; i++)
        bytes[i] = (uint8_t)i;
    tsr_hex_encode(hex, bytes, sizeof bytes);
    CHECK_EQ_INT(strlen(hex), 512);
    CHECK(!strncmp(hex, "000102", 6));
    CHECK(!strcmp(hex + 500, "fafbfcfdfeff"));
    size_t len = 0;
    CHECK_EQ_INT(tsr_hex_decode(hex, strlen(hex), back, sizeof back, &len), TSR_OK);
    CHECK_EQ_INT(len, 256);
    CHECK(!memcmp(bytes, back, sizeof bytes));
    tsr_hex_encode(hex, bytes, 0);
    CHECK(!strcmp(hex, ""));
    CHECK_EQ_INT(tsr_hex_decode("", 0, back, 0, &len), TSR_OK);
    CHECK_EQ_INT(len, 0);
}

static void test_hex_decode_accepts_upper_case(void) {
    uint8_t out[4];
    CHECK_EQ_INT(tsr_hex_decode("DEADbeef", 8, out, sizeof out, NULL), TSR_OK);
    CHECK(out[0] == 0xde && out[1] == 0xad && out[2] == 0xbe && out[3] == 0xef);
}

static void test_hex_decode_refuses(void) {
    uint8_t out[8];
    size_t len = 99;
    CHECK_EQ_INT(tsr_hex_decode("abc", 3, out, sizeof out, &len), TSR_ERR_USAGE); /* odd */
    CHECK_EQ_INT(len, 0);
    static const char *bad[] = {"0g", "g0", "0 ", " 0", "0x", "/0", ":0", "@0", "G0", "`0", "0\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(tsr_hex_decode(bad[i], 2, out, sizeof out, NULL), TSR_ERR_USAGE);
    CHECK_EQ_INT(tsr_hex_decode("00\0"
                                "0",
                                4, out, sizeof out, NULL),
                 TSR_ERR_USAGE);
    memset(out, 0x55, sizeof out);
    CHECK_EQ_INT(tsr_hex_decode("0102zz", 6, out, sizeof out, NULL), TSR_ERR_USAGE);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 0); /* nothing half decoded is left */
    CHECK_EQ_INT(tsr_hex_decode("000102", 6, out, 2, NULL), TSR_ERR_USAGE); /* too long */
    for (int c = 1; c < 256; c++) { /* every byte: a digit exactly when it is one */
        char two[2] = {'0', (char)c};
        int is_digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        CHECK_EQ_INT(tsr_hex_decode(two, 2, out, sizeof out, NULL) == TSR_OK, is_digit);
    }
}

static void test_hex_is_lower(void) {
    CHECK(tsr_hex_is_lower("0123456789abcdef", 16));
    CHECK(!tsr_hex_is_lower("0123456789abcdef", 15)); /* longer than asked */
    CHECK(!tsr_hex_is_lower("0123456789abcde", 16));  /* shorter */
    CHECK(!tsr_hex_is_lower("0123456789ABCDEF", 16)); /* ids are lowercase */
    CHECK(!tsr_hex_is_lower("0123456789abcdeg", 16));
    CHECK(!tsr_hex_is_lower(NULL, 0));
    CHECK(tsr_hex_is_lower("", 0));
}

int main(void) {
    RUN(test_random_bytes_fill);
    RUN(test_random_hex_length_and_charset);
    RUN(test_two_ids_differ);
    RUN(test_hex_round_trip);
    RUN(test_hex_decode_accepts_upper_case);
    RUN(test_hex_decode_refuses);
    RUN(test_hex_is_lower);
    return check_finish();
}
