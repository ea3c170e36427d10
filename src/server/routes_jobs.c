/* Job routes: create (admission), list, get, cancel/purge. Events are in
 * events.c, downloads in result.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "service/image_run.h"

/* One entry of the validate body's "images": a stored image's id, or
 * {"width","height","bands" (default 3),"format","name"} for an image not
 * uploaded yet. Fills the size, the format (NULL when not known) and the
 * label the answer names it by; replies 400/404 itself and returns 0 when
 * the entry is not usable. */
static int image_entry(request *r, json_t *v, size_t i, tsr_store_image *im, int *upload,
                       const char **label, enum MHD_Result *res) {
    memset(im, 0, sizeof *im);
    *upload = json_is_object(v);
    if (json_is_string(v)) {
        int found = 0;
        tsr_status st =
            tsr_store_image_get(r->srv->store, r->ctx, &r->user, json_string_value(v), im, &found);
        if (st || !found) {
            *res = st ? reply_status(r, st)
                      : reply_error(r, 404, "not_found", "image %.64s not found",
                                    json_string_value(v));
            return 0;
        }
        *label = json_string_value(v);
        return 1;
    }
    json_t *w = json_object_get(v, "width"), *h = json_object_get(v, "height"),
           *b = json_object_get(v, "bands"), *f = json_object_get(v, "format"),
           *n = json_object_get(v, "name");
    json_int_t bands = b ? json_integer_value(b) : 3;
    if (!*upload || !json_is_integer(w) || !json_is_integer(h) || (b && !json_is_integer(b)) ||
        (f && !json_is_string(f)) || (n && !json_is_string(n)) || json_integer_value(w) < 1 ||
        json_integer_value(h) < 1 || json_integer_value(w) > INT32_MAX ||
        json_integer_value(h) > INT32_MAX || bands < 1 || bands > 4) {
        *res = reply_error(r, 400, "bad_request",
                           "images[%zu] must be an image id or {\"width\": 1.., \"height\": 1.., "
                           "\"bands\": 1..4, \"format\": name, \"name\": text}",
                           i);
        return 0;
    }
    im->width = (uint32_t)json_integer_value(w);
    im->height = (uint32_t)json_integer_value(h);
    im->bands = (int)bands;
    snprintf(im->format, sizeof im->format, "%s", f ? json_string_value(f) : "");
    *label = n ? json_string_value(n) : "";
    return 1;
}

/* Checks the pipeline against each entry of "images" (see image_entry):
 * NULL after replying itself, else the list of outcomes (caller owns) with
 * the first refusal in *first_st, *first_msg and *first_image. */
static json_t *check_entries(request *r, const tsr_pipeline *pipe, json_t *images,
                             tsr_status *first_st, char *first_msg, size_t size, char *first_image,
                             size_t image_size, enum MHD_Result *res) {
    if (!json_is_array(images) || json_array_size(images) > TSR_STORE_JOB_ITEMS_MAX) {
        *res = reply_error(r, 400, "bad_request", "images must be a list of at most %d entries",
                           TSR_STORE_JOB_ITEMS_MAX);
        return NULL;
    }
    json_t *out = json_array(), *v;
    size_t i;
    *first_st = TSR_OK;
    json_array_foreach(images, i, v) {
        tsr_store_image im;
        const char *label = "";
        int upload, size_out[3] = {0, 0, 0};
        char msg[1024];
        if (!image_entry(r, v, i, &im, &upload, &label, res)) {
            json_decref(out);
            return NULL;
        }
        tsr_status st = pipeline_check_image(r, pipe, (int)im.width, (int)im.height, im.bands,
                                             im.format[0] ? im.format : NULL, upload, msg,
                                             sizeof msg, size_out);
        json_t *entry =
            st ? json_pack("{s:s, s:s}", "image", label, "error", msg)
               : json_pack("{s:s, s:n, s:{s:i, s:i, s:i}}", "image", label, "error", "output",
                           "width", size_out[0], "height", size_out[1], "bands", size_out[2]);
        json_array_append_new(out, entry);
        if (st && !*first_st) {
            *first_st = st;
            snprintf(first_msg, size, "%s", msg);
            snprintf(first_image, image_size, "%s", label);
        }
    }
    return out;
}

