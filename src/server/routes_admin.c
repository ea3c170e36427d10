/* Users and tokens (admin; a user may issue, list and revoke its own
 * tokens, and read its own account with its quotas) and the worker list.
 * User and token ids are shown as strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_backend.h"
#include "server/server_internal.h"
#include "util/clock.h"

static json_t *id_string(int64_t id) {
    char buf[24];
    snprintf(buf, sizeof buf, "%lld", (long long)id);
    return json_string(buf);
}

/* Reads a user id given as a string or an integer; 0 when malformed. */
static int64_t read_user_id(json_t *v) {
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *s = json_string_value(v);
    char *end;
    long long id = s ? strtoll(s, &end, 10) : 0;
    return s && *s && !*end && id > 0 ? id : 0;
}

static json_t *user_json(const tsr_store_user *u) {
    return json_pack("{s:o, s:s, s:s, s:o}", "id", id_string(u->id), "name", u->name, "role",
                     tsr_role_name(u->role), "created", json_time(u->created));
}

enum MHD_Result h_users_create(request *r) {
    json_t *body = request_json(r);
    enum MHD_Result res;
    tsr_role role = TSR_ROLE_USER;
    int64_t id = 0, token_id = 0;
    char token[TSR_STORE_TOKEN_LEN + 1];
    if (!body)
        return MHD_YES;
    const char *name = json_string_value(json_object_get(body, "name"));
    json_t *rv = json_object_get(body, "role");
    if (!name || (rv && (!json_is_string(rv) || !tsr_role_parse(json_string_value(rv), &role)))) {
        res = reply_error(r, 400, "bad_request",
                          "send {\"name\": ..., \"role\": \"admin\"|\"user\"|\"viewer\"}");
        goto out;
    }
    tsr_status st = tsr_store_user_create(r->srv->store, r->ctx, name, role, &id);
    if (st == TSR_ERR_USAGE && strstr(tsr_ctx_message(r->ctx), "exists")) {
        res = reply_error(r, 409, "exists", "%s", tsr_ctx_message(r->ctx));
        goto out;
    }
    if (!st)
        st = tsr_store_token_create(r->srv->store, r->ctx, id, token, &token_id);
    if (st) {
        res = reply_status(r, st);
        goto out;
    }
    audit(r, "info", "user_created", "user", json_string(name), "user_id", json_integer(id), "role",
          json_string(tsr_role_name(role)), "token_id", json_integer(token_id), NULL);
    res = reply_json(r, 201,
                     json_pack("{s:o, s:s, s:s, s:s}", "id", id_string(id), "name", name, "role",
                               tsr_role_name(role), "token", token));
out:
    json_decref(body);
    return res;
}

enum MHD_Result h_users_list(request *r) {
    tsr_store_user *users = NULL;
    size_t n = 0;
    tsr_status st = tsr_store_user_list(r->srv->store, r->ctx, &users, &n);
    json_t *arr = json_array();
    for (size_t i = 0; !st && i < n; i++) {
        json_t *u = user_json(&users[i]);
        if (!(st = user_quota_add(r, &users[i], u)))
            json_array_append(arr, u);
        json_decref(u);
    }
    free(users);
    if (st) {
        json_decref(arr);
        return reply_status(r, st);
    }
    return reply_json(r, 200, json_pack("{s:o}", "users", arr));
}

/* Finds the user named by the path's {id} ("me" = the caller) that the
 * caller may see: itself, or anybody for an admin. Replies 404 itself (the
 * same for a user that does not exist and one that is not the caller's) or
 * the store error, and returns 0. */
static int path_user(request *r, tsr_store_user *out, enum MHD_Result *res) {
    int self = !strcmp(r->params[0], "me"), found = 0;
    char *end = NULL;
    long long id = self ? r->user.id : strtoll(r->params[0], &end, 10);
    if (!self && (*end || id <= 0))
        id = 0;
    if (id > 0 && (id == r->user.id || r->user.role == TSR_ROLE_ADMIN)) {
        tsr_status st = tsr_store_user_get(r->srv->store, r->ctx, id, out, &found);
        if (st) {
            *res = reply_status(r, st);
            return 0;
        }
    }
    if (!found)
        *res = reply_error(r, 404, "not_found", "user %s not found", r->params[0]);
    return found;
}

