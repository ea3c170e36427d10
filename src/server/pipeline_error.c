/* A request's pipeline and its errors: reading it (text or JSON list),
 * checking it for a stored image's size, and the 400 that names where in a
 * JSON pipeline a parse error lies: the step and the parameter that
 * /pipelines/validate, POST /jobs and the preview add (the web page marks
 * that field). Found by parsing again, not by reading the message, so the
 * library's wording may change freely. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "service/image_run.h"

/* The message of parsing `steps` (a JSON list) on a fresh context; "" when
 * it parses. Writes at most `size` bytes into `out`. */
static void parse_message(json_t *steps, char *out, size_t size) {
    out[0] = '\0';
    tsr_ctx *ctx = tsr_ctx_new();
    char *text = json_dumps(steps, JSON_COMPACT);
    tsr_pipeline *p = NULL;
    if (ctx && text && tsr_pipeline_parse(ctx, text, &p))
        snprintf(out, size, "%s", tsr_ctx_message(ctx));
    tsr_pipeline_free(p);
    free(text);
    tsr_ctx_free(ctx);
}

/* The message of `step` parsed alone, into `out`. */
static void step_message(json_t *step, char *out, size_t size) {
    json_t *one = json_pack("[O]", step);
    if (one)
        parse_message(one, out, size);
    else
        out[0] = '\0';
    json_decref(one);
}

/* The first key of `holder` (the step or its "params") whose removal from
 * `step` changes the step's error `message`, into `out`; 0 when none. The
 * keys are copied first: each is removed and put back (at the end, so a
 * loop over the object would see it again), and a removed key's own text
 * is freed with it. */
static int find_param(json_t *step, json_t *holder, const char *message, char *out, size_t size) {
    const char *key;
    json_t *value, *keys = json_array();
    char again[1200];
    int found = 0;
    json_object_foreach(holder, key, value) {
        json_array_append_new(keys, json_string(key));
    }
    for (size_t i = 0; !found && i < json_array_size(keys); i++) {
        const char *name = json_string_value(json_array_get(keys, i));
        if (!name || (holder == step && (!strcmp(name, "op") || !strcmp(name, "params"))))
            continue;
        value = json_incref(json_object_get(holder, name));
        json_object_del(holder, name);
        step_message(step, again, sizeof again);
        json_object_set_new(holder, name, value);
        if (strcmp(again, message)) {
            snprintf(out, size, "%s", name);
            found = 1;
        }
    }
    json_decref(keys);
    return found;
}

/* The message of parsing the text `text` on a fresh context; "" when it
 * parses. */
static void text_message(const char *text, char *out, size_t size) {
    out[0] = '\0';
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = NULL;
    if (ctx && tsr_pipeline_parse(ctx, text, &p))
        snprintf(out, size, "%s", tsr_ctx_message(ctx));
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
}

/* Splits a step's parameters `rest` ("k=v,k=v", cut in place) where the
 * text parser does: a comma continues the value (a kernel's numbers) unless
 * a '=' comes before the next comma. Returns the parts, at most `max`. */
static int split_params(char *rest, char **part, int max) {
    int n = 0;
    while (*rest && n < max) {
        char *comma = strchr(rest, ',');
        while (comma) {
            char *eq = strchr(comma + 1, '='), *next = strchr(comma + 1, ',');
            if (eq && (!next || eq < next))
                break;
            comma = next;
        }
        part[n++] = rest;
        if (!comma)
            break;
        *comma = '\0';
        rest = comma + 1;
    }
    return n;
}

/* The first parameter of text step `step` ("name:k=v,...") whose removal
 * changes the step's error `message`, into `out`; 0 when none. */
