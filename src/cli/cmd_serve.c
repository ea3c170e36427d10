/* tessera serve: the durable store, the job scheduler and the HTTP server
 * in one process. First start creates the admin user and prints its token
 * once; SIGINT/SIGTERM drain and stop cleanly. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_backend.h"
#include "cli/cli_limits.h"
#include "cli/serve_fleet.h"
#include "fleet/executor_redis.h"
#include "server/server.h"
#include "service/prices.h"
#include "service/store.h"
#include "service/store_lease.h"
#include "fleet/worker.h"
#include "service/image_task.h"

/* What the command line asked for. */
typedef struct serve_args {
    char host[64];             /* listen address */
    int port;                  /* listen port; 0 = any */
    const char *data;          /* data directory */
    tsr_jobs_config jobs;      /* scheduler settings */
    uint64_t max_upload_bytes; /* upload cap; 0 = default */
    int print_routes;          /* --print-routes */
    tsr_redis_config redis;    /* scale-out: redis.url set by --redis */
    int local_workers;         /* --local-workers: in-process fleet workers; -1 = --threads */
    int delivery_limit;        /* --delivery-limit for the local workers */
    serve_fleet_args fleet;    /* monitor and autoscaling flags (serve_fleet.h) */
    const char *tls_cert;      /* --tls-cert PEM file; NULL = plain HTTP */
    const char *tls_key;       /* --tls-key PEM file */
    const char *cluster_key;   /* --cluster-key FILE; NULL = unsealed */
    tsr_cluster_key key;       /* its contents once loaded */
    tsr_server_config limits;  /* hostile-input caps, connection limits, rate limits,
                                  quotas and trusted proxies (only those fields are used;
                                  serve_defaults) */
    const char *data_key;      /* --data-key FILE: blobs encrypted at rest; NULL = plaintext */
    const char *store;       /* --store URL: file:DIR or s3://BUCKET[/PREFIX]; NULL = data/blobs */
    const char *db;          /* --db URL: sqlite:PATH or postgresql://...; NULL = data/tessera.db */
    int job_lease_ms;        /* --job-lease-ms: job leases on PostgreSQL; 0 = the default */
    const char *s3_endpoint; /* --s3-endpoint URL; NULL = $TESSERA_S3_ENDPOINT, else AWS */
    tsr_executor *image_pool;     /* runs the tiles of the local workers' image tasks */
    tsr_image_runner runner;      /* the local workers' image runner, on the server's store */
    int local_image_threads;      /* the local workers' image threads */
    tsr_workers_monitor *monitor; /* counts remote workers that take image tasks */
    cli_backend backend;          /* --backend, --device: the local pool's device */
    const char *prices_file;      /* --prices FILE: job costs; NULL = none */
    tsr_prices prices;            /* its contents once loaded */
} serve_args;

/* The serve defaults of the caps on hostile input (docs/security.md): a
 * 40000 x 40000 image passes. Uploads are checked and jobs run a few rows
 * at a time (or through temporary files), so these caps bound disk and CPU
 * per upload; the single-buffer cap bounds what is ever held whole. */
#define SERVE_MAX_PIXELS       2000000000ull /* 2 GP: e.g. 44721 x 44721 */
#define SERVE_MAX_UPLOAD_BYTES (8ull << 30)  /* 8.6 GB: an uncompressed 40000 x 40000 RGB TIFF */
#define SERVE_MAX_FRAMES       1000u

static void serve_defaults(tsr_server_config *c) {
    c->limits.max_pixels = SERVE_MAX_PIXELS;
    c->limits.max_width = TSR_DEFAULT_MAX_DIMENSION;
    c->limits.max_height = TSR_DEFAULT_MAX_DIMENSION;
    c->limits.max_frames = SERVE_MAX_FRAMES;
    c->limits.max_total_pixels = 1ull << 30; /* all frames of an animation: 1.07 GP */
    c->max_connections = 256;
    c->per_ip_limit = 64;
    c->timeout_s = 60;
    c->rate_limit = 100;
    c->rate_burst = 2000;
    c->quota_bytes = TSR_SERVER_QUOTA_BYTES_DEFAULT;
    c->quota_jobs = TSR_SERVER_QUOTA_JOBS_DEFAULT;
    c->transform.queue = -1; /* 4 x --transform-concurrency */
}

