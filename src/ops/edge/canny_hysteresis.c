/* canny-hysteresis: the global stage of canny. finalize() floods the whole
 * candidate map from its strong pixels through 8-connected weak ones, as
 * OpenCV's edge tracking does; run() then writes 255 on edges, 0 elsewhere. */
#include <stdlib.h>
#include <string.h>

#include "ops/edge/edge.h"

/* The flooded map, padded with a CANNY_NONE border so that neighbour reads
 * need no bounds checks. */
typedef struct hysteresis_state {
    uint8_t *map;  /* (in_w + 2) x (in_h + 2); CANNY_STRONG marks edges */
    size_t stride; /* in_w + 2 */
} hysteresis_state;

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    if (op->in_bands != 1)
        return tsr_error(ctx, TSR_ERR_INTERNAL,
                         "canny-hysteresis: expects canny-nms's 1-band map, got %d bands",
                         op->in_bands);
    uint64_t padded = ((uint64_t)op->in_w + 2) * ((uint64_t)op->in_h + 2);
    if (padded > UINT32_MAX)
        return tsr_error(ctx, TSR_ERR_LIMIT, "canny: image of %dx%d is too large for hysteresis",
                         op->in_w, op->in_h);
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = 1;
    return TSR_OK;
}

static void release(tsr_op *op) {
    hysteresis_state *s = op->state;
    if (s)
        free(s->map);
    free(s);
    op->state = NULL;
}

static size_t summary_size(const tsr_op *op) {
    (void)op;
    return 0;
}

/* Iterative flood: every pixel enters the stack at most once (it is marked
 * strong when pushed), so the stack never holds more than the candidates. */
static void flood(uint8_t *map, size_t stride, size_t total, uint32_t *stack) {
    size_t top = 0;
    const ptrdiff_t st = (ptrdiff_t)stride;
    const ptrdiff_t nb[8] = {-1, 1, -st - 1, -st, -st + 1, st - 1, st, st + 1};
    for (size_t i = 0; i < total; i++)
        if (map[i] == CANNY_STRONG)
            stack[top++] = (uint32_t)i;
    while (top) {
        size_t p = stack[--top];
        for (int k = 0; k < 8; k++) {
            size_t q = (size_t)((ptrdiff_t)p + nb[k]);
            if (map[q] == CANNY_WEAK) {
                map[q] = CANNY_STRONG;
                stack[top++] = (uint32_t)q;
            }
        }
    }
}

/* Copies the candidate map `whole` into a padded map in op->state and floods
 * it. Errors: no whole image (executors without one), out of memory. */
static tsr_status finalize(tsr_ctx *ctx, tsr_op *op, const tsr_image *whole) {
    tsr_status st = TSR_OK;
    uint32_t *stack = NULL;
    hysteresis_state *s = NULL;
    if (!whole || whole->width != op->in_w || whole->height != op->in_h || whole->bands != 1)
        return tsr_error(ctx, TSR_ERR_INTERNAL,
                         "canny-hysteresis: needs the whole %dx%d candidate map", op->in_w,
                         op->in_h);
    int w = op->in_w, h = op->in_h;
    size_t stride = (size_t)w + 2, total = stride * ((size_t)h + 2), candidates = 0;
    s = calloc(1, sizeof *s);
    if (!s || !(s->map = calloc(total, 1))) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "canny-hysteresis: out of memory for a %dx%d map", w, h);
        goto out;
    }
    s->stride = stride;
    for (int y = 0; y < h; y++) {
        const uint8_t *src = whole->data + (size_t)y * whole->stride;
        uint8_t *dst = s->map + (size_t)(y + 1) * stride + 1;
        memcpy(dst, src, (size_t)w);
        for (int x = 0; x < w; x++)
            candidates += src[x] != CANNY_NONE;
    }
    stack = malloc((candidates ? candidates : 1) * sizeof *stack);
    if (!stack) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "canny-hysteresis: out of memory for %zu candidates",
                       candidates);
        goto out;
    }
    flood(s->map, stride, total, stack);
    release(op);
    op->state = s;
    s = NULL;
out:
    free(stack);
    if (s)
        free(s->map);
    free(s);
    return st;
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    (void)in;
    const hysteresis_state *s = op->state;
    if (!s)
        return TSR_ERR_INTERNAL;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        const uint8_t *src = s->map + (size_t)(y + 1) * s->stride + 1 + out->rect.x;
        uint8_t *dst = TSR_REGION_AT(out, out->rect.x, y);
        for (int j = 0; j < out->rect.w; j++)
            dst[j] = src[j] == CANNY_STRONG ? 255 : 0;
    }
    return TSR_OK;
}

const tsr_op_desc tsr_op_canny_hysteresis = {
    .name = "canny-hysteresis",
    .version = 1,
    .kind = TSR_OP_GLOBAL,
    .summary = "canny's global stage: weak candidates connected to strong ones become edges",
    .bands_rule = "1->1",
    .params = tsr_canny_params,
    .n_params = CANNY_N_PARAMS,
    .prepare = prepare,
    .release = release,
    .run = run,
    .summary_size = summary_size,
    .finalize = finalize,
    .hidden = true,
};
