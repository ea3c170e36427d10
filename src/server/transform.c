/* POST /api/v1/transform?pipeline=...: the image in the body, the result in
 * the answer, as imaginary and imgproxy users work. The query is checked
 * before any body byte is read (the pipeline as POST /jobs checks it, the
 * output settings with the job API's parser); the body streams into a
 * memfd (no store, no fsync, capped; a finished body's memfd is reused,
 * transform_gate.c); then the run waits for a slot of the
 * transform gate (transform_gate.c) and runs on this connection's thread,
 * its tiles on the engine's local pool that local jobs use, through the
 * same code as a job's image and `tessera process` (tsr_image_run_file),
 * so the bytes are theirs. No job row, no blob; what it used goes to its
 * account's usage (transform_tally.c). docs/internals/transform.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h> /* memfd_create (_GNU_SOURCE is set by the build) */
#include <unistd.h>

#include "server/server_internal.h"
#include "service/image_run.h"
#include "util/clock.h"
#include "util/units.h"

#define TRANSFORM_WAIT_SECONDS 30.0       /* longest wait for a slot before 503 busy */
#define TRANSFORM_RETRY_AFTER  1          /* Retry-After of a 503 busy, seconds */
#define TRANSFORM_QUALITY      85         /* the job API's default quality */
#define SMALL_RESULT           (1u << 20) /* results up to this size are answered from memory */

struct transform_body {
    int fd;                    /* memfd with the body so far; -1 = none */
    uint64_t bytes;            /* body bytes received */
    uint64_t cap;              /* body byte cap */
    tsr_status err;            /* first error; the rest of the body is dropped */
    int admitted;              /* holds an admission of the gate, not yet left */
    tsr_pipeline *pipe;        /* from ?pipeline= */
    tsr_job_settings settings; /* format (UNKNOWN: the input's when the API writes it,
                                  else PNG), quality, tile (0: the server's) */
};

/* CPU and device time of a run's tiles, from the engine's callbacks
 * (serialised by the engine). */
typedef struct tile_time {
    double cpu;    /* CPU seconds of its tiles */
    double device; /* wall seconds of its tiles on the OpenCL device */
} tile_time;

static void on_tile(void *user, double seconds) {
    ((tile_time *)user)->cpu += seconds;
}

static void on_device(void *user, double seconds) {
    ((tile_time *)user)->device += seconds;
}

void transform_body_free(request *r) {
    transform_body *tb = r->tb;
    if (!tb)
        return;
    if (tb->admitted)
        gate_leave(r->srv->gate, 0);
    gate_body_fd_done(r->srv->gate, tb->fd);
    tsr_pipeline_free(tb->pipe);
    free(tb);
    r->tb = NULL;
}

/* Query arguments the route knows: the pipeline, a job's output settings
 * (same names), and `record`. */
static const char *const known_args[] = {"pipeline", "format",  "quality", "speed",
                                         "tile",     "pyramid", "frame",   "record"};

/* Kinds of output settings in the query. */
typedef enum arg_kind { ARG_TEXT, ARG_NUMBER, ARG_BOOLEAN } arg_kind;

static enum MHD_Result find_unknown(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
    (void)kind, (void)value;
    for (size_t i = 0; i < sizeof known_args / sizeof known_args[0]; i++)
        if (!strcmp(key, known_args[i]))
            return MHD_YES;
    snprintf(cls, 64, "%.63s", key);
    return MHD_NO;
}

/* An output setting from the query as the JSON value parse_output reads
 * (a whole number, true or false, else a string); replies 400 itself and
 * returns 0 when it is not one. */
static int output_arg(request *r, json_t *out, const char *name, arg_kind kind,
                      enum MHD_Result *res) {
    static const char *const wanted[] = {"UTF-8 text", "a whole number", "true or false"};
    const char *v = query_arg(r, name);
    char *end;
    if (!v)
        return 1;
    long long n = strtoll(v, &end, 10);
    json_t *value = NULL;
    if (kind == ARG_TEXT)
        value = json_string(v);
    else if (kind == ARG_NUMBER && *v && !*end && n >= 0 && n <= INT32_MAX)
        value = json_integer(n);
    else if (kind == ARG_BOOLEAN && (!strcmp(v, "true") || !strcmp(v, "false")))
        value = json_boolean(!strcmp(v, "true"));
    if (value && json_object_set_new(out, name, value) == 0)
        return 1;
    *res = reply_error(r, 400, "bad_request", "%s must be %s", name, wanted[kind]);
    return 0;
}