/* Handles the cap, connection, rate and quota options: 1 when `opt` was
 * one of them, 0 when not, -1 (after a message) for a bad value. */
static int limit_option(const char *opt, const char *val, tsr_server_config *c) {
    static const char *const names[] = {
        "--max-connections", "--per-ip-connections", "--conn-timeout-s", "--rate-limit",
        "--rate-burst",      "--quota-bytes",        "--quota-jobs",     "--max-total-pixels"};
    int taken =
        cli_limit_option("serve", CLI_LIMITS_SHAPE | CLI_LIMITS_BUFFER, opt, val, &c->limits);
    if (taken)
        return taken;
    int which = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(opt, names[i]))
            which = i;
    if (which < 0)
        return 0;
    char *end;
    double d = strtod(val, &end);
    uint64_t v = d >= 0 && d < 1e19 ? (uint64_t)d : 0;
    int ok =
        *val && !*end && d >= 0 && d <= 1e18 && (which >= 3 && which <= 4 ? 1 : (double)v == d);
    switch (which) {
    case 0:
        ok = ok && v >= 1 && v <= 65536, c->max_connections = (unsigned)v;
        break;
    case 1:
        ok = ok && v >= 1 && v <= 65536, c->per_ip_limit = (unsigned)v;
        break;
    case 2:
        ok = ok && v >= 1 && v <= 86400, c->timeout_s = (unsigned)v;
        break;
    case 3:
        ok = ok && d <= 1e6, c->rate_limit = d;
        break;
    case 4:
        ok = ok && d >= 1 && d <= 1e9, c->rate_burst = d;
        break;
    case 5:
        c->quota_bytes = v;
        break;
    case 7:
        ok = ok && v >= 1, c->limits.max_total_pixels = v;
        break;
    default:
        ok = ok && v <= 1000000, c->quota_jobs = (unsigned)v;
    }
    if (!ok)
        fprintf(stderr, "tessera serve: bad value %s %s (docs/serve.md gives the ranges)\n", opt,
                val);
    return ok ? 1 : -1;
}

/* One JSON log line per job start and finish, with its duration. */
static void log_job_event(void *user, const char *job_id, const char *event, tsr_job_state state,
                          double seconds) {
    (void)user;
    if (!strcmp(event, "started"))
        tsr_server_log("info", "job started", "job_id", json_string(job_id), NULL);
    else
        tsr_server_log("info", "job finished", "job_id", json_string(job_id), "state",
                       json_string(tsr_job_state_name(state)), "seconds",
                       json_real(round(seconds * 1e6) / 1e6), NULL);
}

static void serve_usage(FILE *f) {
    fprintf(f,
            "usage: tessera serve [--listen HOST:PORT] [--data DIR] [--threads N] [--runners N]\n"
            "                     [--max-upload-bytes N] [--pixel-budget N]\n"
            "                     [--max-active-jobs N] [--tile N] [--print-routes]\n"
            "                     [--tls-cert FILE --tls-key FILE] [--data-key FILE]\n"
            "                     [--store file:DIR|s3://BUCKET[/PREFIX]] [--s3-endpoint URL]\n"
            "                     [--db sqlite:PATH|postgresql://...] [--job-lease-ms MS]\n"
            "                     [--max-pixels N] [--max-width N] [--max-height N]\n"
            "                     [--max-frames N] [--max-total-pixels N] [--max-buffer-bytes N]\n"
            "                     [--memory-budget N] [--max-connections N]\n"
            "                     [--per-ip-connections N] [--conn-timeout-s S]\n"
            "                     [--rate-limit R] [--rate-burst B] [--quota-bytes N]\n"
            "                     [--quota-jobs N] [--backend cpu|opencl|auto] [--device N]\n"
            "                     [--prices FILE] [--transform-concurrency N]\n"
            "                     [--transform-queue N] [--transform-max-bytes N]\n"
            "                     [--transform-max-pixels N] [--trusted-proxies LIST]\n"
            "                     [--redis URL [--cluster NAME] [--local-workers N]\n"
            "                      [--coordinator-id ID] [--lease-ms MS] [--delivery-limit N]\n"
            "                      [--in-flight N] [--in-flight-total N] [--resend-ms MS]\n"
            "                      [--compress LEVEL] [--cluster-key FILE]\n"
            "                      [--task-kind auto|image|tile] [--tile-task-ms MS]\n"
            "                      [--image-tasks-in-flight N]]\n"
            "%s",
            serve_fleet_usage);
}

