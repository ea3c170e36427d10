/* Sizes in the units people read: "289 MP", "536.9 MB" (decimal: 1 MP is
 * 10^6 pixels, 1 MB 10^6 bytes), for limit messages that the API, the CLI
 * and the web page show as they are (docs/internals/util.md). */
#ifndef TESSERA_UTIL_UNITS_H
#define TESSERA_UTIL_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* What a count measures. */
typedef enum tsr_unit {
    TSR_UNIT_PIXELS, /* "pixels" (below 10^6), "MP", "GP" */
    TSR_UNIT_BYTES   /* "bytes", "kB", "MB", "GB" */
} tsr_unit;

/* Room for one formatted size, NUL included. */
#define TSR_UNITS_TEXT 32

/* Writes `value` and `limit` into `value_text` and `limit_text` (each
 * TSR_UNITS_TEXT bytes) in the same unit, with as many decimals (0..6) as
 * it takes for two different counts to read differently: 289000000 and
 * 268435456 pixels give "289 MP" and "268 MP", 268435457 and 268435456
 * "268.435457 MP" and "268.435456 MP". */
void tsr_units_pair(tsr_unit unit, uint64_t value, uint64_t limit, char *value_text,
                    char *limit_text);

/* Writes `value` alone into `text` (TSR_UNITS_TEXT bytes): "512 MB". */
void tsr_units_format(tsr_unit unit, uint64_t value, char *text);

#endif
