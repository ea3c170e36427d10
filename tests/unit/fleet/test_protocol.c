/* The fleet protocol (fleet/protocol.h): one name rule that the
 * coordinator, the worker, the heartbeat and the monitor all apply alike,
 * key formats, tile keys and seal associated data. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "fleet/executor_redis.h"
#include "fleet/heartbeat.h"
#include "fleet/protocol.h"
#include "fleet/worker.h"
#include "fleet/workers_monitor.h"

/* A Redis URL nobody listens on: a valid name gets as far as connecting. */
#define NOWHERE "redis://127.0.0.1:1"

#define TEN "0123456789"
#define N64 TEN TEN TEN TEN TEN TEN "0123" /* the longest name */
#define N65 N64 "4"                        /* one byte too long */

static const char *const good_names[] = {"default", "a", "A-b_c.9", N64};
static const char *const bad_names[] = {"with:colon", "sp ace",    "slash/", "star*",
                                        "tab\t",      "\xc3\xa9t", "{x}",    N65};

static void test_name_rule(void) {
    for (size_t i = 0; i < sizeof good_names / sizeof *good_names; i++)
        CHECK(tsr_fleet_name_valid(good_names[i]));
    CHECK_EQ_INT(strlen(good_names[3]), TSR_FLEET_NAME_MAX);
    CHECK_EQ_INT(strlen(bad_names[7]), TSR_FLEET_NAME_MAX + 1);
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        CHECK(!tsr_fleet_name_valid(bad_names[i]));
    CHECK(!tsr_fleet_name_valid(""));
    CHECK(!tsr_fleet_name_valid(NULL));
}

static void test_cluster_default(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    const char *c = NULL;
    CHECK(!tsr_fleet_cluster(ctx, NULL, &c) && !strcmp(c, "default"));
    CHECK(!tsr_fleet_cluster(ctx, "", &c) && !strcmp(c, "default"));
    CHECK(!tsr_fleet_cluster(ctx, "blue", &c) && !strcmp(c, "blue"));
    CHECK_EQ_INT(tsr_fleet_cluster(ctx, "a:b", &c), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "cluster name must be 1..64 bytes");
    tsr_ctx_free(ctx);
}

/* Whether each component refuses `cluster` as a usage error (1) or gets as
 * far as Redis (0); -1 when the outcome is neither. */
static int coordinator_refuses(const char *cluster) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *e = NULL;
    tsr_redis_config cfg = {.url = NOWHERE, .cluster = cluster};
    tsr_status st = tsr_executor_redis_new(ctx, &cfg, &e);
    tsr_executor_free(e);
    tsr_ctx_free(ctx);
    return st == TSR_ERR_USAGE ? 1 : st == TSR_ERR_IO ? 0 : -1;
}

static int worker_refuses(const char *cluster) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_worker *w = NULL;
    tsr_worker_config cfg = {.url = NOWHERE, .cluster = cluster, .crash_tile = -1, .fail_tile = -1};
    tsr_status st = tsr_worker_start(ctx, &cfg, &w);
    tsr_worker_stop(w);
    tsr_ctx_free(ctx);
    return st == TSR_ERR_USAGE ? 1 : st == TSR_ERR_IO ? 0 : -1;
}

static int heartbeat_refuses(const char *cluster) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_heartbeat *hb = NULL;
    tsr_worker_info info = {.threads = 1};
    tsr_status st = tsr_heartbeat_start(ctx, NOWHERE, cluster, &info, &hb);
    tsr_heartbeat_stop(hb);
    tsr_ctx_free(ctx);
    return st == TSR_ERR_USAGE ? 1 : st == TSR_ERR_IO ? 0 : -1;
}

static int monitor_refuses(const char *cluster) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_workers_monitor *mon = NULL;
    tsr_status st = tsr_workers_monitor_start(ctx, NOWHERE, cluster, &mon);
    tsr_workers_monitor_stop(mon);
    tsr_ctx_free(ctx);
    return st == TSR_ERR_USAGE ? 1 : st == TSR_OK ? 0 : -1; /* the monitor retries in its thread */
}

static void test_components_agree(void) {
    const char *const *lists[] = {good_names, bad_names};
    size_t counts[] = {sizeof good_names / sizeof *good_names,
                       sizeof bad_names / sizeof *bad_names};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            const char *name = lists[l][i];
            int want = !tsr_fleet_name_valid(name);
            CHECK_EQ_INT(coordinator_refuses(name), want);
            CHECK_EQ_INT(worker_refuses(name), want);
            CHECK_EQ_INT(heartbeat_refuses(name), want);
            CHECK_EQ_INT(monitor_refuses(name), want);
        }
    }
}