/* Parses a non-negative integer option value; false when malformed. */
static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || s[0] == '-')
        return 0;
    *out = v;
    return 1;
}

/* --listen HOST:PORT into a->host and a->port; 0 (after a message) when
 * malformed. */
static int parse_listen(const char *val, serve_args *a) {
    const char *colon = strrchr(val, ':');
    uint64_t v = 0;
    if (!colon || colon == val || (size_t)(colon - val) >= sizeof a->host ||
        !parse_u64(colon + 1, &v) || v > 65535) {
        fprintf(stderr, "tessera serve: --listen wants HOST:PORT (got %s)\n", val);
        return 0;
    }
    snprintf(a->host, sizeof a->host, "%.*s", (int)(colon - val), val);
    if (!strcmp(a->host, "localhost"))
        snprintf(a->host, sizeof a->host, "127.0.0.1");
    a->port = (int)v;
    return 1;
}

/* Takes `opt val` when it is a flag with a text value: 1 = taken, 0 = not
 * one of those, -1 = bad value (a message is printed). */
static int text_option(const char *opt, const char *val, serve_args *a) {
    if (!strcmp(opt, "--listen"))
        return parse_listen(val, a) ? 1 : -1;
    if (!strcmp(opt, "--backend") || !strcmp(opt, "--device"))
        return cli_backend_option("serve", opt, val, &a->backend);
    if (!strcmp(opt, "--task-kind")) {
        a->jobs.task_kind = !strcmp(val, "image")  ? TSR_TASKS_IMAGE
                            : !strcmp(val, "tile") ? TSR_TASKS_TILE
                                                   : TSR_TASKS_AUTO;
        if (a->jobs.task_kind == TSR_TASKS_AUTO && strcmp(val, "auto")) {
            fprintf(stderr, "tessera serve: --task-kind is auto, image or tile (got %s)\n", val);
            return -1;
        }
        return 1;
    }
    const char **text = !strcmp(opt, "--data")              ? &a->data
                        : !strcmp(opt, "--tls-cert")        ? &a->tls_cert
                        : !strcmp(opt, "--tls-key")         ? &a->tls_key
                        : !strcmp(opt, "--redis")           ? &a->redis.url
                        : !strcmp(opt, "--cluster-key")     ? &a->cluster_key
                        : !strcmp(opt, "--data-key")        ? &a->data_key
                        : !strcmp(opt, "--store")           ? &a->store
                        : !strcmp(opt, "--db")              ? &a->db
                        : !strcmp(opt, "--s3-endpoint")     ? &a->s3_endpoint
                        : !strcmp(opt, "--prices")          ? &a->prices_file
                        : !strcmp(opt, "--trusted-proxies") ? &a->limits.trusted_proxies
                        : !strcmp(opt, "--cluster")         ? &a->redis.cluster
                        : !strcmp(opt, "--coordinator-id")  ? &a->redis.coordinator_id
                                                            : NULL;
    if (!text)
        return 0;
    *text = val;
    return 1;
}

