/* The planner: expand ops, prepare them for the input size, cut stages at
 * GLOBAL ops, and compute fused tiles. */
#include <stdlib.h>
#include <string.h>

#include "engine/plan_internal.h"

static void release_ops(tsr_op *ops, int n) {
    for (int i = 0; i < n; i++) {
        if (ops[i].desc && ops[i].desc->release && ops[i].state)
            ops[i].desc->release(&ops[i]);
        free(ops[i].summary);
        ops[i].state = NULL;
        ops[i].summary = NULL;
    }
}

void tsr_plan_free(tsr_plan *plan) {
    if (!plan)
        return;
    release_ops(plan->ops, plan->n_ops);
    free(plan->ops);
    free(plan->stages);
    free(plan->pipeline);
    free(plan);
}

/* Number of ops after expansion. */
static int expanded_count(const tsr_pipeline *p) {
    int n = 0;
    for (int i = 0; i < p->n_ops; i++) {
        const tsr_op_desc *d = p->ops[i].desc;
        if (d->expands_to) {
            for (const tsr_op_desc *const *e = d->expands_to; *e; e++)
                n++;
        } else {
            n++;
        }
    }
    return n;
}

static int ceil_div(int a, int b) {
    return (a + b - 1) / b;
}

/* GLOBAL ops' map tiles: the tile side rounded up to a multiple of
 * MAP_ALIGN, so every map tile starts on a MAP_ALIGN-px grid line (op.h);
 * one whole-image tile for tile -1. Map tiles change no output bytes. */
enum { MAP_ALIGN = 64 };
static int map_tile_side(int tile, int w, int h) {
    if (tile == -1)
        return w > h ? w : h;
    return ceil_div(tile, MAP_ALIGN) * MAP_ALIGN;
}

/* Appends op `desc` (one part of `src`) to the plan for a cw x ch x cb
 * input, prepares it and checks the size it gives. */
static tsr_status add_op(tsr_ctx *ctx, tsr_plan *plan, const tsr_op *src, const tsr_op_desc *desc,
                         int cw, int ch, int cb) {
    tsr_op *op = &plan->ops[plan->n_ops++];
    *op = *src;
    op->desc = desc;
    op->state = NULL;
    op->summary = NULL;
    op->in_w = op->out_w = cw;
    op->in_h = op->out_h = ch;
    op->in_bands = op->out_bands = cb;
    op->radius = 0;
    tsr_status st;
    if (desc->prepare && (st = desc->prepare(ctx, op)))
        return st;
    if (op->out_w <= 0 || op->out_h <= 0 || op->out_bands < 1 || op->out_bands > TSR_MAX_BANDS)
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: gives an empty image (%dx%d) for a %dx%d input",
                         desc->name, op->out_w, op->out_h, cw, ch);
    return tsr_limits_check(ctx, desc->name, (uint64_t)op->out_w, (uint64_t)op->out_h,
                            op->out_bands);
}

/* Expands the pipeline's ops into plan->ops and prepares them, threading
 * sizes from the w x h x bands input through the ops. */
static tsr_status expand_ops(tsr_ctx *ctx, tsr_plan *plan, const tsr_pipeline *pipeline, int w,
                             int h, int bands) {
    int cw = w, ch = h, cb = bands;
    for (int i = 0; i < pipeline->n_ops; i++) {
        const tsr_op *src = &pipeline->ops[i];
        const tsr_op_desc *const *parts = src->desc->expands_to;
        const tsr_op_desc *single[2] = {src->desc, NULL};
        for (parts = parts ? parts : single; *parts; parts++) {
            tsr_status st = add_op(ctx, plan, src, *parts, cw, ch, cb);
            if (st)
                return st;
            const tsr_op *op = &plan->ops[plan->n_ops - 1];
            cw = op->out_w;
            ch = op->out_h;
            cb = op->out_bands;
        }
    }
    return TSR_OK;
}

/* The tile side for a stage that shrinks the image at least 4 times in
 * area (a thumbnail of a 12 MP image is one 256 px tile: one thread did
 * all of it): halved, down to TSR_TILE_MIN, until the stage has
 * MIN_SHRINK_TILES tiles, so its work spreads over the threads. Each tile
 * reads its own share of the input; the bytes do not depend on the tile. */
