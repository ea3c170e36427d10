/* Workers monitor and autoscaling hook of `tessera serve` (serve_fleet.h). */
#include "cli/serve_fleet.h"

#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server.h"

const char serve_fleet_usage[] =
    "                     [--workers-grace-s S] [--autoscale-cmd CMD --max-workers B\n"
    "                      [--min-workers A] [--tasks-per-worker N] [--scale-down-delay-s S]\n"
    "                      [--autoscale-period-ms MS]]\n";

void serve_fleet_args_init(serve_fleet_args *f) {
    memset(f, 0, sizeof *f);
    f->grace_s = -1;
}

int serve_fleet_option(const char *opt, const char *val, serve_fleet_args *f) {
    static const struct {
        const char *name; /* the flag */
        long lo, hi;      /* accepted values */
        size_t offset;    /* field in serve_fleet_args */
    } ints[] = {
        {"--min-workers", 0, 100000, offsetof(serve_fleet_args, min_workers)},
        {"--max-workers", 1, 100000, offsetof(serve_fleet_args, max_workers)},
        {"--tasks-per-worker", 1, 1000000, offsetof(serve_fleet_args, tasks_per_worker)},
        {"--scale-down-delay-s", 1, 86400, offsetof(serve_fleet_args, down_delay_s)},
        {"--autoscale-period-ms", 100, 3600000, offsetof(serve_fleet_args, period_ms)},
        {"--workers-grace-s", 0, 86400, offsetof(serve_fleet_args, grace_s)},
    };
    if (!strcmp(opt, "--autoscale-cmd")) {
        if (!val || !*val) {
            fprintf(stderr, "tessera serve: --autoscale-cmd needs a command\n");
            return -1;
        }
        f->autoscale_cmd = val;
        return 1;
    }
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        if (strcmp(opt, ints[i].name))
            continue;
        if (!cli_parse_int(val, ints[i].lo, ints[i].hi, (int *)((char *)f + ints[i].offset))) {
            fprintf(stderr, "tessera serve: %s wants an integer in %ld..%ld (got %s)\n", opt,
                    ints[i].lo, ints[i].hi, val ? val : "nothing");
            return -1;
        }
        return 1;
    }
    return 0;
}

/* The autoscaler's backlog: tasks waiting or being computed in Redis. */
static int64_t fleet_backlog(void *user) {
    tsr_workers_counts c;
    tsr_workers_monitor_counts(user, &c);
    if (!c.redis_up || c.tasks < 0)
        return -1;
    if (c.undelivered >= 0 && c.pending >= 0)
        return c.undelivered + c.pending;
    return c.tasks;
}

/* Autoscaler events go to the server's JSON log. */
static void fleet_log(void *user, const char *event, int wanted, int status) {
    (void)user;
    if (!strcmp(event, "run"))
        tsr_server_log("info", "autoscale: running the scaling command", "wanted_workers",
                       json_integer(wanted), NULL);
    else if (!strcmp(event, "exit"))
        tsr_server_log(status ? "warn" : "info", "autoscale: scaling command ended",
                       "wanted_workers", json_integer(wanted), "exit_status", json_integer(status),
                       NULL);
    else
        tsr_server_log("error", "autoscale: cannot run the scaling command", "wanted_workers",
                       json_integer(wanted), "error", json_string(strerror(status)), NULL);
}

tsr_status serve_fleet_start(tsr_ctx *ctx, const serve_fleet_args *f, const char *redis_url,
                             const char *cluster, serve_fleet *out) {
    tsr_status st;
    memset(out, 0, sizeof *out);
    if (f->autoscale_cmd && !redis_url)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "serve: --autoscale-cmd scales the Redis fleet and needs --redis URL");
    if (f->autoscale_cmd && !f->max_workers)
        return tsr_error(ctx, TSR_ERR_USAGE, "serve: --autoscale-cmd needs --max-workers");
    if (!redis_url)
        return TSR_OK;
    if ((st = tsr_workers_monitor_start(ctx, redis_url, cluster, &out->monitor)))
        return st;
    if (f->grace_s >= 0)
        tsr_workers_monitor_set_timing(out->monitor, f->grace_s * 1000, 0);
    if (!f->autoscale_cmd)
        return TSR_OK;
    tsr_autoscale_config cfg = {.command = f->autoscale_cmd,
                                .policy = {.min_workers = f->min_workers,
                                           .max_workers = f->max_workers,
                                           .tasks_per_worker = f->tasks_per_worker,
                                           .down_delay_ms = f->down_delay_s * 1000},
                                .period_ms = f->period_ms,
                                .backlog = fleet_backlog,
                                .log = fleet_log,
                                .user = out->monitor};
    return tsr_autoscale_start(ctx, &cfg, &out->autoscale);
}

void serve_fleet_stop(serve_fleet *fleet) {
    tsr_autoscale_stop(fleet->autoscale);
    tsr_workers_monitor_stop(fleet->monitor);
    memset(fleet, 0, sizeof *fleet);
}