enum MHD_Result h_pipeline_validate(request *r) {
    enum MHD_Result res;
    tsr_pipeline *p = NULL;
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    json_t *v = json_object_get(body, "pipeline"), *images = json_object_get(body, "images");
    if (!v) {
        json_decref(body);
        return reply_error(r, 400, "bad_request", "the body needs a \"pipeline\"");
    }
    int ok = request_pipeline(r, v, &p, &res);
    json_t *checked = NULL;
    tsr_status st = TSR_OK;
    char msg[1024] = "", image[TSR_STORE_FILE_NAME_MAX + 1] = "";
    if (ok && images &&
        !(checked = check_entries(r, p, images, &st, msg, sizeof msg, image, sizeof image, &res)))
        ok = 0;
    json_decref(body);
    if (ok && st)
        res = reply_pipeline_refused(r, st, msg, image, checked);
    if (!ok || st) {
        tsr_pipeline_free(p);
        return res;
    }
    char *text = tsr_pipeline_to_text(p), *json = tsr_pipeline_to_json(p);
    tsr_pipeline_free(p);
    json_t *pj = json ? json_loads(json, 0, NULL) : NULL;
    json_t *out = text && pj ? json_pack("{s:s, s:o}", "text", text, "pipeline", pj) : NULL;
    free(text);
    free(json);
    if (out && checked)
        json_object_set_new(out, "images", checked);
    else
        json_decref(checked);
    if (!out)
        return reply_error(r, 500, "internal", "cannot print the pipeline");
    return reply_json(r, 200, out);
}

/* output.frame and output.tile, already type-checked; replies itself. */
static int parse_frame_tile(request *r, json_t *fr, json_t *t, tsr_job_settings *s,
                            enum MHD_Result *res) {
    if (json_is_integer(fr) &&
        (json_integer_value(fr) < 0 || json_integer_value(fr) >= INT32_MAX)) {
        *res = reply_error(r, 400, "bad_request", "output frame must be 0 or more (0 = the first)");
        return 0;
    }
    if (json_is_integer(fr))
        s->frame_set = true, s->frame = (int)json_integer_value(fr);
    else if (fr) /* null: every frame, even where a saved pipeline chose one */
        s->frame_set = false;
    if (t && (json_integer_value(t) < TSR_TILE_MIN || json_integer_value(t) > TSR_TILE_MAX)) {
        *res = reply_error(r, 400, "bad_request", "output tile must be between %d and %d",
                           TSR_TILE_MIN, TSR_TILE_MAX);
        return 0;
    }
    if (t)
        s->tile = (int)json_integer_value(t);
    return 1;
}

/* Reads "speed" (AVIF encoder speed 1..9, already type-checked) into
 * s->speed; replies itself on a bad value. */
static int parse_speed(request *r, json_t *sp, tsr_job_settings *s, enum MHD_Result *res) {
    if (sp && (json_integer_value(sp) < 1 || json_integer_value(sp) > 9)) {
        *res = reply_error(r, 400, "bad_request", "output speed must be between 1 and 9");
        return 0;
    }
    if (sp)
        s->speed = (int)json_integer_value(sp);
    return 1;
}

/* The output formats the API writes. HEIC is left out: Debian 12's x265
 * keeps about 1.2 KB per encode (docs/internals/heif.md), which a
 * long-running server would pile up. */
static const char *const allowed[] = {"png", "jpeg", "webp", "gif", "tiff",
                                      "bmp", "pnm",  "avif", "dzi", "dzi-png"};

int output_format_allowed(tsr_format format) {
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++) {
        tsr_format f;
        tsr_layout layout;
        if (tsr_output_from_name(allowed[i], &f, &layout) && layout == TSR_LAYOUT_SINGLE &&
            f == format)
            return tsr_format_can_encode(format);
    }
    return 0;
}

