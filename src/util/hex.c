/* Hex encode and decode (util/hex.h). The digit arithmetic is libsodium's
 * (sodium_bin2hex, sodium_hex2bin): masks instead of branches. */
#include <string.h>

#include "util/hex.h"

/* The lowercase digit of nibble `n` (0..15) without a branch: '0' + n,
 * plus 39 more ('a' - '0' - 10) when n >= 10. */
static char digit(unsigned n) {
    return (char)(87U + n + (((n - 10U) >> 8) & ~38U));
}

/* The value of hex digit `c`, or 0x100 or more when `c` is not one. */
static unsigned value(unsigned char c) {
    unsigned num = c ^ 48U;                       /* '0'..'9' -> 0..9 */
    unsigned num_ok = ((num - 10U) >> 8) & 0xffU; /* 0xff when num < 10 */
    unsigned alpha = (c & ~32U) - 55U;            /* 'A'..'F', 'a'..'f' -> 10..15 */
    unsigned alpha_ok = (((alpha - 10U) ^ (alpha - 16U)) >> 8) & 0xffU; /* 10 <= alpha < 16 */
    unsigned bad = ((num_ok | alpha_ok) ^ 0xffU) << 8;                  /* 0xff00 when neither */
    return (num_ok & num) | (alpha_ok & alpha) | bad;
}

void tsr_hex_encode(char *out, const void *bytes, size_t len) {
    const uint8_t *b = bytes;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digit(b[i] >> 4);
        out[2 * i + 1] = digit(b[i] & 0xfU);
    }
    out[2 * len] = '\0';
}

tsr_status tsr_hex_decode(const char *hex, size_t hex_len, uint8_t *out, size_t out_size,
                          size_t *out_len) {
    if (out_len)
        *out_len = 0;
    if (hex_len % 2 || hex_len / 2 > out_size)
        return TSR_ERR_USAGE;
    unsigned bad = 0;
    for (size_t i = 0; i < hex_len / 2; i++) {
        unsigned hi = value((unsigned char)hex[2 * i]), lo = value((unsigned char)hex[2 * i + 1]);
        bad |= hi | lo;
        out[i] = (uint8_t)((hi << 4) | (lo & 0xfU));
    }
    if (bad >> 8) {
        memset(out, 0, hex_len / 2);
        return TSR_ERR_USAGE;
    }
    if (out_len)
        *out_len = hex_len / 2;
    return TSR_OK;
}

bool tsr_hex_is_lower(const char *s, size_t digits) {
    if (!s)
        return false;
    for (size_t i = 0; i < digits; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[digits] == '\0';
}
