/* Saved pipelines (issue 14): /api/v1/pipelines/saved[/{name}[/versions[/{version}]]]
 * and .../rollback. A name belongs to an account: the caller's, or for an
 * admin the one ?user=ID names (saved_owner); every change (PUT, rollback)
 * adds a version and nothing is rewritten. A pipeline is
 * saved normalized, every op's version pinned, so a saved version runs the
 * same ops until it is changed. Jobs use one with {"saved_pipeline": ...}
 * (saved_pipeline_load) and record its name and version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

/* A saved version as the API shows it (docs/openapi.yaml SavedPipeline). */
static json_t *saved_json(const tsr_saved_version *v) {
    json_t *pipe = v->pipeline_json ? json_loads(v->pipeline_json, 0, NULL) : NULL;
    json_t *output = json_object();
    json_object_set_new(output, "format",
                        v->output_format[0] ? json_string(v->output_format) : json_null());
    json_object_set_new(output, "quality", v->quality ? json_integer(v->quality) : json_null());
    json_object_set_new(output, "tile", v->tile ? json_integer(v->tile) : json_null());
    json_object_set_new(output, "frame", v->frame_set ? json_integer(v->frame) : json_null());
    json_object_set_new(output, "speed", v->speed ? json_integer(v->speed) : json_null());
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(v->name));
    json_object_set_new(o, "version", json_integer(v->version));
    json_object_set_new(o, "latest", json_integer(v->latest));
    json_object_set_new(o, "pipeline_text", json_string(v->pipeline_text ? v->pipeline_text : ""));
    json_object_set_new(o, "pipeline", pipe ? pipe : json_array());
    json_object_set_new(o, "output", output);
    json_object_set_new(o, "rollback_of",
                        v->rollback_of ? json_integer(v->rollback_of) : json_null());
    json_object_set_new(o, "created", json_time(v->first_created));
    json_object_set_new(o, "saved", json_time(v->created));
    return o;
}

/* Replies 404 for version `version` (0 = any) of `name`. */
static enum MHD_Result reply_missing(request *r, const char *name, int version) {
    if (version)
        return reply_error(r, 404, "not_found",
                           "saved pipeline %s has no version %d (GET "
                           "/api/v1/pipelines/saved/%s/versions lists them)",
                           name, version, name);
    return reply_error(r, 404, "not_found", "saved pipeline %s not found", name);
}

/* The account whose saved pipelines the request works on: the caller, or
 * with ?user=ID the account ID ("me": the caller), which only an admin may
 * name for another account. Replies itself and returns 0 when it may not:
 * 404 as for a missing `name` (NULL: a missing user), so another account's
 * names do not leak. */
static int saved_owner(request *r, const char *name, tsr_store_user *owner, enum MHD_Result *res) {
    const char *q = query_arg(r, "user");
    char *end = NULL;
    int found = 0;
    *owner = r->user;
    if (!q || !strcmp(q, "me"))
        return 1;
    long long id = strtoll(q, &end, 10);
    if (!*q || *end || id <= 0) {
        *res = reply_error(r, 400, "bad_request", "user must be an account id or me");
        return 0;
    }
    if (id == r->user.id)
        return 1;
    tsr_status st = r->user.role == TSR_ROLE_ADMIN
                        ? tsr_store_user_get(r->srv->store, r->ctx, id, owner, &found)
                        : TSR_OK;
    if (st || !found) {
        *res = st     ? reply_status(r, st)
               : name ? reply_missing(r, name, 0)
                      : reply_error(r, 404, "not_found", "user %lld not found", id);
        return 0;
    }
    return 1;
}

/* Replies 201 with `body` (stolen) and a Location header of `location`. */
static enum MHD_Result reply_created(request *r, json_t *body, const char *location) {
    char *text = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(body);
    if (!text)
        return reply_error(r, 503, "unavailable", "out of memory");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Location", location);
    return reply(r, 201, resp);
}

