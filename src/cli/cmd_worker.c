/* tessera worker: joins a Redis fleet and computes tiles until SIGTERM or
 * SIGINT, which drain it (no new tasks; the current ones are finished and
 * posted) before it exits 0. A second signal exits at once. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "fleet/worker.h"

static void worker_usage(FILE *f) {
    fprintf(f, "usage: tessera worker --redis URL [--threads N] [--cluster NAME] [--backend cpu]\n"
               "                      [--lease-ms MS] [--delivery-limit N] [--block-ms MS]\n"
               "                      [--compress LEVEL (zstd 1..19, 0 = raw; default 1)]\n"
               "                      [--cluster-key FILE (64 hex digits or 32 bytes, mode 600;\n"
               "                       default $TESSERA_CLUSTER_KEY_FILE; none = unsealed)]\n"
               "  TESSERA_TEST_CRASH_TILE=N (tests only) aborts the worker when it is about to\n"
               "  run tile N of any stage, to test the dead stream.\n"
               "  TESSERA_TEST_FAIL_TILE=N (tests only) reports tile N of any stage as failed\n"
               "  (an error result) instead of running it.\n");
}

static int parse_args(int argc, char **argv, tsr_worker_config *c, const char **key_path) {
    memset(c, 0, sizeof *c);
    *key_path = getenv("TESSERA_CLUSTER_KEY_FILE");
    if (*key_path && !**key_path)
        *key_path = NULL;
    c->crash_tile = -1;
    c->fail_tile = -1;
    c->compress_level = INT_MIN; /* not given */
    c->heartbeat = 1;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) {
            fprintf(stderr, "tessera worker: %s needs a value\n", opt);
            return 0;
        }
        i++;
        int ok = 1;
        if (!strcmp(opt, "--redis"))
            c->url = val;
        else if (!strcmp(opt, "--cluster"))
            c->cluster = val;
        else if (!strcmp(opt, "--cluster-key"))
            *key_path = val;
        else if (!strcmp(opt, "--backend"))
            c->backend = val;
        else if (!strcmp(opt, "--threads"))
            ok = cli_parse_int(val, 0, 1024, &c->threads);
        else if (!strcmp(opt, "--lease-ms"))
            ok = cli_parse_int(val, 100, 86400000, &c->lease_ms);
        else if (!strcmp(opt, "--delivery-limit"))
            ok = cli_parse_int(val, 1, 1000, &c->delivery_limit);
        else if (!strcmp(opt, "--block-ms"))
            ok = cli_parse_int(val, 10, 60000, &c->block_ms);
        else if (!strcmp(opt, "--compress"))
            ok = cli_parse_int(val, 0, 19, &c->compress_level);
        else {
            fprintf(stderr, "tessera worker: unknown option %s\n", opt);
            return 0;
        }
        if (!ok) {
            fprintf(stderr, "tessera worker: bad value for %s: %s\n", opt, val);
            return 0;
        }
    }
    if (!c->url) {
        fprintf(stderr, "tessera worker: --redis URL is required\n");
        return 0;
    }
    if (c->compress_level == 0) /* --compress 0: raw; the config's 0 means the default */
        c->compress_level = -1;
    else if (c->compress_level == INT_MIN)
        c->compress_level = 0;
    const char *crash = getenv("TESSERA_TEST_CRASH_TILE");
    if (crash && *crash && !cli_parse_int(crash, 0, 1 << 30, &c->crash_tile)) {
        fprintf(stderr, "tessera worker: bad TESSERA_TEST_CRASH_TILE=%s\n", crash);
        return 0;
    }
    const char *fail = getenv("TESSERA_TEST_FAIL_TILE");
    if (fail && *fail && !cli_parse_int(fail, 0, 1 << 30, &c->fail_tile)) {
        fprintf(stderr, "tessera worker: bad TESSERA_TEST_FAIL_TILE=%s\n", fail);
        return 0;
    }
    return 1;
}

int cmd_worker(int argc, char **argv) {
    tsr_worker_config cfg;
    tsr_cluster_key key;
    const char *key_path = NULL;
    if (!parse_args(argc, argv, &cfg, &key_path)) {
        worker_usage(stderr);
        return EXIT_USAGE;
    }
    /* Signals are taken by sigwait below; the worker threads inherit the mask. */
    sigset_t stop;
    cli_block_stop_signals(&stop);
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_worker *w = NULL;
    if (!ctx)
        return EXIT_INTERNAL;
    tsr_status st = TSR_OK;
    if (key_path && !(st = tsr_cluster_key_load(ctx, key_path, &key)))
        cfg.key = &key;
    else if (!key_path)
        fprintf(stderr,
                "tessera worker: warning: no --cluster-key, tile payloads are not sealed\n");
    if (!st)
        st = tsr_worker_start(ctx, &cfg, &w);
    if (st) {
        fprintf(stderr, "tessera worker: %s\n", tsr_ctx_message(ctx));
        tsr_ctx_free(ctx);
        return cli_exit_code(st);
    }
    printf("tessera worker %s: joined %s as %s with %d threads\n", TESSERA_VERSION, cfg.url,
           tsr_worker_id(w), cfg.threads);
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "tessera worker: draining (signal %d)\n", sig);
    tsr_worker_drain(w);
    /* A second signal while draining exits at once. */
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    tsr_worker_stats s;
    tsr_worker_get_stats(w, &s);
    tsr_worker_stop(w);
    fprintf(stderr,
            "tessera worker: stopped after %llu tiles (%llu failed, %llu taken over, %llu "
            "rejected)\n",
            (unsigned long long)s.tiles_done, (unsigned long long)s.failures,
            (unsigned long long)s.reclaimed, (unsigned long long)s.rejected);
    tsr_ctx_free(ctx);
    return EXIT_OK;
}
