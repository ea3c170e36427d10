/* The listener: libmicrohttpd with one thread per connection (event
 * streams block in their reader), request setup, routing, body collection,
 * and the per-request log line. */
#include <arpa/inet.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/random.h"

/* Milliseconds since the request began, to the microsecond. */
static double elapsed_ms(const request *r) {
    return round((tsr_clock_mono_s() - r->start) * 1e6) / 1e3;
}

void json_object_add_pairs(json_t *object, va_list ap) {
    for (const char *key; (key = va_arg(ap, const char *));) {
        json_t *v = va_arg(ap, json_t *);
        json_object_set_new(object, key, v ? v : json_null());
    }
}

/* `v` as the log detail `key`. An object or array becomes JSON text in
 * *raw, which the caller frees. */
static tsr_log_field log_field(const char *key, json_t *v, char **raw) {
    tsr_log_field f = {.key = key, .kind = TSR_LOG_NULL};
    if (json_is_string(v)) {
        f.kind = TSR_LOG_STRING;
        f.string = json_string_value(v);
    } else if (json_is_integer(v)) {
        f.kind = TSR_LOG_INT;
        f.integer = json_integer_value(v);
    } else if (json_is_real(v)) {
        f.kind = TSR_LOG_REAL;
        f.real = json_real_value(v);
    } else if (json_is_boolean(v)) {
        f.kind = TSR_LOG_BOOL;
        f.integer = json_is_true(v);
    } else if (json_is_object(v) || json_is_array(v)) {
        *raw = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        f.kind = *raw ? TSR_LOG_RAW : TSR_LOG_NULL;
        f.string = *raw;
    }
    return f;
}

void tsr_server_log_json(const char *level, const char *msg, json_t *detail) {
    tsr_log_level lv = TSR_LOG_INFO;
    tsr_log_level_parse(level, &lv);
    if (!tsr_log_enabled(lv))
        return;
    size_t n = json_object_size(detail), i = 0;
    tsr_log_field *fields = calloc(n ? n : 1, sizeof *fields);
    char **raw = calloc(n ? n : 1, sizeof *raw);
    const char *key;
    json_t *v;
    if (fields && raw) { /* else out of memory: the message without its detail */
        json_object_foreach(detail, key, v) {
            fields[i] = log_field(key, v, &raw[i]);
            i++;
        }
    }
    tsr_log(lv, msg, fields, i);
    for (size_t k = 0; raw && k < i; k++)
        free(raw[k]);
    free(raw);
    free(fields);
}

void tsr_server_log(const char *level, const char *msg, ...) {
    json_t *detail = json_object();
    va_list ap;
    va_start(ap, msg);
    json_object_add_pairs(detail, ap);
    va_end(ap);
    tsr_server_log_json(level, msg, detail);
    json_decref(detail);
}

/* Requests the rate limit leaves alone: probes and the metrics scrape. */
static int rate_exempt(const route *rt) {
    return !strcmp(rt->pattern, "/healthz") || !strcmp(rt->pattern, "/readyz") ||
           !strcmp(rt->pattern, "/metrics");
}

/* Takes (or, with `take` 0, only checks) a token of bucket `key`; when there
 * is none, replies 429 with Retry-After, writes at most one audit line per
 * key a second, and returns 0. */
static int rate_allow(request *r, const char *key, int take, enum MHD_Result *result) {
    tsr_ratelimit *rl = r->srv->rate;
    double now = tsr_clock_mono_s(), retry = 0;
    int parts = tsr_jobs_coordinators(r->srv->jobs); /* several share the limits */
    if (parts != atomic_load(&r->srv->rate_parts)) {
        atomic_store(&r->srv->rate_parts, parts);
        tsr_ratelimit_set_share(rl, parts);
    }
    if (take ? tsr_ratelimit_take(rl, key, now, &retry) : tsr_ratelimit_peek(rl, key, now, &retry))
        return 1;
    if (!take) /* counts the refusal; an empty bucket stays as it is */
        tsr_ratelimit_take(rl, key, now, NULL);
    r->retry_after = retry < 1 ? 1 : (int)(retry + 0.999);
    const char *who = key[0] == 'u' ? "account" : "client address";
    *result =
        reply_error(r, 429, "rate_limited",
                    "more than %g requests a second (burst %g) from this %s; retry in %d s",
                    r->srv->config.rate_limit, r->srv->config.rate_burst, who, r->retry_after);
    if (tsr_ratelimit_log_due(rl, key, now, 1.0))
        audit(r, "warn", "rate_limited", "reason", json_string(r->reason), "retry_after",
              json_integer(r->retry_after), NULL);
    return 0;
}

