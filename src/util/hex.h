/* Hex encoding and strict decoding, in constant time for a given length
 * (no branch or table lookup depends on a byte's value), so the same code
 * serves ids and secret keys (docs/internals/util.md). */
#ifndef TESSERA_UTIL_HEX_H
#define TESSERA_UTIL_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

/* Writes the `len` bytes of `bytes` as 2 * len lowercase hex digits and a
 * NUL into `out` (which holds 2 * len + 1 bytes). */
void tsr_hex_encode(char *out, const void *bytes, size_t len);

/* Decodes the `hex_len` characters of `hex` (upper or lower case) into
 * `out` (room for `out_size` bytes); *out_len (may be NULL) receives
 * hex_len / 2. Strict: refuses an odd length, any character that is not a
 * hex digit (whitespace included) and output larger than out_size, with
 * TSR_ERR_USAGE and no message (the caller names what was wrong); `out` is
 * then zeroed. */
tsr_status tsr_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_size,
                          size_t *out_len);

/* Whether `s` is exactly `digits` lowercase hex digits followed by a NUL
 * (the form of ids and tokens). Reads no further than the first byte that
 * is not a digit. */
bool tsr_hex_is_lower(const char *s, size_t digits);

#endif
