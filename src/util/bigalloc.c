/* Large buffers on transparent huge pages (see bigalloc.h). */
#include "util/bigalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
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

/* Mappings freed lately, kept for the next buffer of the same size: a
 * long-lived process (the server, a benchmark loop) that makes image after
 * image of one size then reuses them with a memset instead of faulting in
 * (and the kernel zeroing) fresh pages each time, as glibc's heap would.
 * At most CACHE_SLOTS mappings and CACHE_BYTES in all stay mapped idle;
 * a new one pushes out the oldest. */
#define CACHE_SLOTS 4
#define CACHE_BYTES ((size_t)256 << 20)

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *p;
    size_t len;
    unsigned long stamp; /* when it was kept: the oldest goes first */
} cache[CACHE_SLOTS];
static size_t cache_total;
static unsigned long cache_clock;

/* A cached mapping of exactly `len` bytes, or NULL. */
static void *cache_take(size_t len) {
    void *p = NULL;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < CACHE_SLOTS && !p; i++)
        if (cache[i].p && cache[i].len == len) {
            p = cache[i].p;
            cache[i].p = NULL;
            cache_total -= len;
        }
    pthread_mutex_unlock(&cache_lock);
    return p;
}

/* The slot of the oldest cached mapping, -1 when none. Call locked. */
static int cache_oldest(void) {
    int old = -1;
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].p && (old < 0 || cache[i].stamp < cache[old].stamp))
            old = i;
    return old;
}

/* Keeps mapping p of `len` bytes for reuse, unmapping the oldest kept ones
 * when the slots or the bytes are full (a process that moves on to images
 * of another size keeps reusing instead of faulting in every buffer); 0
 * when `len` alone is more than the cache holds. */
static int cache_put(void *p, size_t len) {
    if (len > CACHE_BYTES)
        return 0;
    void *drop[CACHE_SLOTS];
    size_t drop_len[CACHE_SLOTS];
    int n_drop = 0, slot = -1;
    pthread_mutex_lock(&cache_lock);
    for (;;) {
        for (int i = 0; i < CACHE_SLOTS && slot < 0; i++)
            if (!cache[i].p)
                slot = i;
        if (slot >= 0 && cache_total + len <= CACHE_BYTES)
            break;
        int old = cache_oldest(); /* there is one: the cache is not empty */
        drop[n_drop] = cache[old].p;
        drop_len[n_drop++] = cache[old].len;
        cache_total -= cache[old].len;
        cache[old].p = NULL;
    }
    cache[slot].p = p;
    cache[slot].len = len;
    cache[slot].stamp = ++cache_clock;
    cache_total += len;
    pthread_mutex_unlock(&cache_lock);
    for (int i = 0; i < n_drop; i++) /* outside the lock */
        munmap(drop[i], drop_len[i]);
    return 1;
}

/* Under the sanitizers an overwritten buffer starts as 0xA5 bytes, so a
 * caller that reads before writing (an op that counted on zeroes) fails
 * the tests of the sanitizer build instead of working by luck. */
static void *plain_alloc(size_t bytes, int zeroed) {
#ifdef PLAIN_ONLY
    if (!zeroed) {
        void *p = malloc(bytes ? bytes : 1);
        return p ? memset(p, 0xA5, bytes ? bytes : 1) : NULL;
    }
#endif
    (void)zeroed;
    return calloc(1, bytes ? bytes : 1);
}

static void *big_alloc(size_t bytes, int zeroed) {
    if (!mapped(bytes))
        return plain_alloc(bytes, zeroed);
    size_t len = round_up(bytes), span = len + HUGE_PAGE;
    uint8_t *reused = cache_take(len);
    if (reused) {
        if (zeroed)
            memset(reused, 0, bytes);
        return reused;
    }
    /* map a huge page more than needed, keep the 2 MiB aligned part */
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

void *tsr_big_alloc(size_t bytes) {
    return big_alloc(bytes, 1);
}

void *tsr_big_alloc_overwritten(size_t bytes) {
    return big_alloc(bytes, 0);
}

void tsr_big_free(void *p, size_t bytes) {
    if (!p)
        return;
    if (!mapped(bytes))
        free(p);
    else if (!cache_put(p, round_up(bytes)))
        munmap(p, round_up(bytes));
}
