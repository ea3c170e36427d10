/*
 * The HTTP server of `tessera serve`: the REST API v1 (docs/openapi.yaml),
 * Server-Sent Events for job progress, result downloads, /metrics, health
 * and the embedded web UI, on libmicrohttpd with one thread per connection.
 * Design notes: docs/internals/server.md.
 */
#ifndef TESSERA_SERVER_SERVER_H
#define TESSERA_SERVER_SERVER_H

#include <stdio.h>

#include "service/jobs.h"
#include "service/store.h"
#include "fleet/workers_monitor.h"

typedef struct tsr_server tsr_server;

#define TSR_SERVER_QUOTA_BYTES_DEFAULT (10ull << 30) /* --quota-bytes when not given */
#define TSR_SERVER_QUOTA_JOBS_DEFAULT  100           /* --quota-jobs when not given */

#define TSR_SERVER_TRANSFORM_BYTES_DEFAULT  (32ull << 20) /* --transform-max-bytes */
#define TSR_SERVER_TRANSFORM_PIXELS_DEFAULT (64ull << 20) /* --transform-max-pixels (8192^2) */

/* POST /api/v1/transform (docs/internals/transform.md): runs in this
 * process on the engine's local pool, a few at once, the rest waiting in
 * a bounded queue. */
typedef struct tsr_server_transform {
    unsigned concurrency; /* transforms running at once; 0 = the local pool's threads */
    int queue;            /* more admitted while those run: receiving their body or waiting
                             for a slot; -1 = 4 x concurrency, 0 = none (busy: 503 at once) */
    uint64_t max_bytes;   /* request body cap; 0 = TSR_SERVER_TRANSFORM_BYTES_DEFAULT */
    uint64_t max_pixels;  /* input and output pixel cap, under limits.max_pixels too;
                             0 = TSR_SERVER_TRANSFORM_PIXELS_DEFAULT */
} tsr_server_transform;

typedef struct tsr_server_config {
    const char *host;             /* numeric IPv4 address to listen on ("127.0.0.1") */
    int port;                     /* TCP port; 0 = any free port (see tsr_server_port) */
    uint64_t max_upload_bytes;    /* cap on one upload request body; 0 = the ctx default */
    unsigned max_connections;     /* total open connections; 0 = 256 */
    unsigned per_ip_limit;        /* connections from one address; 0 = 64 */
    unsigned timeout_s;           /* idle connection timeout; 0 = 60 */
    char *(*ops_json)(void);      /* operations list as JSON (malloc'ed); borrowed function */
    tsr_workers_monitor *workers; /* Redis fleet monitor (borrowed); NULL = local mode */
    const char *tls_cert;         /* PEM certificate chain (borrowed); NULL = plain HTTP */
    const char *tls_key;          /* PEM private key (borrowed); set with tls_cert */
    tsr_limits limits;            /* caps on uploaded images (pixels, width, height, frames);
                                     zero fields take the library defaults */
    double rate_limit;            /* requests per second per account (per address without
                                     a valid token); 0 = no rate limit */
    double rate_burst;            /* token bucket size; 0 = 20 x rate_limit (at least 1) */
    uint64_t quota_bytes;         /* default stored bytes per account (originals + results);
                                     0 = none; an account's own override wins */
    unsigned quota_jobs;          /* default queued + running jobs per account; 0 = none; an
                                     account's own override wins */
    tsr_executor *fleet_exec;     /* the coordinator's Redis executor (borrowed, for its
                                     counters in /metrics); NULL = local mode */
    const struct tsr_cl_backend *backend; /* the local pool's OpenCL device (borrowed, for
                                             /metrics); NULL = the CPU */
    const struct tsr_prices *prices;      /* --prices: job costs in answers; NULL = none shown */
    tsr_server_transform transform;       /* the transform endpoint's caps */
    const char *trusted_proxies;          /* --trusted-proxies: addresses and CIDR blocks whose
                                             X-Forwarded-For names the client; NULL = none */
} tsr_server_config;

/* Starts listening. `store` and `jobs` are borrowed and must outlive the
 * server. The caller stops it with tsr_server_stop. */
tsr_status tsr_server_start(tsr_ctx *ctx, const tsr_server_config *config, tsr_store *store,
                            tsr_jobs *jobs, tsr_server **out);
/* Reads the PEM certificate chain and private key files (1 MiB cap each)
 * and checks that GnuTLS takes them as a pair; *cert and *key are
 * malloc'ed texts for tsr_server_config. */
tsr_status tsr_server_tls_load(tsr_ctx *ctx, const char *cert_path, const char *key_path,
                               char **cert, char **key);
/* The port actually bound. */
int tsr_server_port(const tsr_server *server);
/* Marks the server as draining: /readyz answers 503, event streams end. */
void tsr_server_drain(tsr_server *server);
/* Stops accepting, waits for open connections, frees. Accepts NULL. */
void tsr_server_stop(tsr_server *server);
/* Prints "METHOD PATTERN" for every route, one per line. */
void tsr_server_print_routes(FILE *f);
/* Logs `msg` at `level` ("debug", "info", "warn", "error"; else info)
 * through src/util/log.h (by default one JSON line on stderr:
 * {"ts":..,"level":..,"msg":..} plus the detail) with the pairs given as
 * key, json_t* ... NULL as detail (values stolen; NULL writes null). */
void tsr_server_log(const char *level, const char *msg, ...);

#endif
