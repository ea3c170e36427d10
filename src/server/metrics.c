/* GET /metrics: Prometheus text format 0.0.4. Job counts come from the
 * store, tile and job histograms from the scheduler, HTTP counters from
 * the server (route = the pattern, never the raw path). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/executor_redis.h"
#include "opencl/cl_backend.h"
#include "server/server_internal.h"
#include "service/store_stats.h"

void metrics_count(tsr_server *srv, int route, unsigned status) {
    pthread_mutex_lock(&srv->metrics_lock);
    int i = 0;
    while (i < srv->n_slots && !(srv->slots[i].route == route && srv->slots[i].status == status))
        i++;
    if (i == srv->n_slots && srv->n_slots < METRIC_SLOTS)
        srv->slots[srv->n_slots++] = (metric_slot){route, status, 0};
    if (i < srv->n_slots)
        srv->slots[i].count++;
    pthread_mutex_unlock(&srv->metrics_lock);
}

/* Appends printf output to buf; sets *over when it does not fit. */
static void add(tsr_buffer *buf, int *bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(tsr_buffer *buf, int *bad, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line || tsr_buffer_append(buf, line, (size_t)n))
        *bad = 1;
}

static void histogram(tsr_buffer *buf, int *bad, const char *name, const char *help,
                      const double *bounds, const uint64_t *le, double sum) {
    add(buf, bad, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    for (int i = 0; i < 11; i++)
        add(buf, bad, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i], (unsigned long long)le[i]);
    add(buf, bad, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
        (unsigned long long)le[11], name, sum, name, (unsigned long long)le[11]);
}

/* Worker counts and queue depths of the Redis fleet; zeros in local mode
 * (so the families always exist), -1 values (not read yet) as 0. */
static void fleet_metrics(tsr_buffer *buf, int *bad, tsr_workers_monitor *mon) {
    tsr_workers_counts c = {0};
    if (mon)
        tsr_workers_monitor_counts(mon, &c);
#define NZ(v) ((long long)((v) > 0 ? (v) : 0))
    add(buf, bad,
        "# HELP tessera_workers Fleet workers by state (Redis mode).\n"
        "# TYPE tessera_workers gauge\n");
    add(buf, bad,
        "tessera_workers{state=\"running\"} %d\ntessera_workers{state=\"draining\"} "
        "%d\ntessera_workers{state=\"lost\"} %d\n",
        c.running, c.draining, c.lost);
    add(buf, bad,
        "# HELP tessera_queue_tasks Entries of the Redis tasks stream.\n"
        "# TYPE tessera_queue_tasks gauge\ntessera_queue_tasks %lld\n"
        "# HELP tessera_queue_pending Tasks delivered to a worker and not acknowledged.\n"
        "# TYPE tessera_queue_pending gauge\ntessera_queue_pending %lld\n",
        NZ(c.tasks), NZ(c.pending));
    add(buf, bad,
        "# HELP tessera_queue_undelivered Tasks not yet delivered to any worker.\n"
        "# TYPE tessera_queue_undelivered gauge\ntessera_queue_undelivered %lld\n"
        "# HELP tessera_dead_tiles Tiles moved to the dead stream after the delivery limit.\n"
        "# TYPE tessera_dead_tiles gauge\ntessera_dead_tiles %lld\n",
        NZ(c.undelivered), NZ(c.dead_tiles));
    add(buf, bad,
        "# HELP tessera_reclaims_total Tasks reclaimed from dead or stalled workers.\n"
        "# TYPE tessera_reclaims_total counter\ntessera_reclaims_total %lld\n"
        "# HELP tessera_redis_up Whether the last poll reached Redis (1 in local mode: none).\n"
        "# TYPE tessera_redis_up gauge\ntessera_redis_up %d\n",
        NZ(c.reclaims), mon ? c.redis_up : 1);
    add(buf, bad,
        "# HELP tessera_rejected_payloads_total Sealed tile payloads rejected (tampered, foreign "
        "key or unsealed).\n"
        "# TYPE tessera_rejected_payloads_total counter\ntessera_rejected_payloads_total %lld\n",
        NZ(c.rejected));
#undef NZ
}

