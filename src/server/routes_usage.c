/* GET /api/v1/usage: what finished jobs and transforms used and cost, by account and by
 * day (docs/api.md, "Usage and costs"); and the per-account counters of
 * /metrics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"
#include "util/clock.h"

#define DAY_MS     86400000LL
#define DEFAULT_MS (30 * DAY_MS) /* the window when `from` is not given */

/* Parses "YYYY-MM-DD" (UTC midnight) or milliseconds since the epoch. */
static int parse_when(const char *s, int64_t *out) {
    int y, m, d;
    char end;
    if (sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &end) == 3 && m >= 1 && m <= 12 && d >= 1 &&
        d <= 31 && y >= 1970 && y <= 9999) {
        struct tm t = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
        *out = (int64_t)timegm(&t) * 1000;
        return 1;
    }
    char *e;
    long long v = strtoll(s, &e, 10);
    if (!*s || *e || v < 0)
        return 0;
    *out = v;
    return 1;
}

/* The account the query is about: 0 = all (admins only). Replies itself
 * and returns 0 on a bad or forbidden account. */
static int pick_account(request *r, int64_t *account, enum MHD_Result *res) {
    const char *name = query_arg(r, "account");
    int admin = r->user.role == TSR_ROLE_ADMIN;
    *account = admin ? 0 : r->user.id;
    if (!name || !strcmp(name, admin ? "all" : r->user.name)) {
        if (name && !admin)
            *account = r->user.id;
        return 1;
    }
    if (!admin) {
        *res = reply_error(r, 403, "forbidden", "only administrators see other accounts' usage");
        return 0;
    }
    tsr_store_user *users = NULL;
    size_t n = 0;
    if (tsr_store_user_list(r->srv->store, r->ctx, &users, &n)) {
        *res = reply_status(r, tsr_ctx_status(r->ctx));
        return 0;
    }
    *account = -1;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(users[i].name, name))
            *account = users[i].id;
    free(users);
    if (*account < 0) {
        *res = reply_error(r, 404, "not_found", "no account named %s", name);
        return 0;
    }
    return 1;
}

json_t *usage_json_of(const tsr_job_usage *u, double wall) {
    return json_pack("{s:f, s:f, s:I, s:I, s:I, s:f, s:I}", "cpu_seconds", u->cpu_seconds,
                     "gpu_seconds", u->gpu_seconds, "read_bytes", (json_int_t)u->read_bytes,
                     "written_bytes", (json_int_t)u->written_bytes, "network_bytes",
                     (json_int_t)u->network_bytes, "wall_seconds", wall, "peak_pixels",
                     (json_int_t)u->peak_pixels);
}

typedef struct report {
    tsr_server *srv;
    json_t *rows;
    int64_t jobs;
    int64_t transforms;
    tsr_job_usage total;
    double wall;
} report;

static void add_row(void *user, const tsr_usage_row *row) {
    report *rep = user;
    json_t *o = json_pack(
        "{s:s?, s:s?, s:I, s:I, s:o, s:o}", "account", row->account[0] ? row->account : NULL, "day",
        row->day[0] ? row->day : NULL, "jobs", (json_int_t)row->jobs, "transforms",
        (json_int_t)row->transforms, "usage", usage_json_of(&row->usage, row->wall_seconds), "cost",
        cost_json(rep->srv->config.prices, &row->usage));
    json_array_append_new(rep->rows, o);
    rep->jobs += row->jobs;
    rep->transforms += row->transforms;
    rep->total.cpu_seconds += row->usage.cpu_seconds;
    rep->total.gpu_seconds += row->usage.gpu_seconds;
    rep->total.read_bytes += row->usage.read_bytes;
    rep->total.written_bytes += row->usage.written_bytes;
    rep->total.network_bytes += row->usage.network_bytes;
    if (row->usage.peak_pixels > rep->total.peak_pixels)
        rep->total.peak_pixels = row->usage.peak_pixels;
    rep->wall += row->wall_seconds;
}

enum MHD_Result h_usage(request *r) {
    tsr_usage_query q = {.to_ms = tsr_clock_wall_ms() + 1, .by_day = 1};
    const char *from = query_arg(r, "from"), *to = query_arg(r, "to");
    if ((to && !parse_when(to, &q.to_ms)) || (from && !parse_when(from, &q.from_ms)))
        return reply_error(r, 400, "bad_request",
                           "from and to are dates (YYYY-MM-DD, UTC) or ms since the epoch");
    if (!from)
        q.from_ms = q.to_ms > DEFAULT_MS ? q.to_ms - DEFAULT_MS : 0;
    if (q.from_ms >= q.to_ms)
        return reply_error(r, 400, "bad_request", "from must be before to");
    enum MHD_Result res;
    if (!pick_account(r, &q.account, &res))
        return res;
    q.by_account = q.account == 0;
    report rep = {.srv = r->srv, .rows = json_array()};
    if (tsr_store_usage_report(r->srv->store, r->ctx, &q, add_row, &rep)) {
        json_decref(rep.rows);
        return reply_status(r, tsr_ctx_status(r->ctx));
    }
    json_t *body = json_pack(
        "{s:o, s:o, s:s?, s:o, s:{s:I, s:I, s:o, s:o}}", "from", json_time(q.from_ms), "to",
        json_time(q.to_ms), "currency",
        r->srv->config.prices ? r->srv->config.prices->currency : NULL, "rows", rep.rows, "totals",
        "jobs", (json_int_t)rep.jobs, "transforms", (json_int_t)rep.transforms, "usage",
        usage_json_of(&rep.total, rep.wall), "cost", cost_json(rep.srv->config.prices, &rep.total));
    return body ? reply_json(r, 200, body) : reply_error(r, 500, "internal", "cannot report usage");
}