/* The query's output settings into tb->settings with the job API's parser
 * (`out`: an empty object to fill); replies itself. */
static int output_settings(request *r, transform_body *tb, json_t *out, enum MHD_Result *res) {
    static const struct {
        const char *name;
        arg_kind kind;
    } args[] = {{"format", ARG_TEXT}, {"quality", ARG_NUMBER},  {"speed", ARG_NUMBER},
                {"tile", ARG_NUMBER}, {"pyramid", ARG_BOOLEAN}, {"frame", ARG_NUMBER}};
    tb->settings = (tsr_job_settings){.format = TSR_FORMAT_PNG, .quality = TRANSFORM_QUALITY};
    for (size_t i = 0; i < sizeof args / sizeof args[0]; i++)
        if (!output_arg(r, out, args[i].name, args[i].kind, res))
            return 0;
    if (!parse_output(r, out, &tb->settings, res))
        return 0;
    if (!json_object_get(out, "format"))
        tb->settings.format = TSR_FORMAT_UNKNOWN; /* the input's, decided once it is read */
    return 1;
}

/* Reads the pipeline and the output settings from the query into tb;
 * replies 400/413 itself and returns 0 when they are not usable. */
static int transform_query(request *r, transform_body *tb, enum MHD_Result *res) {
    char unknown[64] = "";
    const char *text = query_arg(r, "pipeline"), *record = query_arg(r, "record");
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, find_unknown, unknown);
    if (unknown[0]) {
        *res = reply_error(r, 400, "bad_request",
                           "unknown query parameter %s (known: pipeline, format, quality, "
                           "speed, tile, pyramid, frame)",
                           unknown);
        return 0;
    }
    if (record && strcmp(record, "false") && strcmp(record, "0")) {
        *res = reply_error(r, 400, "bad_request",
                           "record is not supported: a transform keeps nothing; to keep the "
                           "image and its result, upload it and submit a job");
        return 0;
    }
    if (!text || !text[strspn(text, " \t\r\n")]) {
        *res = reply_error(r, 400, "bad_request", "the query needs a pipeline: ?pipeline=...");
        return 0;
    }
    const char *p = text + strspn(text, " \t\r\n");
    json_t *v = *p == '[' ? json_loads(text, 0, NULL) : NULL, *out = json_object();
    if (!v)
        v = json_string(text);
    if (!v || !out) {
        *res = reply_error(r, 503, "unavailable", "out of memory");
        json_decref(v);
        json_decref(out);
        return 0;
    }
    int ok = request_pipeline(r, v, &tb->pipe, res) && output_settings(r, tb, out, res);
    json_decref(v);
    json_decref(out);
    return ok;
}

/* The limits of a transform: the server's, with the transform's body and
 * pixel caps (and a whole-image buffer no larger than the pixel cap's). */
static void transform_limits(request *r, transform_body *tb) {
    const tsr_server_transform *c = &r->srv->config.transform;
    tsr_limits lim = *tsr_ctx_limits(r->ctx);
    tb->cap = c->max_bytes;
    lim.max_file_bytes = c->max_bytes;
    if (c->max_pixels < lim.max_pixels)
        lim.max_pixels = c->max_pixels;
    if (lim.max_pixels * 4 < lim.max_alloc)
        lim.max_alloc = lim.max_pixels * 4;
    tsr_ctx_set_limits(r->ctx, &lim);
}

/* Replies 503 busy with Retry-After. */
static enum MHD_Result reply_busy(request *r, const char *why) {
    transform_gate_stats gs;
    gate_stats(r->srv->gate, &gs);
    r->retry_after = TRANSFORM_RETRY_AFTER;
    return reply_error(r, 503, "busy",
                       "%s: %u transforms run at once here and %u more may wait (%u running, %u "
                       "waiting now); retry in %d s",
                       why, gs.slots, gs.queue, gs.running, gs.waiting, r->retry_after);
}

