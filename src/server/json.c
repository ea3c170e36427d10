/* JSON forms of images and jobs as the API shows them (docs/openapi.yaml
 * schemas Image and Job). */
#include <string.h>

#include "server/server_internal.h"
#include "service/store_lease.h"

json_t *image_json(const tsr_store_image *im) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(im->id));
    json_object_set_new(o, "format", json_string(im->format));
    json_object_set_new(o, "width", json_integer(im->width));
    json_object_set_new(o, "height", json_integer(im->height));
    json_object_set_new(o, "bands", json_integer(im->bands));
    json_object_set_new(o, "frames", json_integer(im->frames));
    json_object_set_new(o, "bytes", json_integer((json_int_t)im->bytes));
    json_object_set_new(o, "sha256", json_string(im->sha256));
    json_object_set_new(o, "name", im->name[0] ? json_string(im->name) : json_null());
    json_object_set_new(o, "created", json_time(im->created));
    return o;
}

static json_t *opt_string(const char *s) {
    return s && s[0] ? json_string(s) : json_null();
}

static json_t *item_json(const tsr_store_job_item *it) {
    int done = it->state == TSR_JOB_SUCCEEDED;
    json_t *o = json_object();
    json_object_set_new(o, "image", opt_string(it->image));
    json_object_set_new(o, "position", json_integer(it->position));
    json_object_set_new(o, "state", json_string(tsr_job_state_name(it->state)));
    json_object_set_new(o, "error", opt_string(it->error));
    json_object_set_new(o, "width", done ? json_integer(it->width) : json_null());
    json_object_set_new(o, "height", done ? json_integer(it->height) : json_null());
    json_object_set_new(o, "bytes",
                        done ? json_integer((json_int_t)it->result_bytes) : json_null());
    json_object_set_new(o, "format", opt_string(it->result_format));
    json_object_set_new(o, "seconds", it->finished ? json_real(it->seconds) : json_null());
    return o;
}

/* {"tessera": version or null, "ops": [{"op": name, "version": N}, ...]}:
 * what ran the job, step by step from its pinned pipeline (`steps`,
 * borrowed); a step recorded without a version (jobs made before versions
 * were printed) takes the one of the job's op_versions record. */
static json_t *versions_json(const tsr_store_job *job, json_t *steps) {
    json_t *record = job->op_versions ? json_loads(job->op_versions, 0, NULL) : NULL;
    json_t *ops = json_array(), *step;
    size_t i;
    json_array_foreach(steps, i, step) {
        json_t *op = json_object_get(step, "op"), *v = json_object_get(step, "version");
        if (!v && json_is_string(op))
            v = json_object_get(record, json_string_value(op));
        json_array_append_new(ops, json_pack("{s:O, s:O}", "op", op ? op : json_null(), "version",
                                             json_is_integer(v) ? v : json_null()));
    }
    json_decref(record);
    return json_pack("{s:o, s:o}", "tessera",
                     job->tessera_version[0] ? json_string(job->tessera_version) : json_null(),
                     "ops", ops);
}

json_t *cost_json(const tsr_prices *prices, const tsr_job_usage *u) {
    if (!prices)
        return json_null();
    tsr_job_cost c = tsr_prices_cost(prices, u);
    return json_pack("{s:s, s:f, s:f, s:f, s:f}", "currency", prices->currency, "compute",
                     c.compute, "transfer", c.transfer, "storage_month", c.storage_month, "total",
                     c.total);
}

/* The job's "usage" and, with a price table, its "cost" (null without). */
static void usage_json(tsr_server *srv, json_t *o, const tsr_job_usage *u,
                       const tsr_store_job *job) {
    double wall = job->started && job->finished && job->finished >= job->started
                      ? (double)(job->finished - job->started) / 1000.0
                      : 0;
    json_object_set_new(o, "usage", usage_json_of(u, wall));
    json_object_set_new(o, "cost", cost_json(srv->config.prices, u));
}

/* A job's output settings: format, quality, tile; pyramid and frame only
 * when set (the answers of other jobs keep their three keys). */
static json_t *output_json(const tsr_store_job *job) {
    tsr_format format;
    tsr_layout layout;
    tsr_output_from_name(job->output_format, &format, &layout);
    bool pyramid = layout == TSR_LAYOUT_PYRAMID;
    json_t *output = json_pack(
        "{s:s, s:i, s:o}", "format", pyramid ? tsr_format_name(format) : job->output_format,
        "quality", job->quality, "tile", job->tile ? json_integer(job->tile) : json_null());
    if (pyramid)
        json_object_set_new(output, "pyramid", json_true());
    if (job->frame >= 0)
        json_object_set_new(output, "frame", json_integer(job->frame));
    if (job->speed) /* only when the job set one (AVIF) */
        json_object_set_new(output, "speed", json_integer(job->speed));
    return output;
}

