/* Users and tokens (admin; a user may issue, list and revoke its own
 * tokens) and the worker list. User and token ids are shown as strings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

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
    if (st)
        return reply_status(r, st);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, user_json(&users[i]));
    free(users);
    return reply_json(r, 200, json_pack("{s:o}", "users", arr));
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
                               "created", json_time(wall_ms()), "token", token));
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
    if (!mon)
        return reply_json(r, 200,
                          json_pack("{s:[], s:s, s:s}", "workers", "mode", "local", "executor",
                                    "local (in-process pool; no remote workers)"));
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
        json_pack("{s:o?, s:s, s:s, s:s, s:b, s:o, s:{s:I, s:I, s:I, s:I}}", "workers", list,
                  "mode", "redis", "executor", "redis", "cluster", tsr_workers_monitor_cluster(mon),
                  "redis_up", c.redis_up, "polled", json_time(c.polled_ms), "queue", "tasks",
                  (json_int_t)c.tasks, "pending", (json_int_t)c.pending, "undelivered",
                  (json_int_t)c.undelivered, "dead", (json_int_t)c.dead);
    if (!body)
        return reply_error(r, 500, "internal", "cannot list the workers");
    return reply_json(r, 200, body);
}