int transform_begin(request *r, enum MHD_Result *result) {
    transform_body *tb = calloc(1, sizeof *tb);
    if (!tb) {
        *result = reply_error(r, 503, "unavailable", "out of memory");
        return 0;
    }
    tb->fd = -1;
    r->tb = tb;
    if (atomic_load(&r->srv->draining) && (r->retry_after = 5)) {
        *result = reply_error(r, 503, "unavailable", "the server is shutting down");
        return 0;
    }
    if (!transform_query(r, tb, result))
        return 0;
    const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (type && !strncasecmp(type, "multipart/", 10)) {
        *result = reply_error(r, 415, "unsupported_media_type",
                              "send the image itself as the body, not a multipart form");
        return 0;
    }
    transform_limits(r, tb);
    const char *len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (len && strtoull(len, NULL, 10) > tb->cap) {
        char size[TSR_UNITS_TEXT], cap[TSR_UNITS_TEXT];
        tsr_units_pair(TSR_UNIT_BYTES, strtoull(len, NULL, 10), tb->cap, size, cap);
        *result = reply_error(r, 413, "too_large",
                              "the image is %s, more than this endpoint's limit of %s", size, cap);
        return 0;
    }
    if (!gate_admit(r->srv->gate)) {
        *result = reply_busy(r, "too many transforms");
        return 0;
    }
    tb->admitted = 1;
    if ((tb->fd = gate_body_fd(r->srv->gate)) < 0) {
        *result = reply_error(r, 503, "unavailable", "cannot hold the body: %s", strerror(errno));
        return 0;
    }
    return 1;
}

void transform_feed(request *r, const char *data, size_t size) {
    transform_body *tb = r->tb;
    atomic_fetch_add(&r->srv->bytes_in, size);
    tb->bytes += size;
    if (tb->err)
        return;
    if (tb->bytes > tb->cap) {
        char cap[TSR_UNITS_TEXT];
        tsr_units_format(TSR_UNIT_BYTES, tb->cap, cap);
        tb->err =
            tsr_error(r->ctx, TSR_ERR_LIMIT, "the image is over this endpoint's limit of %s", cap);
        return;
    }
    while (size) {
        ssize_t n = write(tb->fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            tb->err =
                tsr_error(r->ctx, errno == ENOMEM || errno == ENOSPC ? TSR_ERR_NOMEM : TSR_ERR_IO,
                          "cannot hold the body: %s", strerror(errno));
            return;
        }
        data += n;
        size -= (size_t)n;
    }
}

/* Runs the pipeline on the body into a new memfd, *result_fd (the caller
 * closes it); *used gets what the run used. */
static tsr_status transform_run(request *r, transform_body *tb, tsr_image_output *out,
                                int *result_fd, tsr_job_usage *used) {
    char path[64];
    tile_time tt = {0};
    snprintf(path, sizeof path, "/proc/self/fd/%d", tb->fd);
    memset(out, 0, sizeof *out);
    tsr_format format = tb->settings.format;
    if (format == TSR_FORMAT_UNKNOWN) { /* the input's, when the API writes it */
        uint8_t head[16];
        ssize_t n = pread(tb->fd, head, sizeof head, 0);
        format = tsr_format_detect(head, n > 0 ? (size_t)n : 0);
        format = output_format_allowed(format) ? format : TSR_FORMAT_PNG;
    }
    if ((*result_fd = memfd_create("tessera-transform-result", MFD_CLOEXEC)) < 0)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "cannot hold the result: %s", strerror(errno));
    const tsr_jobs_local *pool = &r->srv->pool;
    tsr_image_run run = {.pipe = tb->pipe,
                         .format = format,
                         .quality = tb->settings.quality,
                         .speed = tb->settings.speed,
                         .layout = tb->settings.layout,
                         .frame = tb->settings.frame_set ? tb->settings.frame : -1,
                         .tile = tb->settings.tile ? tb->settings.tile
                                 : pool->tile      ? pool->tile
                                                   : TSR_DEFAULT_TILE,
                         .exec = pool->exec,
                         .accel = pool->accel,
                         .tile_done = on_tile,
                         .device_done = on_device,
                         .progress_user = &tt,
                         .label = "transform",
                         .memory_budget = pool->memory_budget};
    tsr_status st = tsr_image_run_file(r->ctx, path, &run, *result_fd, out);
    *used = (tsr_job_usage){.cpu_seconds = tt.cpu + out->codec_cpu_seconds,
                            .gpu_seconds = tt.device,
                            .read_bytes = (int64_t)tb->bytes,
                            .written_bytes = (int64_t)out->bytes,
                            .peak_pixels = (int64_t)out->in_width * out->in_height +
                                           (int64_t)out->width * out->height};
    return st;
}

/* Answers a failed run: 400 bad_pipeline when the pipeline cannot run on
 * this image (as POST /jobs answers), else as an upload of it would be
 * answered (413, 415, 422, 400), never naming a server path. */
