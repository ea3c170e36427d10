/* tessera worker: joins a Redis fleet and computes tiles (and, with
 * --store, whole images from the blob store to the blob store) until
 * SIGTERM or SIGINT, which drain it (no new tasks; the current ones are
 * finished and posted) before it exits 0. A second signal exits at once. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_backend.h"
#include "fleet/worker.h"
#include "service/image_task.h"

/* The image side of a worker (--store): the blob store and the pool. */
typedef struct image_side {
    const char *work_dir;   /* --work-dir; NULL = a fresh folder under $TMPDIR */
    char made_dir[4096];    /* the folder made when none was given ("" = none) */
    tsr_store_options opts; /* --store, --s3-endpoint, --data-key */
    tsr_store *store;       /* opened blobs-only */
    tsr_executor *pool;     /* runs image tasks' tiles */
    tsr_image_runner runner;
    cli_backend backend; /* --backend, --device: where tiles and images compute */
} image_side;

static void worker_usage(FILE *f) {
    fprintf(f, "usage: tessera worker --redis URL [--threads N] [--cluster NAME]\n"
               "                      [--backend cpu|opencl|auto] [--device N]\n"
               "                      [--lease-ms MS] [--delivery-limit N] [--block-ms MS]\n"
               "                      [--compress LEVEL (zstd 1..19, 0 = raw; default 1)]\n"
               "                      [--cluster-key FILE (64 hex digits or 32 bytes, mode 600;\n"
               "                       default $TESSERA_CLUSTER_KEY_FILE; none = unsealed)]\n"
               "                      [--store s3://BUCKET[/PREFIX]|file:DIR [--s3-endpoint URL]\n"
               "                       [--data-key FILE] [--image-threads N] [--work-dir DIR]]\n"
               "  With --store (the coordinators' blob store) it also takes image tasks: a\n"
               "  whole image read from the store, processed and written back.\n"
               "  TESSERA_TEST_CRASH_TILE=N (tests only) aborts the worker when it is about to\n"
               "  run tile N of any stage, to test the dead stream.\n"
               "  TESSERA_TEST_FAIL_TILE=N (tests only) reports tile N of any stage as failed\n"
               "  (an error result) instead of running it.\n");
}

static int parse_args(int argc, char **argv, tsr_worker_config *c, const char **key_path,
                      image_side *img) {
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
        else if (!strcmp(opt, "--backend") || !strcmp(opt, "--device"))
            ok = cli_backend_option("worker", opt, val, &img->backend) > 0;
        else if (!strcmp(opt, "--store"))
            img->opts.store_url = val;
        else if (!strcmp(opt, "--s3-endpoint"))
            img->opts.s3_endpoint = val;
        else if (!strcmp(opt, "--data-key"))
            img->opts.data_key_file = val;
        else if (!strcmp(opt, "--work-dir"))
            img->work_dir = val;
        else if (!strcmp(opt, "--image-threads"))
            ok = cli_parse_int(val, 1, 1024, &c->image_threads);
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

/* With --store: opens the store (blobs only) in the work folder and
 * starts the pool image tasks run on. */
static tsr_status image_side_start(tsr_ctx *ctx, image_side *s, tsr_worker_config *cfg) {
    if (!s->opts.store_url)
        return TSR_OK;
    const char *dir = s->work_dir;
    if (!dir) {
        const char *tmp = getenv("TMPDIR");
        snprintf(s->made_dir, sizeof s->made_dir, "%s/tessera-worker-XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(s->made_dir))
            return tsr_error(ctx, TSR_ERR_IO, "cannot create a work folder %s: %s", s->made_dir,
                             strerror(errno));
        dir = s->made_dir;
    }
    int threads = cfg->image_threads > 0 ? cfg->image_threads : cfg->threads;
    if (threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (int)cores : 1;
    }
    tsr_status st = tsr_store_open_blobs(ctx, dir, &s->opts, &s->store);
    if (!st)
        st = tsr_executor_local_new(ctx, threads, &s->pool);
    s->runner = (tsr_image_runner){
        .store = s->store, .exec = s->pool, .accel = tsr_cl_backend_accel(s->backend.backend)};
    cfg->image_runner = tsr_image_runner_run;
    cfg->image_runner_user = &s->runner;
    cfg->image_threads = threads;
    return st;
}

static void image_side_stop(image_side *s) {
    tsr_executor_free(s->pool);
    tsr_store_close(s->store);
    if (s->made_dir[0]) { /* ours: its tmp/ is empty once the store closed */
        char path[4200];
        snprintf(path, sizeof path, "%s/tmp", s->made_dir);
        rmdir(path);
        snprintf(path, sizeof path, "%s/lock", s->made_dir);
        unlink(path);
        rmdir(s->made_dir);
    }
}

int cmd_worker(int argc, char **argv) {
    tsr_worker_config cfg;
    tsr_cluster_key key;
    const char *key_path = NULL;
    image_side img = {0};
    cli_backend_init(&img.backend);
    if (!parse_args(argc, argv, &cfg, &key_path, &img)) {
        worker_usage(stderr);
        return EXIT_USAGE;
    }
    cli_map_big_buffers();
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
    if (!st && !(st = cli_backend_open(ctx, "worker", &img.backend))) {
        cfg.accel = tsr_cl_backend_accel(img.backend.backend);
        cfg.backend = tsr_cl_backend_name(img.backend.backend);
        cfg.device = tsr_cl_backend_device(img.backend.backend);
    }
    if (!st)
        st = image_side_start(ctx, &img, &cfg);
    if (!st)
        st = tsr_worker_start(ctx, &cfg, &w);
    if (st) {
        fprintf(stderr, "tessera worker: %s\n", tsr_ctx_message(ctx));
        image_side_stop(&img);
        cli_backend_close(&img.backend);
        tsr_ctx_free(ctx);
        return cli_exit_code(st);
    }
    printf("tessera worker %s: joined %s as %s with %d threads", TESSERA_VERSION, cfg.url,
           tsr_worker_id(w), cfg.threads > 0 ? cfg.threads : (int)sysconf(_SC_NPROCESSORS_ONLN));
    if (cfg.image_runner)
        printf(" and %d image threads on %s", cfg.image_threads, img.opts.store_url);
    if (img.backend.backend)
        printf(", computing on OpenCL %s", cfg.device);
    printf("\n");
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
    image_side_stop(&img);
    tsr_cl_stats cs;
    tsr_cl_backend_stats(img.backend.backend, &cs);
    cli_backend_close(&img.backend);
    fprintf(stderr,
            "tessera worker: stopped after %llu tiles (%llu failed, %llu taken over, %llu "
            "rejected); OpenCL: %llu device tiles, %llu map tiles, %llu fallbacks\n",
            (unsigned long long)s.tiles_done, (unsigned long long)s.failures,
            (unsigned long long)s.reclaimed, (unsigned long long)s.rejected,
            (unsigned long long)cs.tiles, (unsigned long long)cs.maps,
            (unsigned long long)cs.fallbacks);
    tsr_ctx_free(ctx);
    return EXIT_OK;
}