static int text_param(const char *step, const char *message, char *out, size_t size) {
    char *copy = strdup(step), *again = malloc(strlen(step) + 2), *part[TSR_OP_MAX_PARAMS * 2];
    char *colon = copy ? strchr(copy, ':') : NULL, msg[1200];
    int found = 0;
    if (!colon || !again) {
        free(copy);
        free(again);
        return 0;
    }
    *colon = '\0';
    int n = split_params(colon + 1, part, (int)(sizeof part / sizeof part[0]));
    for (int j = 0; !found && j < n; j++) {
        char *eq = strchr(part[j], '=');
        if (!eq)
            continue;
        size_t len = (size_t)sprintf(again, "%s:", copy);
        for (int k = 0; k < n; k++)
            if (k != j)
                len +=
                    (size_t)sprintf(again + len, "%s%s", again[len - 1] == ':' ? "" : ",", part[k]);
        text_message(again, msg, sizeof msg);
        if (strcmp(msg, message)) {
            size_t key = (size_t)(eq - part[j]);
            while (key && (part[j][key - 1] == ' ' || part[j][key - 1] == '\t'))
                key--;
            const char *start = part[j] + strspn(part[j], " \t");
            snprintf(out, size, "%.*s", (int)(part[j] + key - start), start);
            found = out[0] != '\0';
        }
    }
    free(copy);
    free(again);
    return found;
}

/* pipeline_error_fields for the text form (`a|b:k=v`): the first step
 * that does not parse alone (an empty one included), and its parameter. A
 * preset name or JSON text gets none. */
static json_t *text_error_fields(const char *text) {
    const char *p = text + strspn(text, " \t\r\n");
    if (*p == '[' || *p == '{' || !strncmp(p, "preset:", 7))
        return NULL;
    char *copy = strdup(text), *cursor = copy, message[1200], param[256];
    json_t *out = NULL;
    for (int i = 1; cursor && !out; i++) {
        char *bar = strchr(cursor, '|');
        if (bar)
            *bar = '\0';
        text_message(cursor, message, sizeof message);
        if (message[0] || !cursor[strspn(cursor, " \t\r\n")]) {
            out = json_pack("{s:i}", "step", i);
            if (out && message[0] && text_param(cursor, message, param, sizeof param))
                json_object_set_new(out, "param", json_string(param));
        }
        cursor = bar ? bar + 1 : NULL;
    }
    free(copy);
    return out;
}

json_t *pipeline_error_fields(json_t *pipeline) {
    if (json_is_string(pipeline))
        return text_error_fields(json_string_value(pipeline));
    if (!json_is_array(pipeline))
        return NULL;
    json_t *steps = json_deep_copy(pipeline);
    json_t *out = NULL;
    char message[1200];
    for (size_t i = 0; steps && i < json_array_size(steps); i++) {
        json_t *step = json_array_get(steps, i);
        step_message(step, message, sizeof message);
        if (!message[0])
            continue;
        out = json_pack("{s:I}", "step", (json_int_t)(i + 1));
        char param[256];
        int found = 0;
        if (json_is_object(step)) {
            found = find_param(step, step, message, param, sizeof param);
            json_t *params = json_object_get(step, "params");
            if (!found && json_is_object(params))
                found = find_param(step, params, message, param, sizeof param);
        }
        if (out && found)
            json_object_set_new(out, "param", json_string(param));
        break;
    }
    json_decref(steps);
    return out;
}

/* Replies 400 bad_pipeline with the context's message and, for a JSON
 * list, the step and parameter to blame (pipeline_error_fields). */
enum MHD_Result reply_pipeline_error(request *r, json_t *pipeline) {
    const char *msg = tsr_ctx_message(r->ctx);
    snprintf(r->reason, sizeof r->reason, "%.199s", msg); /* the audit line's reason */
    json_t *error = json_pack("{s:s, s:s}", "code", "bad_pipeline", "message", msg);
    json_t *fields = pipeline_error_fields(pipeline);
    if (error && fields)
        json_object_update(error, fields);
    json_decref(fields);
    return reply_json(r, 400, error ? json_pack("{s:o}", "error", error) : NULL);
}

