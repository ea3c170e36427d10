/* canny-hysteresis: the global stage of canny, distributable. Edges are the
 * 8-connected components of candidate (weak or strong) pixels that hold a
 * strong pixel, as OpenCV's edge tracking finds them. The image is cut into
 * fixed 64x64 blocks (canny_blocks.h):
 *  - map() labels each block of its tile and records, per block, the border
 *    id of every border pixel's component, flagged when that component holds
 *    a strong pixel;
 *  - merge() ORs partials (each block is written by exactly one map tile,
 *    so any grouping, order or repetition gives the same bytes);
 *  - finalize() joins border components across block borders with a
 *    union-find and keeps, per block, one bit per border id: an edge or not;
 *  - run() relabels each block it touches and writes 255 on components that
 *    are strong themselves or whose border id is marked.
 * finalize() never reads the whole image; see docs/internals/ops-edge.md. */
#include <stdlib.h>
#include <string.h>

#include "ops/edge/canny_blocks.h"

static int blocks_x(const tsr_op *op) {
    return (op->in_w + CANNY_BLOCK - 1) / CANNY_BLOCK;
}

static int blocks_y(const tsr_op *op) {
    return (op->in_h + CANNY_BLOCK - 1) / CANNY_BLOCK;
}

static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    if (op->in_bands != 1)
        return tsr_error(ctx, TSR_ERR_INTERNAL,
                         "canny-hysteresis: expects canny-nms's 1-band map, got %d bands",
                         op->in_bands);
    uint64_t nodes = (uint64_t)blocks_x(op) * (uint64_t)blocks_y(op) * CANNY_BORDER_IDS;
    if (nodes > UINT32_MAX)
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
        free(s->edge);
    free(s);
    op->state = NULL;
}

/* The out rect grown to whole blocks (clipped): run() relabels them. */
static tsr_rect need(const tsr_op *op, tsr_rect out) {
    int x0 = out.x / CANNY_BLOCK * CANNY_BLOCK, y0 = out.y / CANNY_BLOCK * CANNY_BLOCK;
    int x1 = (out.x + out.w + CANNY_BLOCK - 1) / CANNY_BLOCK * CANNY_BLOCK;
    int y1 = (out.y + out.h + CANNY_BLOCK - 1) / CANNY_BLOCK * CANNY_BLOCK;
    x1 = x1 < op->in_w ? x1 : op->in_w;
    y1 = y1 < op->in_h ? y1 : op->in_h;
    return tsr_rect_make(x0, y0, x1 - x0, y1 - y0);
}

static size_t summary_size(const tsr_op *op) {
    size_t blocks = (size_t)blocks_x(op) * (size_t)blocks_y(op);
    return (HEADER_WORDS + blocks * REC_WORDS) * sizeof(uint16_t);
}

/* The summary value of the labelled pixel at padded index p. */
static uint16_t value_at(const canny_block *b, int p) {
    uint16_t l = b->label[p];
    if (!l)
        return 0;
    return (uint16_t)(b->border[l] | (b->strong[l] ? VALUE_STRONG : 0));
}

/* Writes the record of labelled block b. */
static void record(const canny_block *b, uint16_t *rec) {
    rec[REC_MAPPED] = 1;
    for (int x = 0; x < b->w; x++) {
        rec[REC_TOP + x] = value_at(b, canny_block_at(b, b->x + x, b->y));
        rec[REC_BOTTOM + x] = value_at(b, canny_block_at(b, b->x + x, b->y + b->h - 1));
    }
    for (int y = 0; y < b->h; y++) {
        rec[REC_LEFT + y] = value_at(b, canny_block_at(b, b->x, b->y + y));
        rec[REC_RIGHT + y] = value_at(b, canny_block_at(b, b->x + b->w - 1, b->y + y));
    }
}

/* Records every block of tile `in`. The engine cuts map tiles on a 64-px
 * aligned grid (op.h); a tile that is not block-aligned sets a flag that
 * finalize() reports instead of giving wrong edges. */