/* Authenticates with the rate limit around it: a request without a valid
 * token spends its address's bucket (so token guessing is limited too), a
 * signed-in request its account's. Returns 0 once a reply was queued. */
static int auth_and_rate(request *r, const route *rt, enum MHD_Result *result) {
    char addr[INET6_ADDRSTRLEN], key[TSR_RATELIMIT_KEY_MAX + 1];
    int limited = r->srv->rate && !rate_exempt(rt);
    if (limited) {
        request_address(r, addr, sizeof addr);
        snprintf(key, sizeof key, "a:%s", addr);
        if (!rate_allow(r, key, rt->access == ACCESS_PUBLIC, result))
            return 0;
    }
    if (!auth_check(r, rt, result)) {
        if (limited)
            tsr_ratelimit_take(r->srv->rate, key, tsr_clock_mono_s(), NULL);
        return 0;
    }
    if (!limited || rt->access == ACCESS_PUBLIC)
        return 1;
    snprintf(key, sizeof key, "u:%lld", (long long)r->user.id);
    return rate_allow(r, key, 1, result);
}

/* Sets up a request at the first call: id, route, auth, body collection.
 * Returns 0 once a response was queued (the request ends there). */
static int request_begin(request *r, const char *url, enum MHD_Result *result) {
    int path_known = 0;
    r->route_index = route_match(r->method, url, r->params, &path_known);
    if (r->route_index < 0 && !strcmp(r->method, "HEAD")) {
        *result = reply_error(r, 405, "method_not_allowed", "HEAD is not supported; use GET");
        return 0;
    }
    if (r->route_index < 0) {
        if (!path_known) {
            *result = reply_error(r, 404, "not_found", "no such path: %.200s", url);
            return 0;
        }
        route_allowed(url, r->allow, sizeof r->allow);
        *result = reply_error(r, 405, "method_not_allowed", "%s is not allowed here (allowed: %s)",
                              r->method, r->allow);
        return 0;
    }
    const route *rt = &server_routes[r->route_index];
    if (!auth_and_rate(r, rt, result))
        return 0;
    const char *len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (rt->body == BODY_UPLOAD)
        return upload_begin(r, result);
    if (rt->body == BODY_IMAGE)
        return transform_begin(r, result);
    if (rt->body == BODY_JSON) {
        const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
        int has_body = len && strtoull(len, NULL, 10) > 0;
        if (has_body && (!type || strncasecmp(type, "application/json", 16))) {
            *result = reply_error(r, 415, "unsupported_media_type",
                                  "send the body as Content-Type application/json");
            return 0;
        }
        if (len && strtoull(len, NULL, 10) > JSON_BODY_MAX) {
            *result = reply_error(r, 413, "too_large", "a JSON body may hold at most %u bytes",
                                  JSON_BODY_MAX);
            return 0;
        }
        r->body.max = JSON_BODY_MAX;
    }
    return 1;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls) {
    (void)version;
    tsr_server *srv = cls;
    request *r = *con_cls;
    enum MHD_Result result = MHD_YES;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)) || !(r->ctx = tsr_ctx_new())) {
            free(r);
            return MHD_NO;
        }
        *con_cls = r;
        r->srv = srv;
        r->conn = conn;
        r->method = method;
        r->start = tsr_clock_mono_s();
        r->route_index = -1;
        snprintf(r->id, sizeof r->id, "%s%08llx", srv->id_prefix,
                 (unsigned long long)atomic_fetch_add(&srv->next_request, 1));
        tsr_limits lim = srv->config.limits; /* zero fields: the defaults */
        if (srv->config.max_upload_bytes)
            lim.max_file_bytes = srv->config.max_upload_bytes;
        tsr_ctx_set_limits(r->ctx, &lim);
        if (!request_begin(r, url, &result))
            return result;
        return MHD_YES;
    }
    if (r->queued) { /* answered early: drop what is still coming */
        *data_size = 0;
        return MHD_YES;
    }
    const route *rt = &server_routes[r->route_index];
    if (*data_size) {
        if (rt->body == BODY_UPLOAD)
            upload_feed(r, data, *data_size);
        else if (rt->body == BODY_IMAGE)
            transform_feed(r, data, *data_size);
        else if (rt->body == BODY_JSON && !r->body_over &&
                 tsr_buffer_append(&r->body, data, *data_size))
            r->body_over = 1;
        *data_size = 0;
        return MHD_YES;
    }
    if (r->body_over)
        return reply_error(r, 413, "too_large", "a JSON body may hold at most %u bytes",
                           JSON_BODY_MAX);
    return rt->handler(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    tsr_server *srv = cls;
    request *r = *con_cls;
    if (!r)
        return;
    *con_cls = NULL;
    metrics_count(srv, r->route_index, r->status);
    if (r->route_index >= 0 && server_routes[r->route_index].body == BODY_UPLOAD &&
        r->status >= 400 && r->status != 401 && r->status != 403) {
        const char *len = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        audit(r, "warn", "upload_rejected", "status", json_integer(r->status), "reason",
              json_string(r->reason[0] ? r->reason : "aborted"), "declared_bytes",
              len ? json_integer((json_int_t)strtoll(len, NULL, 10)) : NULL, "received_bytes",
              json_integer((json_int_t)upload_received(r->up)), NULL);
    }
    const char *route = r->route_index >= 0 ? server_routes[r->route_index].pattern : "";
    tsr_server_log(r->status >= 500 ? "error" : "info", "request", "request_id", json_string(r->id),
                   "method", json_string(r->method), "route", json_string(route), "status",
                   json_integer(r->status), "ms", json_real(elapsed_ms(r)), "job_id",
                   r->job_id[0] ? json_string(r->job_id) : NULL, "completed",
                   json_boolean(toe == MHD_REQUEST_TERMINATED_COMPLETED_OK), NULL);
    upload_free(r->up);
    transform_body_free(r);
    tsr_buffer_free(&r->body);
    tsr_ctx_free(r->ctx);
    free(r);
}

