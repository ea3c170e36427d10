/* Large buffers on transparent huge pages (see bigalloc.h). */
#include "util/bigalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

#if defined(__SANITIZE_ADDRESS__)
#define PLAIN_ONLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PLAIN_ONLY 1
#endif
#endif

static size_t round_up(size_t n) {
    return (n + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
}

static int mapped(size_t bytes) {
#ifdef PLAIN_ONLY
    (void)bytes;
    return 0;
#else
    return bytes >= TSR_BIG_MIN && bytes <= SIZE_MAX - 2 * HUGE_PAGE;
#endif
}

void *tsr_big_alloc(size_t bytes) {
    if (!mapped(bytes))
        return calloc(1, bytes ? bytes : 1);
    /* map a huge page more than needed, keep the 2 MiB aligned part */
    size_t len = round_up(bytes), span = len + HUGE_PAGE;
    uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + span > p + len)
        munmap(p + len, (size_t)(raw + span - (p + len)));
#ifdef MADV_HUGEPAGE
    madvise(p, len, MADV_HUGEPAGE); /* a hint: without THP the pages stay small */
#endif
    return p;
}

void tsr_big_free(void *p, size_t bytes) {
    if (!p)
        return;
    if (!mapped(bytes))
        free(p);
    else
        munmap(p, round_up(bytes));
}