static void map(const tsr_op *op, const tsr_region *in, void *partial) {
    uint16_t *sum = partial;
    tsr_rect r = in->rect;
    if (r.w <= 0 || r.h <= 0)
        return;
    int x1 = r.x + r.w, y1 = r.y + r.h;
    if (r.x % CANNY_BLOCK || r.y % CANNY_BLOCK || (x1 % CANNY_BLOCK && x1 != op->in_w) ||
        (y1 % CANNY_BLOCK && y1 != op->in_h)) {
        sum[0] |= FLAG_MISALIGNED;
        return;
    }
    canny_block *b = malloc(sizeof *b);
    if (!b) {
        sum[0] |= FLAG_NOMEM;
        return;
    }
    int nbx = blocks_x(op);
    for (int by = r.y / CANNY_BLOCK; by * CANNY_BLOCK < y1; by++)
        for (int bx = r.x / CANNY_BLOCK; bx * CANNY_BLOCK < x1; bx++) {
            canny_block_label(b, in, bx, by);
            record(b, sum + HEADER_WORDS + ((size_t)by * (size_t)nbx + (size_t)bx) * REC_WORDS);
        }
    free(b);
}

static void merge(const tsr_op *op, void *acc, const void *partial) {
    uint16_t *a = acc;
    const uint16_t *p = partial;
    size_t n = summary_size(op) / sizeof(uint16_t);
    for (size_t i = 0; i < n; i++)
        a[i] |= p[i];
}

