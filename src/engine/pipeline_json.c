/* Parsing the JSON form of a pipeline: [{"op":"name","param":value,...},...];
 * a step pins a version with "op":"name@N" or a "version":N member. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "engine/pipeline_internal.h"
#include "tessera/pipeline.h"

/* Writes a JSON scalar or number array as the text form tsr_op_set_param takes. */
static tsr_status value_text(tsr_ctx *ctx, const tsr_op *op, const char *key, json_t *v, char *buf,
                             size_t size) {
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, size, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, size, "%s", json_is_true(v) ? "true" : "false");
    } else if (json_is_string(v)) {
        if (json_string_length(v) >= size)
            return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s is too long", op->desc->name, key);
        snprintf(buf, size, "%s", json_string_value(v));
    } else if (json_is_array(v)) {
        size_t n = 0, i;
        json_t *item;
        buf[0] = '\0';
        json_array_foreach(v, i, item) {
            json_t *row = item;
            size_t j, cols = json_is_array(item) ? json_array_size(item) : 1;
            for (j = 0; j < cols; j++) {
                json_t *x = json_is_array(item) ? json_array_get(row, j) : item;
                if (!json_is_number(x))
                    return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s must be a list of numbers",
                                     op->desc->name, key);
                if (n + 32 >= size)
                    return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s has too many values",
                                     op->desc->name, key);
                n += (size_t)snprintf(buf + n, size - n, "%s%.17g", n ? " " : "",
                                      json_number_value(x));
            }
        }
    } else {
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s has a value of the wrong type", op->desc->name,
                         key);
    }
    return TSR_OK;
}

static tsr_status parse_step(tsr_ctx *ctx, size_t index, json_t *step, tsr_op *op) {
    if (!json_is_object(step))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "pipeline step %zu must be an object like "
                         "{\"op\":\"grayscale\"}",
                         index + 1);
    json_t *name = json_object_get(step, "op"), *version = json_object_get(step, "version");
    if (!json_is_string(name))
        return tsr_error(ctx, TSR_ERR_USAGE, "pipeline step %zu has no \"op\" name", index + 1);
    if (version && (!json_is_integer(version) || json_integer_value(version) < 1 ||
                    json_integer_value(version) > TSR_OP_VERSION_MAX))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "pipeline step %zu: \"version\" must be a whole number from 1 to %d",
                         index + 1, TSR_OP_VERSION_MAX);
    tsr_status st = tsr_pipeline_op_init(ctx, json_string_value(name),
                                         version ? (int)json_integer_value(version) : 0, op);
    if (st)
        return st;
    /* Parameters may sit beside "op" or inside a "params" object. */
    json_t *params = json_object_get(step, "params");
    if (params && !json_is_object(params))
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: \"params\" must be an object", op->desc->name);
    json_t *objs[2] = {step, params};
    for (int o = 0; o < 2; o++) {
        if (!objs[o])
            continue;
        const char *key;
        json_t *v;
        json_object_foreach(objs[o], key, v) {
            if (o == 0 && (!strcmp(key, "op") || !strcmp(key, "params") || !strcmp(key, "version")))
                continue;
            char text[4096];
            st = value_text(ctx, op, key, v, text, sizeof text);
            if (!st)
                st = tsr_op_set_param(ctx, op, key, text);
            if (st)
                return st;
        }
    }
    return tsr_pipeline_op_finish(ctx, op);
}

tsr_status tsr_pipeline_parse_json(tsr_ctx *ctx, const char *json, tsr_pipeline **out) {
    *out = NULL;
    if (strlen(json) > TSR_PIPELINE_MAX_TEXT)
        return tsr_error(ctx, TSR_ERR_USAGE, "the pipeline JSON is longer than %d bytes",
                         TSR_PIPELINE_MAX_TEXT);
    json_error_t jerr;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return tsr_error(ctx, TSR_ERR_USAGE, "pipeline JSON: %s (line %d, column %d)", jerr.text,
                         jerr.line, jerr.column);
    tsr_status st;
    tsr_pipeline *p = NULL;
    /* Accept {"pipeline":[...]} as well as the bare array. */
    json_t *arr = json_is_object(root) ? json_object_get(root, "pipeline") : root;
    if (!json_is_array(arr)) {
        st = tsr_error(ctx, TSR_ERR_USAGE, "pipeline JSON must be an array of steps");
        goto out;
    }
    st = tsr_pipeline_new(ctx,
                          (int)(json_array_size(arr) > TSR_PIPELINE_MAX_OPS
                                    ? TSR_PIPELINE_MAX_OPS + 1
                                    : json_array_size(arr)),
                          &p);
    if (st)
        goto out;
    for (int i = 0; i < p->n_ops; i++) {
        st = parse_step(ctx, (size_t)i, json_array_get(arr, (size_t)i), &p->ops[i]);
        if (st)
            goto out;
    }
    *out = p;
    p = NULL;
out:
    tsr_pipeline_free(p);
    json_decref(root);
    return st;
}
