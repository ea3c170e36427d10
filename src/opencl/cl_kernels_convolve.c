/* The convolve family on OpenCL (see cl_kernels.h), kernels in
 * kernels/convolve.cl: the separable blurs (gaussian-blur, box-blur) as a
 * horizontal pass into a 16-bit temporary and a vertical pass, filter2d
 * (sharpen, convolve) in integers or, for the CPU's double rows, in double
 * (devices without cl_khr_fp64 lack that kernel: such tiles fail and the
 * CPU redoes them), sobel and median one pass each. Every kernel gives the
 * CPU code's bytes (ops/convolve). */
#include "opencl/cl_kernels.h"
#include "ops/convolve/convolve.h"

enum { SLOT_TAPS, SLOT_TEMP }; /* temp slots: coefficients, then a pass's output or more taps */

/* Whether border(i) for i in lo-r .. lo+len+r-1 all lie in [in_lo, in_lo +
 * in_len): the CPU driver's coverage check (n: the image's side). */
static bool covered(int lo, int len, int r, int n, border_mode mode, int in_lo, int in_len) {
    for (int i = lo - r; i < lo + len + r; i++) {
        int s = border_index(i, n, mode);
        if (s < in_lo || s >= in_lo + in_len)
            return false;
    }
    return true;
}

/* Whether `in` holds every pixel the radius-r window around out's rect
 * reads; kernels index without checks, so a tile failing this goes back to
 * the CPU (which refuses it the same way). */
static bool window_inside(const tsr_cl_image *in, const tsr_cl_image *out, int r,
                          border_mode mode) {
    return covered(out->rect.x, out->rect.w, r, in->image_w, mode, in->rect.x, in->rect.w) &&
           covered(out->rect.y, out->rect.h, r, in->image_h, mode, in->rect.y, in->rect.h);
}

/* Sets in then out as kernel k's first eight arguments. */
static cl_int image_args(cl_kernel k, cl_uint *arg, const tsr_cl_image *in,
                         const tsr_cl_image *out) {
    cl_int err = tsr_cl_arg_image(k, arg, in);
    return err == CL_SUCCESS ? tsr_cl_arg_image(k, arg, out) : err;
}

/* The box divisor when k is box-blur's SEP_BOX_FLOAT (all-ones taps,
 * box_scale 1 / n^2), which sep_finish computes in integers; 0 otherwise. */
static cl_uint box_divisor(const sep_kernel *k) {
    for (int i = 0; i < k->n; i++)
        if (k->taps[i] != 1)
            return 0;
    int d = k->n * k->n;
    return k->box_scale == 1.0 / d ? (cl_uint)d : 0;
}

static bool supports_separable(const tsr_op *op) {
    const sep_kernel *k = op->state;
    return k && k->n >= 1 && k->n <= SEP_MAX_TAPS && k->n % 2 == 1 &&
           (k->final != SEP_BOX_FLOAT || box_divisor(k));
}

/* Enqueues sep_hpass over out's columns and every row of in into temp h. */
static tsr_status enqueue_hpass(tsr_cl_queue *q, const sep_kernel *sk, const tsr_cl_image *in,
                                const tsr_cl_image *out, cl_mem taps, cl_mem h) {
    cl_kernel k = tsr_cl_kernel(q, "sep_hpass");
    if (!k)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int x0 = out->rect.x, w = out->rect.w, n = sk->n;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof h, &h);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof x0, &x0);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof w, &w);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof taps, &taps);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof n, &n);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "sep_hpass arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)in->rect.h);
}

/* Enqueues sep_vpass from temp h (sep_hpass's output) into out. */
static tsr_status enqueue_vpass(tsr_cl_queue *q, const sep_kernel *sk, const tsr_cl_image *in,
                                const tsr_cl_image *out, cl_mem taps, cl_mem h) {
    cl_kernel k = tsr_cl_kernel(q, "sep_vpass");
    if (!k)
        return TSR_ERR_IO;
    cl_int n = sk->n, mode = sk->final == SEP_ROUND16 ? 0 : sk->final == SEP_BOX_FIXED ? 1 : 2;
    cl_uint scale = mode == 2 ? box_divisor(sk) : sk->div_scale, delta = sk->div_delta;
    cl_uint arg = 0;
    cl_int err = image_args(k, &arg, in, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof h, &h);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof taps, &taps);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof n, &n);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof mode, &mode);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof scale, &scale);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof delta, &delta);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "sep_vpass arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

/* gaussian-blur and box-blur (tsr_separable_run): two passes through a
 * 16-bit temporary of out's width and in's height. */