/* The job's progress as the API shows it. With several coordinators
 * (leases on) each answers from the store, which the runner updates a few
 * times a second: a client polling through a balancer sees one progress
 * that never recedes, whichever coordinator answers. A lone coordinator
 * answers its live counts; the store is authoritative once it says
 * terminal (e.g. cancelled). */
static tsr_job_live job_progress(tsr_server *srv, const tsr_store_job *job) {
    tsr_job_live p = {.state = job->state,
                      .tiles_done = job->tiles_done,
                      .tiles_total = job->tiles_total,
                      .usage = job->usage,
                      .eta_seconds = job->eta_seconds};
    /* the recorded ETA, less the time since it was recorded */
    if (p.eta_seconds >= 0 && job->progress_at > 0) {
        double age = (double)(tsr_clock_wall_ms() - job->progress_at) / 1000.0;
        if (age > 0)
            p.eta_seconds = p.eta_seconds > age ? p.eta_seconds - age : 0;
    }
    /* the weighted work (decode, compute, encode); the tiles for a job
     * recorded before the store kept it */
    p.percent = job->percent > 0    ? job->percent
                : p.tiles_total > 0 ? 100.0 * (double)p.tiles_done / (double)p.tiles_total
                                    : 0.0;
    tsr_job_live live;
    if (!tsr_store_lease_owner(srv->store) && !tsr_job_state_terminal(job->state) &&
        tsr_jobs_live(srv->jobs, job->id, &live))
        p = live;
    if (p.state == TSR_JOB_SUCCEEDED)
        p.percent = 100.0;
    else if (p.percent > 99.9)
        p.percent = 99.9;
    if (tsr_job_state_terminal(p.state) || p.state == TSR_JOB_QUEUED)
        p.eta_seconds = -1;
    return p;
}

json_t *job_json(tsr_server *srv, const tsr_store_job *job) {
    tsr_job_live p = job_progress(srv, job);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(job->id));
    json_object_set_new(o, "state", json_string(tsr_job_state_name(p.state)));
    json_object_set_new(o, "percent", json_real(p.percent));
    json_object_set_new(o, "tiles_done", json_integer(p.tiles_done));
    json_object_set_new(o, "tiles_total", json_integer(p.tiles_total));
    json_object_set_new(o, "eta_seconds",
                        p.eta_seconds >= 0 ? json_real(p.eta_seconds) : json_null());
    json_object_set_new(o, "pipeline_text",
                        json_string(job->pipeline_text ? job->pipeline_text : ""));
    json_t *pipe = job->pipeline_json ? json_loads(job->pipeline_json, 0, NULL) : NULL;
    if (!json_is_array(pipe)) {
        json_decref(pipe);
        pipe = json_array();
    }
    json_object_set_new(o, "pipeline", pipe);
    json_object_set_new(o, "versions", versions_json(job, pipe));
    json_object_set_new(o, "output", output_json(job));
    json_object_set_new(
        o, "saved_pipeline",
        job->saved_pipeline[0]
            ? json_pack("{s:s, s:i}", "name", job->saved_pipeline, "version", job->saved_version)
            : json_null());
    json_object_set_new(o, "created", json_time(job->created));
    json_object_set_new(o, "started", json_time(job->started));
    json_object_set_new(o, "finished", json_time(job->finished));
    json_object_set_new(o, "error", opt_string(job->error));
    json_object_set_new(o, "cpu_seconds", json_real(p.usage.cpu_seconds));
    json_object_set_new(o, "name", opt_string(job->name));
    /* Wall time from start to end (null until both are known). */
    json_object_set_new(o, "seconds",
                        job->started && job->finished && job->finished >= job->started
                            ? json_real((double)(job->finished - job->started) / 1000.0)
                            : json_null());
    json_t *items = json_array();
    uint64_t out_bytes = 0;
    for (size_t i = 0; job->items && i < job->item_count; i++) {
        json_array_append_new(items, item_json(&job->items[i]));
        if (job->items[i].state == TSR_JOB_SUCCEEDED)
            out_bytes += job->items[i].result_bytes;
    }
    json_object_set_new(o, "items", items);
    json_object_set_new(o, "output_bytes", json_integer((json_int_t)out_bytes));
    job_feedback_add(srv, job, o);
    usage_json(srv, o, &p.usage, job);
    return o;
}