int parse_output(request *r, json_t *v, tsr_job_settings *s, enum MHD_Result *res) {
    const char *name = tsr_output_name(s->format, s->layout);
    json_t *f = v ? json_object_get(v, "format") : NULL,
           *q = v ? json_object_get(v, "quality") : NULL,
           *t = v ? json_object_get(v, "tile") : NULL,
           *p = v ? json_object_get(v, "pyramid") : NULL,
           *fr = v ? json_object_get(v, "frame") : NULL,
           *sp = v ? json_object_get(v, "speed") : NULL;
    if ((v && !json_is_object(v)) || (f && !json_is_string(f)) || (q && !json_is_integer(q)) ||
        (t && !json_is_integer(t)) || (p && !json_is_boolean(p)) ||
        (fr && !json_is_null(fr) && !json_is_integer(fr)) || (sp && !json_is_integer(sp))) {
        *res = reply_error(r, 400, "bad_request",
                           "output must be {\"format\": name, \"quality\": integer, \"speed\": "
                           "integer, \"tile\": integer, \"pyramid\": boolean, \"frame\": "
                           "integer}");
        return 0;
    }
    if (!parse_frame_tile(r, fr, t, s, res) || !parse_speed(r, sp, s, res))
        return 0;
    if (f)
        name = json_string_value(f);
    int known = 0;
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        known |= !strcmp(name, allowed[i]);
    known &= tsr_output_from_name(name, &s->format, &s->layout);
    if (!known || !tsr_format_can_encode(s->format)) {
        *res = reply_error(r, 400, "bad_request",
                           "output format must be one of png, jpeg, webp, gif, tiff, bmp, pnm, "
                           "avif, dzi, dzi-png (got %.40s)",
                           name);
        return 0;
    }
    if (p && json_is_true(p) && s->format != TSR_FORMAT_TIFF) {
        *res = reply_error(r, 400, "bad_request", "output pyramid needs the tiff format");
        return 0;
    }
    if (p && json_is_true(p))
        s->layout = TSR_LAYOUT_PYRAMID;
    if (q && (json_integer_value(q) < 1 || json_integer_value(q) > 100)) {
        *res = reply_error(r, 400, "bad_request", "output quality must be between 1 and 100");
        return 0;
    }
    if (q)
        s->quality = (int)json_integer_value(q);
    return 1;
}

/* Reads "images": 1.. distinct ids the caller may see, on each of which
 * `pipe` can run (else 400 bad_pipeline with the run's message, as the
 * item would have failed); replies itself. */
static int parse_images(request *r, json_t *v, const tsr_pipeline *pipe, const char ***ids,
                        size_t *n, enum MHD_Result *res) {
    if (!json_is_array(v) || json_array_size(v) == 0) {
        *res = reply_error(r, 400, "bad_request", "images must be a non-empty list of image ids");
        return 0;
    }
    *n = json_array_size(v);
    if (*n > TSR_STORE_JOB_ITEMS_MAX) {
        *res = reply_error(r, 413, "too_large", "a job takes at most %d images",
                           TSR_STORE_JOB_ITEMS_MAX);
        return 0;
    }
    if (!(*ids = calloc(*n, sizeof **ids))) {
        *res = reply_error(r, 503, "unavailable", "out of memory");
        return 0;
    }
    for (size_t i = 0; i < *n; i++) {
        const char *id = json_string_value(json_array_get(v, i));
        tsr_store_image im;
        int found = 0;
        if (!id) {
            *res = reply_error(r, 400, "bad_request", "images[%zu] is not a string", i);
            return 0;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp((*ids)[j], id)) {
                *res = reply_error(r, 400, "bad_request", "image %.64s is listed twice", id);
                return 0;
            }
        tsr_status st = tsr_store_image_get(r->srv->store, r->ctx, &r->user, id, &im, &found);
        if (st || !found) {
            *res = st ? reply_status(r, st)
                      : reply_error(r, 404, "not_found", "image %.64s not found", id);
            return 0;
        }
        char msg[1024];
        int out[3];
        if ((st = pipeline_check_image(r, pipe, (int)im.width, (int)im.height, im.bands, im.format,
                                       0, msg, sizeof msg, out))) {
            *res = reply_pipeline_refused(r, st, msg, id, NULL);
            return 0;
        }
        (*ids)[i] = id;
    }
    return 1;
}

/* Replies the job `id` as the caller sees it. */
static enum MHD_Result reply_job(request *r, unsigned status, const char *id) {
    tsr_store_job *job = NULL;
    tsr_status st = tsr_store_job_get(r->srv->store, r->ctx, &r->user, id, &job);
    if (st)
        return reply_status(r, st);
    if (!job)
        return reply_error(r, 404, "not_found", "job %s not found", id);
    json_t *body = job_json(r->srv, job);
    tsr_store_job_free(job);
    if (status != 201)
        return reply_json(r, status, body);
    char loc[64], *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(body);
    if (!text)
        return reply_error(r, 503, "unavailable", "out of memory");
    snprintf(loc, sizeof loc, "/api/v1/jobs/%s", id);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Location", loc);
    return reply(r, status, resp);
}

/* Refuses (audited, counted) by quota `which`: replies and returns 0. */
static int quota_refuse(request *r, unsigned status, const char *code, const char *which,
                        const char *msg, enum MHD_Result *res) {
    *res = reply_error(r, status, code, "%s", msg);
    atomic_fetch_add(&r->srv->quota_stops, 1);
    audit(r, "warn", "quota_exceeded", "quota", json_string(which), "reason",
          json_string(r->reason), NULL);
    return 0;
}