/* Replies version `version` (0 = the newest) of `owner`'s `name` with
 * `status` (201: with the new version's Location), or 404. */
static enum MHD_Result reply_saved(request *r, const tsr_store_user *owner, unsigned status,
                                   const char *name, int version) {
    tsr_saved_version v;
    int found = 0;
    tsr_status st = tsr_store_saved_get(r->srv->store, r->ctx, owner, name, version, &v, &found);
    if (st)
        return reply_status(r, st);
    if (!found)
        return reply_missing(r, name, version);
    json_t *body = saved_json(&v);
    tsr_saved_version_clear(&v);
    if (status != 201)
        return reply_json(r, status, body);
    char location[160];
    snprintf(location, sizeof location, "/api/v1/pipelines/saved/%s/versions/%d", name, version);
    return reply_created(r, body, location);
}

/* Reads a saved pipeline's "pipeline" and "output" (only the members given
 * are recorded) into *spec, whose strings (*json, *text) the caller frees;
 * replies itself and returns 0 when they are not usable. */
static int read_spec(request *r, json_t *body, tsr_saved_spec *spec, char **json, char **text,
                     enum MHD_Result *res) {
    tsr_pipeline *pipe = NULL;
    json_t *pv = json_object_get(body, "pipeline"), *ov = json_object_get(body, "output");
    tsr_job_settings s = {.format = TSR_FORMAT_PNG};
    memset(spec, 0, sizeof *spec);
    if (!pv) {
        *res = reply_error(r, 400, "bad_request", "the body needs a \"pipeline\"");
        return 0;
    }
    if (!request_pipeline(r, pv, &pipe, res) || !parse_output(r, ov, &s, res)) {
        tsr_pipeline_free(pipe);
        return 0;
    }
    *json = tsr_pipeline_to_json(pipe);
    *text = tsr_pipeline_to_text(pipe);
    tsr_pipeline_free(pipe);
    if (!*json || !*text) {
        *res = reply_error(r, 503, "unavailable", "out of memory");
        return 0;
    }
    spec->pipeline_json = *json;
    spec->pipeline_text = *text;
    spec->output_format =
        ov && json_object_get(ov, "format") ? tsr_output_name(s.format, s.layout) : NULL;
    spec->quality = ov && json_object_get(ov, "quality") ? s.quality : 0;
    spec->tile = s.tile;
    spec->frame_set = s.frame_set;
    spec->frame = s.frame;
    spec->speed = s.speed;
    return 1;
}

/* Replies the outcome of tsr_store_saved_add for `name`: the new version
 * with `status`, 409 (create: the name exists) or 404 (update: it does not). */
static enum MHD_Result reply_added(request *r, const tsr_store_user *owner, tsr_status st,
                                   int version, bool create, const char *name, unsigned status) {
    if (st == TSR_ERR_USAGE)
        return reply_error(r, 400, "bad_request", "%s", tsr_ctx_message(r->ctx));
    if (st == TSR_ERR_LIMIT)
        return reply_error(r, 409, "limit_reached", "%s", tsr_ctx_message(r->ctx));
    if (st)
        return reply_status(r, st);
    if (!version && create)
        return reply_error(r, 409, "exists",
                           "a saved pipeline named %s exists; PUT "
                           "/api/v1/pipelines/saved/%s adds a version",
                           name, name);
    if (!version)
        return reply_error(r, 404, "not_found", "saved pipeline %s not found", name);
    return reply_saved(r, owner, status, name, version);
}

enum MHD_Result h_saved_create(request *r) {
    enum MHD_Result res;
    tsr_saved_spec spec;
    tsr_store_user owner;
    char *json = NULL, *text = NULL;
    if (!saved_owner(r, NULL, &owner, &res))
        return res;
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!tsr_saved_name_valid(name))
        res = reply_error(r, 400, "bad_request",
                          "name must be 1 to %d letters, digits, '-' and '_' (it names the "
                          "pipeline in URLs)",
                          TSR_SAVED_NAME_MAX);
    else if (read_spec(r, body, &spec, &json, &text, &res)) {
        int version = 0;
        tsr_status st =
            tsr_store_saved_add(r->srv->store, r->ctx, &owner, name, &spec, true, &version);
        res = reply_added(r, &owner, st, version, true, name, 201);
    }
    json_decref(body);
    free(json);
    free(text);
    return res;
}

