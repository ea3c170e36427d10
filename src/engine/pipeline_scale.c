/* Scaling a pipeline's pixel geometry to a small copy of its image, for
 * previews: where a crop lies and how big it is, the size a resize asks
 * for, the edge pixels a Hough line needs. Filter sizes (blur sigma and
 * ksize, median, box-blur, Hough rho) are left alone, so a blur looks
 * stronger on the copy than on the image. A thumbnail's box is left alone
 * too: it never enlarges, so on the copy it gives at most the copy, which
 * shows what the result looks like (scaled, a 320 px box on a 4000 px photo
 * would preview as a few pixels). Each op's factor is the copy's size over
 * the image's at that op's input, so the ops after a thumbnail (or a quarter
 * turn) are scaled by what it left on each. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/engine.h"

/* Which side of the image a parameter measures. */
typedef enum axis { AXIS_X, AXIS_Y, AXIS_BOTH } axis;

/* A parameter that counts pixels of the image, by op and name. */
typedef struct scaled_param {
    const char *op;     /* op name */
    const char *param;  /* parameter name */
    axis side;          /* the side it measures */
    const char *origin; /* a position the extent starts at (crop's x, y): the scaled
                           extent ends inside the image; NULL = none */
    bool position;      /* a coordinate (rounded down, kept inside the image) rather
                           than an extent (rounded, at least 1) */
} scaled_param;

static const scaled_param scaled_params[] = {
    {"crop", "x", AXIS_X, NULL, true},
    {"crop", "y", AXIS_Y, NULL, true},
    {"crop", "width", AXIS_X, "x", false},
    {"crop", "height", AXIS_Y, "y", false},
    {"resize", "width", AXIS_X, NULL, false},
    {"resize", "height", AXIS_Y, NULL, false},
    {"hough-lines", "threshold", AXIS_BOTH, NULL, false},
};

#define SCALED_COUNT ((int)(sizeof scaled_params / sizeof scaled_params[0]))

/* The input size of op `index`: the image's for the first op, else the
 * output of the ops before it. */
static tsr_status input_size(tsr_ctx *ctx, const tsr_pipeline *pipeline, int index, int w, int h,
                             int bands, int size[2]) {
    size[0] = w;
    size[1] = h;
    if (index == 0)
        return TSR_OK;
    tsr_pipeline prefix = {.n_ops = index, .ops = pipeline->ops};
    return tsr_pipeline_check_size(ctx, &prefix, w, h, bands, &size[0], &size[1], NULL);
}

/* Scales one parameter of `op` (input full[] on the image, small[] on the
 * copy); an optional parameter that was not given stays unset. */
static void scale_param(tsr_op *op, const scaled_param *sp, const int full[2], const int small[2]) {
    int i = tsr_op_param_index(op->desc, sp->param);
    if (i < 0 || (op->desc->params[i].optional && !op->given[i]))
        return;
    const tsr_param_spec *spec = &op->desc->params[i];
    double sx = (double)small[0] / full[0], sy = (double)small[1] / full[1];
    double s = sp->side == AXIS_X ? sx : (sp->side == AXIS_Y ? sy : (sx + sy) / 2);
    int limit = sp->side == AXIS_Y ? small[1] : small[0];
    double v = op->values[i] * s;
    if (sp->position) {
        v = fmin(floor(v), limit - 1);
    } else {
        v = fmax(1, floor(v + 0.5));
        int o = sp->origin ? tsr_op_param_index(op->desc, sp->origin) : -1;
        if (o >= 0)
            v = fmin(v, limit - op->values[o]);
    }
    op->values[i] = fmin(fmax(v, spec->min), spec->max);
}

/* A resize given one side keeps the aspect ratio, which on a copy a few
 * pixels high can round the other side to 0: it gets both sides, those of
 * its output on the image (`out`) scaled like its input. */
static void resize_both_sides(tsr_op *op, const int full[2], const int small[2], const int out[2]) {
    int w = tsr_op_param_index(op->desc, "width"), h = tsr_op_param_index(op->desc, "height");
    if (w < 0 || h < 0 || op->given[w] == op->given[h])
        return;
    int missing = op->given[w] ? h : w, side = op->given[w] ? 1 : 0;
    double v = floor(out[side] * ((double)small[side] / full[side]) + 0.5);
    op->values[missing] = fmin(fmax(v, 1), op->desc->params[missing].max);
    op->given[missing] = true;
}

tsr_status tsr_pipeline_scale(tsr_ctx *ctx, tsr_pipeline *pipeline, int full_w, int full_h,
                              int small_w, int small_h, int bands) {
    /* the image's sizes come from the ops as they were, the copy's from the
     * ops already scaled */
    tsr_pipeline original = {.n_ops = pipeline->n_ops,
                             .ops = malloc(sizeof(tsr_op) * (size_t)pipeline->n_ops)};
    if (!original.ops)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    memcpy(original.ops, pipeline->ops, sizeof(tsr_op) * (size_t)pipeline->n_ops);
    tsr_status st =
        tsr_pipeline_check_size(ctx, &original, full_w, full_h, bands, NULL, NULL, NULL);
    for (int i = 0; !st && i < pipeline->n_ops; i++) {
        tsr_op *op = &pipeline->ops[i];
        int full[2], small[2];
        st = input_size(ctx, &original, i, full_w, full_h, bands, full);
        if (!st)
            st = input_size(ctx, pipeline, i, small_w, small_h, bands, small);
        /* in table order: a crop's x and y are scaled before its width and height */
        for (int k = 0; !st && k < SCALED_COUNT; k++)
            if (!strcmp(scaled_params[k].op, op->desc->name))
                scale_param(op, &scaled_params[k], full, small);
        if (!st && !strcmp(op->desc->name, "resize")) {
            int out[2];
            st = input_size(ctx, &original, i + 1, full_w, full_h, bands, out);
            if (!st)
                resize_both_sides(op, full, small, out);
        }
    }
    free(original.ops);
    return st;
}
