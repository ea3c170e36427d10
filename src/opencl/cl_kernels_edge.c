/* The edge family on OpenCL (see cl_kernels.h): canny's two stages.
 * canny-nms is a gradient kernel over the output rect grown by 1, then a
 * suppression kernel per output pixel. canny-hysteresis labels each 64x64
 * block in one work group (kernels/edge.cl), for run() (apply the finalized
 * edge bits) and for map() (the block's summary record). hough-lines votes
 * per pixel on the device (map) and draws per pixel (run, in double: only
 * on devices with doubles). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_kernels.h"
#include "ops/edge/canny_blocks.h"

/* Work items per block group (fewer when the device allows fewer). */
#define BLOCK_GROUP 256

/* Enqueues canny_gradient over rect gr of in into grad. */
static tsr_status enqueue_gradient(tsr_cl_queue *q, const tsr_cl_image *in, cl_mem grad,
                                   tsr_rect gr) {
    cl_kernel k = tsr_cl_kernel(q, "canny_gradient");
    if (!k)
        return TSR_ERR_IO;
    cl_int4 r = {{gr.x, gr.y, gr.w, gr.h}};
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof grad, &grad);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof r, &r);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "canny_gradient arguments");
    return tsr_cl_run_2d(q, k, (size_t)gr.w, (size_t)gr.h);
}

/* canny-nms: the candidate map of out->rect (canny_nms.c run). */
static tsr_status run_nms(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                          const tsr_cl_image *out) {
    int low, high;
    tsr_canny_thresholds(op, &low, &high);
    tsr_rect gr = tsr_rect_make(out->rect.x - 1, out->rect.y - 1, out->rect.w + 2, out->rect.h + 2);
    cl_mem grad = tsr_cl_temp(q, 0, (size_t)gr.w * (size_t)gr.h * sizeof(cl_short2));
    cl_kernel k = tsr_cl_kernel(q, "canny_nms");
    if (!grad || !k)
        return TSR_ERR_IO;
    tsr_status st = enqueue_gradient(q, in, grad, gr);
    if (st)
        return st;
    cl_int4 r = {{gr.x, gr.y, gr.w, gr.h}};
    cl_int lo = low, hi = high;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg(k, &arg, sizeof grad, &grad);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof r, &r);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof lo, &lo);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof hi, &hi);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "canny_nms arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

/* The blocks [bx0, bx0 + nx) x [by0, by0 + ny) that rect r touches. */
typedef struct block_span {
    int bx0, by0, nx, ny;
} block_span;

static block_span blocks_of(tsr_rect r) {
    block_span s;
    s.bx0 = r.x / CANNY_BLOCK;
    s.by0 = r.y / CANNY_BLOCK;
    s.nx = (r.x + r.w + CANNY_BLOCK - 1) / CANNY_BLOCK - s.bx0;
    s.ny = (r.y + r.h + CANNY_BLOCK - 1) / CANNY_BLOCK - s.by0;
    return s;
}

/* Enqueues block kernel k (its arguments set) with one work group per
 * block of span s. */
static tsr_status enqueue_blocks(tsr_cl_queue *q, cl_kernel k, block_span s) {
    size_t group = 0;
    cl_command_queue cq = tsr_cl_command_queue(q);
    cl_device_id dev = NULL;
    cl_int err = clGetCommandQueueInfo(cq, CL_QUEUE_DEVICE, sizeof dev, &dev, NULL);
    if (err == CL_SUCCESS)
        err =
            clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof group, &group, NULL);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "canny block work group size");
    if (group > BLOCK_GROUP)
        group = BLOCK_GROUP;
    if (group == 0)
        return TSR_ERR_IO;
    size_t global[2] = {(size_t)s.nx * group, (size_t)s.ny}, local[2] = {group, 1};
    err = clEnqueueNDRangeKernel(cq, k, 2, NULL, global, local, 0, NULL, NULL);
    return err == CL_SUCCESS ? TSR_OK : tsr_cl_fail(err, "canny block kernel");
}

/* canny-hysteresis: out->rect's edges from the finalized state (canny_hysteresis.c
 * run); in covers whole blocks. */