/* libmicrohttpd's memory per connection (headers and the read buffer) and
 * the step it grows the read buffer by. Its defaults (32 KiB, 1 KiB) read
 * an upload or a transform's body a few KiB per pass of the connection's
 * loop (poll, recv, our callback): 2.7 MB took 9 to 30 ms on loopback.
 * The pool is reserved, not touched, so idle connections cost no memory. */
#define CONNECTION_MEMORY      (256u << 10)
#define CONNECTION_MEMORY_STEP (64u << 10)

/* TLS 1.2 and 1.3 only. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

static void log_mhd(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    tsr_server_log("warn", "http", "detail", json_string(msg), NULL);
}

/* Frees `srv` and the parts server_parts made (each may be missing). */
static void server_free(tsr_server *srv) {
    preview_runs_free(srv->previews);
    tally_free(srv->tally);
    gate_free(srv->gate);
    pthread_mutex_destroy(&srv->metrics_lock);
    pthread_mutex_destroy(&srv->ready_lock);
    tsr_ratelimit_free(srv->rate);
    free(srv);
}

/* The transform endpoint's defaults (server.h) and its gate and usage
 * writer; its tiles run on the jobs' local pool. */
static tsr_status transform_parts(tsr_ctx *ctx, tsr_server *srv) {
    tsr_server_transform *t = &srv->config.transform;
    tsr_jobs_local_pool(srv->jobs, &srv->pool);
    if (!t->concurrency)
        t->concurrency = (unsigned)tsr_executor_threads(srv->pool.exec);
    if (t->queue < 0)
        t->queue = 4 * (int)t->concurrency;
    if (!t->max_bytes)
        t->max_bytes = TSR_SERVER_TRANSFORM_BYTES_DEFAULT;
    if (!t->max_pixels)
        t->max_pixels = TSR_SERVER_TRANSFORM_PIXELS_DEFAULT;
    if (!(srv->gate = gate_new(t->concurrency, (unsigned)t->queue)) ||
        !(srv->tally = tally_new(srv->store)))
        return tsr_error(ctx, TSR_ERR_INTERNAL, "serve: cannot start the transform endpoint");
    return TSR_OK;
}

