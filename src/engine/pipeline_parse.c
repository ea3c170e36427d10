/* Parsing the text form of a pipeline and setting typed parameters. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pipeline_internal.h"
#include "tessera/pipeline.h"
#include "util/suggest.h"

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Lists the names of desc's parameters into buf, for error messages. */
static void param_names(const tsr_op_desc *desc, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < desc->n_params && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", desc->params[i].name);
    if (desc->n_params == 0)
        snprintf(buf, size, "none");
}

static void choice_names(const tsr_param_spec *spec, char *buf, size_t size) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; spec->choices && spec->choices[i] && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", spec->choices[i]);
}

/* "; did you mean 'x'?" into buf when one of the NULL-terminated `names`
 * is close to `word`, else "". */
static void did_you_mean(const char *word, const char *const *names, char *buf, size_t size) {
    tsr_suggest s;
    tsr_suggest_init(&s, word);
    for (int i = 0; names && names[i]; i++)
        tsr_suggest_add(&s, names[i]);
    buf[0] = '\0';
    if (s.best)
        snprintf(buf, size, "; did you mean '%s'?", s.best);
}

static tsr_status parse_number(tsr_ctx *ctx, const tsr_op *op, const tsr_param_spec *spec,
                               const char *value, double *out) {
    char *end;
    errno = 0;
    double v = strtod(value, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (end == value || *end || errno == ERANGE || !isfinite(v))
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s must be a number (got '%s')", op->desc->name,
                         spec->name, value);
    if (spec->type == TSR_PARAM_INT && v != floor(v))
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s must be a whole number (got '%s')",
                         op->desc->name, spec->name, value);
    if (v < spec->min || v > spec->max)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s must be between %g and %g (got %s)",
                         op->desc->name, spec->name, spec->min, spec->max, value);
    *out = v;
    return TSR_OK;
}

static tsr_status parse_kernel(tsr_ctx *ctx, tsr_op *op, const tsr_param_spec *spec,
                               const char *value) {
    double vals[TSR_KERNEL_MAX * TSR_KERNEL_MAX];
    int n = 0;
    const char *p = value;
    for (;;) {
        while (isspace((unsigned char)*p) || *p == ';' || *p == ',')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno == ERANGE || !isfinite(v))
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "%s: %s must be numbers separated by spaces (bad value near '%.20s')",
                             op->desc->name, spec->name, p);
        if (n == TSR_KERNEL_MAX * TSR_KERNEL_MAX)
            return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s has more than %d values (largest is 9x9)",
                             op->desc->name, spec->name, TSR_KERNEL_MAX * TSR_KERNEL_MAX);
        if (v < spec->min || v > spec->max)
            return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s values must be between %g and %g (got %g)",
                             op->desc->name, spec->name, spec->min, spec->max, v);
        vals[n++] = v;
        p = end;
    }
    int side = (int)lround(sqrt((double)n));
    if (n == 0 || side * side != n || side % 2 == 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "%s: %s must be a square kernel with an odd side (1, 9, 25, 49 or 81 "
                         "values; got %d)",
                         op->desc->name, spec->name, n);
    op->kernel.size = side;
    memcpy(op->kernel.values, vals, (size_t)n * sizeof vals[0]);
    return TSR_OK;
}

tsr_status tsr_op_set_param(tsr_ctx *ctx, tsr_op *op, const char *name, const char *value) {
    int i = tsr_op_param_index(op->desc, name);
    if (i < 0) {
        char names[512], hint[96];
        const char *list[TSR_OP_MAX_PARAMS + 1] = {NULL};
        for (int k = 0; k < op->desc->n_params && k < TSR_OP_MAX_PARAMS; k++)
            list[k] = op->desc->params[k].name;
        param_names(op->desc, names, sizeof names);
        did_you_mean(name, list, hint, sizeof hint);
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: unknown parameter '%.64s'%s (parameters: %s)",
                         op->desc->name, name, hint, names);
    }
    const tsr_param_spec *spec = &op->desc->params[i];
    if (op->given[i])
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s is given twice", op->desc->name, name);
    tsr_status st = TSR_OK;
    switch (spec->type) {
    case TSR_PARAM_INT:
    case TSR_PARAM_FLOAT:
        st = parse_number(ctx, op, spec, value, &op->values[i]);
        break;
    case TSR_PARAM_BOOL:
        if (!strcmp(value, "true") || !strcmp(value, "1") || !strcmp(value, "yes"))
            op->values[i] = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0") || !strcmp(value, "no"))
            op->values[i] = 0;
        else
            st = tsr_error(ctx, TSR_ERR_USAGE, "%s: %s must be true or false (got '%s')",
                           op->desc->name, name, value);
        break;
    case TSR_PARAM_ENUM: {
        int found = -1;
        for (int c = 0; spec->choices && spec->choices[c]; c++)
            if (!strcmp(spec->choices[c], value))
                found = c;
        if (found < 0) {
            char names[512], hint[96];
            choice_names(spec, names, sizeof names);
            did_you_mean(value, spec->choices, hint, sizeof hint);
            st = tsr_error(ctx, TSR_ERR_USAGE, "%s: %s must be one of %s (got '%.64s')%s",
                           op->desc->name, name, names, value, hint);
        } else {
            op->values[i] = found;
        }
        break;
    }
    case TSR_PARAM_KERNEL:
        st = parse_kernel(ctx, op, spec, value);
        break;
    }
    if (!st)
        op->given[i] = true;
    return st;
}