static tsr_status run_hysteresis(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                                 const tsr_cl_image *out) {
    const hysteresis_state *s = op->state;
    block_span span = blocks_of(out->rect);
    if (!s || in->bands != 1 || span.by0 + span.ny > s->nby || span.bx0 + span.nx > s->nbx)
        return TSR_ERR_INTERNAL;
    tsr_rect whole = tsr_rect_make(span.bx0 * CANNY_BLOCK, span.by0 * CANNY_BLOCK,
                                   span.nx * CANNY_BLOCK, span.ny * CANNY_BLOCK);
    whole = tsr_rect_intersect(whole, tsr_rect_make(0, 0, in->image_w, in->image_h));
    if (!tsr_rect_contains(in->rect, whole))
        return TSR_ERR_INTERNAL;
    /* The edge bits of the block rows touched, whole rows (contiguous). */
    size_t words = (size_t)span.ny * (size_t)s->nbx * EDGE_WORDS;
    cl_mem edge = tsr_cl_table(q, 0, s->edge + (size_t)span.by0 * (size_t)s->nbx * EDGE_WORDS,
                               words * sizeof *s->edge);
    cl_kernel k = tsr_cl_kernel(q, "canny_hysteresis_apply");
    if (!edge || !k)
        return TSR_ERR_IO;
    cl_int bx0 = span.bx0, by0 = span.by0, nbx = s->nbx;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof edge, &edge);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof bx0, &bx0);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof by0, &by0);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof nbx, &nbx);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "canny_hysteresis_apply arguments");
    return enqueue_blocks(q, k, span);
}

/* Copies the device records of span s into the summary, only the words the
 * CPU's record() writes. */
static void store_records(const tsr_op *op, const uint16_t *recs, block_span s, int image_w,
                          int image_h, uint16_t *sum) {
    int nbx = (op->in_w + CANNY_BLOCK - 1) / CANNY_BLOCK;
    for (int j = 0; j < s.ny; j++)
        for (int i = 0; i < s.nx; i++) {
            int bx = s.bx0 + i, by = s.by0 + j;
            int w = image_w - bx * CANNY_BLOCK, h = image_h - by * CANNY_BLOCK;
            w = w < CANNY_BLOCK ? w : CANNY_BLOCK;
            h = h < CANNY_BLOCK ? h : CANNY_BLOCK;
            const uint16_t *src = recs + ((size_t)j * (size_t)s.nx + (size_t)i) * REC_WORDS;
            uint16_t *rec =
                sum + HEADER_WORDS + ((size_t)by * (size_t)nbx + (size_t)bx) * REC_WORDS;
            rec[REC_MAPPED] = src[REC_MAPPED];
            memcpy(rec + REC_TOP, src + REC_TOP, (size_t)w * sizeof *rec);
            memcpy(rec + REC_BOTTOM, src + REC_BOTTOM, (size_t)w * sizeof *rec);
            memcpy(rec + REC_LEFT, src + REC_LEFT, (size_t)h * sizeof *rec);
            memcpy(rec + REC_RIGHT, src + REC_RIGHT, (size_t)h * sizeof *rec);
        }
}

/* canny-hysteresis map: every block of tile `in` recorded into partial, as
 * canny_hysteresis.c map (a misaligned tile only sets the flag). */