#define MIN_SHRINK_TILES 16
static int shrink_tile(const tsr_stage *s, int t) {
    if (t == -1 || (int64_t)s->in_w * s->in_h < 4 * (int64_t)s->out_w * s->out_h)
        return t;
    while (t / 2 >= TSR_TILE_MIN &&
           (int64_t)ceil_div(s->out_w, t) * ceil_div(s->out_h, t) < MIN_SHRINK_TILES)
        t /= 2;
    return t;
}

/* The output tile of stage s for tile side t (-1: one tile). Square,
 * except for a stage of point ops only: its tiles are whole rows, about
 * as many pixels as a square tile (at least t/4 rows, at most t), since a
 * point op is bound by memory and the hardware prefetcher follows a
 * contiguous run of rows, not 768-byte pieces of them (a 3840x2160 invert
 * ran 3x faster in whole rows); no op of such a stage has a halo, so its
 * bytes do not depend on the tile shape. */
static void stage_tile_shape(const tsr_plan *plan, tsr_stage *s, int t) {
    t = shrink_tile(s, t);
    bool point = t != -1;
    for (int k = 0; k < s->count && point; k++)
        point = plan->ops[s->first + k].desc->kind == TSR_OP_POINT;
    s->tile_w = s->tile_h = t == -1 ? (s->out_w > s->out_h ? s->out_w : s->out_h) : t;
    if (point && s->out_w > t) {
        int64_t rows = (int64_t)t * t / s->out_w;
        s->tile_w = s->out_w;
        s->tile_h = (int)(rows < t / 4 ? t / 4 : rows); /* t >= TSR_TILE_MIN, so t / 4 >= 4 */
    }
}

/* Cuts stages at GLOBAL ops and sizes their output and map tiles. */
static void cut_stages(tsr_plan *plan, int tile) {
    for (int i = 0; i < plan->n_ops; i++) {
        if (i == 0 || plan->ops[i].desc->kind == TSR_OP_GLOBAL)
            plan->stages[plan->n_stages++].first = i;
        plan->stages[plan->n_stages - 1].count++;
    }
    for (int i = 0; i < plan->n_stages; i++) {
        tsr_stage *s = &plan->stages[i];
        const tsr_op *first = &plan->ops[s->first];
        const tsr_op *last = &plan->ops[s->first + s->count - 1];
        s->in_w = first->in_w;
        s->in_h = first->in_h;
        s->in_bands = first->in_bands;
        s->out_w = last->out_w;
        s->out_h = last->out_h;
        s->out_bands = last->out_bands;
        stage_tile_shape(plan, s, tile);
        s->tiles_x = ceil_div(s->out_w, s->tile_w);
        s->tiles_y = ceil_div(s->out_h, s->tile_h);
        plan->tasks += (uint64_t)s->tiles_x * (uint64_t)s->tiles_y;
        if (first->desc->kind == TSR_OP_GLOBAL && first->desc->map) {
            int mt = map_tile_side(tile, s->in_w, s->in_h);
            s->map_tiles_x = ceil_div(s->in_w, mt);
            s->map_tiles_y = ceil_div(s->in_h, mt);
            plan->tasks += (uint64_t)s->map_tiles_x * (uint64_t)s->map_tiles_y;
        }
    }
}

tsr_status tsr_plan_new(tsr_ctx *ctx, const tsr_pipeline *pipeline, int w, int h, int bands,
                        int tile_size, tsr_plan **out) {
    *out = NULL;
    if (tile_size == 0)
        tile_size = TSR_DEFAULT_TILE;
    if ((tile_size < TSR_TILE_MIN || tile_size > TSR_TILE_MAX) && tile_size != -1)
        return tsr_error(ctx, TSR_ERR_USAGE, "tile size must be %d..%d (got %d)", TSR_TILE_MIN,
                         TSR_TILE_MAX, tile_size);
    tsr_plan *plan = calloc(1, sizeof *plan);
    if (!plan)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    tsr_status st = TSR_OK;
    int n = expanded_count(pipeline);
    plan->ops = calloc((size_t)n, sizeof *plan->ops);
    plan->stages = calloc((size_t)n + 1, sizeof *plan->stages);
    if (!plan->ops || !plan->stages) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = expand_ops(ctx, plan, pipeline, w, h, bands)))
        goto out;
    cut_stages(plan, tile_size);
    plan->tile = tile_size;
    plan->in_w = w;
    plan->in_h = h;
    plan->in_bands = bands;
    if (!(plan->pipeline = tsr_pipeline_to_json(pipeline))) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    *out = plan;
    plan = NULL;
