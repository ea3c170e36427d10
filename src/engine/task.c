/* Encoding, running and applying self-contained tile tasks (see task.h). */
#include <stdlib.h>
#include <string.h>

#include "engine/run_internal.h"
#include "engine/task.h"
#include "util/clock.h"

#define TASK_MAGIC      "TSK1"
#define RESULT_MAGIC    "RES2" /* RES1 (no device seconds) is still read */
#define RESULT_MAGIC_V1 "RES1"
#define CACHE_SLOTS     4

/* ---- little-endian writing and bounds-checked reading ---- */

static tsr_status put(tsr_buffer *b, const void *p, size_t n) {
    return tsr_buffer_append(b, p, n);
}

static tsr_status put_u32(tsr_buffer *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return put(b, x, 4);
}

static tsr_status put_u64(tsr_buffer *b, uint64_t v) {
    tsr_status st = put_u32(b, (uint32_t)v);
    return st ? st : put_u32(b, (uint32_t)(v >> 32));
}

static tsr_status put_f64(tsr_buffer *b, double d) {
    uint64_t v;
    memcpy(&v, &d, sizeof v);
    return put_u64(b, v);
}

typedef struct reader {
    const uint8_t *p; /* the bytes */
    size_t len;       /* their count */
    size_t pos;       /* next byte */
    int bad;          /* an overrun happened */
} reader;

