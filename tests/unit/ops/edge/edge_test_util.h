/* Helpers shared by the edge op tests: prepare an op with its defaults and
 * run it over a whole image or a grid of small tiles, as the planner would. */
#ifndef TESSERA_TEST_EDGE_UTIL_H
#define TESSERA_TEST_EDGE_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "tessera/tessera.h"

/* An op of `desc` with default parameters, prepared for w x h x bands. */
static inline tsr_status edge_op_prepare(tsr_ctx *ctx, const tsr_op_desc *desc, tsr_op *op, int w,
                                         int h, int bands) {
    memset(op, 0, sizeof *op);
    op->desc = desc;
    for (int i = 0; i < desc->n_params; i++)
        op->values[i] = desc->params[i].def;
    op->in_w = w;
    op->in_h = h;
    op->in_bands = bands;
    return desc->prepare(ctx, op);
}

static inline tsr_rect edge_op_need(const tsr_op *op, tsr_rect r) {
    return op->desc->need ? op->desc->need(op, r) : tsr_op_need_radius(op, r);
}

/* Runs `op` on `in` into a new image, tile by tile (tw x th tiles; 0 = one
 * whole-image tile). Each tile's input region covers exactly need(tile). */
static inline tsr_image *edge_op_apply(tsr_ctx *ctx, const tsr_op *op, const tsr_image *in, int tw,
                                       int th) {
    tsr_image *out = NULL;
    if (tsr_image_new(ctx, op->out_w, op->out_h, op->out_bands, &out))
        return NULL;
    if (tw <= 0 || th <= 0)
        tw = op->out_w, th = op->out_h;
    for (int y = 0; y < op->out_h; y += th) {
        for (int x = 0; x < op->out_w; x += tw) {
            tsr_rect r = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                            tsr_rect_make(0, 0, op->out_w, op->out_h));
            /* A tight copy of need(r), so that a read outside it shows up
             * as a tiling difference (or under ASan) instead of passing. */
            tsr_rect need = edge_op_need(op, r);
            tsr_image *part = NULL;
            if (tsr_image_new(ctx, need.w, need.h, in->bands, &part)) {
                tsr_image_free(out);
                return NULL;
            }
            for (int row = 0; row < need.h; row++)
                memcpy(part->data + (size_t)row * part->stride,
                       in->data + (size_t)(need.y + row) * in->stride +
                           (size_t)need.x * (size_t)in->bands,
                       (size_t)need.w * (size_t)in->bands);
            tsr_region src = {need, in->bands, part->stride, part->data, in->width, in->height};
            tsr_region dst = tsr_image_region(out, r);
            tsr_status st = op->desc->run(op, &src, &dst);
            tsr_image_free(part);
            if (st) {
                tsr_image_free(out);
                return NULL;
            }
        }
    }
    return out;
}

/* A tight copy of rect r of `in` as a region of the whole image, so that a
 * read outside r shows up (wrong bytes or ASan) instead of passing. */
static inline tsr_image *edge_tight_copy(tsr_ctx *ctx, const tsr_image *in, tsr_rect r,
                                         tsr_region *reg) {
    tsr_image *part = NULL;
    if (tsr_image_new(ctx, r.w, r.h, in->bands, &part))
        return NULL;
    for (int row = 0; row < r.h; row++)
        memcpy(part->data + (size_t)row * part->stride,
               in->data + (size_t)(r.y + row) * in->stride + (size_t)r.x * (size_t)in->bands,
               (size_t)r.w * (size_t)in->bands);
    tsr_region src = {r, in->bands, part->stride, part->data, in->width, in->height};
    *reg = src;
    return part;
}

/* Runs GLOBAL op `op`'s reduction as a distributed executor would: map()
 * over tile x tile tiles of `in` (0: one whole-image tile), tile i into
 * partial i % parts, merge() of the partials in reverse order into a new
 * op->summary, then finalize(ctx, op, NULL) without the whole image. The
 * caller frees op->summary (edge_op_free). */
static inline tsr_status edge_op_reduce(tsr_ctx *ctx, tsr_op *op, const tsr_image *in, int tile,
                                        int parts) {
    size_t size = op->desc->summary_size(op);
    uint8_t *partials = calloc((size_t)parts, size ? size : 1);
    free(op->summary);
    op->summary = calloc(1, size ? size : 1);
    if (!partials || !op->summary) {
        free(partials);
        return TSR_ERR_NOMEM;
    }
    int tw = tile > 0 ? tile : in->width, th = tile > 0 ? tile : in->height, i = 0;
    for (int y = 0; y < in->height; y += th)
        for (int x = 0; x < in->width; x += tw, i++) {
            tsr_rect r = tsr_rect_intersect(tsr_rect_make(x, y, tw, th),
                                            tsr_rect_make(0, 0, in->width, in->height));
            tsr_region reg;
            tsr_image *part = edge_tight_copy(ctx, in, r, &reg);
            if (!part) {
                free(partials);
                return TSR_ERR_NOMEM;
            }
            op->desc->map(op, &reg, partials + (size_t)(i % parts) * size);
            tsr_image_free(part);
        }
    for (int k = parts - 1; k >= 0; k--)
        op->desc->merge(op, op->summary, partials + (size_t)k * size);
    free(partials);
    return op->desc->finalize(ctx, op, NULL);
}

/* Releases what prepare, edge_op_reduce and finalize left in `op`. */
static inline void edge_op_free(tsr_op *op) {
    if (op->desc->release)
        op->desc->release(op);
    free(op->summary);
    op->summary = NULL;
}

/* Whether two images hold the same size, bands and pixel bytes. */
static inline int edge_same_image(const tsr_image *a, const tsr_image *b) {
    if (!a || !b || a->width != b->width || a->height != b->height || a->bands != b->bands)
        return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + (size_t)y * a->stride, b->data + (size_t)y * b->stride,
                   (size_t)a->width * (size_t)a->bands))
            return 0;
    return 1;
}

/* Loads tests/data/<name>; NULL on failure. */
static inline tsr_image *edge_load(tsr_ctx *ctx, const char *name) {
    char path[1024];
    tsr_image *img = NULL;
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    if (tsr_image_load(ctx, path, NULL, &img, NULL))
        return NULL;
    return img;
}

#endif
