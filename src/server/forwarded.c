/* Trusted proxies and X-Forwarded-For (forwarded.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/forwarded.h"

#define ENTRY_MAX 64 /* bytes of one list or header entry ("addr/bits"), trimmed */

/* Copies [from, to) without surrounding blanks into out (ENTRY_MAX bytes);
 * 0 when it does not fit. */
static int trimmed(const char *from, const char *to, char *out) {
    while (from < to && (*from == ' ' || *from == '\t'))
        from++;
    while (to > from && (to[-1] == ' ' || to[-1] == '\t'))
        to--;
    if (to - from >= ENTRY_MAX)
        return 0;
    memcpy(out, from, (size_t)(to - from));
    out[to - from] = '\0';
    return 1;
}

/* A numeric address into family and bytes; 0 when it is none. */
static int parse_addr(const char *text, int *family, uint8_t addr[16]) {
    if (inet_pton(AF_INET, text, addr) == 1) {
        *family = AF_INET;
        return 1;
    }
    if (inet_pton(AF_INET6, text, addr) == 1) {
        *family = AF_INET6;
        return 1;
    }
    return 0;
}

static int parse_net(char *text, tsr_proxy_net *net) {
    char *slash = strchr(text, '/');
    if (slash)
        *slash = '\0';
    memset(net, 0, sizeof *net);
    if (!parse_addr(text, &net->family, net->addr))
        return 0;
    int max = net->family == AF_INET ? 32 : 128;
    net->bits = max;
    if (slash) {
        char *end;
        long bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || bits < 0 || bits > max)
            return 0;
        net->bits = (int)bits;
    }
    return 1;
}

tsr_status tsr_proxies_parse(tsr_ctx *ctx, const char *list, tsr_proxies *out) {
    memset(out, 0, sizeof *out);
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        char entry[ENTRY_MAX];
        if (out->count == TSR_PROXIES_MAX)
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "serve: --trusted-proxies takes at most %d entries", TSR_PROXIES_MAX);
        if (!trimmed(p, end, entry) || !parse_net(entry, &out->nets[out->count]))
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "serve: --trusted-proxies wants IP addresses or CIDR blocks "
                             "separated by commas (e.g. 10.0.0.0/8,127.0.0.1); got \"%.*s\"",
                             (int)(end - p < 80 ? end - p : 80), p);
        out->count++;
        p = comma ? comma + 1 : end;
    }
    return TSR_OK;
}

static int in_net(const tsr_proxy_net *net, int family, const uint8_t addr[16]) {
    if (net->family != family)
        return 0;
    int whole = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, addr, (size_t)whole) != 0)
        return 0;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return !rest || (net->addr[whole] & mask) == (addr[whole] & mask);
}

bool tsr_proxies_match(const tsr_proxies *p, const char *text) {
    int family;
    uint8_t addr[16];
    if (!p->count || !parse_addr(text, &family, addr))
        return false;
    for (int i = 0; i < p->count; i++)
        if (in_net(&p->nets[i], family, addr))
            return true;
    return false;
}

void tsr_proxies_client(const tsr_proxies *p, const char *peer, const char *forwarded, char *out,
                        size_t size) {
    snprintf(out, size, "%s", peer);
    if (!forwarded || !tsr_proxies_match(p, peer))
        return;
    const char *end = forwarded + strlen(forwarded);
    while (end > forwarded) {
        const char *start = end;
        while (start > forwarded && start[-1] != ',')
            start--;
        char entry[ENTRY_MAX];
        int family;
        uint8_t addr[16];
        if (!trimmed(start, end, entry) || !parse_addr(entry, &family, addr))
            return; /* malformed: the last good address stands */
        snprintf(out, size, "%s", entry);
        if (!tsr_proxies_match(p, entry))
            return;
        end = start > forwarded ? start - 1 : start;
    }
}
