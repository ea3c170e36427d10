/* resize and thumbnail on OpenCL (kernels/resize.cl): the tables of the
 * op's tsr_resample (ops/geometry/resample.c) cut to the tile and uploaded,
 * then the path the CPU takes: a copy, nearest, the area paths, or
 * resizeGeneric_'s horizontal pass into a temporary and its vertical pass. */
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_kernels_geometry.h"
#include "ops/geometry/geometry.h"

/* area_fast: the kernel rounds an edge block's sum / count in integers,
 * which equals the CPU's rounded float quotient (sum <= 255 * count, the
 * quotient's rounding error under 2^-17, a tie at least 1 / (2 * count)
 * away) only for counts below 65536. */
#define AREA_FAST_MAX_COUNT 65535

/* Temp slots: tables first, the horizontal pass's rows last. */
enum { SLOT_TABLE = 0, SLOT_TABLE_Y = 1, SLOT_ROWS = 2 };

/* Whether every edge block of an area_fast (those cut by the right or
 * bottom edge, which the CPU averages by division) holds 1..65535 pixels. */
static bool area_fast_edges_fit(const tsr_resample *rs) {
    long fx = rs->fx, fy = rs->fy, rest_w = rs->in_w % fx, rest_h = rs->in_h % fy;
    bool cut_cols = rs->x.n > rs->in_w / fx, cut_rows = (long)rs->y.n * fy > rs->in_h;
    if ((cut_cols && rest_w == 0) || (cut_rows && rest_h == 0))
        return false; /* empty blocks: not reached by OpenCV's sizes */
    return (!cut_cols || rest_w * fy <= AREA_FAST_MAX_COUNT) &&
           (!cut_rows || fx * rest_h <= AREA_FAST_MAX_COUNT);
}

bool tsr_cl_resample_supports(const tsr_op *op) {
    const tsr_resample *rs = op->state;
    if (!rs)
        return false;
    return rs->mode != TSR_RESAMPLE_AREA_FAST || area_fast_edges_fit(rs);
}

/* Sets arguments of k from the front: the images in (if not NULL), `mid`
 * (a buffer, if not NULL) and out (if not NULL), in that order. */
static cl_int args_images(cl_kernel k, cl_uint *arg, const tsr_cl_image *in, cl_mem mid,
                          const tsr_cl_image *out) {
    cl_int err = CL_SUCCESS;
    if (in)
        err = tsr_cl_arg_image(k, arg, in);
    if (err == CL_SUCCESS && mid)
        err = tsr_cl_arg(k, arg, sizeof mid, &mid);
    if (err == CL_SUCCESS && out)
        err = tsr_cl_arg_image(k, arg, out);
    return err;
}

/* Sets `n` int arguments of k from *arg on. */
static cl_int args_ints(cl_kernel k, cl_uint *arg, int n, const int *values) {
    cl_int err = CL_SUCCESS;
    for (int i = 0; i < n && err == CL_SUCCESS; i++)
        err = tsr_cl_arg(k, arg, sizeof(cl_int), &values[i]);
    return err;
}

static tsr_status run_copy(tsr_cl_queue *q, const tsr_cl_image *in, const tsr_cl_image *out) {
    cl_kernel k = tsr_cl_kernel(q, "resize_copy");
    if (!k)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = args_images(k, &arg, in, NULL, out);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "resize_copy arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

static tsr_status run_nearest(tsr_cl_queue *q, const tsr_resample *rs, const tsr_cl_image *in,
                              const tsr_cl_image *out) {
    int w = out->rect.w, h = out->rect.h;
    int *tab = malloc(sizeof(int) * ((size_t)w + (size_t)h));
    if (!tab)
        return TSR_ERR_NOMEM;
    memcpy(tab, rs->x.ofs + out->rect.x, sizeof(int) * (size_t)w);
    memcpy(tab + w, rs->y.ofs + out->rect.y, sizeof(int) * (size_t)h);
    cl_kernel k = tsr_cl_kernel(q, "resize_nearest");
    cl_mem t = tsr_cl_table(q, SLOT_TABLE, tab, sizeof(int) * ((size_t)w + (size_t)h));
    free(tab);
    if (!k || !t)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = args_images(k, &arg, in, NULL, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof t, &t);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "resize_nearest arguments");
    return tsr_cl_run_2d(q, k, (size_t)w, (size_t)h);
}

