/* The edge family's kernels: canny-nms (ops/edge/canny_nms.c),
 * canny-hysteresis's block labelling (ops/edge/canny_blocks.c,
 * canny_hysteresis.c) and hough-lines (ops/edge/hough_lines.c). Integer
 * arithmetic, and float or double only as the CPU does it. */

/* Q15 tan(22.5 degrees) as canny_nms.c's TG22: (int)(0.41421356... * 32768 + 0.5). */
#define CANNY_TG22  13573
#define CANNY_SHIFT 15

/* TSR_AT with parameter names that cannot capture the rect's .x/.y
 * components (TSR_AT(src, x, ym) would expand src_r.y into src_r.ym). */
#define EDGE_AT(p, px, py)                                                                      \
    (p + ((size_t)((py) - p##_r.y) * (size_t)p##_r.z + (size_t)((px) - p##_r.x)) * (size_t)p##_b)

/* Sobel dx, dy of band c at (x, y) inside the image, replicated borders
 * (canny_nms.c vertical_pass + horizontal_pass). */
int2 canny_sobel(TSR_CIMAGE(src), int x, int y, int c) {
    int w = src_img.x, h = src_img.y;
    int xm = max(x - 1, 0), xp = min(x + 1, w - 1);
    int ym = max(y - 1, 0), yp = min(y + 1, h - 1);
    __global const uchar *r0 = EDGE_AT(src, src_r.x, ym) + c;
    __global const uchar *r1 = EDGE_AT(src, src_r.x, y) + c;
    __global const uchar *r2 = EDGE_AT(src, src_r.x, yp) + c;
    int b = src_b;
    xm = (xm - src_r.x) * b;
    xp = (xp - src_r.x) * b;
    int xc = (x - src_r.x) * b;
    int a0 = r0[xm], a1 = r0[xc], a2 = r0[xp];
    int c0 = r1[xm], c2 = r1[xp];
    int d0 = r2[xm], d1 = r2[xc], d2 = r2[xp];
    int dx = (d2 + 2 * c2 + a2) - (d0 + 2 * c0 + a0);
    int dy = (d0 - a0) + 2 * (d1 - a1) + (d2 - a2);
    return (int2)(dx, dy);
}

/* Gradient of the selected channel (canny_nms.c gradient_row and
 * select_channel): band 0 for one or two bands, else the largest |dx|+|dy|
 * of bands 2, 1, 0, the first on ties. Zero outside the image. One work
 * item per pixel of rect gr (the output rect grown by 1). */
__kernel void canny_gradient(TSR_CIMAGE(src), __global short2 *grad, int4 gr) {
    TSR_GUARD(gr.z, gr.w);
    int x = gr.x + (int)get_global_id(0), y = gr.y + (int)get_global_id(1);
    int2 g = (int2)(0, 0);
    if (x >= 0 && y >= 0 && x < src_img.x && y < src_img.y) {
        if (src_b < 3) {
            g = canny_sobel(src, src_r, src_img, src_b, x, y, 0);
        } else {
            g = canny_sobel(src, src_r, src_img, src_b, x, y, 2);
            int m = abs(g.x) + abs(g.y);
            int2 g1 = canny_sobel(src, src_r, src_img, src_b, x, y, 1);
            int m1 = abs(g1.x) + abs(g1.y);
            if (m1 > m) {
                g = g1;
                m = m1;
            }
            int2 g0 = canny_sobel(src, src_r, src_img, src_b, x, y, 0);
            if (abs(g0.x) + abs(g0.y) > m)
                g = g0;
        }
    }
    grad[get_global_id(1) * gr.z + get_global_id(0)] = (short2)((short)g.x, (short)g.y);
}

int canny_mag(__global const short2 *grad, int i) {
    short2 g = grad[i];
    return abs((int)g.x) + abs((int)g.y);
}

/* Non-maximum suppression (canny_nms.c suppress_row): 0 none, 1 weak, 2
 * strong. grad covers dst's rect grown by 1 (rect gr). One work item per
 * pixel of dst. */
__kernel void canny_nms(__global const short2 *grad, int4 gr, TSR_IMAGE(dst), int low, int high) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + (int)get_global_id(0), y = dst_r.y + (int)get_global_id(1);
    int k = (y - gr.y) * gr.z + (x - gr.x), up = k - gr.z, down = k + gr.z;
    int m = canny_mag(grad, k);
    uchar v = 0;
    if (m > low) {
        short2 g = grad[k];
        int xs = g.x, ys = g.y;
        int ax = abs(xs), ay = abs(ys) << CANNY_SHIFT;
        int tg22x = ax * CANNY_TG22;
        int keep;
        if (ay < tg22x) {
            keep = m > canny_mag(grad, k - 1) && m >= canny_mag(grad, k + 1);
        } else if (ay > tg22x + (ax << (CANNY_SHIFT + 1))) {
            keep = m > canny_mag(grad, up) && m >= canny_mag(grad, down);
        } else {
            int s = (xs ^ ys) < 0 ? -1 : 1;
            keep = m > canny_mag(grad, up - s) && m > canny_mag(grad, down + s);
        }
        if (keep)
            v = m > high ? 2 : 1;
    }
    *EDGE_AT(dst, x, y) = v;
}

/* canny-hysteresis: one work group per 64x64 block (canny_blocks.h). The
 * block's 8-connected components of candidates are found by union-find in
 * local memory; what the CPU's flood gives that matters (whether a
 * component holds a strong pixel, the border id of a component touching the
 * block border) depends only on the components, not on how they are found. */
#define CANNY_BLOCK  64
#define CANNY_CELLS  (CANNY_BLOCK * CANNY_BLOCK)
#define CANNY_BORDER (4 * CANNY_BLOCK)
#define CANNY_NOLAB  (-1)          /* label of a non-candidate cell */
#define CANNY_ROOT   0xfff         /* the root part of a label */
#define CANNY_SBIT   0x1000        /* on a root's label: the component is strong */
#define CANNY_NOPOS  CANNY_BORDER  /* first border position: none */

/* Where a block lies. */
typedef struct canny_block_geom {
    int x, y, w, h; /* the block in image coordinates */
} canny_block_geom;

int canny_cand(TSR_CIMAGE(src), int x, int y) {
    uchar v = *EDGE_AT(src, x, y);
    return v == 1 || v == 2;
}

int canny_find(volatile __local int *lab, int a) {
    while (lab[a] != a)
        a = lab[a];
    return a;
}

/* Joins the components of cells a and b (Playne and Hawick's union: the
 * larger root points to the smaller, retried when another item raced). */
void canny_union(volatile __local int *lab, int a, int b) {
    for (;;) {
        a = canny_find(lab, a);
        b = canny_find(lab, b);
        if (a == b)
            return;
        if (a < b) {
            int old = atomic_min(&lab[b], a);
            if (old == b)
                return;
            b = old;
        } else {
            int old = atomic_min(&lab[a], b);
            if (old == a)
                return;
            a = old;
        }
    }
}

/* Cell (lx, ly) of border position i (canny_blocks.c's numbering scan: top
 * row, bottom row, left column, right column). */
int2 canny_border_cell(int i, int w, int h) {
    if (i < w)
        return (int2)(i, 0);
    if (i < 2 * w)
        return (int2)(i - w, h - 1);
    if (i < 2 * w + h)
        return (int2)(0, i - 2 * w);
    return (int2)(w - 1, i - 2 * w - h);
}

/* Labels block (bx, by) of src into lab (root per cell, CANNY_SBIT on
 * strong roots), first (per root, its first border position) and cnt (per
 * border position, the count of components first met up to it, so that a
 * component's border id is cnt[first[root]]). Every item of the group must
 * call it. Mirrors canny_block_label. */
canny_block_geom canny_label(TSR_CIMAGE(src), int bx, int by, volatile __local int *lab,
                             volatile __local int *first, __local int *flag, __local int *cnt) {
    int lid = get_local_id(0), n = get_local_size(0);
    canny_block_geom b;
    b.x = bx * CANNY_BLOCK;
    b.y = by * CANNY_BLOCK;
    b.w = min(CANNY_BLOCK, src_img.x - b.x);
    b.h = min(CANNY_BLOCK, src_img.y - b.y);
    for (int p = lid; p < CANNY_CELLS; p += n) {
        int lx = p % CANNY_BLOCK, ly = p / CANNY_BLOCK;
        int inside = lx < b.w && ly < b.h;
        int cand = inside && canny_cand(src, src_r, src_img, src_b, b.x + lx, b.y + ly);
        lab[p] = cand ? p : CANNY_NOLAB;
        first[p] = CANNY_NOPOS;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* Union with the neighbours before in raster order: left, up-left, up, up-right. */
    for (int p = lid; p < CANNY_CELLS; p += n) {
        int lx = p % CANNY_BLOCK, ly = p / CANNY_BLOCK;
        if (lx >= b.w || ly >= b.h || !canny_cand(src, src_r, src_img, src_b, b.x + lx, b.y + ly))
            continue;
        if (lx > 0 && canny_cand(src, src_r, src_img, src_b, b.x + lx - 1, b.y + ly))
            canny_union(lab, p, p - 1);
        if (ly == 0)
            continue;
        for (int d = -1; d <= 1; d++)
            if (lx + d >= 0 && lx + d < b.w &&
                canny_cand(src, src_r, src_img, src_b, b.x + lx + d, b.y + ly - 1))
                canny_union(lab, p, p - CANNY_BLOCK + d);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = lid; p < CANNY_CELLS; p += n)
        if (lab[p] != CANNY_NOLAB)
            lab[p] = canny_find(lab, p);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int p = lid; p < CANNY_CELLS; p += n) {
        int lx = p % CANNY_BLOCK, ly = p / CANNY_BLOCK;
        if (lab[p] != CANNY_NOLAB && *EDGE_AT(src, b.x + lx, b.y + ly) == 2)
            atomic_or(&lab[lab[p] & CANNY_ROOT], CANNY_SBIT);
    }
    int positions = 2 * b.w + 2 * b.h;
    for (int i = lid; i < positions; i += n) {
        int2 c = canny_border_cell(i, b.w, b.h);
        int l = lab[c.y * CANNY_BLOCK + c.x];
        if (l != CANNY_NOLAB)
            atomic_min(&first[l & CANNY_ROOT], i);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    /* flag[i]: position i is its component's first; cnt: their prefix sums. */
    for (int i = lid; i < positions; i += n) {
        int2 c = canny_border_cell(i, b.w, b.h);
        int l = lab[c.y * CANNY_BLOCK + c.x];
        flag[i] = l != CANNY_NOLAB && first[l & CANNY_ROOT] == i;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int i = lid; i < positions; i += n) {
        int s = 0;
        for (int j = 0; j <= i; j++)
            s += flag[j];
        cnt[i] = s;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    return b;
}

/* Whether the component of labelled cell p is an edge: strong itself, or
 * its border id (0 for inner components) is marked in the block's edge
 * bits (canny_hysteresis.c run). */
int canny_on(volatile __local int *lab, volatile __local int *first, __local int *cnt,
             __global const uint *edge, int p) {
    int l = lab[p];
    if (l == CANNY_NOLAB)
        return 0;
    int root = l & CANNY_ROOT, pos = first[root];
    int id = pos == CANNY_NOPOS ? 0 : cnt[pos];
    return (lab[root] & CANNY_SBIT) || ((edge[id / 32] >> (id % 32)) & 1);
}

/* canny-hysteresis run(): 255 on edges, 0 elsewhere over dst's part of
 * block (bx0 + group x, by0 + group y). `edge` holds the finalized bits of
 * block rows by0.. (nbx blocks a row, CANNY_BORDER bits a block). */
__kernel void canny_hysteresis_apply(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const uint *edge,
                                     int bx0, int by0, int nbx) {
    __local int lab[CANNY_CELLS], first[CANNY_CELLS], flag[CANNY_BORDER], cnt[CANNY_BORDER];
    int bx = bx0 + (int)get_group_id(0), by = by0 + (int)get_group_id(1);
    canny_block_geom b = canny_label(src, src_r, src_img, src_b, bx, by, lab, first, flag, cnt);
    __global const uint *bits = edge + ((by - by0) * nbx + bx) * (CANNY_BORDER / 32);
    int x0 = max(b.x, dst_r.x), x1 = min(b.x + b.w, dst_r.x + dst_r.z);
    int y0 = max(b.y, dst_r.y), y1 = min(b.y + b.h, dst_r.y + dst_r.w);
    int pw = x1 - x0, cells = pw * (y1 - y0);
    for (int i = get_local_id(0); i < cells; i += get_local_size(0)) {
        int x = x0 + i % pw, y = y0 + i / pw;
        int p = (y - b.y) * CANNY_BLOCK + (x - b.x);
        *EDGE_AT(dst, x, y) = canny_on(lab, first, cnt, bits, p) ? 255 : 0;
    }
}

/* canny-hysteresis map(): the summary record of block (bx0 + group x,
 * by0 + group y) into rec (records in the tile's block order, REC_WORDS
 * words each: the mapped mark, then top, bottom, left, right values of
 * border id | 0x8000 when strong; canny_hysteresis.c record). */
__kernel void canny_hysteresis_map(TSR_CIMAGE(src), __global ushort *rec, int bx0, int by0) {
    __local int lab[CANNY_CELLS], first[CANNY_CELLS], flag[CANNY_BORDER], cnt[CANNY_BORDER];
    int bx = bx0 + (int)get_group_id(0), by = by0 + (int)get_group_id(1);
    canny_block_geom b = canny_label(src, src_r, src_img, src_b, bx, by, lab, first, flag, cnt);
    __global ushort *r = rec + (get_group_id(1) * get_num_groups(0) + get_group_id(0)) *
                                   (1 + CANNY_BORDER);
    int positions = 2 * b.w + 2 * b.h;
    if (get_local_id(0) == 0)
        r[0] = 1;
    for (int i = get_local_id(0); i < positions; i += get_local_size(0)) {
        int2 c = canny_border_cell(i, b.w, b.h);
        int l = lab[c.y * CANNY_BLOCK + c.x];
        ushort v = 0;
        if (l != CANNY_NOLAB) {
            int root = l & CANNY_ROOT;
            v = (ushort)(cnt[first[root]] | ((lab[root] & CANNY_SBIT) ? 0x8000 : 0));
        }
        /* Slots: top 1.., bottom 1 + 64.., left 1 + 128.., right 1 + 192.. */
        int side = i < b.w ? 0 : (i < 2 * b.w ? 1 : (i < 2 * b.w + b.h ? 2 : 3));
        int along = side < 2 ? c.x : c.y;
        r[1 + side * CANNY_BLOCK + along] = v;
    }
}

/* hough-lines run() in data mode: the input unchanged (hough_lines.c run).
 * One work item per pixel of dst. */
__kernel void hough_copy(TSR_CIMAGE(src), TSR_IMAGE(dst)) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + (int)get_global_id(0), y = dst_r.y + (int)get_global_id(1);
    __global const uchar *s = EDGE_AT(src, x, y);
    __global uchar *d = EDGE_AT(dst, x, y);
    for (int c = 0; c < dst_b; c++)
        d[c] = s[c];
}

/* hough-lines map(): one work item per pixel of src; a nonzero band-0
 * pixel votes r = rint(x cos + y sin) + half per angle n, exactly the
 * CPU's float operations (hough_lines.c map). Votes land in a band of
 * `band_w` cells per angle starting at rmin[n]; a vote outside its band
 * (which the host's bands rule out) counts in votes[numangle * band_w].
 * mid: (numrho - 1) / 2. */
__kernel void hough_votes(TSR_CIMAGE(src), __global const float *tab_cos,
                          __global const float *tab_sin, __global const int *rmin,
                          __global int *votes, int numangle, int band_w, int mid) {
    TSR_GUARD(src_r.z, src_r.w);
    int x = src_r.x + (int)get_global_id(0), y = src_r.y + (int)get_global_id(1);
    if (!*EDGE_AT(src, x, y))
        return;
    float fj = (float)x, fi = (float)y;
    for (int n = 0; n < numangle; n++) {
        float a = fj * tab_cos[n];
        float b = fi * tab_sin[n];
        int k = (int)rint(a + b) + mid - rmin[n];
        atomic_inc(k >= 0 && k < band_w ? &votes[n * band_w + k] : &votes[numangle * band_w]);
    }
}

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable
/* hough-lines run() in draw mode (hough_lines.c run, draw_row, on_line):
 * the input as RGB, red where the pixel centre lies within half a pixel of
 * a line (x cos + y sin - rho in double). `lines` holds cos, sin, rho per
 * line. Only on devices with doubles; elsewhere the CPU draws. */
__kernel void hough_draw(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const double *lines, int n) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + (int)get_global_id(0), y = dst_r.y + (int)get_global_id(1);
    __global const uchar *s = EDGE_AT(src, x, y);
    __global uchar *d = EDGE_AT(dst, x, y);
    uchar r = s[0], g = src_b >= 3 ? s[1] : s[0], b = src_b >= 3 ? s[2] : s[0];
    for (int i = 0; i < n; i++) {
        __global const double *l = lines + 3 * i;
        if (fabs((double)x * l[0] + (double)y * l[1] - l[2]) <= 0.5) {
            r = 255;
            g = 0;
            b = 0;
            break;
        }
    }
    d[0] = r;
    d[1] = g;
    d[2] = b;
}
#endif