/* Takes `opt v` when it is a numeric flag with `v` in its range: 1 = taken,
 * 0 = unknown flag or out of range. */
static int number_option(const char *opt, uint64_t v, serve_args *a) {
    if (!strcmp(opt, "--threads") && v <= 1024)
        a->jobs.threads = (int)v;
    else if (!strcmp(opt, "--runners") && v <= 1024)
        a->jobs.runners = (int)v;
    else if (!strcmp(opt, "--max-upload-bytes"))
        a->max_upload_bytes = v;
    else if (!strcmp(opt, "--pixel-budget"))
        a->jobs.pixel_budget = v;
    else if (!strcmp(opt, "--memory-budget") && v >= 1)
        a->jobs.memory_budget = v;
    else if (!strcmp(opt, "--max-active-jobs") && v <= 1000000)
        a->jobs.max_active = (int)v;
    else if (!strcmp(opt, "--tile") && v >= TSR_TILE_MIN && v <= TSR_TILE_MAX)
        a->jobs.tile = (int)v;
    else if (!strcmp(opt, "--local-workers") && v <= 1024)
        a->local_workers = (int)v;
    else if (!strcmp(opt, "--lease-ms") && v >= 100 && v <= 86400000)
        a->redis.lease_ms = (int)v;
    else if (!strcmp(opt, "--job-lease-ms") && v >= 1000 && v <= 3600000)
        a->job_lease_ms = (int)v;
    else if (!strcmp(opt, "--delivery-limit") && v >= 1 && v <= 1000)
        a->delivery_limit = (int)v;
    else if (!strcmp(opt, "--in-flight") && v >= 1 && v <= 1000000)
        a->redis.in_flight_batch = (int)v;
    else if (!strcmp(opt, "--in-flight-total") && v >= 1 && v <= 1000000)
        a->redis.in_flight_total = (int)v;
    else if (!strcmp(opt, "--resend-ms") && v >= 100 && v <= 86400000)
        a->redis.resend_ms = (int)v;
    else if (!strcmp(opt, "--compress") && v <= 19)
        a->redis.compress_level = v ? (int)v : -1;
    else if (!strcmp(opt, "--tile-task-ms") && v >= 1 && v <= 86400000)
        a->jobs.tile_task_seconds = (double)v / 1000.0;
    else if (!strcmp(opt, "--image-tasks-in-flight") && v >= 1 && v <= 256)
        a->jobs.image_tasks_in_flight = (int)v;
    else if (!strcmp(opt, "--transform-concurrency") && v >= 1 && v <= 1024)
        a->limits.transform.concurrency = (unsigned)v;
    else if (!strcmp(opt, "--transform-queue") && v <= 65536)
        a->limits.transform.queue = (int)v;
    else if (!strcmp(opt, "--transform-max-bytes") && v >= 1)
        a->limits.transform.max_bytes = v;
    else if (!strcmp(opt, "--transform-max-pixels") && v >= 1)
        a->limits.transform.max_pixels = v;
    else
        return 0;
    return 1;
}

/* Takes one `opt val` pair; 0 after a message when it is unknown or bad. */
static int take_option(const char *opt, const char *val, serve_args *a) {
    int taken;
    if ((taken = serve_fleet_option(opt, val, &a->fleet)) ||
        (taken = limit_option(opt, val, &a->limits)) || (taken = text_option(opt, val, a)))
        return taken > 0;
    uint64_t v = 0;
    if (!parse_u64(val, &v) || v > (1ull << 62)) {
        fprintf(stderr, "tessera serve: %s wants a non-negative integer (got %s)\n", opt, val);
        return 0;
    }
    if (!number_option(opt, v, a)) {
        fprintf(stderr, "tessera serve: unknown option or bad value %s %s\n", opt, val);
        return 0;
    }
    return 1;
}