/* The coordinator's own side of the broker path: what its Redis executor
 * sent, resent and dropped; zeros in local mode. */
static void executor_metrics(tsr_buffer *buf, int *bad, tsr_executor *exec) {
    tsr_redis_stats s = {0};
    if (exec)
        tsr_executor_redis_stats(exec, &s);
    add(buf, bad,
        "# HELP tessera_fleet_tasks_sent_total Tile tasks put on Redis, resends included.\n"
        "# TYPE tessera_fleet_tasks_sent_total counter\ntessera_fleet_tasks_sent_total %llu\n"
        "# HELP tessera_fleet_tasks_resent_total Tile tasks sent again (resend timeout, or Redis "
        "lost them).\n"
        "# TYPE tessera_fleet_tasks_resent_total counter\ntessera_fleet_tasks_resent_total %llu\n",
        (unsigned long long)s.tasks_sent, (unsigned long long)s.tasks_resent);
    add(buf, bad,
        "# HELP tessera_fleet_results_applied_total Tile results applied.\n"
        "# TYPE tessera_fleet_results_applied_total counter\n"
        "tessera_fleet_results_applied_total %llu\n"
        "# HELP tessera_fleet_results_dropped_total Late, duplicate or foreign results dropped.\n"
        "# TYPE tessera_fleet_results_dropped_total counter\n"
        "tessera_fleet_results_dropped_total %llu\n",
        (unsigned long long)s.results_applied, (unsigned long long)s.results_dropped);
    add(buf, bad,
        "# HELP tessera_fleet_redis_reconnects_total Reconnections of the coordinator to Redis.\n"
        "# TYPE tessera_fleet_redis_reconnects_total counter\n"
        "tessera_fleet_redis_reconnects_total %llu\n"
        "# HELP tessera_fleet_tasks_in_flight Tile tasks on Redis awaiting their result.\n"
        "# TYPE tessera_fleet_tasks_in_flight gauge\ntessera_fleet_tasks_in_flight %llu\n",
        (unsigned long long)s.reconnects, (unsigned long long)s.in_flight);
    add(buf, bad,
        "# HELP tessera_fleet_redis_losses_total Times Redis came back without tasks it had "
        "acknowledged (all tasks in flight were sent again).\n"
        "# TYPE tessera_fleet_redis_losses_total counter\ntessera_fleet_redis_losses_total %llu\n"
        "# HELP tessera_fleet_tasks_lost_total Tasks in flight found gone from Redis by the audit "
        "and sent again.\n"
        "# TYPE tessera_fleet_tasks_lost_total counter\ntessera_fleet_tasks_lost_total %llu\n",
        (unsigned long long)s.redis_losses, (unsigned long long)s.tasks_lost);
    add(buf, bad,
        "# HELP tessera_fleet_images_done_total Image tasks completed by workers.\n"
        "# TYPE tessera_fleet_images_done_total counter\ntessera_fleet_images_done_total %llu\n"
        "# HELP tessera_fleet_image_progress_total Progress reports of image tasks read.\n"
        "# TYPE tessera_fleet_image_progress_total counter\n"
        "tessera_fleet_image_progress_total %llu\n",
        (unsigned long long)s.images_done, (unsigned long long)s.progress_posts);
}

/* The local pool's OpenCL device: tiles it computed and tiles the CPU redid. */
static void backend_metrics(tsr_buffer *buf, int *bad, const tsr_cl_backend *b) {
    tsr_cl_stats s;
    tsr_cl_backend_stats(b, &s);
    add(buf, bad,
        "# HELP tessera_opencl_tiles_total Tiles computed on the OpenCL device.\n"
        "# TYPE tessera_opencl_tiles_total counter\ntessera_opencl_tiles_total %llu\n"
        "# HELP tessera_opencl_map_tiles_total Reduction tiles computed on the OpenCL device.\n"
        "# TYPE tessera_opencl_map_tiles_total counter\ntessera_opencl_map_tiles_total %llu\n"
        "# HELP tessera_opencl_fallbacks_total Tiles the device failed and the CPU redid.\n"
        "# TYPE tessera_opencl_fallbacks_total counter\ntessera_opencl_fallbacks_total %llu\n",
        (unsigned long long)s.tiles, (unsigned long long)s.maps, (unsigned long long)s.fallbacks);
}