enum MHD_Result h_saved_update(request *r) {
    enum MHD_Result res;
    tsr_saved_spec spec;
    tsr_store_user owner;
    char *json = NULL, *text = NULL;
    if (!saved_owner(r, r->params[0], &owner, &res))
        return res;
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    if (read_spec(r, body, &spec, &json, &text, &res)) {
        int version = 0;
        tsr_status st = tsr_store_saved_add(r->srv->store, r->ctx, &owner, r->params[0], &spec,
                                            false, &version);
        res = reply_added(r, &owner, st, version, false, r->params[0], 200);
    }
    json_decref(body);
    free(json);
    free(text);
    return res;
}

/* Reads a version number (1..TSR_SAVED_VERSIONS_MAX) from `v` (a JSON
 * integer) or `text`; replies 400 itself and returns 0 when it is not one. */
static int read_version(request *r, json_t *v, const char *text, int *out, enum MHD_Result *res) {
    long long n = -1;
    char *end = NULL;
    if (v && json_is_integer(v))
        n = json_integer_value(v);
    else if (text && *text)
        n = strtoll(text, &end, 10);
    if (n < 1 || n > TSR_SAVED_VERSIONS_MAX || (end && *end)) {
        *res = reply_error(r, 400, "bad_request", "version must be a whole number from 1 to %d",
                           TSR_SAVED_VERSIONS_MAX);
        return 0;
    }
    *out = (int)n;
    return 1;
}

enum MHD_Result h_saved_rollback(request *r) {
    enum MHD_Result res;
    int to = 0, found = 0, version = 0;
    tsr_store_user owner;
    if (!saved_owner(r, r->params[0], &owner, &res))
        return res;
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    int ok = read_version(r, json_object_get(body, "version"), NULL, &to, &res);
    json_decref(body);
    if (!ok)
        return res;
    tsr_saved_version old;
    tsr_status st =
        tsr_store_saved_get(r->srv->store, r->ctx, &owner, r->params[0], to, &old, &found);
    if (st || !found)
        return st ? reply_status(r, st) : reply_missing(r, r->params[0], to);
    tsr_saved_spec spec = {.pipeline_json = old.pipeline_json,
                           .pipeline_text = old.pipeline_text,
                           .output_format = old.output_format,
                           .quality = old.quality,
                           .tile = old.tile,
                           .frame_set = old.frame_set,
                           .frame = old.frame,
                           .speed = old.speed,
                           .rollback_of = to};
    st = tsr_store_saved_add(r->srv->store, r->ctx, &owner, r->params[0], &spec, false, &version);
    tsr_saved_version_clear(&old);
    return reply_added(r, &owner, st, version, false, r->params[0], 201);
}

enum MHD_Result h_saved_get(request *r) {
    enum MHD_Result res;
    tsr_store_user owner;
    if (!saved_owner(r, r->params[0], &owner, &res))
        return res;
    return reply_saved(r, &owner, 200, r->params[0], 0);
}

enum MHD_Result h_saved_version_get(request *r) {
    enum MHD_Result res;
    int version = 0;
    tsr_store_user owner;
    if (!saved_owner(r, r->params[0], &owner, &res) ||
        !read_version(r, NULL, r->params[1], &version, &res))
        return res;
    return reply_saved(r, &owner, 200, r->params[0], version);
}

