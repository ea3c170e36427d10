/* Feedback routes: a job owner rates a finished job (POST
 * /api/v1/jobs/{id}/feedback), job objects show that rating ("feedback"),
 * and admins list it (GET /api/v1/feedback: JSON pages here, CSV in
 * feedback_csv.c). The store keeps the rows (service/store_feedback.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "tessera/op.h"

#define COMMENT_RULE "a comment is plain text: line breaks and tabs are the only control characters"

json_t *feedback_op_versions(const char *text) {
    json_t *v = text ? json_loads(text, 0, NULL) : NULL;
    if (json_is_object(v))
        return v;
    json_decref(v);
    return json_object();
}

json_t *feedback_json(const tsr_store_feedback *fb) {
    char user[24];
    snprintf(user, sizeof user, "%lld", (long long)fb->user);
    json_t *o = json_pack("{s:s, s:{s:s, s:s}, s:i, s:s, s:o, s:o}", "job", fb->job, "user", "id",
                          user, "name", fb->user_name, "rating", fb->rating, "comment",
                          fb->comment ? fb->comment : "", "created", json_time(fb->created),
                          "updated", json_time(fb->updated));
    if (!o)
        return NULL;
    json_object_set_new(o, "job_name", json_string(fb->job_name));
    json_object_set_new(o, "job_state", json_string(tsr_job_state_name(fb->job_state)));
    json_object_set_new(o, "pipeline_text",
                        json_string(fb->pipeline_text ? fb->pipeline_text : ""));
    json_object_set_new(o, "op_versions", feedback_op_versions(fb->op_versions));
    json_object_set_new(
        o, "output", json_pack("{s:s, s:i}", "format", fb->output_format, "quality", fb->quality));
    return o;
}

void job_feedback_add(tsr_server *srv, const tsr_store_job *job, json_t *obj) {
    tsr_store_feedback fb;
    int found = 0;
    json_t *v = NULL;
    if (job->state != TSR_JOB_SUCCEEDED && job->state != TSR_JOB_FAILED) {
        json_object_set_new(obj, "feedback", json_null());
        return;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (ctx && !tsr_store_feedback_get(srv->store, ctx, job->owner, job->id, &fb, &found) && found)
        v = json_pack("{s:i, s:s, s:o, s:o}", "rating", fb.rating, "comment", fb.comment, "created",
                      json_time(fb.created), "updated", json_time(fb.updated));
    if (found)
        tsr_store_feedback_clear(&fb);
    tsr_ctx_free(ctx);
    json_object_set_new(obj, "feedback", v ? v : json_null());
}

/* Reads "rating": an integer 1..5; replies 400 itself. */
static int parse_rating(request *r, json_t *body, int *rating, enum MHD_Result *res) {
    json_t *v = json_object_get(body, "rating");
    if (!v) {
        *res = reply_error(r, 400, "bad_request", "rating is required: an integer from 1 to 5");
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < TSR_FEEDBACK_RATING_MIN ||
        json_integer_value(v) > TSR_FEEDBACK_RATING_MAX) {
        char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        *res = reply_error(r, 400, "bad_request",
                           "rating must be an integer from 1 to 5 (got %.40s)", got ? got : "?");
        free(got);
        return 0;
    }
    *rating = (int)json_integer_value(v);
    return 1;
}

/* Reads "comment" (absent or null = ""): plain text of at most
 * TSR_FEEDBACK_COMMENT_MAX characters; replies 400 itself. */
static int parse_comment(request *r, json_t *body, const char **comment, enum MHD_Result *res) {
    json_t *v = json_object_get(body, "comment");
    size_t chars = 0;
    *comment = "";
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_string(v)) {
        *res = reply_error(r, 400, "bad_request", "comment must be a string (plain text)");
        return 0;
    }
    const char *s = json_string_value(v); /* no NUL: the JSON parser refuses \u0000 */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p < 0x20 && *p != '\n' && *p != '\t' && *p != '\r') || *p == 0x7f) {
            *res = reply_error(r, 400, "bad_request",
                               "comment has a control character (byte %zu): " COMMENT_RULE,
                               (size_t)(p - (const unsigned char *)s));
            return 0;
        }
        chars += (*p & 0xc0) != 0x80;
    }
    if (chars > TSR_FEEDBACK_COMMENT_MAX) {
        *res = reply_error(r, 400, "bad_request", "comment is longer than %d characters (got %zu)",
                           TSR_FEEDBACK_COMMENT_MAX, chars);
        return 0;
    }
    *comment = s;
    return 1;
}

/* The body takes "rating" and "comment" only; replies 400 naming another. */
static int known_fields(request *r, json_t *body, enum MHD_Result *res) {
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v) {
        if (strcmp(key, "rating") && strcmp(key, "comment")) {
            *res = reply_error(r, 400, "bad_request",
                               "unknown field \"%.40s\": feedback takes \"rating\" (1..5) and "
                               "\"comment\" (optional text)",
                               key);
            return 0;
        }
    }
    return 1;
}

/* Finds job {id} and checks the caller may rate it now: 404 when the
 * caller cannot see it, 403 for an admin on someone else's job, 409 while
 * it is not finished (or was cancelled). Replies itself. */