/* Whether `s` is a plain op name (so it needs no escaping as a label). */
static int plain_name(const char *s) {
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return 0;
    return s[0] != '\0';
}

/* Ratings given by op and rating value, from the store (feedback_counts:
 * it only grows, so the family is a counter across restarts). */
static tsr_status feedback_metrics(tsr_buffer *buf, int *bad, tsr_store *store, tsr_ctx *ctx) {
    tsr_store_feedback_count *counts = NULL;
    size_t n = 0;
    tsr_status st = tsr_store_feedback_counts(store, ctx, &counts, &n);
    if (st)
        return st;
    add(buf, bad,
        "# HELP tessera_feedback_ratings_total Ratings users gave finished jobs, by op of the "
        "rated job's pipeline and rating (1..5); a replaced rating counts again.\n"
        "# TYPE tessera_feedback_ratings_total counter\n");
    for (size_t i = 0; i < n; i++)
        if (plain_name(counts[i].op))
            add(buf, bad, "tessera_feedback_ratings_total{op=\"%s\",rating=\"%d\"} %llu\n",
                counts[i].op, counts[i].rating, (unsigned long long)counts[i].count);
    free(counts);
    return TSR_OK;
}

/* Figures about the store and the scheduler that alerts watch: jobs ended
 * by state, the oldest queued job's age, database errors. */
static tsr_status health_metrics(tsr_buffer *buf, int *bad, tsr_server *srv, tsr_ctx *ctx,
                                 const tsr_jobs_stats *js) {
    int64_t oldest = 0, now = tsr_clock_wall_ms();
    tsr_status st = tsr_store_job_oldest_queued(srv->store, ctx, &oldest);
    if (st)
        return st;
    add(buf, bad,
        "# HELP tessera_jobs_finished_total Jobs this process ran to an end, by final state.\n"
        "# TYPE tessera_jobs_finished_total counter\n");
    for (int s = TSR_JOB_SUCCEEDED; s <= TSR_JOB_CANCELLED; s++)
        add(buf, bad, "tessera_jobs_finished_total{state=\"%s\"} %llu\n",
            tsr_job_state_name((tsr_job_state)s), (unsigned long long)js->jobs_ended[s]);
    add(buf, bad,
        "# HELP tessera_queue_oldest_seconds Age of the oldest queued job (0 when none).\n"
        "# TYPE tessera_queue_oldest_seconds gauge\ntessera_queue_oldest_seconds %.3f\n",
        oldest > 0 && now > oldest ? (double)(now - oldest) / 1000.0 : 0.0);
    add(buf, bad,
        "# HELP tessera_store_errors_total Failed metadata store calls (I/O, full disk, locked or "
        "corrupt database, out of memory) since start.\n"
        "# TYPE tessera_store_errors_total counter\ntessera_store_errors_total %llu\n",
        (unsigned long long)tsr_store_errors(srv->store));
    return TSR_OK;
}

/* The transform endpoint's gate: running, waiting, refused. */
static void transform_metrics(tsr_buffer *buf, int *bad, tsr_server *srv) {
    transform_gate_stats gs;
    gate_stats(srv->gate, &gs);
    add(buf, bad,
        "# HELP tessera_transforms_running Transforms running now (POST /api/v1/transform).\n"
        "# TYPE tessera_transforms_running gauge\ntessera_transforms_running %u\n",
        gs.running);
    add(buf, bad,
        "# HELP tessera_transforms_waiting Transforms admitted and not running: receiving their "
        "body or waiting for a slot.\n"
        "# TYPE tessera_transforms_waiting gauge\ntessera_transforms_waiting %u\n",
        gs.waiting);
    add(buf, bad,
        "# HELP tessera_transforms_refused_total Transforms answered 503 busy: no room to wait, "
        "or no slot came free in time.\n"
        "# TYPE tessera_transforms_refused_total counter\ntessera_transforms_refused_total %llu\n",
        (unsigned long long)gs.refused);
}