static tsr_status map_hysteresis(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                                 void *partial) {
    uint16_t *sum = partial;
    tsr_rect r = in->rect;
    int x1 = r.x + r.w, y1 = r.y + r.h;
    if (r.w <= 0 || r.h <= 0 || in->bands != 1)
        return TSR_ERR_INTERNAL;
    if (r.x % CANNY_BLOCK || r.y % CANNY_BLOCK || (x1 % CANNY_BLOCK && x1 != op->in_w) ||
        (y1 % CANNY_BLOCK && y1 != op->in_h)) {
        sum[0] |= FLAG_MISALIGNED;
        return TSR_OK;
    }
    block_span span = blocks_of(r);
    size_t bytes = (size_t)span.nx * (size_t)span.ny * REC_WORDS * sizeof(uint16_t);
    cl_mem recs = tsr_cl_temp(q, 1, bytes);
    cl_kernel k = tsr_cl_kernel(q, "canny_hysteresis_map");
    if (!recs || !k)
        return TSR_ERR_IO;
    cl_int bx0 = span.bx0, by0 = span.by0;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof recs, &recs);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof bx0, &bx0);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof by0, &by0);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "canny_hysteresis_map arguments");
    tsr_status st = enqueue_blocks(q, k, span);
    uint16_t *host = st ? NULL : malloc(bytes);
    if (!st && !host)
        st = TSR_ERR_NOMEM;
    if (!st)
        st = tsr_cl_read(q, recs, host, bytes);
    if (!st)
        store_records(op, host, span, in->image_w, in->image_h, sum);
    free(host);
    return st;
}

/* Whether hough-lines draws (mode=draw) rather than passing the image through. */
static bool hough_draws(const tsr_op *op) {
    int i = tsr_op_param_index(op->desc, "mode");
    return i < 0 || strcmp(op->desc->params[i].choices[(int)op->values[i]], "data") != 0;
}

/* Enqueues hough_draw over out->rect with the lines of state s. */
static tsr_status enqueue_draw(tsr_cl_queue *q, const hough_state *s, const tsr_cl_image *in,
                               const tsr_cl_image *out) {
    cl_kernel k = tsr_cl_kernel(q, "hough_draw");
    size_t n = s->n_lines > 0 ? (size_t)s->n_lines : 0;
    double *lines = malloc((n ? n : 1) * 3 * sizeof *lines);
    if (!k || !lines) {
        free(lines);
        return k ? TSR_ERR_NOMEM : TSR_ERR_IO;
    }
    for (size_t i = 0; i < n; i++) {
        lines[3 * i] = s->lines[i].cs;
        lines[3 * i + 1] = s->lines[i].sn;
        lines[3 * i + 2] = (double)s->lines[i].rho;
    }
    cl_mem table = tsr_cl_table(q, 0, lines, (n ? n : 1) * 3 * sizeof *lines);
    free(lines);
    if (!table)
        return TSR_ERR_IO;
    cl_int count = (cl_int)n;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof table, &table);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof count, &count);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "hough_draw arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

/* Whether the queue's device has doubles (else the program has no
 * hough_draw). */
static bool has_doubles(tsr_cl_queue *q) {
    cl_device_id dev = NULL;
    cl_device_fp_config fp = 0;
    if (clGetCommandQueueInfo(tsr_cl_command_queue(q), CL_QUEUE_DEVICE, sizeof dev, &dev, NULL) !=
            CL_SUCCESS ||
        clGetDeviceInfo(dev, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp, &fp, NULL) != CL_SUCCESS)
        return false;
    return fp != 0;
}

/* hough-lines run(): the lines drawn, or the image unchanged (hough_lines.c
 * run). Drawing needs doubles: on a device without them the tile goes back
 * to the CPU. */