static tsr_status run_separable(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                                const tsr_cl_image *out) {
    const sep_kernel *sk = op->state;
    if (!window_inside(in, out, sk->n / 2, BORDER_REFLECT101))
        return TSR_ERR_INTERNAL;
    size_t h_bytes = (size_t)out->rect.w * (size_t)in->rect.h * (size_t)in->bands * 2;
    cl_mem taps = tsr_cl_table(q, SLOT_TAPS, sk->taps, sizeof sk->taps[0] * (size_t)sk->n);
    cl_mem h = tsr_cl_temp(q, SLOT_TEMP, h_bytes);
    if (!taps || !h)
        return TSR_ERR_NOMEM;
    tsr_status st = enqueue_hpass(q, sk, in, out, taps, h);
    return st ? st : enqueue_vpass(q, sk, in, out, taps, h);
}

/* filter2d (sharpen, convolve): filter2d_shift for the CPU's integer
 * rounding rows, filter2d_real for its double rows. */
static tsr_status run_filter2d(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                               const tsr_cl_image *out) {
    const filter2d *f = op->state;
    if (!window_inside(in, out, f->size / 2, BORDER_REFLECT101))
        return TSR_ERR_INTERNAL;
    cl_int triples[3 * TSR_KERNEL_MAX * TSR_KERNEL_MAX]; /* window row, column, integer tap */
    for (int t = 0; t < f->n_taps; t++) {
        triples[3 * t] = f->offset_of[t] / f->size;
        triples[3 * t + 1] = f->offset_of[t] % f->size;
        triples[3 * t + 2] = f->integer ? f->itap[t] : 0;
    }
    cl_mem taps = tsr_cl_table(q, SLOT_TAPS, triples, sizeof triples[0] * 3 * (size_t)f->n_taps);
    cl_mem dtaps = f->shift
                       ? NULL
                       : tsr_cl_table(q, SLOT_TEMP, f->dtap, sizeof f->dtap[0] * (size_t)f->n_taps);
    if (!taps || (!f->shift && !dtaps))
        return TSR_ERR_NOMEM;
    cl_kernel k = tsr_cl_kernel(q, f->shift ? "filter2d_shift" : "filter2d_real");
    if (!k)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int n = f->n_taps, size = f->size, bits = f->bits, ioffset = f->ioffset;
    cl_int integer = f->integer;
    cl_double divisor = f->divisor, offset = f->offset;
    cl_int err = image_args(k, &arg, in, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof taps, &taps);
    if (err == CL_SUCCESS && !f->shift)
        err = tsr_cl_arg(k, &arg, sizeof dtaps, &dtaps);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof n, &n);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof size, &size);
    if (f->shift) {
        if (err == CL_SUCCESS)
            err = tsr_cl_arg(k, &arg, sizeof bits, &bits);
        if (err == CL_SUCCESS)
            err = tsr_cl_arg(k, &arg, sizeof ioffset, &ioffset);
    } else {
        if (err == CL_SUCCESS)
            err = tsr_cl_arg(k, &arg, sizeof integer, &integer);
        if (err == CL_SUCCESS)
            err = tsr_cl_arg(k, &arg, sizeof divisor, &divisor);
        if (err == CL_SUCCESS)
            err = tsr_cl_arg(k, &arg, sizeof offset, &offset);
    }
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "filter2d arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

static bool supports_filter2d(const tsr_op *op) {
    const filter2d *f = op->state;
    return f && f->size >= 1 && f->size <= TSR_KERNEL_MAX && f->size % 2 == 1 &&
           f->n_taps <= f->size * f->size && (!f->shift || f->bits < 31);
}

/* A kernel taking in, out and one int: sobel's direction, median's ksize. */
static tsr_status run_with_int(tsr_cl_queue *q, const char *name, int value, const tsr_cl_image *in,
                               const tsr_cl_image *out) {
    cl_kernel k = tsr_cl_kernel(q, name);
    if (!k)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int v = value;
    cl_int err = image_args(k, &arg, in, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof v, &v);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, name);
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

static tsr_status run_sobel(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                            const tsr_cl_image *out) {
    if (!window_inside(in, out, 1, BORDER_REFLECT101))
        return TSR_ERR_INTERNAL;
    return run_with_int(q, "sobel", (int)op->values[0], in, out);
}

static bool supports_median(const tsr_op *op) {
    int k = (int)op->values[0];
    return k == 3 || k == 5;
}

static tsr_status run_median(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                             const tsr_cl_image *out) {
    int k = (int)op->values[0];
    if (!window_inside(in, out, k / 2, BORDER_REPLICATE))
        return TSR_ERR_INTERNAL;
    return run_with_int(q, "median", k, in, out);
}

const tsr_cl_op_kernel tsr_cl_kernels_convolve[] = {
    {"gaussian-blur", supports_separable, run_separable, NULL},
    {"box-blur", supports_separable, run_separable, NULL},
    {"sharpen", supports_filter2d, run_filter2d, NULL},
    {"convolve", supports_filter2d, run_filter2d, NULL},
    {"sobel", NULL, run_sobel, NULL},
    {"median", supports_median, run_median, NULL},
    {NULL, NULL, NULL, NULL},
};