out:
    tsr_plan_free(plan);
    return st;
}

tsr_status tsr_pipeline_check_size(tsr_ctx *ctx, const tsr_pipeline *pipeline, int w, int h,
                                   int bands, int *out_w, int *out_h, int *out_bands) {
    tsr_plan *plan = NULL;
    int ow = 0, oh = 0, ob = 0;
    if (w < 1 || h < 1 || bands < 1 || bands > TSR_MAX_BANDS)
        return tsr_error(ctx, TSR_ERR_USAGE, "an image of %dx%d with %d bands cannot be processed",
                         w, h, bands);
    tsr_status st = tsr_plan_new(ctx, pipeline, w, h, bands, -1, &plan);
    if (!st)
        tsr_plan_output(plan, &ow, &oh, &ob);
    tsr_plan_free(plan);
    if (out_w)
        *out_w = ow;
    if (out_h)
        *out_h = oh;
    if (out_bands)
        *out_bands = ob;
    return st;
}

void tsr_plan_output(const tsr_plan *plan, int *w, int *h, int *bands) {
    const tsr_stage *s = &plan->stages[plan->n_stages - 1];
    *w = s->out_w;
    *h = s->out_h;
    *bands = s->out_bands;
}

void tsr_plan_input(const tsr_plan *plan, int *w, int *h) {
    *w = plan->in_w;
    *h = plan->in_h;
}

int tsr_plan_stage_count(const tsr_plan *plan) {
    return plan->n_stages;
}

uint64_t tsr_plan_task_count(const tsr_plan *plan) {
    return plan->tasks;
}

static tsr_rect grid_rect(int tw, int th, int w, int h, int cols, int index) {
    int tx = index % cols, ty = index / cols;
    tsr_rect r = tsr_rect_make(tx * tw, ty * th, tw, th);
    return tsr_rect_intersect(r, tsr_rect_make(0, 0, w, h));
}

tsr_rect tsr_stage_tile_rect(const tsr_plan *plan, const tsr_stage *s, int index) {
    if (plan->tile == -1)
        return tsr_rect_make(0, 0, s->out_w, s->out_h);
    return grid_rect(s->tile_w, s->tile_h, s->out_w, s->out_h, s->tiles_x, index);
}

tsr_rect tsr_stage_map_rect(const tsr_plan *plan, const tsr_stage *s, int index) {
    if (plan->tile == -1)
        return tsr_rect_make(0, 0, s->in_w, s->in_h);
    int side = map_tile_side(plan->tile, s->in_w, s->in_h);
    return grid_rect(side, side, s->in_w, s->in_h, s->map_tiles_x, index);
}

void tsr_scratch_release(tsr_scratch *s) {
    const tsr_accel *accel = s->accel;
    free(s->buf[0]);
    free(s->buf[1]);
    memset(s, 0, sizeof *s);
    s->accel = accel;
}

static uint8_t *scratch_get(tsr_scratch *s, int which, size_t bytes) {
    if (bytes == 0)
        bytes = 1;
    if (s->size[which] < bytes) {
        free(s->buf[which]);
        s->buf[which] = malloc(bytes);
        s->size[which] = s->buf[which] ? bytes : 0;
    }
    return s->buf[which];
}

static tsr_rect op_need(const tsr_op *op, tsr_rect out) {
    if (tsr_rect_empty(out))
        return tsr_rect_make(0, 0, 0, 0);
    if (op->desc->need)
        return op->desc->need(op, out);
    return tsr_op_need_radius(op, out);
}