static int parse_args(int argc, char **argv, serve_args *a) {
    memset(a, 0, sizeof *a);
    snprintf(a->host, sizeof a->host, "127.0.0.1");
    a->port = 8080;
    a->data = "./tessera-data";
    a->local_workers = -1;
    a->max_upload_bytes = SERVE_MAX_UPLOAD_BYTES;
    cli_backend_init(&a->backend);
    serve_fleet_args_init(&a->fleet);
    serve_defaults(&a->limits);
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(opt, "--print-routes")) {
            a->print_routes = 1;
            continue;
        }
        if (!val) {
            fprintf(stderr, "tessera serve: %s needs a value\n", opt);
            return 0;
        }
        i++;
        if (!take_option(opt, val, a))
            return 0;
    }
    if (!a->tls_cert != !a->tls_key) {
        fprintf(stderr, "tessera serve: --tls-cert and --tls-key go together\n");
        return 0;
    }
    return 1;
}

/* Creates user "admin" and its first token on a store without users, and
 * prints the token once. */
static tsr_status first_start(tsr_ctx *ctx, tsr_store *store, const serve_args *a, int port) {
    int64_t users = 0, admin = 0;
    char token[TSR_STORE_TOKEN_LEN + 1];
    tsr_status st = tsr_store_user_count(store, ctx, &users);
    if (st || users > 0)
        return st;
    if ((st = tsr_store_user_create(store, ctx, "admin", TSR_ROLE_ADMIN, &admin))) {
        /* coordinators starting together on one empty database: another made it */
        if (st == TSR_ERR_USAGE && !tsr_store_user_count(store, ctx, &users) && users > 0) {
            tsr_ctx_reset(ctx);
            return TSR_OK;
        }
        return st;
    }
    const char *given = getenv("TESSERA_ADMIN_TOKEN");
    if (given && given[0]) {
        st = tsr_store_token_insert(store, ctx, admin, given, NULL);
        snprintf(token, sizeof token, "%s", given);
    } else {
        st = tsr_store_token_create(store, ctx, admin, token, NULL);
    }
    if (st)
        return st;
    printf("tessera: admin token: %s\n", token);
    printf("tessera: open %s://%s:%d/ and sign in with it\n", a->tls_cert ? "https" : "http",
           a->host, port);
    return TSR_OK;
}

/* Executor log lines go to the server's JSON log. */
static void log_redis(void *user, const char *level, const char *msg, const char *detail) {
    (void)user;
    tsr_server_log(level, msg, "key", json_string(detail ? detail : ""), NULL);
}

/* The default coordinator id: the host name and a hash of the data folder,
 * so a restarted server finds (and cleans up after) its previous run. */
