/* Printing the normalized text and JSON forms of a pipeline. Both write
 * every op's version ("blur@1", "version":1) and every parameter, so a
 * recorded pipeline parses back to the same ops after a new version became
 * the default. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/pipeline.h"

void tsr_param_format(const tsr_op *op, int index, char *buf, size_t size) {
    const tsr_param_spec *spec = &op->desc->params[index];
    double v = op->values[index];
    switch (spec->type) {
    case TSR_PARAM_INT:
        snprintf(buf, size, "%lld", (long long)v);
        break;
    case TSR_PARAM_FLOAT:
        snprintf(buf, size, "%.10g", v);
        break;
    case TSR_PARAM_BOOL:
        snprintf(buf, size, "%s", v != 0 ? "true" : "false");
        break;
    case TSR_PARAM_ENUM:
        snprintf(buf, size, "%s", spec->choices[(int)v]);
        break;
    case TSR_PARAM_KERNEL: {
        size_t n = 0;
        int count = op->kernel.size * op->kernel.size;
        buf[0] = '\0';
        for (int i = 0; i < count && n < size; i++) /* + 0.0: -0 prints as 0, as in JSON */
            n += (size_t)snprintf(buf + n, size - n, "%s%.10g", i ? " " : "",
                                  op->kernel.values[i] + 0.0);
        break;
    }
    }
}

/* Whether parameter i is written out: given, or has a default. */
static int param_present(const tsr_op *op, int i) {
    const tsr_param_spec *spec = &op->desc->params[i];
    if (spec->type == TSR_PARAM_KERNEL)
        return op->given[i];
    return op->given[i] || !spec->optional;
}

char *tsr_pipeline_to_text(const tsr_pipeline *pipeline) {
    tsr_buffer buf = {0};
    char value[4096];
    for (int i = 0; i < pipeline->n_ops; i++) {
        const tsr_op *op = &pipeline->ops[i];
        if (i)
            tsr_buffer_append(&buf, "|", 1);
        char name[160];
        snprintf(name, sizeof name, "%s@%d", op->desc->name, op->desc->version);
        tsr_buffer_append(&buf, name, strlen(name));
        int first = 1;
        for (int p = 0; p < op->desc->n_params; p++) {
            if (!param_present(op, p))
                continue;
            tsr_param_format(op, p, value, sizeof value);
            tsr_buffer_append(&buf, first ? ":" : ",", 1);
            first = 0;
            tsr_buffer_append(&buf, op->desc->params[p].name, strlen(op->desc->params[p].name));
            tsr_buffer_append(&buf, "=", 1);
            tsr_buffer_append(&buf, value, strlen(value));
        }
    }
    if (tsr_buffer_append(&buf, "", 1)) {
        tsr_buffer_free(&buf);
        return NULL;
    }
    return (char *)buf.data;
}

static json_t *param_json(const tsr_op *op, int i) {
    const tsr_param_spec *spec = &op->desc->params[i];
    double v = op->values[i];
    switch (spec->type) {
    case TSR_PARAM_INT:
        return json_integer((json_int_t)v);
    case TSR_PARAM_FLOAT:
        return json_real(v);
    case TSR_PARAM_BOOL:
        return json_boolean(v != 0);
    case TSR_PARAM_ENUM:
        return json_string(spec->choices[(int)v]);
    case TSR_PARAM_KERNEL: {
        json_t *arr = json_array();
        for (int k = 0; k < op->kernel.size * op->kernel.size; k++) {
            double x = op->kernel.values[k];
            json_array_append_new(arr, x == floor(x) && fabs(x) < 1e15 ? json_integer((json_int_t)x)
                                                                       : json_real(x));
        }
        return arr;
    }
    }
    return json_null();
}

char *tsr_pipeline_to_json(const tsr_pipeline *pipeline) {
    json_t *arr = json_array();
    for (int i = 0; i < pipeline->n_ops; i++) {
        const tsr_op *op = &pipeline->ops[i];
        json_t *step = json_object();
        json_object_set_new(step, "op", json_string(op->desc->name));
        json_object_set_new(step, "version", json_integer(op->desc->version));
        for (int p = 0; p < op->desc->n_params; p++)
            if (param_present(op, p))
                json_object_set_new(step, op->desc->params[p].name, param_json(op, p));
        json_array_append_new(arr, step);
    }
    char *s = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(arr);
    return s;
}
