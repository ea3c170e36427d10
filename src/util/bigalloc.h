/* Large pixel buffers (whole images, row windows) on transparent huge
 * pages where the kernel offers them (madvise mode): one page fault per
 * 2 MiB instead of one per 4 KiB. First-touch faults are a large part of
 * a short run's time, more so in a virtual machine, where each is a trap
 * to the hypervisor. docs/internals/engine.md. */
#ifndef TESSERA_UTIL_BIGALLOC_H
#define TESSERA_UTIL_BIGALLOC_H

#include <stddef.h>

/* Buffers from this size on are mapped on their own, 2 MiB aligned. */
#define TSR_BIG_MIN ((size_t)4 << 20)

/* `bytes` zeroed bytes (at least 1), or NULL when out of memory. Under
 * AddressSanitizer, and below TSR_BIG_MIN, plain calloc (ASan's redzones
 * catch overruns of heap buffers only). */
void *tsr_big_alloc(size_t bytes);

/* The same for a buffer the caller overwrites in full: a reused mapping is
 * not zeroed (it holds an earlier buffer's bytes of this process); a
 * fresh one is zero anyway. */
void *tsr_big_alloc_overwritten(size_t bytes);

/* Frees a tsr_big_alloc buffer of the same `bytes`; NULL is a no-op. A few
 * freed mappings (at most 4, 256 MiB) stay mapped for the next buffer of
 * the same size, which is then zeroed with memset instead of faulted in. */
void tsr_big_free(void *p, size_t bytes);

#endif
