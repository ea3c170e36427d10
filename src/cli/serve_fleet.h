/*
 * The fleet-watching parts of `tessera serve --redis URL`: the workers
 * monitor (GET /api/v1/workers, /metrics) and the autoscaling hook
 * (--autoscale-cmd CMD --min-workers A --max-workers B
 * [--tasks-per-worker N] [--scale-down-delay-s S] [--autoscale-period-ms MS]),
 * plus --workers-grace-s S (how long a lost worker stays listed).
 */
#ifndef TESSERA_CLI_SERVE_FLEET_H
#define TESSERA_CLI_SERVE_FLEET_H

#include "service/autoscale.h"
#include "fleet/workers_monitor.h"

/* The flags of this module. */
typedef struct serve_fleet_args {
    const char *autoscale_cmd; /* --autoscale-cmd; NULL = no autoscaling */
    int min_workers;           /* --min-workers (default 0) */
    int max_workers;           /* --max-workers (default 0: required with the command) */
    int tasks_per_worker;      /* --tasks-per-worker; 0 = 16 */
    int down_delay_s;          /* --scale-down-delay-s; 0 = 30 */
    int period_ms;             /* --autoscale-period-ms; 0 = 5000 */
    int grace_s;               /* --workers-grace-s; -1 = 60 */
} serve_fleet_args;

/* The running parts; zero-initialise. */
typedef struct serve_fleet {
    tsr_workers_monitor *monitor; /* NULL without --redis */
    tsr_autoscale *autoscale;     /* NULL without --autoscale-cmd */
} serve_fleet;

/* Sets the defaults. */
void serve_fleet_args_init(serve_fleet_args *f);
/* Takes `opt val` when it is one of this module's flags: 1 = taken, 0 = not
 * ours, -1 = ours with a bad value (a message is printed). */
int serve_fleet_option(const char *opt, const char *val, serve_fleet_args *f);
/* Starts the monitor (when redis_url is set) and the autoscaler (when
 * asked; it needs --redis: TSR_ERR_USAGE otherwise). `redis_url` and
 * `cluster` may be NULL. Stop with serve_fleet_stop even after an error. */
tsr_status serve_fleet_start(tsr_ctx *ctx, const serve_fleet_args *f, const char *redis_url,
                             const char *cluster, serve_fleet *out);
/* Stops what start started. */
void serve_fleet_stop(serve_fleet *fleet);
/* One usage line for the flags. */
extern const char serve_fleet_usage[];

#endif