/* Replies 200 with user `u` and its quotas and usage. */
static enum MHD_Result reply_user(request *r, const tsr_store_user *u) {
    json_t *body = user_json(u);
    tsr_status st = user_quota_add(r, u, body);
    if (st) {
        json_decref(body);
        return reply_status(r, st);
    }
    return reply_json(r, 200, body);
}

enum MHD_Result h_user_get(request *r) {
    tsr_store_user u;
    enum MHD_Result res;
    if (!path_user(r, &u, &res))
        return res;
    return reply_user(r, &u);
}

/* Reads field `key` of a PATCH body into override *q: absent leaves *q as
 * it is, null clears it, a non-negative integer sets it. Anything else
 * replies 400 naming the field and returns 0. */
static int read_override(request *r, json_t *body, const char *key, tsr_store_quota *q,
                         enum MHD_Result *res) {
    json_t *v = json_object_get(body, key);
    if (!v)
        return 1;
    if (json_is_null(v)) {
        *q = (tsr_store_quota){.set = false};
        return 1;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        *res = reply_error(r, 400, "bad_request",
                           "%s must be a non-negative integer (0 = unlimited) or null (the "
                           "server's default)",
                           key);
        return 0;
    }
    *q = (tsr_store_quota){.set = true, .value = (uint64_t)json_integer_value(v)};
    return 1;
}

/* Overrides *q as audit JSON: the value, or null for the default. */
static json_t *override_audit(const tsr_store_quota *q) {
    return q->set ? json_integer((json_int_t)q->value) : json_null();
}

/* Whether PATCH body `body` holds only the fields it may; replies 400
 * naming the first other one and returns 0. */
static int patch_fields_known(request *r, json_t *body, enum MHD_Result *res) {
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "quota_bytes") && strcmp(key, "quota_jobs")) {
            *res = reply_error(r, 400, "bad_request",
                               "unknown field %.64s: PATCH takes quota_bytes and quota_jobs", key);
            return 0;
        }
    }
    return 1;
}

enum MHD_Result h_user_patch(request *r) {
    json_t *body = request_json(r);
    enum MHD_Result res;
    tsr_store_user u;
    int found = 0;
    if (!body)
        return MHD_YES;
    if (!path_user(r, &u, &res) || !patch_fields_known(r, body, &res))
        goto out;
    tsr_store_quota bytes = u.quota_bytes, jobs = u.quota_jobs;
    if (!read_override(r, body, "quota_bytes", &bytes, &res) ||
        !read_override(r, body, "quota_jobs", &jobs, &res))
        goto out;
    if (json_object_size(body) == 0) {
        res = reply_user(r, &u);
        goto out;
    }
    tsr_status st = tsr_store_user_set_quota(r->srv->store, r->ctx, u.id, bytes.set, bytes.value,
                                             jobs.set, jobs.value, &found);
    if (!st && !found) {
        res = reply_error(r, 404, "not_found", "user %s not found", r->params[0]);
        goto out;
    }
    if (st) {
        res = reply_status(r, st);
        goto out;
    }
    audit(r, "info", "quota_changed", "user", json_string(u.name), "user_id", json_integer(u.id),
          "old",
          json_pack("{s:o, s:o}", "quota_bytes", override_audit(&u.quota_bytes), "quota_jobs",
                    override_audit(&u.quota_jobs)),
          "new",
          json_pack("{s:o, s:o}", "quota_bytes", override_audit(&bytes), "quota_jobs",
                    override_audit(&jobs)),
          NULL);
    u.quota_bytes = bytes;
    u.quota_jobs = jobs;
    res = reply_user(r, &u);
out:
    json_decref(body);
    return res;
}

enum MHD_Result h_tokens_create(request *r) {
    json_t *body = request_json(r);
    enum MHD_Result res;
    char token[TSR_STORE_TOKEN_LEN + 1];
    int64_t user = r->user.id, id = 0;
    if (!body)
        return MHD_YES;
    json_t *uv = json_object_get(body, "user");
    if (uv && !(user = read_user_id(uv))) {
        res = reply_error(r, 400, "bad_request", "user must be a user id");
        goto out;
    }
    if (user != r->user.id && r->user.role != TSR_ROLE_ADMIN) {
        audit(r, "warn", "denied", "reason", json_string("token for another user"), "user_id",
              json_integer(user), NULL);
        res = reply_error(r, 403, "forbidden", "only an admin may issue tokens for another user");
        goto out;
    }
    tsr_store_user u;
    int found = 0;
    tsr_status st = tsr_store_user_get(r->srv->store, r->ctx, user, &u, &found);
    if (!st && !found) {
        res = reply_error(r, 404, "not_found", "user %lld not found", (long long)user);
        goto out;
    }
    if (!st)
        st = tsr_store_token_create(r->srv->store, r->ctx, user, token, &id);
    if (st) {
        res = reply_status(r, st);
        goto out;
    }
    audit(r, "info", "token_created", "user", json_string(u.name), "user_id", json_integer(user),
          "token_id", json_integer(id), NULL);
    res = reply_json(r, 201,
                     json_pack("{s:o, s:o, s:o, s:s}", "id", id_string(id), "user", id_string(user),
                               "created", json_time(tsr_clock_wall_ms()), "token", token));
out:
    json_decref(body);
    return res;
}