static int ratable_job(request *r, enum MHD_Result *res) {
    tsr_store_job *job = NULL;
    tsr_status st = tsr_store_job_get(r->srv->store, r->ctx, &r->user, r->params[0], &job);
    int ok = 0;
    if (st)
        *res = reply_status(r, st);
    else if (!job)
        *res = reply_error(r, 404, "not_found", "job %s not found", r->params[0]);
    else if (job->owner != r->user.id)
        *res = reply_error(r, 403, "forbidden", "only the owner of job %s can rate it", job->id);
    else if (job->state == TSR_JOB_CANCELLED)
        *res = reply_error(r, 409, "not_finished",
                           "job %s was cancelled: feedback is for jobs that succeeded or failed",
                           job->id);
    else if (job->state != TSR_JOB_SUCCEEDED && job->state != TSR_JOB_FAILED)
        *res = reply_error(r, 409, "not_finished",
                           "job %s is %s: rate it once it has succeeded or failed", job->id,
                           tsr_job_state_name(job->state));
    else
        ok = 1;
    tsr_store_job_free(job);
    return ok;
}

enum MHD_Result h_job_feedback(request *r) {
    enum MHD_Result res = MHD_YES;
    tsr_store_feedback fb = {0};
    const char *comment;
    int rating = 0, found = 0, replaced = 0;
    snprintf(r->job_id, sizeof r->job_id, "%s", r->params[0]);
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    if (!known_fields(r, body, &res) || !parse_rating(r, body, &rating, &res) ||
        !parse_comment(r, body, &comment, &res) || !ratable_job(r, &res))
        goto out;
    tsr_status st = tsr_store_feedback_put(r->srv->store, r->ctx, r->user.id, r->params[0], rating,
                                           comment, &found, &replaced, &fb);
    if (st) {
        res = reply_status(r, st);
        goto out;
    }
    if (!found) { /* deleted since ratable_job looked */
        res = reply_error(r, 404, "not_found", "job %s not found", r->params[0]);
        goto out;
    }
    tsr_server_log("info", "feedback", "request_id", json_string(r->id), "job_id",
                   json_string(r->params[0]), "rating", json_integer(rating), "replaced",
                   json_boolean(replaced), NULL);
    res = reply_json(r, replaced ? 200 : 201, feedback_json(&fb));
out:
    tsr_store_feedback_clear(&fb);
    json_decref(body);
    return res;
}

/* Reads time filter `name` (RFC 3339, or a date: its first millisecond for
 * `from`, its last for `to`) into *ms (0 when absent); replies 400 itself. */
static int query_time(request *r, const char *name, int end_of_day, int64_t *ms,
                      enum MHD_Result *res) {
    const char *s = query_arg(r, name);
    bool date = false;
    *ms = 0;
    if (!s || !s[0])
        return 1;
    if (!tsr_clock_parse_iso(s, ms, &date) || *ms == 0) {
        *res = reply_error(r, 400, "bad_request",
                           "%s must be a time (2026-12-06T10:00:00Z, RFC 3339) or a date "
                           "(2026-12-06, UTC) (got %.40s)",
                           name, s);
        return 0;
    }
    if (date && end_of_day)
        *ms += 86400000 - 1;
    return 1;
}

static int feedback_query_parse(request *r, tsr_store_feedback_query *q, enum MHD_Result *res) {
    const char *rating = query_arg(r, "rating"), *op = query_arg(r, "op");
    memset(q, 0, sizeof *q);
    if (!query_time(r, "from", 0, &q->from, res) || !query_time(r, "to", 1, &q->to, res))
        return 0;
    if (q->from && q->to && q->from > q->to) {
        *res = reply_error(r, 400, "bad_request", "from must not be later than to");
        return 0;
    }
    if (rating && rating[0]) {
        if (strlen(rating) != 1 || rating[0] < '1' || rating[0] > '5') {
            *res = reply_error(r, 400, "bad_request", "rating must be 1, 2, 3, 4 or 5 (got %.20s)",
                               rating);
            return 0;
        }
        q->rating = rating[0] - '0';
    }
    if (op && op[0]) {
        if (!tsr_op_find(op)) {
            *res = reply_error(r, 400, "bad_request",
                               "op: unknown operation '%.64s' (GET /api/v1/operations lists them)",
                               op);
            return 0;
        }
        q->op = op;
    }
    return 1;
}

enum MHD_Result h_feedback_list(request *r) {
    enum MHD_Result res;
    tsr_store_feedback_query q;
    tsr_store_feedback *list = NULL;
    size_t count = 0, limit, offset;
    int64_t total = 0;
    const char *format = query_arg(r, "format");
    if (format && strcmp(format, "json") && strcmp(format, "csv"))
        return reply_error(r, 400, "bad_request", "format must be json or csv (got %.20s)", format);
    if (!feedback_query_parse(r, &q, &res))
        return res;
    if (format && !strcmp(format, "csv"))
        return feedback_csv_reply(r, &q);
    if (!query_limit(r, &limit, &res) || !query_offset(r, &offset, &res))
        return res;
    q.limit = limit;
    q.offset = offset;
    tsr_status st = tsr_store_feedback_search(r->srv->store, r->ctx, &q, &list, &count, &total);
    if (st)
        return reply_status(r, st);
    json_t *arr = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(arr, feedback_json(&list[i]));
    tsr_store_feedback_list_free(list, count);
    return reply_json(r, 200, json_pack("{s:o, s:I}", "feedback", arr, "total", (json_int_t)total));
}
