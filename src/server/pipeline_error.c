/* Where in a JSON pipeline a parse error lies: the step and the parameter
 * that /pipelines/validate and POST /jobs add to their 400 (the web page
 * marks that field). Found by parsing again, not by reading the message, so
 * the library's wording may change freely. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

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
 * `step` changes the step's error `message`, or NULL. */
static const char *find_param(json_t *step, json_t *holder, const char *message) {
    const char *key;
    json_t *value;
    char again[1200];
    json_object_foreach(holder, key, value) {
        if (holder == step && (!strcmp(key, "op") || !strcmp(key, "params")))
            continue;
        json_incref(value);
        json_object_del(holder, key);
        step_message(step, again, sizeof again);
        json_object_set_new(holder, key, value);
        if (strcmp(again, message))
            return key;
    }
    return NULL;
}

json_t *pipeline_error_fields(json_t *pipeline) {
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
        const char *param = NULL;
        if (json_is_object(step)) {
            param = find_param(step, step, message);
            json_t *params = json_object_get(step, "params");
            if (!param && json_is_object(params))
                param = find_param(step, params, message);
        }
        if (out && param)
            json_object_set_new(out, "param", json_string(param));
        break;
    }
    json_decref(steps);
    return out;
}
