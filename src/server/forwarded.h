/*
 * Trusted proxies (`tessera serve --trusted-proxies`): behind a load
 * balancer every request comes from the balancer's address, so the
 * per-address rate limit would be one bucket for all anonymous clients and
 * the audit log would name the balancer. A request from a trusted proxy
 * (an address or a CIDR block of the list) is taken to come from the
 * client its X-Forwarded-For header names: walking the header's addresses
 * from the right (the ones the nearest proxies appended), the first that
 * is not itself a trusted proxy. What a client writes there itself is to
 * the left of what the proxies append, so it can name any address only
 * through an untrusted hop, which then is the answer. From any other peer
 * the header is ignored. Design notes: docs/internals/server.md.
 */
#ifndef TESSERA_SERVER_FORWARDED_H
#define TESSERA_SERVER_FORWARDED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

#define TSR_PROXIES_MAX 32 /* entries of --trusted-proxies */

typedef struct tsr_proxy_net {
    int family;       /* AF_INET or AF_INET6 */
    uint8_t addr[16]; /* network address, 4 or 16 bytes used */
    int bits;         /* prefix length */
} tsr_proxy_net;

typedef struct tsr_proxies {
    tsr_proxy_net nets[TSR_PROXIES_MAX];
    int count; /* 0 = none: X-Forwarded-For is never read */
} tsr_proxies;

/* Parses a comma-separated list of IPv4/IPv6 addresses and CIDR blocks
 * ("127.0.0.1,10.0.0.0/8,fd00::/8"); NULL or "" gives none. */
tsr_status tsr_proxies_parse(tsr_ctx *ctx, const char *list, tsr_proxies *out);
/* Whether the numeric address `addr` is one of the trusted proxies. */
bool tsr_proxies_match(const tsr_proxies *p, const char *addr);
/* The client's address into `out` (`size` >= 46): `peer` itself unless it
 * is a trusted proxy and `forwarded` (every X-Forwarded-For value of the
 * request, in order, joined by commas; NULL = none) names one as above. A
 * malformed entry ends the walk at the last good address to its right. */
void tsr_proxies_client(const tsr_proxies *p, const char *peer, const char *forwarded, char *out,
                        size_t size);

#endif