/* Union-find over (block, border id) nodes, with path halving. */
static uint32_t find(uint32_t *parent, uint32_t i) {
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void unite(uint32_t *parent, uint32_t a, uint32_t b) {
    a = find(parent, a);
    b = find(parent, b);
    if (a != b)
        parent[a > b ? a : b] = a < b ? a : b;
}

/* The merged summary seen through image coordinates. */
typedef struct border_view {
    const uint16_t *recs;  /* first block record */
    int w, h;              /* image size */
    int nbx;               /* blocks across */
    const uint32_t *first; /* per block: the node of its border id 0 (ids 1..n follow) */
} border_view;

/* Node of the component at border pixel (x, y), or UINT32_MAX when (x, y) is
 * no candidate. */
static uint32_t node_at(const border_view *v, int x, int y) {
    int bx = x / CANNY_BLOCK, by = y / CANNY_BLOCK;
    int lx = x - bx * CANNY_BLOCK, ly = y - by * CANNY_BLOCK;
    int bw = v->w - bx * CANNY_BLOCK < CANNY_BLOCK ? v->w - bx * CANNY_BLOCK : CANNY_BLOCK;
    int bh = v->h - by * CANNY_BLOCK < CANNY_BLOCK ? v->h - by * CANNY_BLOCK : CANNY_BLOCK;
    size_t block = (size_t)by * (size_t)v->nbx + (size_t)bx;
    const uint16_t *rec = v->recs + block * REC_WORDS;
    uint16_t value = 0;
    if (ly == 0)
        value = rec[REC_TOP + lx];
    else if (ly == bh - 1)
        value = rec[REC_BOTTOM + lx];
    else if (lx == 0)
        value = rec[REC_LEFT + ly];
    else if (lx == bw - 1)
        value = rec[REC_RIGHT + ly];
    if (!(value & VALUE_ID))
        return UINT32_MAX;
    return v->first[block] + (value & VALUE_ID);
}

/* Joins the component at border pixel (x, y) with those of its candidate
 * neighbours across one block border: the three pixels at offset (ax, ay)
 * and beside it along that border. */
static void join_across(const border_view *v, uint32_t *parent, int x, int y, int ax, int ay) {
    uint32_t a = node_at(v, x, y);
    if (a == UINT32_MAX)
        return;
    for (int k = -1; k <= 1; k++) {
        int nx = x + ax + (ay ? k : 0), ny = y + ay + (ax ? k : 0);
        if (nx < 0 || ny < 0 || nx >= v->w || ny >= v->h)
            continue;
        uint32_t b = node_at(v, nx, ny);
        if (b != UINT32_MAX)
            unite(parent, a, b);
    }
}

/* Checks the merged summary: every block mapped, no misaligned tile. */
static tsr_status check_summary(tsr_ctx *ctx, const tsr_op *op, const uint16_t *sum) {
    if (sum[0] & FLAG_NOMEM)
        return tsr_error(ctx, TSR_ERR_NOMEM, "canny-hysteresis: out of memory in map()");
    if (sum[0] & FLAG_MISALIGNED)
        return tsr_error(ctx, TSR_ERR_INTERNAL,
                         "canny-hysteresis: a map tile was not aligned to %d-px blocks",
                         CANNY_BLOCK);
    int nbx = blocks_x(op), nby = blocks_y(op);
    for (int by = 0; by < nby; by++)
        for (int bx = 0; bx < nbx; bx++)
            if (sum[HEADER_WORDS + ((size_t)by * (size_t)nbx + (size_t)bx) * REC_WORDS] != 1)
                return tsr_error(ctx, TSR_ERR_INTERNAL,
                                 "canny-hysteresis: block (%d,%d) of the %dx%d candidate map "
                                 "missing from the summary (map() not run over it)",
                                 bx, by, op->in_w, op->in_h);
    return TSR_OK;
}

/* Numbers the union-find nodes: block b's border id k is node first[b] + k,
 * each block taking as many as the ids its record uses (not
 * CANNY_BORDER_IDS: a 40000 x 40000 image would need 400 MB of parents).
 * Fills first[0..blocks] and returns the node count. */
static size_t number_nodes(const uint16_t *recs, size_t blocks, uint32_t *first) {
    size_t next = 0;
    for (size_t b = 0; b < blocks; b++) {
        const uint16_t *rec = recs + b * REC_WORDS;
        int ids = 0;
        for (int i = REC_TOP; i < REC_WORDS; i++)
            if ((rec[i] & VALUE_ID) > ids)
                ids = rec[i] & VALUE_ID;
        first[b] = (uint32_t)next;
        next += (size_t)ids + 1;
    }
    first[blocks] = (uint32_t)next;
    return next;
}

/* Joins border components across block borders, then marks, per block, the
 * border ids whose component holds a strong pixel in s->edge. */
static void resolve(const tsr_op *op, const border_view *v, size_t blocks, uint32_t *parent,
                    uint8_t *strong, hysteresis_state *s) {
    size_t nodes = v->first[blocks];
    for (size_t i = 0; i < nodes; i++)
        parent[i] = (uint32_t)i;
    /* Pairs across each horizontal block border, then each vertical one
     * (diagonal pairs across a block corner are met by both). */
    for (int y = CANNY_BLOCK; y < op->in_h; y += CANNY_BLOCK)
        for (int x = 0; x < op->in_w; x++)
            join_across(v, parent, x, y - 1, 0, 1);
    for (int x = CANNY_BLOCK; x < op->in_w; x += CANNY_BLOCK)
        for (int y = 0; y < op->in_h; y++)
            join_across(v, parent, x - 1, y, 1, 0);
    /* Strong border components make their root strong. */
    for (size_t b = 0; b < blocks; b++) {
        const uint16_t *rec = v->recs + b * REC_WORDS;
        for (int i = REC_TOP; i < REC_WORDS; i++)
            if (rec[i] & VALUE_STRONG)
                strong[v->first[b] + (rec[i] & VALUE_ID)] = 1;
    }
    for (size_t i = 0; i < nodes; i++)
        if (strong[i])
            strong[find(parent, (uint32_t)i)] = 1;
    for (size_t b = 0; b < blocks; b++)
        for (uint32_t k = 0; v->first[b] + k < v->first[b + 1]; k++)
            if (strong[find(parent, v->first[b] + k)])
                s->edge[b * EDGE_WORDS + k / 32] |= 1u << (k % 32);
}

/* Resolves the merged summary into per-block edge bits in op->state. Reads
 * op->summary only; `whole` is ignored (remote executors pass NULL). */
static tsr_status finalize(tsr_ctx *ctx, tsr_op *op, const tsr_image *whole) {
    (void)whole;
    tsr_status st = TSR_OK;
    const uint16_t *sum = op->summary;
    uint32_t *parent = NULL, *first = NULL;
    uint8_t *strong = NULL;
    hysteresis_state *s = NULL;
    if (!sum)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "canny-hysteresis: finalize without a summary");
    if ((st = check_summary(ctx, op, sum)))
        return st;
    int nbx = blocks_x(op), nby = blocks_y(op);
    size_t blocks = (size_t)nbx * (size_t)nby, nodes = 0;
    if ((first = malloc((blocks + 1) * sizeof *first)))
        nodes = number_nodes(sum + HEADER_WORDS, blocks, first);
    parent = first ? malloc((nodes ? nodes : 1) * sizeof *parent) : NULL;
    strong = first ? calloc(nodes ? nodes : 1, 1) : NULL;
    s = calloc(1, sizeof *s);
    if (!parent || !strong || !s || !(s->edge = calloc(blocks * EDGE_WORDS, sizeof *s->edge))) {
        st =
            tsr_error(ctx, TSR_ERR_NOMEM, "canny-hysteresis: out of memory for %zu blocks", blocks);
        goto out;
    }
    s->nbx = nbx;
    s->nby = nby;
    border_view v = {sum + HEADER_WORDS, op->in_w, op->in_h, nbx, first};
    resolve(op, &v, blocks, parent, strong, s);
    release(op);
    op->state = s;
    s = NULL;
out:
    free(first);
    free(parent);
    free(strong);
    if (s)
        free(s->edge);
    free(s);
    return st;
}