/* The server's parts besides the listener: the rate limiter, the request
 * id prefix, the preview watchdog and the transform endpoint's. */
static tsr_status server_parts(tsr_ctx *ctx, tsr_server *srv) {
    tsr_server_config *config = &srv->config;
    pthread_mutex_init(&srv->metrics_lock, NULL);
    pthread_mutex_init(&srv->ready_lock, NULL);
    if (config->rate_limit > 0) {
        double burst = config->rate_burst > 0 ? config->rate_burst : 20 * config->rate_limit;
        config->rate_burst = burst < 1 ? 1 : burst;
        if (!(srv->rate = tsr_ratelimit_new(config->rate_limit, config->rate_burst, RATE_SLOTS)))
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "serve: bad --rate-limit %g / --rate-burst %g (or out of memory)",
                             config->rate_limit, config->rate_burst);
    }
    tsr_status st = tsr_proxies_parse(ctx, config->trusted_proxies, &srv->proxies);
    if (!st)
        st = tsr_random_hex(ctx, srv->id_prefix, ID_PREFIX_DIGITS);
    if (st)
        return st;
    if (!(srv->previews = preview_runs_new()))
        return tsr_error(ctx, TSR_ERR_INTERNAL, "serve: cannot start the preview watchdog");
    return transform_parts(ctx, srv);
}

tsr_status tsr_server_start(tsr_ctx *ctx, const tsr_server_config *config, tsr_store *store,
                            tsr_jobs *jobs, tsr_server **out) {
    *out = NULL;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)config->port);
    if (config->port < 0 || config->port > 65535 ||
        inet_pton(AF_INET, config->host, &addr.sin_addr) != 1)
        return tsr_error(ctx, TSR_ERR_USAGE, "serve: --listen wants IPv4-ADDRESS:PORT (got %s:%d)",
                         config->host, config->port);
    tsr_server *srv = calloc(1, sizeof *srv);
    if (!srv)
        return tsr_error(ctx, TSR_ERR_NOMEM, "serve: out of memory");
    srv->store = store;
    srv->jobs = jobs;
    srv->config = *config;
    tsr_status st = server_parts(ctx, srv);
    if (st) {
        server_free(srv);
        return st;
    }
    unsigned max_conn = config->max_connections ? config->max_connections : 256;
    unsigned per_ip = config->per_ip_limit ? config->per_ip_limit : 64;
    unsigned timeout = config->timeout_s ? config->timeout_s : 60;
    int tls = config->tls_cert && config->tls_key;
    struct MHD_OptionItem tls_options[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)config->tls_cert},
                                           {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)config->tls_key},
                                           {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
                                           {MHD_OPTION_END, 0, NULL}};
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG |
            MHD_USE_POLL | (tls ? MHD_USE_TLS : 0),
        0, NULL, NULL, on_request, srv, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_CONNECTION_LIMIT, max_conn,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip, MHD_OPTION_CONNECTION_TIMEOUT, timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_MEMORY_INCREMENT, (size_t)CONNECTION_MEMORY_STEP,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_ARRAY,
        tls ? tls_options : tls_options + 3, MHD_OPTION_END);
    if (!srv->daemon) {
        server_free(srv);
        return tsr_error(ctx, TSR_ERR_IO, "serve: cannot listen on %s:%d (in use or not allowed%s)",
                         config->host, config->port,
                         tls ? ", or TLS setup failed: see the log" : "");
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : config->port;
    *out = srv;
    return TSR_OK;
}

int tsr_server_port(const tsr_server *server) {
    return server->port;
}

void tsr_server_drain(tsr_server *server) {
    if (!server)
        return;
    atomic_store(&server->draining, 1);
    gate_close(server->gate);
}

void tsr_server_stop(tsr_server *server) {
    if (!server)
        return;
    atomic_store(&server->draining, 1);
    gate_close(server->gate);
    MHD_stop_daemon(server->daemon);
    server_free(server); /* the usage writer writes what is left */
}
