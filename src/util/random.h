/* Random bytes and random hex ids from the kernel's CSPRNG (getrandom(2)):
 * ids, tokens, nonces and key material alike (docs/internals/util.md). */
#ifndef TESSERA_UTIL_RANDOM_H
#define TESSERA_UTIL_RANDOM_H

#include <stddef.h>

#include "tessera/status.h"

/* Fills `buf` with `len` random bytes. Blocks only until the kernel's pool
 * is first initialised (early boot). Returns TSR_ERR_INTERNAL with a
 * message on `ctx` when the kernel refuses (no getrandom); `buf` is then
 * zeroed, never left half random. */
tsr_status tsr_random_bytes(tsr_ctx *ctx, void *buf, size_t len);

/* Writes `digits` random lowercase hex digits and a NUL into `out` (which
 * holds digits + 1 bytes): 4 random bits a digit. Errors as
 * tsr_random_bytes; `out` is then "". */
tsr_status tsr_random_hex(tsr_ctx *ctx, char *out, size_t digits);

#endif
