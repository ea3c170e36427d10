/* POST /api/v1/jobs/{id}/rerun: a new job that repeats a recorded one
 * exactly (issue 14): the same images, every op at the version it ran
 * (the job's pipeline is stored with its versions pinned), the same output
 * format, quality and tile side, and the record of the saved pipeline it
 * came from. When this server no longer has a recorded op version the
 * rerun is refused (409 version_unavailable) rather than run otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

/* The job's pipeline JSON with every step's version: a step stored
 * without one (jobs recorded before versions were printed) takes the
 * version the job's op_versions record names. Sets *missing when some
 * step names a version of a known op this server does not have. Caller
 * frees; NULL when the record is not a JSON list or out of memory. */
static char *pinned_pipeline(const tsr_store_job *job, int *missing) {
    json_t *steps = job->pipeline_json ? json_loads(job->pipeline_json, 0, NULL) : NULL;
    json_t *versions = job->op_versions ? json_loads(job->op_versions, 0, NULL) : NULL;
    json_t *step;
    size_t i;
    char *out = NULL;
    *missing = 0;
    if (!json_is_array(steps))
        goto out;
    json_array_foreach(steps, i, step) {
        const char *name = json_string_value(json_object_get(step, "op"));
        json_t *v = json_object_get(step, "version");
        if (!name)
            continue;
        if (!v && json_is_integer(json_object_get(versions, name)))
            json_object_set(step, "version", v = json_object_get(versions, name));
        if (json_is_integer(v) && tsr_op_find(name) &&
            !tsr_op_find_version(name, (int)json_integer_value(v)))
            *missing = 1;
    }
    out = json_dumps(steps, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(steps);
    json_decref(versions);
    return out;
}

/* Parses the job's pinned pipeline into *pipe; replies 409 itself and
 * returns 0 when it cannot run here as recorded. */
static int recorded_pipeline(request *r, const tsr_store_job *job, tsr_pipeline **pipe,
                             enum MHD_Result *res) {
    int missing = 0;
    char *json = pinned_pipeline(job, &missing);
    if (!json) {
        *res = reply_error(r, 500, "internal", "job %s has no usable pipeline record", job->id);
        return 0;
    }
    tsr_status st = tsr_pipeline_parse_json(r->ctx, json, pipe);
    free(json);
    if (st == TSR_OK)
        return 1;
    if (missing)
        *res = reply_error(r, 409, "version_unavailable",
                           "job %s cannot run again with the op versions it ran: %s; submit its "
                           "pipeline without the @version pins to run the current versions",
                           job->id, tsr_ctx_message(r->ctx));
    else
        *res = reply_error(r, 409, "bad_pipeline", "job %s cannot run again: %s", job->id,
                           tsr_ctx_message(r->ctx));
    return 0;
}

enum MHD_Result h_job_rerun(request *r) {
    tsr_store_job *job = NULL;
    tsr_pipeline *pipe = NULL;
    const char **ids = NULL;
    enum MHD_Result res = MHD_YES;
    if (atomic_load(&r->srv->draining) && (r->retry_after = 5))
        return reply_error(r, 503, "unavailable", "the server is shutting down");
    tsr_status st = tsr_store_job_get(r->srv->store, r->ctx, &r->user, r->params[0], &job);
    if (st)
        return reply_status(r, st);
    if (!job)
        return reply_error(r, 404, "not_found", "job %s not found", r->params[0]);
    if (!(ids = calloc(job->item_count ? job->item_count : 1, sizeof *ids))) {
        res = reply_error(r, 503, "unavailable", "out of memory");
        goto out;
    }
    for (size_t i = 0; i < job->item_count; i++) {
        if (!job->items[i].image[0]) {
            res = reply_error(r, 409, "image_deleted",
                              "job %s cannot run again: its image %zu was deleted", job->id, i + 1);
            goto out;
        }
        ids[i] = job->items[i].image;
    }
    if (!recorded_pipeline(r, job, &pipe, &res) || !quota_allow(r, &res))
        goto out;
    tsr_job_settings settings = {.quality = job->quality,
                                 .speed = job->speed,
                                 .tile = job->tile,
                                 .saved_pipeline =
                                     job->saved_pipeline[0] ? job->saved_pipeline : NULL,
                                 .saved_version = job->saved_version,
                                 .frame_set = job->frame >= 0,
                                 .frame = job->frame};
    tsr_output_from_name(job->output_format, &settings.format, &settings.layout);
    res = submit_job(r, ids, job->item_count, pipe, &settings, job->name[0] ? job->name : NULL);
out:
    tsr_pipeline_free(pipe);
    free(ids);
    tsr_store_job_free(job);
    return res;
}