static enum MHD_Result reply_run_error(request *r, transform_body *tb, tsr_status st,
                                       tsr_image_output *out) {
    char path[64], msg[1200];
    const char *text = tsr_ctx_message(r->ctx);
    snprintf(path, sizeof path, "/proc/self/fd/%d", tb->fd);
    if (!strncmp(text, path, strlen(path))) {
        text += strlen(path);
        text += strspn(text, ": ");
    }
    snprintf(msg, sizeof msg, "%s", text[0] ? text : tsr_status_name(st));
    tsr_ctx_reset(r->ctx);
    tsr_error(r->ctx, st, "%s", msg);
    if (out->failed == TSR_IMAGE_PLAN && (st == TSR_ERR_USAGE || st == TSR_ERR_LIMIT))
        return reply_error(r, 400, "bad_pipeline", "%s", msg);
    return reply_status(r, st);
}

/* The answer's body from the result in memfd `fd` (consumed): a copy in
 * memory when small (libmicrohttpd sends it with the headers; from a
 * descriptor the headers and the body go out in two sends, about 0.1 ms
 * more a request on loopback), else the memfd itself. */
static struct MHD_Response *result_response(int fd, uint64_t bytes) {
    if (bytes > SMALL_RESULT) {
        struct MHD_Response *resp = MHD_create_response_from_fd(bytes, fd);
        if (!resp)
            close(fd);
        return resp;
    }
    char *copy = malloc(bytes ? bytes : 1);
    ssize_t got = copy ? pread(fd, copy, bytes, 0) : -1;
    close(fd);
    struct MHD_Response *resp =
        got == (ssize_t)bytes ? MHD_create_response_from_buffer(bytes, copy, MHD_RESPMEM_MUST_FREE)
                              : NULL;
    if (!resp)
        free(copy);
    return resp;
}

/* The result in memfd `fd` (consumed) as the answer; `t` holds the
 * monotonic seconds when the body was in, the run began and ended. */
static enum MHD_Result reply_result(request *r, int fd, const tsr_image_output *out,
                                    const double t[3]) {
    char timing[128], disposition[64];
    struct MHD_Response *resp = result_response(fd, out->bytes);
    if (!resp)
        return MHD_NO;
    atomic_fetch_add(&r->srv->bytes_out, out->bytes);
    snprintf(timing, sizeof timing, "body;dur=%.3f, queue;dur=%.3f, run;dur=%.3f",
             (t[0] - r->start) * 1e3, (t[1] - t[0]) * 1e3, (t[2] - t[1]) * 1e3);
    int zip = r->tb->settings.layout == TSR_LAYOUT_DZI; /* NAME.dzi and NAME_files/ */
    snprintf(disposition, sizeof disposition, "%s; filename=\"result.%s\"",
             zip ? "attachment" : "inline", zip ? "zip" : tsr_format_extension(out->format));
    MHD_add_response_header(resp, "Content-Type",
                            zip ? "application/zip" : tsr_format_mime(out->format));
    MHD_add_response_header(resp, "Content-Disposition", disposition);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "Server-Timing", timing);
    return reply(r, 200, resp);
}

enum MHD_Result h_transform(request *r) {
    transform_body *tb = r->tb;
    tsr_image_output out;
    tsr_job_usage used;
    int result_fd = -1;
    if (tb->err)
        return reply_status(r, tb->err);
    if (tb->bytes == 0)
        return reply_error(r, 400, "bad_request", "empty body: send the image as the body");
    double t[3] = {tsr_clock_mono_s(), 0, 0};     /* body in, run began, run ended */
    if (ftruncate(tb->fd, (off_t)tb->bytes) != 0) /* a kept memfd has an older body past it */
        return reply_error(r, 503, "unavailable", "cannot hold the body: %s", strerror(errno));
    if (!gate_run(r->srv->gate, TRANSFORM_WAIT_SECONDS))
        return reply_busy(r, atomic_load(&r->srv->draining) ? "the server is shutting down"
                                                            : "no transform slot came free");
    t[1] = tsr_clock_mono_s();
    tsr_status st = transform_run(r, tb, &out, &result_fd, &used);
    t[2] = tsr_clock_mono_s();
    gate_leave(r->srv->gate, 1);
    tb->admitted = 0;
    if (st) {
        if (result_fd >= 0)
            close(result_fd);
        return reply_run_error(r, tb, st, &out);
    }
    gate_body_fd_done(r->srv->gate, tb->fd); /* kept or freed before the answer is sent */
    tb->fd = -1;
    tally_add(r->srv->tally, r->user.id, &used, t[2] - t[1]);
    return reply_result(r, result_fd, &out, t);
}