enum MHD_Result h_tokens_list(request *r) {
    const char *only = query_arg(r, "user");
    int64_t user = 0;
    if (only) {
        json_t *v = json_string(only);
        user = read_user_id(v);
        json_decref(v);
        if (!user)
            return reply_error(r, 400, "bad_request", "user must be a user id");
        if (user != r->user.id && r->user.role != TSR_ROLE_ADMIN) {
            audit(r, "warn", "denied", "reason", json_string("tokens of another user"), "user_id",
                  json_integer(user), NULL);
            return reply_error(r, 403, "forbidden", "only an admin may list another's tokens");
        }
    }
    tsr_store_token *list = NULL;
    size_t n = 0;
    tsr_status st = tsr_store_token_list(r->srv->store, r->ctx, &r->user, &list, &n);
    if (st)
        return reply_status(r, st);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (user && list[i].user != user)
            continue;
        json_array_append_new(arr, json_pack("{s:o, s:o, s:o, s:b}", "id", id_string(list[i].id),
                                             "user", id_string(list[i].user), "created",
                                             json_time(list[i].created), "revoked",
                                             list[i].revoked != 0));
    }
    free(list);
    return reply_json(r, 200, json_pack("{s:o}", "tokens", arr));
}

enum MHD_Result h_token_revoke(request *r) {
    char *end;
    long long id = strtoll(r->params[0], &end, 10);
    int found = 0;
    if (*end || id <= 0)
        return reply_error(r, 404, "not_found", "token %s not found", r->params[0]);
    tsr_status st = tsr_store_token_revoke(r->srv->store, r->ctx, &r->user, id, &found);
    if (st)
        return reply_status(r, st);
    if (!found)
        return reply_error(r, 404, "not_found", "token %s not found", r->params[0]);
    audit(r, "info", "token_revoked", "token_id", json_integer(id), NULL);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    return reply(r, 204, resp);
}

/* GET /api/v1/workers: the Redis fleet as the monitor sees it, or the
 * local-mode answer (no remote workers). */
enum MHD_Result h_workers(request *r) {
    tsr_workers_monitor *mon = r->srv->config.workers;
    const tsr_cl_backend *b = r->srv->config.backend;
    if (!mon)
        return reply_json(r, 200,
                          json_pack("{s:[], s:s, s:s, s:s, s:s}", "workers", "mode", "local",
                                    "executor", "local (in-process pool; no remote workers)",
                                    "backend", tsr_cl_backend_name(b), "device",
                                    tsr_cl_backend_device(b)));
    tsr_workers_counts c;
    tsr_workers_monitor_counts(mon, &c);
    json_t *list = tsr_workers_monitor_json(mon), *w;
    size_t i;
    json_array_foreach(list, i, w) {
        json_object_set_new(w, "kind", json_string("redis"));
        json_object_set_new(w, "started",
                            json_time(json_integer_value(json_object_get(w, "started_ms"))));
        json_object_set_new(w, "last_seen",
                            json_time(json_integer_value(json_object_get(w, "last_seen_ms"))));
    }
    json_t *body =
        json_pack("{s:o?, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:{s:I, s:I, s:I, s:I}}", "workers",
                  list, "mode", "redis", "executor", "redis", "backend", tsr_cl_backend_name(b),
                  "device", tsr_cl_backend_device(b), "cluster", tsr_workers_monitor_cluster(mon),
                  "redis_up", c.redis_up, "polled", json_time(c.polled_ms), "queue", "tasks",
                  (json_int_t)c.tasks, "pending", (json_int_t)c.pending, "undelivered",
                  (json_int_t)c.undelivered, "dead", (json_int_t)c.dead);
    if (!body)
        return reply_error(r, 500, "internal", "cannot list the workers");
    return reply_json(r, 200, body);
}