static const uint8_t *take(reader *r, size_t n) {
    if (r->bad || n > r->len - r->pos) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

static uint32_t get_u32(reader *r) {
    const uint8_t *x = take(r, 4);
    return x ? (uint32_t)x[0] | (uint32_t)x[1] << 8 | (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24
             : 0;
}

static int32_t get_i32(reader *r) {
    return (int32_t)get_u32(r);
}

static uint64_t get_u64(reader *r) {
    uint64_t lo = get_u32(r);
    return lo | (uint64_t)get_u32(r) << 32;
}

static double get_f64(reader *r) {
    uint64_t v = get_u64(r);
    double d;
    memcpy(&d, &v, sizeof d);
    return d;
}

/* The rect's header: x, y, w, h, bands. */
static tsr_status put_rect_head(tsr_buffer *b, tsr_rect r, int bands) {
    tsr_status st = TSR_OK;
    int32_t f[5] = {r.x, r.y, r.w, r.h, bands};
    for (int i = 0; i < 5 && !st; i++)
        st = put_u32(b, (uint32_t)f[i]);
    return st;
}

static tsr_status put_rect_pixels(tsr_buffer *b, const tsr_region *src, tsr_rect r, int bands) {
    tsr_status st = put_rect_head(b, r, bands);
    if (!st && !tsr_rect_empty(r)) {
        size_t row = (size_t)r.w * (size_t)bands;
        st = tsr_buffer_reserve(b, row * (size_t)r.h);
        for (int y = r.y; y < r.y + r.h && !st; y++)
            st = put(b, TSR_REGION_AT(src, r.x, y), row);
    }
    return st;
}

static tsr_rect get_rect(reader *r, int *bands) {
    tsr_rect rect;
    rect.x = get_i32(r);
    rect.y = get_i32(r);
    rect.w = get_i32(r);
    rect.h = get_i32(r);
    *bands = get_i32(r);
    return rect;
}

static int same_rect(tsr_rect a, tsr_rect b) {
    if (tsr_rect_empty(a) && tsr_rect_empty(b))
        return 1;
    return a.x == b.x && a.y == b.y && a.w == b.w && a.h == b.h;
}

static size_t op_summary_size(const tsr_op *op) {
    return op->desc->summary_size ? op->desc->summary_size(op) : 0;
}

/* ---- coordinator side ---- */

/* Everything of the task before its pixels; *r is the rect they come from. */
static tsr_status encode_head(const tsr_tile_batch *batch, int tile, tsr_buffer *out, tsr_rect *r) {
    const tsr_plan *plan = batch->plan;
    const tsr_stage *s = &plan->stages[batch->stage];
    const tsr_op *head = &plan->ops[s->first];
    size_t plen = strlen(plan->pipeline);
    tsr_status st = put(out, TASK_MAGIC, 4);
    uint32_t fields[8] = {(uint32_t)batch->kind, (uint32_t)batch->stage, (uint32_t)tile,
                          (uint32_t)plan->in_w,  (uint32_t)plan->in_h,   (uint32_t)plan->in_bands,
                          (uint32_t)plan->tile,  (uint32_t)plen};
    for (int i = 0; i < 8 && !st; i++)
        st = put_u32(out, fields[i]);
    if (!st)
        st = put(out, plan->pipeline, plen);
    /* An apply task of a stage headed by a GLOBAL op carries its merged summary. */
    size_t ssize = 0;
    if (batch->kind == TSR_TILE_APPLY && head->desc->kind == TSR_OP_GLOBAL && head->summary)
        ssize = op_summary_size(head);
    if (!st)
        st = put_u64(out, ssize);
    if (!st && ssize)
        st = put(out, head->summary, ssize);
    *r = batch->kind == TSR_TILE_APPLY ? tsr_stage_tile_input(plan, s, tile)
                                       : tsr_stage_map_rect(plan, s, tile);
    return st;
}

tsr_status tsr_task_encode(const tsr_tile_batch *batch, int tile, tsr_buffer *out) {
    tsr_rect r;
    tsr_status st = encode_head(batch, tile, out, &r);
    if (!st)
        st = put_rect_pixels(out, batch->in, r, batch->plan->stages[batch->stage].in_bands);
    return st ? tsr_error(batch->ctx, st, "encoding tile %d: %s", tile, tsr_status_name(st)) : st;
}

tsr_status tsr_task_encode_head(const tsr_tile_batch *batch, int tile, tsr_buffer *head,
                                tsr_rect *rect, size_t *row_len) {
    int bands = batch->plan->stages[batch->stage].in_bands;
    tsr_status st = encode_head(batch, tile, head, rect);
    if (!st)
        st = put_rect_head(head, *rect, bands);
    *row_len = tsr_rect_empty(*rect) ? 0 : (size_t)rect->w * (size_t)bands;
    return st ? tsr_error(batch->ctx, st, "encoding tile %d: %s", tile, tsr_status_name(st)) : st;
}

int tsr_task_tile_of(const uint8_t *bytes, size_t len) {
    reader r = {bytes, len, 0, 0};
    const uint8_t *magic = take(&r, 4);
    if (!magic || (memcmp(magic, TASK_MAGIC, 4) && memcmp(magic, RESULT_MAGIC, 4) &&
                   memcmp(magic, RESULT_MAGIC_V1, 4)))
        return -1;
    get_u32(&r);
    get_u32(&r);
    int tile = get_i32(&r);
    return r.bad ? -1 : tile;
}

tsr_status tsr_task_apply_result(const tsr_tile_batch *batch, const uint8_t *bytes, size_t len,
                                 int *tile, double *cpu_seconds, double *device_seconds) {
    tsr_ctx *ctx = batch->ctx;
    const tsr_plan *plan = batch->plan;
    const tsr_stage *s = &plan->stages[batch->stage];
    const tsr_op *head = &plan->ops[s->first];
    reader r = {bytes, len, 0, 0};
    const uint8_t *magic = take(&r, 4);
    uint32_t kind = get_u32(&r);
    int stage = get_i32(&r);
    *tile = get_i32(&r);
    *cpu_seconds = get_f64(&r);
    int v2 = magic && !memcmp(magic, RESULT_MAGIC, 4);
    *device_seconds = v2 ? get_f64(&r) : 0;
    if (!magic || (!v2 && memcmp(magic, RESULT_MAGIC_V1, 4)) || r.bad ||
        !(*device_seconds >= 0 && *device_seconds < 1e9) || kind != (uint32_t)batch->kind ||
        stage != batch->stage || *tile < batch->first || *tile >= batch->first + batch->count)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "a tile result does not belong to this batch");
    if (batch->kind == TSR_TILE_MAP) {
        uint64_t n = get_u64(&r);
        const uint8_t *partial = take(&r, (size_t)n);
        if (!partial || n != op_summary_size(head) || r.pos != r.len)
            return tsr_error(ctx, TSR_ERR_CORRUPT, "tile %d: malformed partial summary", *tile);
        head->desc->merge(head, batch->acc, partial);
        return TSR_OK;
    }
    int bands;
    tsr_rect rect = get_rect(&r, &bands);
    tsr_rect want = tsr_stage_tile_rect(plan, s, *tile);
    if (r.bad || !same_rect(rect, want) || bands != s->out_bands ||
        !tsr_rect_contains(batch->out->rect, want))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "tile %d: result rect or bands do not match", *tile);
    size_t row = (size_t)want.w * (size_t)bands;
    const uint8_t *pixels = take(&r, row * (size_t)want.h);
    if (!pixels || r.pos != r.len)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "tile %d: result has the wrong size", *tile);
    for (int y = 0; y < want.h; y++)
        memcpy(TSR_REGION_AT(batch->out, want.x, want.y + y), pixels + (size_t)y * row, row);
    return TSR_OK;
}

/* ---- worker side ---- */

/* One cached plan and, per stage, a hash of the summary its GLOBAL head was
 * last finalized with. */
typedef struct cached_plan {
    char *pipeline;         /* owned; the key with the numbers below */
    int w, h, bands, tile;  /* plan input and tile size */
    tsr_plan *plan;         /* owned */
    uint64_t *summary_hash; /* per stage; 0 = not finalized */
} cached_plan;

