/* tessera ops: every operation with its parameters, defaults and ranges;
 * with --presets the ready-made pipelines (src/engine/presets.c). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *kind_name(tsr_op_kind kind) {
    switch (kind) {
    case TSR_OP_POINT:
        return "point";
    case TSR_OP_STENCIL:
        return "stencil";
    case TSR_OP_GEOMETRIC:
        return "geometric";
    case TSR_OP_GLOBAL:
        return "global";
    }
    return "?";
}

static const char *type_name(tsr_param_type type) {
    switch (type) {
    case TSR_PARAM_INT:
        return "int";
    case TSR_PARAM_FLOAT:
        return "float";
    case TSR_PARAM_BOOL:
        return "bool";
    case TSR_PARAM_ENUM:
        return "enum";
    case TSR_PARAM_KERNEL:
        return "kernel";
    }
    return "?";
}

/* One parameter as JSON. */
static json_t *param_json(const tsr_param_spec *p) {
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", p->name, "type", type_name(p->type),
                          "doc", p->doc ? p->doc : "", "hint", p->hint ? p->hint : "", "unit",
                          p->unit ? p->unit : "");
    if (p->type == TSR_PARAM_ENUM) {
        json_t *choices = json_array();
        for (int c = 0; p->choices && p->choices[c]; c++)
            json_array_append_new(choices, json_string(p->choices[c]));
        json_object_set_new(o, "choices", choices);
        if (!p->optional)
            json_object_set_new(o, "default", json_string(p->choices[(int)p->def]));
    } else if (p->type == TSR_PARAM_BOOL) {
        if (!p->optional)
            json_object_set_new(o, "default", json_boolean(p->def != 0));
    } else {
        json_object_set_new(o, "min", json_real(p->min));
        json_object_set_new(o, "max", json_real(p->max));
        if (!p->optional && p->type != TSR_PARAM_KERNEL)
            json_object_set_new(o, "default",
                                p->type == TSR_PARAM_INT ? json_integer((json_int_t)p->def)
                                                         : json_real(p->def));
    }
    json_object_set_new(o, "optional", json_boolean(p->optional));
    return o;
}

/* The versions of d's name that can run, ascending, as a JSON list. */
static json_t *versions_json(const tsr_op_desc *d) {
    int v[16], n = tsr_op_versions(d->name, v, 16);
    json_t *arr = json_array();
    for (int i = 0; i < n && i < 16; i++)
        json_array_append_new(arr, json_integer(v[i]));
    return arr;
}

char *cli_ops_json(void);
char *cli_ops_json(void) {
    json_t *arr = json_array();
    for (int i = 0; i < tsr_op_count(); i++) {
        const tsr_op_desc *d = tsr_op_at(i);
        if (d->hidden || !tsr_op_is_default(d))
            continue; /* older versions: named in "versions" */
        json_t *params = json_array();
        for (int p = 0; p < d->n_params; p++)
            json_array_append_new(params, param_json(&d->params[p]));
        json_array_append_new(arr, json_pack("{s:s, s:i, s:o, s:s, s:s, s:s, s:o}", "name", d->name,
                                             "version", d->version, "versions", versions_json(d),
                                             "kind", kind_name(d->kind), "bands",
                                             d->bands_rule ? d->bands_rule : "same", "summary",
                                             d->summary ? d->summary : "", "params", params));
    }
    char *s = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(arr);
    return s;
}

static void print_param(const tsr_param_spec *p) {
    char range[128] = "";
    if (p->type == TSR_PARAM_ENUM) {
        size_t n = 0;
        for (int c = 0; p->choices && p->choices[c]; c++)
            n += (size_t)snprintf(range + n, sizeof range - n, "%s%s", c ? "|" : "", p->choices[c]);
    } else if (p->type == TSR_PARAM_INT || p->type == TSR_PARAM_FLOAT) {
        snprintf(range, sizeof range, "%g..%g%s%s", p->min, p->max, p->unit && *p->unit ? " " : "",
                 p->unit ? p->unit : "");
    } else if (p->type == TSR_PARAM_KERNEL) {
        snprintf(range, sizeof range, "1x1..9x9, odd side");
    } else {
        snprintf(range, sizeof range, "true|false");
    }
    char def[64];
    if (p->optional || p->type == TSR_PARAM_KERNEL)
        snprintf(def, sizeof def, "%s", p->optional ? "unset" : "required");
    else if (p->type == TSR_PARAM_ENUM)
        snprintf(def, sizeof def, "%s", p->choices[(int)p->def]);
    else if (p->type == TSR_PARAM_BOOL)
        snprintf(def, sizeof def, "%s", p->def != 0 ? "true" : "false");
    else
        snprintf(def, sizeof def, "%g", p->def);
    printf("    %-10s %-6s default %-9s range %-18s %s\n", p->name, type_name(p->type), def, range,
           p->hint ? p->hint : "");
    if (p->doc && *p->doc)
        printf("    %-10s %-6s         %-9s       %-18s (%s)\n", "", "", "", "", p->doc);
}

/* `tessera ops --presets`: each preset's name, id, description and
 * normalized pipeline; with --json the list GET /api/v1/presets answers. */
static int print_presets(int as_json) {
    if (as_json) {
        char *s = tsr_presets_to_json();
        printf("%s\n", s ? s : "[]");
        free(s);
        return s ? EXIT_OK : EXIT_INTERNAL;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    for (int i = 0; ctx && i < tsr_preset_count(); i++) {
        const tsr_preset *p = tsr_preset_at(i);
        tsr_pipeline *pipe = NULL;
        char *text = NULL;
        if (!tsr_pipeline_parse(ctx, p->pipeline, &pipe))
            text = tsr_pipeline_to_text(pipe);
        printf("%s (preset:%s)\n    %s\n    %s\n", p->name, p->id, p->description,
               text ? text : p->pipeline);
        free(text);
        tsr_pipeline_free(pipe);
    }
    tsr_ctx_free(ctx);
    return ctx ? EXIT_OK : EXIT_INTERNAL;
}

int cmd_ops(int argc, char **argv) {
    int as_json = 0, presets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            as_json = 1;
        } else if (!strcmp(argv[i], "--presets")) {
            presets = 1;
        } else {
            fprintf(stderr, "usage: tessera ops [--presets] [--json]\n");
            return EXIT_USAGE;
        }
    }
    if (presets)
        return print_presets(as_json);
    if (as_json) {
        char *s = cli_ops_json();
        printf("%s\n", s ? s : "[]");
        free(s);
        return EXIT_OK;
    }
    for (int i = 0; i < tsr_op_count(); i++) {
        const tsr_op_desc *d = tsr_op_at(i);
        if (d->hidden || !tsr_op_is_default(d))
            continue;
        int v[16], n = tsr_op_versions(d->name, v, 16);
        char older[96] = "";
        for (int k = 0, len = 0; k < n - 1 && k < 15 && len < (int)sizeof older; k++)
            len += snprintf(older + len, sizeof older - (size_t)len, "%s%d", k ? "," : " (also @",
                            v[k]);
        if (older[0])
            strcat(older, ")");
        printf("%-15s %-9s v%d%s  %s\n", d->name, kind_name(d->kind), d->version, older,
               d->summary ? d->summary : "");
        for (int p = 0; p < d->n_params; p++)
            print_param(&d->params[p]);
    }
    return EXIT_OK;
}