/* The same values as resample.c run_area_fast's scale and limits. */
static tsr_status run_area_fast(tsr_cl_queue *q, const tsr_resample *rs, const tsr_cl_image *in,
                                const tsr_cl_image *out) {
    cl_kernel k = tsr_cl_kernel(q, "resize_area_fast");
    if (!k)
        return TSR_ERR_IO;
    cl_int2 f = {{rs->fx, rs->fy}};
    float scale = 1.f / (float)(rs->fx * rs->fy);
    int rest[2] = {rs->fx == 2 && rs->fy == 2 && rs->bands != 2, rs->in_w / rs->fx};
    cl_uint arg = 0;
    cl_int err = args_images(k, &arg, in, NULL, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof f, &f);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof scale, &scale);
    if (err == CL_SUCCESS)
        err = args_ints(k, &arg, 2, rest);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "resize_area_fast arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

/* Uploads the area entries of output samples [d0, d0 + n) of axis a into
 * `slot`: n + 1 offsets from the first entry, the entries' sources, their
 * alphas (float bits). *entries: how many; *lo, *hi: their source span. */
static cl_mem area_table(tsr_cl_queue *q, int slot, const tsr_resample_axis *a, int d0, int n,
                         int *entries, int *lo, int *hi) {
    int e0 = a->first[d0], m = a->first[d0 + n] - e0;
    size_t words = (size_t)n + 1 + 2 * (size_t)m;
    int *tab = malloc(sizeof(int) * words);
    if (!tab || m < 1) {
        free(tab);
        return NULL;
    }
    for (int i = 0; i <= n; i++)
        tab[i] = a->first[d0 + i] - e0;
    memcpy(tab + n + 1, a->src + e0, sizeof(int) * (size_t)m);
    memcpy(tab + n + 1 + m, a->alpha + e0, sizeof(float) * (size_t)m);
    *lo = *hi = a->src[e0];
    for (int e = 0; e < m; e++) {
        *lo = a->src[e0 + e] < *lo ? a->src[e0 + e] : *lo;
        *hi = a->src[e0 + e] > *hi ? a->src[e0 + e] : *hi;
    }
    *entries = m;
    cl_mem t = tsr_cl_table(q, slot, tab, sizeof(int) * words);
    free(tab);
    return t;
}

/* resample.c run_area as two passes: column sums of every source row the
 * tile's rows read, then the weighted row sums (the CPU's operations in its
 * order, so the same floats). */
static tsr_status run_area(tsr_cl_queue *q, const tsr_resample *rs, const tsr_cl_image *in,
                           const tsr_cl_image *out) {
    int w = out->rect.w, h = out->rect.h, nx, ny, x_lo, x_hi, y_lo, y_hi;
    cl_mem tx = area_table(q, SLOT_TABLE, &rs->x, out->rect.x, w, &nx, &x_lo, &x_hi);
    cl_mem ty = area_table(q, SLOT_TABLE_Y, &rs->y, out->rect.y, h, &ny, &y_lo, &y_hi);
    if (!tx || !ty)
        return TSR_ERR_IO;
    int rows = y_hi - y_lo + 1;
    cl_mem tmp = tsr_cl_temp(q, SLOT_ROWS, sizeof(float) * (size_t)rows * (size_t)w * rs->bands);
    cl_kernel kh = tsr_cl_kernel(q, "resize_area_h"), kv = tsr_cl_kernel(q, "resize_area_v");
    if (!tmp || !kh || !kv)
        return TSR_ERR_IO;
    int h_ints[4] = {w, nx, y_lo, rows}, v_ints[2] = {ny, y_lo};
    cl_uint arg = 0;
    cl_int err = args_images(kh, &arg, in, tmp, NULL);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(kh, &arg, sizeof tx, &tx);
    if (err == CL_SUCCESS)
        err = args_ints(kh, &arg, 4, h_ints);
    arg = 0;
    if (err == CL_SUCCESS)
        err = args_images(kv, &arg, NULL, tmp, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(kv, &arg, sizeof ty, &ty);
    if (err == CL_SUCCESS)
        err = args_ints(kv, &arg, 2, v_ints);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "resize_area arguments");
    tsr_status st = tsr_cl_run_2d(q, kh, (size_t)w, (size_t)rows);
    return st ? st : tsr_cl_run_2d(q, kv, (size_t)w, (size_t)h);
}

/* The separable table of a tile (tab, `words` ints): the tile's column
 * offsets and weights, the list of source rows its output rows read
 * (*rows of them, at *rows_at), then per output row its taps' indices into
 * that list and their weights (at *rows_at + *rows). NULL when out of
 * memory; the caller frees it. */