struct tsr_task_worker {
    cached_plan slots[CACHE_SLOTS]; /* recent plans */
    int next;                       /* slot to replace next */
    tsr_scratch scratch;            /* tile intermediates */
};

tsr_status tsr_task_worker_new(tsr_ctx *ctx, tsr_task_worker **out) {
    *out = calloc(1, sizeof **out);
    return *out ? TSR_OK : tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
}

static void slot_clear(cached_plan *c) {
    free(c->pipeline);
    tsr_plan_free(c->plan);
    free(c->summary_hash);
    memset(c, 0, sizeof *c);
}

void tsr_task_worker_set_accel(tsr_task_worker *worker, const tsr_accel *accel) {
    worker->scratch.accel = accel;
}

void tsr_task_worker_free(tsr_task_worker *worker) {
    if (!worker)
        return;
    for (int i = 0; i < CACHE_SLOTS; i++)
        slot_clear(&worker->slots[i]);
    tsr_scratch_release(&worker->scratch);
    free(worker);
}

static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a; 0 is reserved for "none" */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h ? h : 1;
}

/* The cached plan for this key, planning it on a miss. */
static tsr_status get_plan(tsr_task_worker *w, tsr_ctx *ctx, const char *pipeline, size_t plen,
                           int pw, int ph, int pb, int tile, cached_plan **out) {
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cached_plan *c = &w->slots[i];
        if (c->plan && c->w == pw && c->h == ph && c->bands == pb && c->tile == tile &&
            strlen(c->pipeline) == plen && !memcmp(c->pipeline, pipeline, plen)) {
            *out = c;
            return TSR_OK;
        }
    }
    cached_plan *c = &w->slots[w->next];
    w->next = (w->next + 1) % CACHE_SLOTS;
    slot_clear(c);
    tsr_pipeline *p = NULL;
    tsr_status st = TSR_OK;
    if (!(c->pipeline = strndup(pipeline, plen)))
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    if ((st = tsr_pipeline_parse_json(ctx, c->pipeline, &p)) ||
        (st = tsr_plan_new(ctx, p, pw, ph, pb, tile, &c->plan)))
        goto out;
    c->summary_hash = calloc((size_t)c->plan->n_stages, sizeof *c->summary_hash);
    if (!c->summary_hash)
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    c->w = pw;
    c->h = ph;
    c->bands = pb;
    c->tile = tile;
out:
    tsr_pipeline_free(p);
    if (st) {
        slot_clear(c);
        return st == TSR_ERR_USAGE ? tsr_error(ctx, TSR_ERR_CORRUPT, "task pipeline rejected") : st;
    }
    *out = c;
    return TSR_OK;
}

/* Installs `summary` as the merged summary of the stage's GLOBAL head and
 * finalizes it, unless that very summary is already installed. */
static tsr_status install_summary(tsr_ctx *ctx, cached_plan *c, int stage, const uint8_t *summary,
                                  size_t n) {
    tsr_op *head = &c->plan->ops[c->plan->stages[stage].first];
    if (n != op_summary_size(head))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "task summary has the wrong size");
    uint64_t h = hash_bytes(summary, n);
    if (c->summary_hash[stage] == h)
        return TSR_OK;
    /* finalize() replaces what an earlier finalize() derived (op.h). */
    c->summary_hash[stage] = 0;
    free(head->summary);
    if (!(head->summary = malloc(n ? n : 1)))
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    memcpy(head->summary, summary, n);
    if (head->desc->finalize) {
        tsr_status st = head->desc->finalize(ctx, head, NULL);
        if (st)
            return st;
    }
    c->summary_hash[stage] = h;
    return TSR_OK;
}

static tsr_status encode_result(tsr_buffer *out, uint32_t kind, int stage, int tile, double cpu,
                                double device) {
    tsr_status st = put(out, RESULT_MAGIC, 4);
    if (!st)
        st = put_u32(out, kind);
    if (!st)
        st = put_u32(out, (uint32_t)stage);
    if (!st)
        st = put_u32(out, (uint32_t)tile);
    if (!st)
        st = put_f64(out, cpu);
    if (!st)
        st = put_f64(out, device);
    return st;
}

/* A map task: the partial summary of one input tile, with its times. */
static tsr_status execute_map(tsr_task_worker *w, tsr_ctx *ctx, const tsr_op *head,
                              const tsr_region *in, int stage, int tile, double t0,
                              tsr_buffer *result) {
    size_t n = op_summary_size(head);
    uint8_t *partial = calloc(1, n ? n : 1);
    if (!partial)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    double w0 = tsr_clock_mono_s();
    double device =
        tsr_run_map_tile(w->scratch.accel, head, in, partial) ? tsr_clock_mono_s() - w0 : 0;
    tsr_status st =
        encode_result(result, TSR_TILE_MAP, stage, tile, tsr_clock_thread_cpu_s() - t0, device);
    if (!st)
        st = put_u64(result, n);
    if (!st)
        st = put(result, partial, n);
    free(partial);
    return st ? tsr_error(ctx, st, "encoding a result: %s", tsr_status_name(st)) : TSR_OK;
}