/* Requests: those the rate limit and the quotas refused, and every
 * (route, status) pair counted by metrics_count. */
static void http_metrics(tsr_buffer *buf, int *bad, tsr_server *srv) {
    tsr_ratelimit_stats rs = {0};
    if (srv->rate)
        tsr_ratelimit_get_stats(srv->rate, &rs);
    add(buf, bad,
        "# HELP tessera_rate_limited_total Requests answered 429 by the request rate limit.\n"
        "# TYPE tessera_rate_limited_total counter\ntessera_rate_limited_total %llu\n"
        "# HELP tessera_quota_refused_total Uploads and jobs refused by an account quota.\n"
        "# TYPE tessera_quota_refused_total counter\ntessera_quota_refused_total %llu\n",
        (unsigned long long)rs.limited, (unsigned long long)atomic_load(&srv->quota_stops));
    add(buf, bad,
        "# HELP tessera_http_requests_total HTTP requests by route and status.\n"
        "# TYPE tessera_http_requests_total counter\n");
    pthread_mutex_lock(&srv->metrics_lock);
    for (int i = 0; i < srv->n_slots; i++) {
        const metric_slot *m = &srv->slots[i];
        add(buf, bad, "tessera_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
            m->route >= 0 ? server_routes[m->route].pattern : "unmatched", m->status,
            (unsigned long long)m->count);
    }
    pthread_mutex_unlock(&srv->metrics_lock);
}

typedef struct account_lines {
    tsr_buffer *buf;
    int *bad;
    const tsr_prices *prices; /* NULL: no cost series */
    tsr_buffer series[8];     /* one block of samples per metric */
} account_lines;

/* The per-account counters; the cost (last) only with a price table. */
static const char *const account_metric[8][2] = {
    {"tessera_account_jobs_finished_total", "Finished jobs by account."},
    {"tessera_account_transforms_total", "Finished transforms (POST /api/v1/transform) by "
                                         "account."},
    {"tessera_account_cpu_seconds_total", "CPU seconds of finished jobs and transforms by "
                                          "account."},
    {"tessera_account_gpu_seconds_total",
     "OpenCL device seconds of finished jobs and transforms by account."},
    {"tessera_account_store_read_bytes_total",
     "Bytes finished jobs read from the store and transforms received, by account."},
    {"tessera_account_store_written_bytes_total",
     "Bytes finished jobs wrote to the store and transforms answered, by account."},
    {"tessera_account_network_bytes_total",
     "Bytes finished jobs moved to and from workers, by account."},
    {"tessera_account_cost_total",
     "Cost of finished jobs and transforms under the price table (serve --prices), by account."},
};

static void account_row(void *user, const tsr_usage_row *row) {
    account_lines *l = user;
    const tsr_job_usage *u = &row->usage;
    double v[7] = {(double)row->jobs,       (double)row->transforms, u->cpu_seconds,
                   u->gpu_seconds,          (double)u->read_bytes,   (double)u->written_bytes,
                   (double)u->network_bytes};
    for (int i = 0; i < 7; i++)
        add(&l->series[i], l->bad, "%s{account=\"%s\"} %.6g\n", account_metric[i][0], row->account,
            v[i]);
    if (l->prices)
        add(&l->series[7], l->bad, "%s{account=\"%s\",currency=\"%s\"} %.9g\n",
            account_metric[7][0], row->account, l->prices->currency,
            tsr_prices_cost(l->prices, u).total);
}

/* What finished jobs used, per account, from the store (all time). */
static void account_metrics(tsr_server *srv, tsr_ctx *ctx, tsr_buffer *buf, int *bad) {
    account_lines l = {.buf = buf, .bad = bad, .prices = srv->config.prices};
    tsr_usage_query q = {.from_ms = 0, .to_ms = INT64_MAX, .by_account = 1};
    if (tsr_store_usage_report(srv->store, ctx, &q, account_row, &l))
        *bad = 1;
    for (int i = 0; i < (l.prices ? 8 : 7); i++) {
        add(buf, bad, "# HELP %s %s\n# TYPE %s counter\n", account_metric[i][0],
            account_metric[i][1], account_metric[i][0]);
        if (l.series[i].len && tsr_buffer_append(buf, l.series[i].data, l.series[i].len))
            *bad = 1;
        tsr_buffer_free(&l.series[i]);
    }
}

