/* Large buffers (util/bigalloc.c): zeroed (reused ones too) unless asked
 * for as overwritten, writable end
 * to end, 2 MiB aligned from TSR_BIG_MIN on (except under
 * AddressSanitizer, where they are plain heap blocks), and freed with the
 * size they were made with. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "util/bigalloc.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void check_buffer(size_t bytes) {
    uint8_t *p = tsr_big_alloc(bytes);
    CHECK(p != NULL);
    if (!p)
        return;
    size_t nonzero = 0;
    for (size_t i = 0; i < bytes; i += 4093)
        nonzero += p[i] != 0;
    CHECK(p[bytes - 1] == 0 && nonzero == 0);
    memset(p, 0xa5, bytes); /* every byte is ours */
    CHECK(p[0] == 0xa5 && p[bytes - 1] == 0xa5);
#ifndef UNDER_ASAN
    if (bytes >= TSR_BIG_MIN)
        CHECK(((uintptr_t)p & ((2u << 20) - 1)) == 0);
#endif
    tsr_big_free(p, bytes);
}

static void test_sizes(void) {
    check_buffer(1);
    check_buffer(4096);
    check_buffer(TSR_BIG_MIN - 1);
    check_buffer(TSR_BIG_MIN);
    check_buffer(TSR_BIG_MIN + 12345);     /* not a multiple of 2 MiB */
    check_buffer((size_t)3840 * 2160 * 3); /* a UHD RGB image */
    for (int i = 0; i < 8; i++)            /* mapped and unmapped again */
        check_buffer((size_t)(9 + i) << 20);
}

/* A freed mapping is kept for the next buffer of its size, which must
 * come zeroed although the last user filled it. */
static void test_reuse(void) {
    size_t bytes = (size_t)3840 * 2160 * 3;
    for (int i = 0; i < 3; i++)
        check_buffer(bytes);
    void *a = tsr_big_alloc(bytes), *b = tsr_big_alloc(bytes); /* two at once */
    CHECK(a && b && a != b);
    tsr_big_free(a, bytes);
    tsr_big_free(b, bytes);
    for (int i = 0; i < 6; i++) /* more than the cache holds, all of 200 MiB */
        check_buffer((size_t)200 << 20);
}

/* An overwritten buffer is usable end to end and may hold an earlier
 * buffer's bytes (under ASan it starts as 0xA5 bytes); the zeroed buffer
 * made after it from the same mapping is zeroed again. */
static void test_overwritten(void) {
    size_t sizes[] = {100, (size_t)3840 * 2160 * 3};
    for (size_t k = 0; k < 2; k++) {
        size_t bytes = sizes[k];
        uint8_t *p = tsr_big_alloc_overwritten(bytes);
        CHECK(p != NULL);
        if (!p)
            continue;
#ifdef UNDER_ASAN
        CHECK(p[0] == 0xa5 && p[bytes - 1] == 0xa5);
#endif
        memset(p, 0x5a, bytes);
        CHECK(p[bytes - 1] == 0x5a);
        tsr_big_free(p, bytes);
        check_buffer(bytes);
    }
}

/* A full cache (four mappings of one size) still keeps a buffer of
 * another size, pushing out the oldest: the next buffer of that size is
 * the same mapping, bytes and all (a fresh one would be zero). */
static void test_full_cache_keeps_the_newest(void) {
#ifndef UNDER_ASAN
    size_t small = (size_t)8 << 20, other = (size_t)12 << 20;
    void *keep[4];
    for (int i = 0; i < 4; i++)
        keep[i] = tsr_big_alloc(small);
    for (int i = 0; i < 4; i++)
        tsr_big_free(keep[i], small);
    uint8_t *a = tsr_big_alloc(other);
    CHECK(a != NULL);
    if (a)
        memset(a, 0x5a, other);
    tsr_big_free(a, other);
    uint8_t *b = tsr_big_alloc_overwritten(other); /* kept: still holds a's bytes */
    CHECK(b == a && b[0] == 0x5a && b[other - 1] == 0x5a);
    tsr_big_free(b, other);
    check_buffer(small); /* three of the small ones are still there, zeroed on reuse */
#endif
}

static void test_edges(void) {
    tsr_big_free(NULL, TSR_BIG_MIN); /* a no-op */
    uint8_t *one = tsr_big_alloc(0); /* at least one byte */
    CHECK(one != NULL);
    tsr_big_free(one, 0);
}

int main(void) {
    RUN(test_sizes);
    RUN(test_edges);
    RUN(test_reuse);
    RUN(test_overwritten);
    RUN(test_full_cache_keeps_the_newest);
    return check_finish();
}