/* The part `r` of region `avail` (r must lie inside avail->rect). */
static tsr_region subregion(const tsr_region *avail, tsr_rect r) {
    tsr_region sub = *avail;
    sub.rect = r;
    sub.data = TSR_REGION_AT(avail, r.x, r.y);
    return sub;
}

tsr_rect tsr_stage_tile_input(const tsr_plan *plan, const tsr_stage *s, int index) {
    tsr_rect r = tsr_stage_tile_rect(plan, s, index);
    for (int k = s->count - 1; k >= 0; k--)
        r = op_need(&plan->ops[s->first + k], r);
    return r;
}

/* Whether `accel` runs this tile: it has every op's kernel, and no rect
 * along the way is empty (the CPU path handles those). */
static bool device_takes(const tsr_accel *accel, const tsr_op *ops, int count,
                         const tsr_rect *rects) {
    for (int k = 0; k <= count; k++)
        if (tsr_rect_empty(rects[k]))
            return false;
    return accel->vt->supports(accel, ops, count);
}

tsr_status tsr_stage_run_tile(const tsr_plan *plan, const tsr_stage *s, const tsr_region *in,
                              const tsr_region *out, int index, tsr_scratch *scratch,
                              const tsr_ctx *cancel) {
    enum { MAX_STAGE_OPS = 2 * TSR_PIPELINE_MAX_OPS + 1 };
    tsr_rect rects[MAX_STAGE_OPS + 1];
    const tsr_op *ops = plan->ops + s->first;
    rects[s->count] = tsr_stage_tile_rect(plan, s, index);
    for (int k = s->count - 1; k >= 0; k--)
        rects[k] = op_need(&ops[k], rects[k + 1]);
    scratch->on_device = 0;
    if (scratch->accel && device_takes(scratch->accel, ops, s->count, rects)) {
        if (!tsr_rect_contains(in->rect, rects[0]) ||
            !tsr_rect_contains(out->rect, rects[s->count]))
            return TSR_ERR_INTERNAL;
        tsr_status st = scratch->accel->vt->run_tile(scratch->accel, ops, s->count, rects, in, out);
        if (!st) {
            scratch->on_device = 1;
            return TSR_OK;
        }
        scratch->accel->vt->fell_back(scratch->accel, ops[0].desc->name, st);
    }
    static uint8_t empty_pixel[TSR_MAX_BANDS];
    tsr_region cur;
    if (tsr_rect_empty(rects[0])) {
        cur = (tsr_region){rects[0], in->bands, 0, empty_pixel, in->image_w, in->image_h};
    } else {
        if (!tsr_rect_contains(in->rect, rects[0]))
            return TSR_ERR_INTERNAL;
        cur = subregion(in, rects[0]);
    }
    int cur_slot = -1; /* the scratch buffer `cur` lies in; -1: the stage's input */
    for (int k = 0; k < s->count; k++) {
        const tsr_op *op = &ops[k];
        tsr_region dst;
        if (k && cancel && tsr_ctx_cancelled(cancel))
            return TSR_ERR_CANCELLED;
        if (k == s->count - 1) {
            if (!tsr_rect_contains(out->rect, rects[k + 1]))
                return TSR_ERR_INTERNAL;
            dst = subregion(out, rects[k + 1]);
        } else if (op->desc->view && op->desc->view(op, &cur, rects[k + 1], &dst)) {
            cur = dst; /* the same pixels, in the same buffer: cur_slot stays */
            continue;
        } else {
            tsr_rect r = rects[k + 1];
            size_t stride = (size_t)r.w * (size_t)op->out_bands;
            int slot = cur_slot == 0 ? 1 : 0; /* never the buffer being read */
            uint8_t *mem = scratch_get(scratch, slot, stride * (size_t)(r.h > 0 ? r.h : 0));
            if (!mem)
                return TSR_ERR_NOMEM;
            dst = (tsr_region){r, op->out_bands, stride, mem, op->out_w, op->out_h};
            cur_slot = slot;
        }
        dst.image_w = op->out_w;
        dst.image_h = op->out_h;
        if (!tsr_rect_empty(dst.rect)) {
            tsr_status st = op->desc->run(op, &cur, &dst);
            if (st)
                return st;
        }
        cur = dst;
    }
    return TSR_OK;
}