enum MHD_Result h_metrics(request *r) {
    tsr_server *srv = r->srv;
    int64_t counts[TSR_JOB_STATE_COUNT] = {0};
    tsr_jobs_stats js;
    tsr_buffer buf = {0};
    int bad = 0;
    tsr_status st = tsr_store_job_count_by_state(srv->store, r->ctx, counts);
    if (st)
        return reply_status(r, st);
    tsr_jobs_get_stats(srv->jobs, &js);
    add(&buf, &bad, "# HELP tessera_jobs Jobs by state.\n# TYPE tessera_jobs gauge\n");
    for (int s = 0; s < TSR_JOB_STATE_COUNT; s++)
        add(&buf, &bad, "tessera_jobs{state=\"%s\"} %lld\n", tsr_job_state_name((tsr_job_state)s),
            (long long)counts[s]);
    add(&buf, &bad,
        "# HELP tessera_tiles_processed_total Tiles processed since start.\n"
        "# TYPE tessera_tiles_processed_total counter\ntessera_tiles_processed_total %llu\n",
        (unsigned long long)js.tiles_processed);
    histogram(&buf, &bad, "tessera_tile_seconds", "CPU seconds per tile.", tsr_jobs_tile_buckets,
              js.tile_seconds_le, js.tile_seconds_sum);
    histogram(&buf, &bad, "tessera_job_seconds", "Wall seconds per finished job.",
              tsr_jobs_job_buckets, js.job_seconds_le, js.job_seconds_sum);
    add(&buf, &bad,
        "# HELP tessera_queue_depth Jobs waiting for a runner.\n# TYPE tessera_queue_depth "
        "gauge\ntessera_queue_depth %llu\n"
        "# HELP tessera_jobs_running Jobs being processed.\n# TYPE tessera_jobs_running gauge\n"
        "tessera_jobs_running %llu\n"
        "# HELP tessera_pixels_active Admitted pixels of active jobs.\n"
        "# TYPE tessera_pixels_active gauge\ntessera_pixels_active %llu\n",
        (unsigned long long)js.queued, (unsigned long long)js.running,
        (unsigned long long)js.pixels_active);
    add(&buf, &bad,
        "# HELP tessera_bytes_in_total Upload bytes received.\n"
        "# TYPE tessera_bytes_in_total counter\ntessera_bytes_in_total %llu\n"
        "# HELP tessera_bytes_out_total File bytes served.\n"
        "# TYPE tessera_bytes_out_total counter\ntessera_bytes_out_total %llu\n",
        (unsigned long long)atomic_load(&srv->bytes_in),
        (unsigned long long)atomic_load(&srv->bytes_out));
    add(&buf, &bad,
        "# HELP tessera_blob_integrity_failures_total Stored blobs that failed their integrity "
        "check (encryption at rest).\n"
        "# TYPE tessera_blob_integrity_failures_total counter\n"
        "tessera_blob_integrity_failures_total %llu\n",
        (unsigned long long)tsr_blob_integrity_failures(srv->store));
    if ((st = health_metrics(&buf, &bad, srv, r->ctx, &js)) ||
        (st = feedback_metrics(&buf, &bad, srv->store, r->ctx))) {
        tsr_buffer_free(&buf);
        return reply_status(r, st);
    }
    fleet_metrics(&buf, &bad, srv->config.workers);
    backend_metrics(&buf, &bad, srv->config.backend);
    executor_metrics(&buf, &bad, srv->config.fleet_exec);
    account_metrics(srv, r->ctx, &buf, &bad);
    transform_metrics(&buf, &bad, srv);
    http_metrics(&buf, &bad, srv);
    if (bad) {
        tsr_buffer_free(&buf);
        return reply_error(r, 500, "internal", "cannot format the metrics");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(buf.len, buf.data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        tsr_buffer_free(&buf);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    return reply(r, 200, resp);
}