static int *separable_table(const tsr_resample *rs, tsr_rect r, size_t *words, int *rows_at,
                            int *rows) {
    int taps = rs->taps, last = rs->in_h - 1;
    int lo = tsr_clampi(rs->y.ofs[r.y], 0, last);
    int span = tsr_clampi(rs->y.ofs[r.y + r.h - 1] + taps - 1, 0, last) - lo + 1;
    *rows_at = r.w * (1 + taps);
    *words = (size_t)*rows_at + (size_t)span + 2 * (size_t)r.h * taps;
    int *tab = malloc(sizeof(int) * (*words + (size_t)span));
    if (!tab)
        return NULL;
    int *map = tab + *words, *list = tab + *rows_at;
    for (int i = 0; i < r.w; i++) {
        tab[i] = rs->x.ofs[r.x + i];
        for (int k = 0; k < taps; k++)
            tab[r.w + i * taps + k] = rs->x.coef[(size_t)(r.x + i) * taps + k];
    }
    memset(map, 0, sizeof(int) * (size_t)span);
    for (int j = 0; j < r.h; j++)
        for (int k = 0; k < taps; k++)
            map[tsr_clampi(rs->y.ofs[r.y + j] + k, 0, last) - lo] = 1;
    *rows = 0;
    for (int s = 0; s < span; s++)
        if (map[s]) {
            list[*rows] = lo + s;
            map[s] = (*rows)++;
        }
    int *idx = list + *rows, *beta = idx + (size_t)r.h * taps;
    for (int j = 0; j < r.h; j++)
        for (int k = 0; k < taps; k++) {
            idx[j * taps + k] = map[tsr_clampi(rs->y.ofs[r.y + j] + k, 0, last) - lo];
            beta[j * taps + k] = rs->y.coef[(size_t)(r.y + j) * taps + k];
        }
    *words = (size_t)(beta + (size_t)r.h * taps - tab);
    return tab;
}

/* resample.c run_separable: the horizontal pass of each source row the tile
 * reads (once), then the vertical pass of each output sample. */
static tsr_status run_separable(tsr_cl_queue *q, const tsr_resample *rs, const tsr_cl_image *in,
                                const tsr_cl_image *out) {
    int w = out->rect.w, h = out->rect.h, rows_at, rows;
    size_t words;
    int *tab = separable_table(rs, out->rect, &words, &rows_at, &rows);
    if (!tab)
        return TSR_ERR_NOMEM;
    cl_mem t = tsr_cl_table(q, SLOT_TABLE, tab, sizeof(int) * words);
    free(tab);
    cl_mem tmp = tsr_cl_temp(q, SLOT_ROWS, sizeof(int) * (size_t)rows * (size_t)w * rs->bands);
    cl_kernel kh = tsr_cl_kernel(q, "resize_sep_h"), kv = tsr_cl_kernel(q, "resize_sep_v");
    if (!t || !tmp || !kh || !kv)
        return TSR_ERR_IO;
    int h_ints[4] = {w, rs->taps, rows_at, rows},
        v_ints[3] = {rs->taps, rows_at + rows, rs->vec_end};
    cl_uint arg = 0;
    cl_int err = args_images(kh, &arg, in, tmp, NULL);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(kh, &arg, sizeof t, &t);
    if (err == CL_SUCCESS)
        err = args_ints(kh, &arg, 4, h_ints);
    arg = 0;
    if (err == CL_SUCCESS)
        err = args_images(kv, &arg, NULL, tmp, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(kv, &arg, sizeof t, &t);
    if (err == CL_SUCCESS)
        err = args_ints(kv, &arg, 3, v_ints);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "resize_sep arguments");
    tsr_status st = tsr_cl_run_2d(q, kh, (size_t)w, (size_t)rows);
    return st ? st : tsr_cl_run_2d(q, kv, (size_t)w, (size_t)h);
}

tsr_status tsr_cl_resample_run(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                               const tsr_cl_image *out) {
    const tsr_resample *rs = op->state;
    switch (rs->mode) {
    case TSR_RESAMPLE_COPY:
        return run_copy(q, in, out);
    case TSR_RESAMPLE_NEAREST:
        return run_nearest(q, rs, in, out);
    case TSR_RESAMPLE_AREA_FAST:
        return run_area_fast(q, rs, in, out);
    case TSR_RESAMPLE_AREA:
        return run_area(q, rs, in, out);
    default:
        return run_separable(q, rs, in, out);
    }
}