/* The account's quotas at submit: queued + running jobs (429
 * too_many_active_jobs) and stored bytes (413 quota_exceeded once the
 * account is at or over its quota), each the account's own when an admin
 * set one, else the server's default. Replies itself and returns 0 when
 * the job may not be queued. */
int quota_allow(request *r, enum MHD_Result *res) {
    uint64_t quota_jobs = quota_jobs_of(r->srv, &r->user);
    uint64_t quota_bytes = quota_bytes_of(r->srv, &r->user);
    tsr_store_usage use;
    char msg[300];
    if (!quota_jobs && !quota_bytes)
        return 1;
    tsr_status st = tsr_store_user_usage(r->srv->store, r->ctx, r->user.id, &use);
    if (st) {
        *res = reply_status(r, st);
        return 0;
    }
    if (quota_jobs && (uint64_t)use.active_jobs >= quota_jobs) {
        r->retry_after = 5;
        snprintf(msg, sizeof msg,
                 "too many active jobs: this account has %lld queued or running, its limit is "
                 "%llu (quota_jobs, %s)",
                 (long long)use.active_jobs, (unsigned long long)quota_jobs,
                 quota_source(&r->user.quota_jobs));
        return quota_refuse(r, 429, "too_many_active_jobs", "jobs", msg, res);
    }
    uint64_t used = use.image_bytes + use.result_bytes;
    if (quota_bytes && used >= quota_bytes) {
        snprintf(msg, sizeof msg,
                 "storage quota exceeded: this account stores %llu of its %llu bytes "
                 "(quota_bytes, %s); delete images or jobs first",
                 (unsigned long long)used, (unsigned long long)quota_bytes,
                 quota_source(&r->user.quota_bytes));
        return quota_refuse(r, 413, "quota_exceeded", "bytes", msg, res);
    }
    return 1;
}

/* The name a job gets when its request names none: its first image's
 * name, with "+N" for the others ("chelsea.png +2"), or "" when unnamed. */
static void default_job_name(request *r, const char **ids, size_t n, char *out, size_t size) {
    tsr_store_image im;
    int found = 0;
    out[0] = '\0';
    if (tsr_store_image_get(r->srv->store, r->ctx, &r->user, ids[0], &im, &found) || !found) {
        tsr_ctx_reset(r->ctx);
        return;
    }
    if (n > 1 && im.name[0])
        snprintf(out, size, "%.200s +%zu", im.name, n - 1);
    else
        snprintf(out, size, "%s", im.name);
}

enum MHD_Result submit_job(request *r, const char **ids, size_t n, const tsr_pipeline *pipe,
                           const tsr_job_settings *settings, const char *name) {
    char id[TSR_STORE_ID_LEN + 1] = "", made[TSR_STORE_FILE_NAME_MAX + 1];
    int retry = 0, found = 0;
    tsr_status st =
        tsr_jobs_submit_with(r->srv->jobs, r->ctx, &r->user, ids, n, pipe, settings, id, &retry);
    if (st == TSR_ERR_LIMIT) {
        r->retry_after = retry > 0 ? retry : 30;
        return reply_error(r, retry > 0 ? 429 : 503, retry > 0 ? "busy" : "unavailable", "%s",
                           tsr_ctx_message(r->ctx));
    }
    if (st)
        return reply_status(r, st);
    if (!name)
        default_job_name(r, ids, n, made, sizeof made);
    if ((name || made[0]) &&
        tsr_store_job_set_name(r->srv->store, r->ctx, &r->user, id, name ? name : made, &found))
        tsr_ctx_reset(r->ctx); /* the job runs all the same, unnamed */
    snprintf(r->job_id, sizeof r->job_id, "%s", id);
    tsr_server_log("info", "job queued", "request_id", json_string(r->id), "job_id",
                   json_string(id), "user", json_string(r->user.name), "images",
                   json_integer((json_int_t)n), NULL);
    return reply_job(r, 201, id);
}