/* Reads the job request's pipeline (text or JSON list) into *out; replies
 * 400/413 itself and returns 0 when it is not usable. */
int request_pipeline(request *r, json_t *v, tsr_pipeline **out, enum MHD_Result *res) {
    char *owned = NULL;
    const char *text;
    if (json_is_string(v)) {
        text = json_string_value(v);
    } else if (json_is_array(v)) {
        text = owned = json_dumps(v, JSON_COMPACT);
    } else {
        *res = reply_error(r, 400, "bad_request",
                           "pipeline must be the text form or a JSON list of steps");
        return 0;
    }
    if (!text) {
        *res = reply_error(r, 503, "unavailable", "out of memory");
        return 0;
    }
    if (strlen(text) > TSR_PIPELINE_MAX_TEXT) {
        free(owned);
        *res = reply_error(r, 413, "too_large", "the pipeline is longer than %d bytes",
                           TSR_PIPELINE_MAX_TEXT);
        return 0;
    }
    tsr_status st = tsr_pipeline_parse(r->ctx, text, out);
    free(owned);
    if (st == TSR_ERR_USAGE) {
        *res = reply_pipeline_error(r, v);
        return 0;
    }
    if (st) {
        *res = reply_error(r, 500, "internal", "%s", tsr_ctx_message(r->ctx));
        return 0;
    }
    return 1;
}

/* Checks `pipe` for an image of w x h x bands stored as `format` (a JPEG
 * may be shrunk on load), with the server's limits, as a run would plan it;
 * `upload` also checks the input against the upload limits (an image not
 * uploaded yet). Returns TSR_OK with the output size in out[3] (zeros
 * when a stored image has no usable record), or the run's status with its
 * message in msg. */
tsr_status pipeline_check_image(request *r, const tsr_pipeline *pipe, int w, int h, int bands,
                                const char *format, int upload, char *msg, size_t size,
                                int out[3]) {
    msg[0] = '\0';
    out[0] = out[1] = out[2] = 0;
    if (!upload && (w < 1 || h < 1 || bands < 1))
        return TSR_OK; /* no usable record: the run opens the blob and decides */
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx) {
        snprintf(msg, size, "out of memory");
        return TSR_ERR_NOMEM;
    }
    tsr_ctx_set_limits(ctx, tsr_ctx_limits(r->ctx));
    tsr_status st = TSR_OK;
    if (upload && w > 0 && h > 0)
        st = tsr_limits_check(ctx, "image", (uint64_t)w, (uint64_t)h, bands);
    if (!st && format && w > 0 && h > 0)
        tsr_image_decoded_size(pipe, format, &w, &h);
    if (!st)
        st = tsr_pipeline_check_size(ctx, pipe, w, h, bands, &out[0], &out[1], &out[2]);
    if (st)
        snprintf(msg, size, "%s",
                 tsr_ctx_message(ctx)[0] ? tsr_ctx_message(ctx) : tsr_status_name(st));
    tsr_ctx_free(ctx);
    return st;
}

/* Replies that the pipeline cannot run on an image: 400 bad_pipeline with
 * the run's message (USAGE, LIMIT), else the status' own answer. `image`
 * names it; `images` (consumed, may be NULL) lists every image's outcome. */
enum MHD_Result reply_pipeline_refused(request *r, tsr_status st, const char *msg,
                                       const char *image, json_t *images) {
    if (st != TSR_ERR_USAGE && st != TSR_ERR_LIMIT) {
        json_decref(images);
        return reply_error(r, st == TSR_ERR_NOMEM ? 503 : 500,
                           st == TSR_ERR_NOMEM ? "unavailable" : "internal", "%s", msg);
    }
    snprintf(r->reason, sizeof r->reason, "%.199s", msg);
    json_t *body = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "bad_pipeline", "message", msg,
                             "image", image);
    if (body && images)
        json_object_set_new(body, "images", images);
    else
        json_decref(images);
    return reply_json(r, 400, body);
}
