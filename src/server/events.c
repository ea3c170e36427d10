/* GET /api/v1/jobs/{id}/events: Server-Sent Events. The first event is the
 * job's current state; then `event: progress` on every change (at most
 * five a second), `: keepalive` comments every 15 s while idle, and
 * `event: done` with the final job object before the stream closes. The
 * reader blocks in tsr_jobs_wait (one thread per connection) in short
 * slices so a draining server ends the stream quickly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "util/clock.h"

#define KEEPALIVE_S   15.0 /* idle seconds between keepalive comments */
#define MIN_GAP_S     0.2  /* least seconds between two progress events */
#define WAIT_SLICE_MS 500  /* one wait on the scheduler */

/* One open event stream. */
typedef struct sse {
    tsr_server *srv;     /* the server */
    tsr_store_user user; /* the caller */
    char id[65];         /* the job */
    uint64_t version;    /* live version last sent */
    int started;         /* the first event was made */
    int done;            /* `done` was made: end after sending */
    char *pending;       /* bytes to send (owned) */
    size_t len;          /* bytes in pending */
    size_t off;          /* bytes of pending already sent */
    char *last;          /* data of the last event (owned) */
    long event_id;       /* id: of the last event */
    double last_write;   /* monotonic seconds of the last write */
} sse;

static void set_pending(sse *s, char *text) {
    free(s->pending);
    s->pending = text;
    s->len = text ? strlen(text) : 0;
    s->off = 0;
    s->last_write = tsr_clock_mono_s();
}

/* Makes the next event from the job's current state: `done` when it is
 * terminal, `progress` when it changed (or `force`), else nothing. */
static void make_event(sse *s, int force) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store_job *job = NULL;
    tsr_job_live live;
    if (tsr_jobs_live(s->srv->jobs, s->id, &live))
        s->version = live.version;
    if (!ctx || tsr_store_job_get(s->srv->store, ctx, &s->user, s->id, &job) || !job) {
        s->done = 1; /* deleted meanwhile, or the store failed: end the stream */
        tsr_ctx_free(ctx);
        return;
    }
    json_t *o = job_json(s->srv, job);
    const char *state = json_string_value(json_object_get(o, "state"));
    int terminal = state && (!strcmp(state, "succeeded") || !strcmp(state, "failed") ||
                             !strcmp(state, "cancelled"));
    char *data = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(o);
    tsr_store_job_free(job);
    tsr_ctx_free(ctx);
    if (!data) {
        s->done = 1;
        return;
    }
    if (!terminal && !force && s->last && !strcmp(s->last, data)) {
        free(data);
        return;
    }
    size_t n = strlen(data) + 64;
    char *text = malloc(n);
    if (text)
        snprintf(text, n, "id: %ld\nevent: %s\ndata: %s\n\n", ++s->event_id,
                 terminal ? "done" : "progress", data);
    free(s->last);
    s->last = data;
    s->done = terminal || !text;
    set_pending(s, text);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    sse *s = cls;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->pending + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        if (s->done || atomic_load(&s->srv->draining))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!s->started) {
            s->started = 1;
            make_event(s, 1);
            continue;
        }
        tsr_job_live live;
        int held = tsr_jobs_live(s->srv->jobs, s->id, &live);
        if (held && live.version == s->version) {
            tsr_jobs_wait(s->srv->jobs, s->id, s->version, WAIT_SLICE_MS);
            held = tsr_jobs_live(s->srv->jobs, s->id, &live);
        }
        /* Throttle progress events to one per MIN_GAP_S, in short naps so a
         * job that finishes (leaves the scheduler) gets its `done` at once. */
        while (held && tsr_clock_mono_s() - s->last_write < MIN_GAP_S) {
            tsr_clock_sleep_ms(10);
            held = tsr_jobs_live(s->srv->jobs, s->id, &live);
        }
        make_event(s, 0);
        if (!held && s->off >= s->len && !s->done) {
            /* Not held and not finished (e.g. the server is stopping): poll. */
            tsr_clock_sleep_ms(WAIT_SLICE_MS);
        }
        if (s->off >= s->len && tsr_clock_mono_s() - s->last_write >= KEEPALIVE_S) {
            char *ka = strdup(": keepalive\n\n");
            if (!ka)
                return MHD_CONTENT_READER_END_WITH_ERROR;
            set_pending(s, ka);
        }
    }
}

static void sse_free(void *cls) {
    sse *s = cls;
    free(s->pending);
    free(s->last);
    free(s);
}

enum MHD_Result h_job_events(request *r) {
    tsr_store_job *job = NULL;
    snprintf(r->job_id, sizeof r->job_id, "%s", r->params[0]);
    tsr_status st = tsr_store_job_get(r->srv->store, r->ctx, &r->user, r->params[0], &job);
    if (st)
        return reply_status(r, st);
    if (!job)
        return reply_error(r, 404, "not_found", "job %s not found", r->params[0]);
    tsr_store_job_free(job);
    sse *s = calloc(1, sizeof *s);
    if (!s)
        return reply_error(r, 503, "unavailable", "out of memory");
    s->srv = r->srv;
    s->user = r->user;
    snprintf(s->id, sizeof s->id, "%s", r->params[0]);
    s->last_write = tsr_clock_mono_s();
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return reply(r, 200, resp);
}
