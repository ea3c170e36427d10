/* Helpers of the geometry op tests: set parameters by name, prepare an op
 * for an image, run it as one region or as tiles whose input regions are
 * cut by need() into buffers of exactly that size (so ASan catches any read
 * outside need()). */
#ifndef TESSERA_TEST_GEOM_UTIL_H
#define TESSERA_TEST_GEOM_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "tessera/op.h"

/* Sets parameter `name` of `op` (a number, or an enum choice name). */
static inline int geom_set(tsr_op *op, const char *name, const char *value) {
    int i = tsr_op_param_index(op->desc, name);
    if (i < 0)
        return -1;
    const tsr_param_spec *p = &op->desc->params[i];
    if (p->type == TSR_PARAM_ENUM) {
        for (int c = 0; p->choices[c]; c++)
            if (strcmp(p->choices[c], value) == 0) {
                op->values[i] = c;
                op->given[i] = true;
                return 0;
            }
        return -1;
    }
    op->values[i] = strcmp(value, "true") == 0 ? 1 : atof(value);
    op->given[i] = true;
    return 0;
}

/* An op of `desc` with default values; `params` is "a=1,b=x" or NULL. */
static inline tsr_op geom_op(const tsr_op_desc *desc, const char *params) {
    tsr_op op;
    memset(&op, 0, sizeof op);
    op.desc = desc;
    for (int i = 0; i < desc->n_params; i++)
        op.values[i] = desc->params[i].def;
    if (params) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", params);
        for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv;
             kv = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(kv, '=');
            if (eq) {
                *eq = 0;
                if (geom_set(&op, kv, eq + 1))
                    fprintf(stderr, "bad parameter %s=%s\n", kv, eq + 1);
            }
        }
    }
    return op;
}

static inline tsr_status geom_prepare(tsr_ctx *ctx, tsr_op *op, const tsr_image *img) {
    op->in_w = img->width;
    op->in_h = img->height;
    op->in_bands = img->bands;
    return op->desc->prepare(ctx, op);
}

static inline void geom_release(tsr_op *op) {
    if (op->desc->release)
        op->desc->release(op);
}

/* Runs a prepared op over `out` (whole output image) in tiles of tw x th.
 * Each tile's input is a fresh malloc of exactly need(tile). Returns the
 * number of failed run() calls or need() results not inside the image. */
static inline int geom_run_tiled(const tsr_op *op, const tsr_image *in, tsr_image *out, int tw,
                                 int th) {
    int failures = 0;
    for (int y = 0; y < out->height; y += th)
        for (int x = 0; x < out->width; x += tw) {
            tsr_rect t = tsr_rect_make(x, y, tw, th);
            t = tsr_rect_intersect(t, tsr_rect_make(0, 0, out->width, out->height));
            tsr_rect n = op->desc->need(op, t);
            if (!tsr_rect_empty(n) &&
                !tsr_rect_contains(tsr_rect_make(0, 0, in->width, in->height), n)) {
                failures++;
                continue;
            }
            size_t row = (size_t)(n.w > 0 ? n.w : 0) * (size_t)in->bands;
            size_t rows = (size_t)(n.h > 0 ? n.h : 0);
            uint8_t *buf = malloc(row * rows + 1);
            tsr_region src = {n, in->bands, row, buf, in->width, in->height};
            if (!tsr_rect_empty(n)) {
                tsr_region whole = tsr_image_region(in, n);
                tsr_region_copy(&whole, &src);
            }
            tsr_region dst = tsr_image_region(out, t);
            if (op->desc->run(op, &src, &dst) != TSR_OK)
                failures++;
            free(buf);
        }
    return failures;
}

/* Runs the prepared op on the whole image as one region. The caller frees *out. */
static inline tsr_status geom_run_whole(tsr_ctx *ctx, const tsr_op *op, const tsr_image *in,
                                        tsr_image **out) {
    tsr_status st = tsr_image_new(ctx, op->out_w, op->out_h, op->out_bands, out);
    if (st)
        return st;
    tsr_rect all = tsr_rect_make(0, 0, op->out_w, op->out_h);
    tsr_region src = tsr_image_region(in, op->desc->need(op, all));
    tsr_region dst = tsr_image_region(*out, all);
    return op->desc->run(op, &src, &dst);
}

static inline bool geom_same(const tsr_image *a, const tsr_image *b) {
    if (a->width != b->width || a->height != b->height || a->bands != b->bands)
        return false;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride,
                   (size_t)a->width * (size_t)a->bands) != 0)
            return false;
    return true;
}

#endif
