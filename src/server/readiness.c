/* GET /readyz: whether a load balancer should send this coordinator
 * requests. Not while it drains (shutting down), nor while its metadata
 * database or blob store does not answer (tsr_store_probe), nor, with a
 * Redis fleet, while its last poll of Redis failed. The checks run at most
 * once a second; requests in between get the last answer, so a balancer
 * polling often costs the database almost nothing. */
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"
#include "service/store_stats.h"
#include "util/clock.h"

#define CHECK_EVERY_S 1.0 /* the longest a cached answer is reused */

/* Runs the checks: "" when ready, else why not, into `why`. */
static void check(tsr_server *srv, char *why, size_t size) {
    why[0] = '\0';
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx) {
        snprintf(why, size, "out of memory");
        return;
    }
    if (tsr_store_probe(srv->store, ctx))
        snprintf(why, size, "%s", tsr_ctx_message(ctx));
    tsr_ctx_free(ctx);
    tsr_workers_counts c;
    if (!why[0] && srv->config.workers) {
        tsr_workers_monitor_counts(srv->config.workers, &c);
        if (!c.redis_up)
            snprintf(why, size, "Redis cannot be reached");
    }
}

enum MHD_Result h_readyz(request *r) {
    tsr_server *srv = r->srv;
    if (atomic_load(&srv->draining)) {
        r->retry_after = 5;
        return reply_error(r, 503, "unavailable", "the server is shutting down");
    }
    char why[sizeof srv->ready_why];
    pthread_mutex_lock(&srv->ready_lock);
    double now = tsr_clock_mono_s();
    if (srv->ready_at == 0 || now - srv->ready_at >= CHECK_EVERY_S) {
        check(srv, srv->ready_why, sizeof srv->ready_why);
        srv->ready_at = tsr_clock_mono_s();
    }
    memcpy(why, srv->ready_why, sizeof why);
    pthread_mutex_unlock(&srv->ready_lock);
    if (why[0]) {
        r->retry_after = 2;
        return reply_error(r, 503, "unavailable", why);
    }
    return reply_text(r, 200, "application/json", "{\"status\":\"ready\"}");
}