static void default_coordinator_id(const char *data, char *out, size_t size) {
    char host[48] = "host", real[4096];
    gethostname(host, sizeof host - 1);
    for (char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            *p = '-';
    const char *path = realpath(data, real) ? real : data;
    uint32_t h = 2166136261u;
    for (const char *p = path; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    snprintf(out, size, "%s-%08x", host, h);
}

/* With the metadata in PostgreSQL, several coordinators may share it: jobs
 * are leased to this one under its coordinator id (store_lease.h). SQLite
 * has one coordinator, which needs no leases. */
static void lease_setup(const serve_args *a, tsr_store *store) {
    if (!a->db || (strncmp(a->db, "postgresql://", 13) && strncmp(a->db, "postgres://", 11)))
        return;
    char id[128];
    if (a->redis.coordinator_id)
        snprintf(id, sizeof id, "%s", a->redis.coordinator_id);
    else
        default_coordinator_id(a->data, id, sizeof id);
    tsr_store_set_lease(store, id, a->job_lease_ms);
    tsr_server_log("info", "job leases", "coordinator", json_string(id), "lease_ms",
                   json_integer(tsr_store_lease_ms(store)), NULL);
}

/* How many workers take image tasks now, for the planner: the running
 * workers that announce image threads (local ones included: they
 * heartbeat too), counted as none while they are fewer than half the
 * fleet (tile-only workers would sit idle). Before the monitor's first
 * poll: the local workers' image threads. */
static int image_workers(void *user) {
    serve_args *a = user;
    tsr_workers_counts c = {0};
    if (a->monitor)
        tsr_workers_monitor_counts(a->monitor, &c);
    if (!c.polled_ms)
        return a->local_image_threads;
    return c.image_capable * 2 >= c.running ? c.image_capable : 0;
}

/* --redis: the Redis executor for the scheduler and the local workers,
 * which take image tasks too, on this server's store. */
static tsr_status start_fleet(tsr_ctx *ctx, serve_args *a, tsr_store *store, tsr_executor **exec,
                              tsr_worker **workers) {
    char id[128];
    if (!a->redis.coordinator_id) {
        default_coordinator_id(a->data, id, sizeof id);
        a->redis.coordinator_id = id;
    }
    a->redis.log = log_redis;
    const char *env_key = getenv("TESSERA_CLUSTER_KEY_FILE");
    if (!a->cluster_key && env_key && *env_key)
        a->cluster_key = env_key;
    if (a->cluster_key) {
        tsr_status kst = tsr_cluster_key_load(ctx, a->cluster_key, &a->key);
        if (kst)
            return kst;
        a->redis.key = &a->key;
    } else {
        tsr_server_log("warn", "redis fleet: no --cluster-key, tile payloads are not sealed", NULL);
    }
    tsr_status st = tsr_executor_redis_new(ctx, &a->redis, exec);
    a->redis.coordinator_id = NULL;
    if (st)
        return st;
    a->jobs.executor = *exec;
    a->jobs.image_workers = image_workers;
    a->jobs.image_workers_user = a;
    int n = a->local_workers >= 0 ? a->local_workers : a->jobs.threads;
    if (a->local_workers < 0 && n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (int)cores : 1;
    }
    tsr_server_log("info", "redis fleet", "url", json_string(a->redis.url), "local_workers",
                   json_integer(n), NULL);
    if (n == 0)
        return TSR_OK;
    if ((st = tsr_executor_local_new(ctx, n, &a->image_pool)))
        return st;
    a->runner = (tsr_image_runner){
        .store = store, .exec = a->image_pool, .accel = tsr_cl_backend_accel(a->backend.backend)};
    a->local_image_threads = n;
    tsr_worker_config w = {.url = a->redis.url,
                           .cluster = a->redis.cluster,
                           .threads = n,
                           .lease_ms = a->redis.lease_ms,
                           .delivery_limit = a->delivery_limit,
                           .compress_level = a->redis.compress_level,
                           .crash_tile = -1,
                           .fail_tile = -1,
                           .heartbeat = 1,
                           .key = a->redis.key,
                           .image_runner = tsr_image_runner_run,
                           .image_runner_user = &a->runner,
                           .image_threads = n,
                           .accel = tsr_cl_backend_accel(a->backend.backend),
                           .backend = tsr_cl_backend_name(a->backend.backend),
                           .device = tsr_cl_backend_device(a->backend.backend)};
    return tsr_worker_start(ctx, &w, workers);
}

/* The scheduler's settings that are not flags: the compute backend
 * (--backend, --device: opened here), job logging, the processing caps. */
static tsr_status jobs_setup(tsr_ctx *ctx, serve_args *a) {
    tsr_status st = a->prices_file ? tsr_prices_load(ctx, a->prices_file, &a->prices) : TSR_OK;
    if (!st)
        st = cli_backend_open(ctx, "serve", &a->backend);
    a->jobs.accel = tsr_cl_backend_accel(a->backend.backend);
    a->jobs.on_event = log_job_event;
    a->jobs.limits = a->limits.limits; /* the upload caps hold while processing too */
    return st;
}

/* The HTTP server's settings from the options and what was started. */
static tsr_server_config server_config(const serve_args *a, tsr_workers_monitor *monitor,
                                       tsr_executor *fleet, char *tls_cert, char *tls_key) {
    tsr_server_config cfg = a->limits; /* caps, connections, rate limits, quotas */
    cfg.host = a->host;
    cfg.port = a->port;
    cfg.max_upload_bytes = a->max_upload_bytes;
    cfg.ops_json = cli_ops_json;
    cfg.workers = monitor;
    cfg.fleet_exec = fleet;
    cfg.backend = a->backend.backend;
    cfg.prices = a->prices_file ? &a->prices : NULL;
    cfg.tls_cert = tls_cert;
    cfg.tls_key = tls_key;
    return cfg;
}

/* The store's options from the serve flags (--data-key, --store,
 * --s3-endpoint, --db). */
static tsr_store_options store_options(const serve_args *a) {
    return (tsr_store_options){.data_key_file = a->data_key,
                               .store_url = a->store,
                               .s3_endpoint = a->s3_endpoint,
                               .db_url = a->db};
}

int cmd_serve(int argc, char **argv) {
    serve_args a;
    tsr_store *store = NULL;
    tsr_jobs *jobs = NULL;
    tsr_server *srv = NULL;
    tsr_executor *fleet = NULL;
    tsr_worker *local_workers = NULL;
    serve_fleet watch = {0};
    char *tls_cert = NULL, *tls_key = NULL;
    tsr_status st = TSR_OK;
    if (!parse_args(argc, argv, &a)) {
        serve_usage(stderr);
        return EXIT_USAGE;
    }
    if (a.print_routes) {
        tsr_server_print_routes(stdout);
        return EXIT_OK;
    }
    cli_map_big_buffers();
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    /* Signals are taken by sigwait below; every thread started from here
     * inherits the blocked mask. */
    sigset_t stop;
    cli_block_stop_signals(&stop);
    tsr_store_options store_opts = store_options(&a);
    if ((a.tls_cert &&
         (st = tsr_server_tls_load(ctx, a.tls_cert, a.tls_key, &tls_cert, &tls_key))) ||
        (st = tsr_store_open_with(ctx, a.data, &store_opts, &store)) || (st = jobs_setup(ctx, &a)))
        goto out;
    lease_setup(&a, store);
    if (a.redis.url && (st = start_fleet(ctx, &a, store, &fleet, &local_workers)))
        goto out;
    if ((st = serve_fleet_start(ctx, &a.fleet, a.redis.url, a.redis.cluster, &watch)))
        goto out;
    a.monitor = watch.monitor;
    if ((st = tsr_jobs_start(ctx, store, &a.jobs, &jobs)))
        goto out;
    tsr_server_config cfg = server_config(&a, watch.monitor, fleet, tls_cert, tls_key);
    if ((st = tsr_server_start(ctx, &cfg, store, jobs, &srv)))
        goto out;
    int port = tsr_server_port(srv);
    if ((st = first_start(ctx, store, &a, port)))
        goto out;
    printf("tessera: listening on %s://%s:%d\n", tls_cert ? "https" : "http", a.host, port);
    fflush(stdout);
    tsr_server_log("info", "listening", "url", json_string(a.host), "port", json_integer(port),
                   "tls", json_boolean(tls_cert != NULL), "data", json_string(a.data), NULL);
    int sig = 0;
    sigwait(&stop, &sig);
    tsr_server_log("info", "stopping", "signal", json_integer(sig), NULL);
out:
    if (st)
        fprintf(stderr, "tessera serve: %s\n", tsr_ctx_message(ctx));
    tsr_server_drain(srv);
    tsr_server_stop(srv);
    tsr_jobs_stop(jobs);
    serve_fleet_stop(&watch);
    tsr_executor_free(fleet);
    tsr_worker_stop(local_workers);
    tsr_executor_free(a.image_pool);
    cli_backend_close(&a.backend); /* after everything that computes on it */
    tsr_store_close(store);
    free(tls_cert);
    free(tls_key);
    tsr_ctx_free(ctx);
    if (!st)
        tsr_server_log("info", "stopped", NULL);
    return cli_exit_code(st);
}