static tsr_status run_hough(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                            const tsr_cl_image *out) {
    const hough_state *s = op->state;
    if (!s)
        return TSR_ERR_INTERNAL;
    if (hough_draws(op))
        return has_doubles(q) ? enqueue_draw(q, s, in, out) : TSR_ERR_IO;
    cl_kernel k = tsr_cl_kernel(q, "hough_copy");
    if (!k)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "hough_copy arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

/* The accumulator row the CPU's map() gives pixel (x, y) at angle n. */
static int hough_r(const hough_state *s, int n, int x, int y) {
    float a = (float)x * s->tab_cos[n];
    float b = (float)y * s->tab_sin[n];
    return (int)lrintf(a + b) + (s->numrho - 1) / 2;
}

/* Per angle, the first accumulator row (rmin[n]) of a band holding every
 * vote of rect r: rows are monotonic in x and in y (float products and sums
 * round monotonically), so the corners bound them; one row of margin each
 * side. Returns the band width. */
static int hough_bands(const hough_state *s, tsr_rect r, cl_int *rmin) {
    int width = 1, xs[2] = {r.x, r.x + r.w - 1}, ys[2] = {r.y, r.y + r.h - 1};
    for (int n = 0; n < s->numangle; n++) {
        int lo = hough_r(s, n, xs[0], ys[0]), hi = lo;
        for (int c = 1; c < 4; c++) {
            int v = hough_r(s, n, xs[c & 1], ys[c >> 1]);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        rmin[n] = lo - 1;
        width = hi - lo + 3 > width ? hi - lo + 3 : width;
    }
    return width;
}

/* Enqueues hough_votes of `in` into `votes` (zeroed first). */
static tsr_status enqueue_votes(tsr_cl_queue *q, const hough_state *s, const tsr_cl_image *in,
                                cl_mem votes, size_t bytes, cl_mem rmin, int band_w) {
    cl_kernel k = tsr_cl_kernel(q, "hough_votes");
    size_t angles = (size_t)s->numangle * sizeof(float);
    cl_mem tc = tsr_cl_table(q, 0, s->tab_cos, angles), ts = tsr_cl_table(q, 1, s->tab_sin, angles);
    if (!k || !tc || !ts)
        return TSR_ERR_IO;
    cl_int zero = 0, numangle = s->numangle, width = band_w, half = (s->numrho - 1) / 2;
    cl_int err = clEnqueueFillBuffer(tsr_cl_command_queue(q), votes, &zero, sizeof zero, 0, bytes,
                                     0, NULL, NULL);
    cl_uint arg = 0;
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, in);
    cl_mem mems[4] = {tc, ts, rmin, votes};
    for (int i = 0; i < 4 && err == CL_SUCCESS; i++)
        err = tsr_cl_arg(k, &arg, sizeof mems[i], &mems[i]);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof numangle, &numangle);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof width, &width);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof half, &half);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "hough_votes arguments");
    return tsr_cl_run_2d(q, k, (size_t)in->rect.w, (size_t)in->rect.h);
}

/* hough-lines map: the votes of tile `in` added into the accumulator
 * partial (hough_lines.c map), counted per angle in a band of rows on the
 * device and read back. */
static tsr_status map_hough(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                            void *partial) {
    const hough_state *s = op->state;
    if (!s || s->numangle <= 0)
        return TSR_ERR_INTERNAL;
    tsr_status st = TSR_OK;
    cl_int *rmin = malloc((size_t)s->numangle * sizeof *rmin);
    int32_t *band = NULL;
    if (!rmin)
        return TSR_ERR_NOMEM;
    int band_w = hough_bands(s, in->rect, rmin);
    size_t cells = (size_t)s->numangle * (size_t)band_w, bytes = (cells + 1) * sizeof *band;
    cl_mem rmins = tsr_cl_table(q, 2, rmin, (size_t)s->numangle * sizeof *rmin);
    cl_mem votes = tsr_cl_temp(q, 3, bytes);
    if (!rmins || !votes || !(band = malloc(bytes))) {
        st = TSR_ERR_NOMEM;
        goto out;
    }
    if ((st = enqueue_votes(q, s, in, votes, bytes, rmins, band_w)) ||
        (st = tsr_cl_read(q, votes, band, bytes)))
        goto out;
    if (band[cells]) { /* a vote outside its band: the CPU maps this tile */
        st = TSR_ERR_INTERNAL;
        goto out;
    }
    int32_t *acc = partial;
    size_t row = (size_t)s->numrho + 2;
    for (int n = 0; n < s->numangle; n++)
        for (int k = 0; k < band_w; k++) {
            int r = rmin[n] + k;
            if (r >= -1 && r <= s->numrho)
                acc[(size_t)(n + 1) * row + (size_t)(r + 1)] += band[(size_t)n * band_w + k];
        }
out:
    free(rmin);
    free(band);
    return st;
}

const tsr_cl_op_kernel tsr_cl_kernels_edge[] = {
    {"canny-nms", NULL, run_nms, NULL},
    {"canny-hysteresis", NULL, run_hysteresis, map_hysteresis},
    {"hough-lines", NULL, run_hough, map_hough},
    {NULL, NULL, NULL, NULL},
};
