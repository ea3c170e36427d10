/* Random bytes and hex ids (util/random.h). */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "util/hex.h"
#include "util/random.h"

tsr_status tsr_random_bytes(tsr_ctx *ctx, void *buf, size_t len) {
    unsigned char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = getrandom(p + done, len - done, 0);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        int err = n < 0 ? errno : EIO;
        explicit_bzero(buf, len);
        return tsr_error(ctx, TSR_ERR_INTERNAL, "random: getrandom failed: %s", strerror(err));
    }
    return TSR_OK;
}

tsr_status tsr_random_hex(tsr_ctx *ctx, char *out, size_t digits) {
    unsigned char raw[32];
    char hex[2 * sizeof raw + 1];
    tsr_status st = TSR_OK;
    size_t at = 0;
    while (at < digits) {
        size_t take = digits - at < 2 * sizeof raw ? digits - at : 2 * sizeof raw;
        size_t bytes = (take + 1) / 2;
        if ((st = tsr_random_bytes(ctx, raw, bytes)))
            break;
        tsr_hex_encode(hex, raw, bytes);
        memcpy(out + at, hex, take);
        at += take;
    }
    out[st ? 0 : digits] = '\0';
    explicit_bzero(raw, sizeof raw); /* a token's digits are secret: leave no copy behind */
    explicit_bzero(hex, sizeof hex);
    return st;
}