tsr_status tsr_task_execute(tsr_task_worker *w, tsr_ctx *ctx, const uint8_t *task, size_t len,
                            tsr_buffer *result) {
    double t0 = tsr_clock_thread_cpu_s();
    reader r = {task, len, 0, 0};
    const uint8_t *magic = take(&r, 4);
    uint32_t kind = get_u32(&r);
    int stage = get_i32(&r), tile = get_i32(&r);
    int pw = get_i32(&r), ph = get_i32(&r), pb = get_i32(&r), tile_size = get_i32(&r);
    uint32_t plen = get_u32(&r);
    if (!magic || memcmp(magic, TASK_MAGIC, 4) || r.bad || kind > TSR_TILE_MAP ||
        plen > TSR_PIPELINE_MAX_TEXT || (tile_size < 16 && tile_size != -1) || pb < 1 ||
        pb > TSR_MAX_BANDS)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "not a tessera tile task");
    tsr_status st =
        tsr_limits_check(ctx, "task", (uint64_t)(pw > 0 ? pw : 0), (uint64_t)(ph > 0 ? ph : 0), pb);
    if (st)
        return st;
    const uint8_t *pipeline = take(&r, plen);
    uint64_t slen = get_u64(&r);
    const uint8_t *summary = take(&r, (size_t)slen);
    int bands;
    tsr_rect rect = get_rect(&r, &bands);
    if (r.bad || !pipeline || (slen && !summary))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "truncated tile task");
    cached_plan *c = NULL;
    if ((st = get_plan(w, ctx, (const char *)pipeline, plen, pw, ph, pb, tile_size, &c)))
        return st;
    tsr_plan *plan = c->plan;
    if (stage < 0 || stage >= plan->n_stages)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "task stage %d out of range", stage);
    const tsr_stage *s = &plan->stages[stage];
    tsr_op *head = &plan->ops[s->first];
    int is_global = head->desc->kind == TSR_OP_GLOBAL;
    int n_tiles =
        kind == TSR_TILE_APPLY ? s->tiles_x * s->tiles_y : s->map_tiles_x * s->map_tiles_y;
    if (tile < 0 || tile >= n_tiles || (kind == TSR_TILE_MAP && (!is_global || !head->desc->map)))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "task tile %d out of range", tile);
    tsr_rect want = kind == TSR_TILE_APPLY ? tsr_stage_tile_input(plan, s, tile)
                                           : tsr_stage_map_rect(plan, s, tile);
    if (!same_rect(rect, want) || bands != s->in_bands)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "task input rect does not match its tile");
    size_t row = tsr_rect_empty(rect) ? 0 : (size_t)rect.w * (size_t)bands;
    const uint8_t *pixels = take(&r, row * (size_t)(tsr_rect_empty(rect) ? 0 : rect.h));
    if (r.bad || r.pos != r.len)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "task pixels have the wrong size");
    if (kind == TSR_TILE_APPLY && is_global &&
        (st = install_summary(ctx, c, stage, summary ? summary : (const uint8_t *)"", slen)))
        return st;
    static uint8_t empty[TSR_MAX_BANDS];
    tsr_region in = {rect, bands, row, pixels ? (uint8_t *)pixels : empty, s->in_w, s->in_h};
    if (kind == TSR_TILE_MAP)
        return execute_map(w, ctx, head, &in, stage, tile, t0, result);
    tsr_rect orect = tsr_stage_tile_rect(plan, s, tile);
    size_t orow = (size_t)orect.w * (size_t)s->out_bands;
    uint8_t *pix = malloc(orow * (size_t)orect.h);
    if (!pix)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    tsr_region outr = {orect, s->out_bands, orow, pix, s->out_w, s->out_h};
    double w0 = tsr_clock_mono_s();
    st = tsr_stage_run_tile(plan, s, &in, &outr, tile, &w->scratch, NULL);
    double device = w->scratch.on_device ? tsr_clock_mono_s() - w0 : 0;
    if (st) {
        free(pix);
        return tsr_error(ctx, st, "tile %d failed: %s", tile, tsr_status_name(st));
    }
    st = encode_result(result, kind, stage, tile, tsr_clock_thread_cpu_s() - t0, device);
    if (!st)
        st = put_rect_pixels(result, &outr, orect, s->out_bands);
    free(pix);
    return st ? tsr_error(ctx, st, "encoding a result: %s", tsr_status_name(st)) : TSR_OK;
}