/* Writes out->rect: each block it touches is relabelled from `in` (which
 * covers need(out), i.e. whole blocks) and its components resolved. */
static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    const hysteresis_state *s = op->state;
    tsr_rect r = out->rect;
    if (!s)
        return TSR_ERR_INTERNAL;
    if (r.w <= 0 || r.h <= 0)
        return TSR_OK;
    if (!tsr_rect_contains(in->rect, need(op, r)))
        return TSR_ERR_INTERNAL;
    canny_block *b = malloc(sizeof *b);
    if (!b)
        return TSR_ERR_NOMEM;
    for (int by = r.y / CANNY_BLOCK; by * CANNY_BLOCK < r.y + r.h; by++)
        for (int bx = r.x / CANNY_BLOCK; bx * CANNY_BLOCK < r.x + r.w; bx++) {
            canny_block_label(b, in, bx, by);
            const uint32_t *edge =
                s->edge + ((size_t)by * (size_t)s->nbx + (size_t)bx) * EDGE_WORDS;
            /* b->strong becomes the output byte per component (0: none). */
            b->strong[0] = 0;
            for (int l = 1; l <= b->n; l++) {
                int id = b->border[l];
                int on = b->strong[l] | ((edge[id / 32] >> (id % 32)) & 1);
                b->strong[l] = on ? 255 : 0;
            }
            tsr_rect part = tsr_rect_intersect(r, tsr_rect_make(b->x, b->y, b->w, b->h));
            for (int y = part.y; y < part.y + part.h; y++) {
                const uint16_t *restrict lab = b->label + canny_block_at(b, part.x, y);
                uint8_t *restrict dst = TSR_REGION_AT(out, part.x, y);
                if (!b->n)
                    memset(dst, 0, (size_t)part.w);
                else
                    for (int x = 0; x < part.w; x++)
                        dst[x] = b->strong[lab[x]];
            }
        }
    free(b);
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
    .need = need,
    .run = run,
    .summary_size = summary_size,
    .map = map,
    .merge = merge,
    .finalize = finalize,
    .hidden = true,
};