/* The "unknown operation" error for `name`, with a did-you-mean. */
static tsr_status unknown_op(tsr_ctx *ctx, const char *name) {
    tsr_suggest s;
    tsr_suggest_init(&s, name);
    for (int i = 0; i < tsr_op_count(); i++)
        if (!tsr_op_at(i)->hidden)
            tsr_suggest_add(&s, tsr_op_at(i)->name);
    if (s.best)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "unknown operation '%.64s'; did you mean '%s'? (`tessera ops` lists "
                         "them)",
                         name, s.best);
    return tsr_error(ctx, TSR_ERR_USAGE, "unknown operation '%.64s' (`tessera ops` lists them)",
                     name);
}

/* Reads the version after '@' ("2") into *out: a whole number 1..
 * TSR_OP_VERSION_MAX. */
static tsr_status parse_version(tsr_ctx *ctx, const char *name, const char *text, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (!isdigit((unsigned char)*text) || *end || errno == ERANGE || v < 1 ||
        v > TSR_OP_VERSION_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "%s: the version after '@' must be a whole number from 1 to %d (got "
                         "'%.32s')",
                         name, TSR_OP_VERSION_MAX, text);
    *out = (int)v;
    return TSR_OK;
}

/* The error for version `version` of `name`, which is not registered:
 * lists the versions that are. */
static tsr_status unknown_version(tsr_ctx *ctx, const char *name, int version) {
    int versions[16];
    int n = tsr_op_versions(name, versions, 16);
    char list[160];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < n && i < 16 && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", i ? ", " : "", versions[i]);
    return tsr_error(ctx, TSR_ERR_USAGE, "%s: version %d does not exist (versions: %s)", name,
                     version, list);
}

tsr_status tsr_pipeline_op_init(tsr_ctx *ctx, const char *name, int version, tsr_op *op) {
    memset(op, 0, sizeof *op);
    char base[128];
    const char *at = strchr(name, '@');
    size_t len = at ? (size_t)(at - name) : strlen(name);
    if (len >= sizeof base)
        return unknown_op(ctx, name);
    memcpy(base, name, len);
    base[len] = '\0';
    char *bare = trim(base);
    const tsr_op_desc *desc = tsr_op_find(bare);
    if (!desc || desc->hidden)
        return unknown_op(ctx, bare);
    int pinned = 0;
    if (at) {
        char digits[32];
        snprintf(digits, sizeof digits, "%s", at + 1);
        tsr_status st = parse_version(ctx, bare, trim(digits), &pinned);
        if (st)
            return st;
    }
    if (pinned && version && pinned != version)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: two different versions are given (@%d and %d)",
                         bare, pinned, version);
    if (pinned || version) {
        int want = pinned ? pinned : version;
        if (!(desc = tsr_op_find_version(bare, want)))
            return unknown_version(ctx, bare, want);
    }
    op->desc = desc;
    for (int i = 0; i < desc->n_params; i++)
        op->values[i] = desc->params[i].def;
    return TSR_OK;
}

tsr_status tsr_pipeline_op_finish(tsr_ctx *ctx, tsr_op *op) {
    for (int i = 0; i < op->desc->n_params; i++) {
        const tsr_param_spec *spec = &op->desc->params[i];
        if (spec->type == TSR_PARAM_KERNEL && !op->given[i] && !spec->optional)
            return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s is required", op->desc->name, spec->name);
    }
    return op->desc->check ? op->desc->check(ctx, op) : TSR_OK;
}

tsr_status tsr_pipeline_new(tsr_ctx *ctx, int n_ops, tsr_pipeline **out) {
    *out = NULL;
    if (n_ops <= 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "the pipeline is empty: give at least one operation");
    if (n_ops > TSR_PIPELINE_MAX_OPS)
        return tsr_error(ctx, TSR_ERR_USAGE, "the pipeline has %d operations; the limit is %d",
                         n_ops, TSR_PIPELINE_MAX_OPS);
    tsr_pipeline *p = calloc(1, sizeof *p);
    if (!p || !(p->ops = calloc((size_t)n_ops, sizeof *p->ops))) {
        free(p);
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    }
    p->n_ops = n_ops;
    *out = p;
    return TSR_OK;
}

