/* The fleet's key names, name rules and tile keys (see protocol.h). */
#include "fleet/protocol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/random.h"

static const char name_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";

int tsr_fleet_name_valid(const char *s) {
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= TSR_FLEET_NAME_MAX && strspn(s, name_chars) == n;
}

tsr_status tsr_fleet_cluster(tsr_ctx *ctx, const char *cluster, const char **out) {
    if (!cluster || !*cluster)
        cluster = TSR_FLEET_DEFAULT_CLUSTER;
    *out = cluster;
    if (!tsr_fleet_name_valid(cluster))
        return tsr_error(ctx, TSR_ERR_USAGE, "cluster name must be 1..%d bytes of [A-Za-z0-9._-]",
                         TSR_FLEET_NAME_MAX);
    return TSR_OK;
}

void tsr_fleet_default_id(int random_suffix, char out[TSR_FLEET_NAME_MAX + 1]) {
    char host[33] = "";
    if (gethostname(host, sizeof host - 1))
        host[0] = '\0';
    host[32] = '\0';
    for (char *p = host; *p; p++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-", *p))
            *p = '-';
    char tail[12] = "", hex[9];
    if (random_suffix && !tsr_random_hex(NULL, hex, 8))
        snprintf(tail, sizeof tail, "-%s", hex);
    snprintf(out, TSR_FLEET_NAME_MAX + 1, "%s-%ld%s", host[0] ? host : "host", (long)getpid(),
             tail);
}

tsr_status tsr_fleet_keys_init(tsr_ctx *ctx, const char *cluster, tsr_fleet_keys *out) {
    memset(out, 0, sizeof *out);
    tsr_status st = tsr_fleet_cluster(ctx, cluster, &cluster);
    if (st)
        return st;
    snprintf(out->cluster, sizeof out->cluster, "%s", cluster);
    const char *c = out->cluster;
    snprintf(out->prefix, sizeof out->prefix, "%s:%s:", TSR_FLEET_KEY_PREFIX, c);
    snprintf(out->tasks, sizeof out->tasks, "%s:%s:tasks", TSR_FLEET_KEY_PREFIX, c);
    snprintf(out->images, sizeof out->images, "%s:%s:images", TSR_FLEET_KEY_PREFIX, c);
    snprintf(out->dead, sizeof out->dead, "%s:%s:dead", TSR_FLEET_KEY_PREFIX, c);
    snprintf(out->stats, sizeof out->stats, "%s:%s:stats", TSR_FLEET_KEY_PREFIX, c);
    snprintf(out->workers, sizeof out->workers, "%s:%s:workers", TSR_FLEET_KEY_PREFIX, c);
    return TSR_OK;
}

void tsr_fleet_key_of(const tsr_fleet_keys *keys, const char *kind, const char *id,
                      char out[TSR_FLEET_KEY_MAX]) {
    snprintf(out, TSR_FLEET_KEY_MAX, "%s:%s:%s:%s", TSR_FLEET_KEY_PREFIX, keys->cluster, kind, id);
}

void tsr_fleet_tile_key(const char *coord, const char *epoch, uint64_t seq, int tile,
                        char out[TSR_FLEET_KEY_MAX]) {
    snprintf(out, TSR_FLEET_KEY_MAX, "%s:%s:%llu:%d", coord, epoch, (unsigned long long)seq, tile);
}

int tsr_fleet_tile_key_parse(const char *key, char epoch[TSR_FLEET_EPOCH_HEX + 1], uint64_t *seq,
                             int *tile) {
    const char *c3 = strrchr(key, ':');
    if (!c3 || c3 == key)
        return 0;
    const char *c2 = c3 - 1;
    while (c2 > key && *c2 != ':')
        c2--;
    const char *c1 = c2 - 1;
    while (c1 > key && *c1 != ':')
        c1--;
    size_t epoch_len = (size_t)(c2 - c1 - 1);
    if (*c2 != ':' || *c1 != ':' || c1 == key || epoch_len < 1 || epoch_len > TSR_FLEET_EPOCH_HEX)
        return 0;
    memcpy(epoch, c1 + 1, epoch_len);
    epoch[epoch_len] = '\0';
    if (c2[1] < '0' || c2[1] > '9' || c3[1] < '0' || c3[1] > '9')
        return 0;
    char *end;
    *seq = strtoull(c2 + 1, &end, 10);
    if (end != c3)
        return 0;
    long t = strtol(c3 + 1, &end, 10);
    if (*end || t < 0 || t > 1 << 30)
        return 0;
    *tile = (int)t;
    return 1;
}

int tsr_fleet_seal_ad(tsr_seal_tag tag, const char *key, char out[TSR_FLEET_AD_MAX]) {
    int n = snprintf(out, TSR_FLEET_AD_MAX, "%c:%s", (char)tag, key);
    if (n < 0 || n >= TSR_FLEET_AD_MAX) {
        out[0] = '\0';
        return 0;
    }
    return 1;
}