enum MHD_Result h_saved_versions(request *r) {
    tsr_saved_version *list = NULL;
    size_t n = 0;
    enum MHD_Result res;
    tsr_store_user owner;
    if (!saved_owner(r, r->params[0], &owner, &res))
        return res;
    tsr_status st =
        tsr_store_saved_versions(r->srv->store, r->ctx, &owner, r->params[0], &list, &n);
    if (st)
        return reply_status(r, st);
    if (!n)
        return reply_error(r, 404, "not_found", "saved pipeline %s not found", r->params[0]);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, saved_json(&list[i]));
    tsr_saved_versions_free(list, n);
    return reply_json(r, 200, json_pack("{s:s, s:o}", "name", r->params[0], "versions", arr));
}

enum MHD_Result h_saved_list(request *r) {
    size_t limit, offset, n = 0;
    int64_t total = 0;
    enum MHD_Result res;
    tsr_saved_version *list = NULL;
    tsr_store_user owner;
    if (!query_limit(r, &limit, &res) || !query_offset(r, &offset, &res) ||
        !saved_owner(r, NULL, &owner, &res))
        return res;
    tsr_status st =
        tsr_store_saved_list(r->srv->store, r->ctx, &owner, limit, offset, &list, &n, &total);
    if (st)
        return reply_status(r, st);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, saved_json(&list[i]));
    tsr_saved_versions_free(list, n);
    return reply_json(r, 200,
                      json_pack("{s:o, s:I}", "pipelines", arr, "total", (json_int_t)total));
}

enum MHD_Result h_saved_delete(request *r) {
    int found = 0;
    enum MHD_Result res;
    tsr_store_user owner;
    if (!saved_owner(r, r->params[0], &owner, &res))
        return res;
    tsr_status st = tsr_store_saved_delete(r->srv->store, r->ctx, &owner, r->params[0], &found);
    if (st)
        return reply_status(r, st);
    if (!found)
        return reply_error(r, 404, "not_found", "saved pipeline %s not found", r->params[0]);
    return reply(r, 204, MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT));
}

int saved_pipeline_load(request *r, json_t *v, tsr_pipeline **pipe, tsr_job_settings *s,
                        char name[TSR_SAVED_NAME_MAX + 1], enum MHD_Result *res) {
    json_t *nv = json_is_object(v) ? json_object_get(v, "name") : v;
    json_t *vv = json_is_object(v) ? json_object_get(v, "version") : NULL;
    int version = 0, found = 0;
    if (!json_is_string(nv) || (json_is_object(v) && json_object_size(v) != 1u + (vv != NULL))) {
        *res = reply_error(r, 400, "bad_request",
                           "saved_pipeline must be a name or {\"name\": name, \"version\": N}");
        return 0;
    }
    if (vv && !read_version(r, vv, NULL, &version, res))
        return 0;
    tsr_saved_version sv;
    tsr_status st = tsr_store_saved_get(r->srv->store, r->ctx, &r->user, json_string_value(nv),
                                        version, &sv, &found);
    if (st || !found) {
        *res = st ? reply_status(r, st) : reply_missing(r, json_string_value(nv), version);
        return 0;
    }
    snprintf(name, TSR_SAVED_NAME_MAX + 1, "%s", sv.name);
    s->saved_pipeline = name;
    s->saved_version = sv.version;
    if (sv.output_format[0])
        tsr_output_from_name(sv.output_format, &s->format, &s->layout);
    s->quality = sv.quality ? sv.quality : s->quality;
    s->tile = sv.tile ? sv.tile : s->tile;
    s->speed = sv.speed ? sv.speed : s->speed;
    if (sv.frame_set)
        s->frame_set = true, s->frame = sv.frame;
    st = tsr_pipeline_parse_json(r->ctx, sv.pipeline_json, pipe);
    tsr_saved_version_clear(&sv);
    if (st) {
        *res = reply_error(r, 409, st == TSR_ERR_USAGE ? "version_unavailable" : "internal",
                           "saved pipeline %s version %d cannot run on this server: %s", name,
                           s->saved_version, tsr_ctx_message(r->ctx));
        return 0;
    }
    return 1;
}