void tsr_pipeline_free(tsr_pipeline *pipeline) {
    if (!pipeline)
        return;
    free(pipeline->ops);
    free(pipeline);
}

/* Parses "name[@version]:key=value,key=value" into op. */
static tsr_status parse_op(tsr_ctx *ctx, char *text, tsr_op *op) {
    char *colon = strchr(text, ':');
    if (colon)
        *colon = '\0';
    char *name = trim(text);
    if (!*name)
        return tsr_error(ctx, TSR_ERR_USAGE, "the pipeline has an empty step (two '|' in a row?)");
    tsr_status st = tsr_pipeline_op_init(ctx, name, 0, op);
    if (st || !colon)
        return st ? st : tsr_pipeline_op_finish(ctx, op);
    char *rest = colon + 1;
    while (*rest) {
        char *comma = strchr(rest, ',');
        /* Kernel values may themselves contain commas: a comma followed by a
         * number-ish token without '=' continues the current value. */
        while (comma) {
            char *next = comma + 1;
            char *eq = strchr(next, '=');
            char *nc = strchr(next, ',');
            if (eq && (!nc || eq < nc))
                break;
            comma = nc;
        }
        if (comma)
            *comma = '\0';
        char *eq = strchr(rest, '=');
        if (!eq)
            return tsr_error(ctx, TSR_ERR_USAGE, "%s: expected key=value, got '%s'", op->desc->name,
                             trim(rest));
        *eq = '\0';
        char *key = trim(rest), *value = trim(eq + 1);
        if (!*value)
            return tsr_error(ctx, TSR_ERR_USAGE, "%s: %s has no value", op->desc->name, key);
        st = tsr_op_set_param(ctx, op, key, value);
        if (st)
            return st;
        if (!comma)
            break;
        rest = comma + 1;
    }
    return tsr_pipeline_op_finish(ctx, op);
}

tsr_status tsr_pipeline_parse_text(tsr_ctx *ctx, const char *text, tsr_pipeline **out) {
    *out = NULL;
    size_t len = strlen(text);
    if (len > TSR_PIPELINE_MAX_TEXT)
        return tsr_error(ctx, TSR_ERR_USAGE, "the pipeline text is longer than %d bytes",
                         TSR_PIPELINE_MAX_TEXT);
    char *copy = strdup(text);
    if (!copy)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    int n = 1;
    for (const char *c = copy; *c; c++)
        n += *c == '|';
    tsr_pipeline *p = NULL;
    tsr_status st;
    if (!*trim(copy))
        st = tsr_pipeline_new(ctx, 0, &p);
    else
        st = tsr_pipeline_new(ctx, n, &p);
    if (st)
        goto out;
    char *cursor = copy;
    for (int i = 0; i < n; i++) {
        char *bar = strchr(cursor, '|');
        if (bar)
            *bar = '\0';
        st = parse_op(ctx, cursor, &p->ops[i]);
        if (st)
            goto out;
        cursor = bar ? bar + 1 : cursor + strlen(cursor);
    }
    *out = p;
    p = NULL;
out:
    tsr_pipeline_free(p);
    free(copy);
    return st;
}

tsr_status tsr_pipeline_parse(tsr_ctx *ctx, const char *text, tsr_pipeline **out) {
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    if (*p == '[' || *p == '{')
        return tsr_pipeline_parse_json(ctx, text, out);
    if (!strncmp(p, "preset:", 7))
        return tsr_pipeline_parse_preset(ctx, p + 7, out);
    return tsr_pipeline_parse_text(ctx, text, out);
}

int tsr_pipeline_shrink_hint(const tsr_pipeline *pipeline, int in_w, int in_h) {
    if (!pipeline || pipeline->n_ops < 1 || strcmp(pipeline->ops[0].desc->name, "thumbnail"))
        return 1;
    const tsr_op *op = &pipeline->ops[0];
    int wi = tsr_op_param_index(op->desc, "width");
    int hi = tsr_op_param_index(op->desc, "height");
    if (wi < 0)
        return 1;
    double bw = op->values[wi];
    double bh = (hi >= 0 && op->given[hi]) ? op->values[hi] : bw;
    double s = fmin(bw / in_w, bh / in_h);
    if (s >= 1)
        return 1;
    /* Largest JPEG DCT scale that still leaves at least the target size. */
    int out_w = (int)lround(in_w * s), out_h = (int)lround(in_h * s);
    for (int f = 8; f > 1; f /= 2)
        if ((in_w + f - 1) / f >= out_w && (in_h + f - 1) / f >= out_h)
            return f;
    return 1;
}