enum MHD_Result h_jobs_create(request *r) {
    enum MHD_Result res = MHD_YES;
    tsr_pipeline *pipe = NULL;
    const char **ids = NULL;
    size_t n = 0;
    char saved[TSR_SAVED_NAME_MAX + 1] = "";
    tsr_job_settings settings = {.format = TSR_FORMAT_PNG, .quality = 85};
    if (atomic_load(&r->srv->draining) && (r->retry_after = 5))
        return reply_error(r, 503, "unavailable", "the server is shutting down");
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    char made[TSR_STORE_ID_LEN + 1];
    json_t *pv = json_object_get(body, "pipeline"), *nv = json_object_get(body, "name"),
           *sv = json_object_get(body, "saved_pipeline");
    idem_step idem = idempotency_begin(r, made, &res);
    if (idem != IDEM_GO) {
        if (idem == IDEM_REPLAY)
            res = reply_job(r, 201, made);
        goto out;
    }
    if (!pv == !sv) {
        res = reply_error(r, 400, "bad_request",
                          "the body needs a \"pipeline\" or a \"saved_pipeline\" (not both)");
        goto out;
    }
    if (nv && !json_is_string(nv)) {
        res = reply_error(r, 400, "bad_request", "name must be a string");
        goto out;
    }
    if (!(pv ? request_pipeline(r, pv, &pipe, &res)
             : saved_pipeline_load(r, sv, &pipe, &settings, saved, &res)) ||
        !parse_output(r, json_object_get(body, "output"), &settings, &res) ||
        !parse_images(r, json_object_get(body, "images"), pipe, &ids, &n, &res) ||
        !quota_allow(r, &res))
        goto out;
    res = submit_job(r, ids, n, pipe, &settings, nv ? json_string_value(nv) : NULL);
out:
    idempotency_end(r);
    json_decref(body);
    free(ids);
    tsr_pipeline_free(pipe);
    return res;
}

/* Reads ?state= into *state (-1 when absent); replies 400 itself. */
static int query_state(request *r, int *state, enum MHD_Result *res) {
    const char *s = query_arg(r, "state");
    *state = -1;
    if (!s || !s[0])
        return 1;
    for (int i = 0; i < TSR_JOB_STATE_COUNT; i++)
        if (!strcmp(s, tsr_job_state_name((tsr_job_state)i))) {
            *state = i;
            return 1;
        }
    *res = reply_error(r, 400, "bad_request",
                       "state must be one of queued, running, succeeded, failed, cancelled");
    return 0;
}

enum MHD_Result h_jobs_list(request *r) {
    size_t count = 0;
    int64_t total = 0;
    enum MHD_Result res;
    tsr_store_job *list = NULL;
    tsr_store_job_query q;
    if (!query_limit(r, &q.limit, &res) || !query_offset(r, &q.offset, &res) ||
        !query_state(r, &q.state, &res))
        return res;
    tsr_status st =
        tsr_store_job_search(r->srv->store, r->ctx, &r->user, &q, &list, &count, &total);
    if (st)
        return reply_status(r, st);
    json_t *arr = json_array();
    for (size_t i = 0; i < count; i++) {
        tsr_store_job *full = NULL;
        if (tsr_store_job_get(r->srv->store, r->ctx, &r->user, list[i].id, &full) || !full) {
            tsr_ctx_reset(r->ctx);
            json_array_append_new(arr, job_json(r->srv, &list[i]));
            continue;
        }
        json_array_append_new(arr, job_json(r->srv, full));
        tsr_store_job_free(full);
    }
    tsr_store_jobs_free(list, count);
    return reply_json(r, 200, json_pack("{s:o, s:I}", "jobs", arr, "total", (json_int_t)total));
}

enum MHD_Result h_job_get(request *r) {
    snprintf(r->job_id, sizeof r->job_id, "%s", r->params[0]);
    return reply_job(r, 200, r->params[0]);
}

enum MHD_Result h_job_delete(request *r) {
    const char *purge = query_arg(r, "purge");
    int found = 0;
    snprintf(r->job_id, sizeof r->job_id, "%s", r->params[0]);
    if (purge && strcmp(purge, "true") && strcmp(purge, "false") && strcmp(purge, "1") &&
        strcmp(purge, "0"))
        return reply_error(r, 400, "bad_request", "purge must be true or false");
    int purging = purge && (!strcmp(purge, "true") || !strcmp(purge, "1"));
    tsr_status st = tsr_jobs_cancel(r->srv->jobs, r->ctx, &r->user, r->params[0], &found);
    if (st)
        return reply_status(r, st);
    if (!found)
        return reply_error(r, 404, "not_found", "job %s not found", r->params[0]);
    tsr_server_log("info", "job cancel", "request_id", json_string(r->id), "job_id",
                   json_string(r->params[0]), "purge", json_boolean(purging), NULL);
    if (!purging)
        return reply_job(r, 200, r->params[0]);
    st = tsr_store_job_delete(r->srv->store, r->ctx, &r->user, r->params[0], &found);
    if (st == TSR_ERR_USAGE)
        return reply_error(r, 409, "in_use", "%s", tsr_ctx_message(r->ctx));
    if (st)
        return reply_status(r, st);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    return reply(r, 204, resp);
}