static void test_keys(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_fleet_keys k;
    CHECK(!tsr_fleet_keys_init(ctx, "blue", &k));
    CHECK(!strcmp(k.prefix, "tessera:blue:"));
    CHECK(!strcmp(k.tasks, "tessera:blue:tasks"));
    CHECK(!strcmp(k.images, "tessera:blue:images"));
    CHECK(!strcmp(k.dead, "tessera:blue:dead"));
    CHECK(!strcmp(k.stats, "tessera:blue:stats"));
    CHECK(!strcmp(k.workers, "tessera:blue:workers"));
    char key[TSR_FLEET_KEY_MAX];
    tsr_fleet_key_of(&k, TSR_FLEET_KIND_RESULTS, "coord-1", key);
    CHECK(!strcmp(key, "tessera:blue:results:coord-1"));
    tsr_fleet_key_of(&k, TSR_FLEET_KIND_SENT, "coord-1", key);
    CHECK(!strcmp(key, "tessera:blue:sent:coord-1"));
    tsr_fleet_key_of(&k, TSR_FLEET_KIND_WORKER, "w-1", key);
    CHECK(!strcmp(key, "tessera:blue:workers:w-1"));
    CHECK(!tsr_fleet_keys_init(ctx, NULL, &k));
    CHECK(!strcmp(k.tasks, "tessera:default:tasks"));
    /* The longest names still fit: nothing is cut. */
    CHECK(!tsr_fleet_keys_init(ctx, good_names[3], &k));
    tsr_fleet_key_of(&k, TSR_FLEET_KIND_RESULTS, good_names[3], key);
    CHECK_EQ_INT(strlen(key), strlen("tessera:") + 64 + strlen(":results:") + 64);
    tsr_ctx_free(ctx);
}

static void test_tile_keys(void) {
    char key[TSR_FLEET_KEY_MAX], epoch[TSR_FLEET_EPOCH_HEX + 1];
    uint64_t seq = 0;
    int tile = -1;
    tsr_fleet_tile_key("coord-1", "0123456789abcdef", 42, 7, key);
    CHECK(!strcmp(key, "coord-1:0123456789abcdef:42:7"));
    CHECK(tsr_fleet_tile_key_parse(key, epoch, &seq, &tile));
    CHECK(!strcmp(epoch, "0123456789abcdef"));
    CHECK_EQ_INT(seq, 42);
    CHECK_EQ_INT(tile, 7);
    static const char *const bad[] = {"",
                                      "nothing",
                                      "c:e:1",
                                      ":e:1:2",
                                      "c::1:2",
                                      "c:e:x:2",
                                      "c:e:1:",
                                      "c:e:1:-2",
                                      "c:e:1:2x",
                                      "c:0123456789abcdef0:1:2",
                                      "c:e:1:99999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(!tsr_fleet_tile_key_parse(bad[i], epoch, &seq, &tile));
}

static void test_seal_ad(void) {
    char ad[TSR_FLEET_AD_MAX];
    CHECK(tsr_fleet_seal_ad(TSR_SEAL_TASK, "c:e:1:2", ad) && !strcmp(ad, "T:c:e:1:2"));
    CHECK(tsr_fleet_seal_ad(TSR_SEAL_RESULT, "k", ad) && !strcmp(ad, "R:k"));
    CHECK(tsr_fleet_seal_ad(TSR_SEAL_ERROR, "k", ad) && !strcmp(ad, "E:k"));
    CHECK(tsr_fleet_seal_ad(TSR_SEAL_DEAD, "k", ad) && !strcmp(ad, "D:k"));
    char longest[TSR_FLEET_KEY_MAX];
    memset(longest, 'k', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    CHECK(tsr_fleet_seal_ad(TSR_SEAL_TASK, longest, ad));
    char too_long[TSR_FLEET_KEY_MAX + 8];
    memset(too_long, 'k', sizeof too_long - 1);
    too_long[sizeof too_long - 1] = '\0';
    CHECK(!tsr_fleet_seal_ad(TSR_SEAL_TASK, too_long, ad) && ad[0] == '\0');
}

static void test_default_ids(void) {
    char a[TSR_FLEET_NAME_MAX + 1], b[TSR_FLEET_NAME_MAX + 1], c[TSR_FLEET_NAME_MAX + 1];
    tsr_fleet_default_id(1, a);
    tsr_fleet_default_id(1, b);
    tsr_fleet_default_id(0, c);
    CHECK(tsr_fleet_name_valid(a) && tsr_fleet_name_valid(b) && tsr_fleet_name_valid(c));
    CHECK(strcmp(a, b) != 0); /* random tails differ */
    CHECK(!strncmp(a, c, strlen(c)) && a[strlen(c)] == '-');
}

int main(void) {
    RUN(test_name_rule);
    RUN(test_cluster_default);
    RUN(test_components_agree);
    RUN(test_keys);
    RUN(test_tile_keys);
    RUN(test_seal_ad);
    RUN(test_default_ids);
    return check_finish();
}
