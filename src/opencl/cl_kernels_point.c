/* The point family on OpenCL: every op whose prepared state is a 256-entry
 * table (ops/point/point.h) runs one table kernel; grayscale runs its own
 * fixed-point luma kernel. */
#include "opencl/cl_kernels.h"

/* Enqueues point_lut from in to out with the table in op->state. */
static tsr_status run_lut(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                          const tsr_cl_image *out) {
    cl_kernel k = tsr_cl_kernel(q, "point_lut");
    cl_mem lut = tsr_cl_table(q, 0, op->state, 256);
    if (!k || !lut)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof lut, &lut);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "point_lut arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

/* Enqueues point_grayscale (luma of 3 and 4 bands, a copy of 1 and 2). */
static tsr_status run_grayscale(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                                const tsr_cl_image *out) {
    (void)op;
    cl_kernel k = tsr_cl_kernel(q, "point_grayscale");
    if (!k)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "point_grayscale arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

const tsr_cl_op_kernel tsr_cl_kernels_point[] = {
    {"grayscale", NULL, run_grayscale, NULL},
    {"invert", NULL, run_lut, NULL},
    {"brightness", NULL, run_lut, NULL},
    {"contrast", NULL, run_lut, NULL},
    {"gamma", NULL, run_lut, NULL},
    {"threshold", NULL, run_lut, NULL},
    {NULL, NULL, NULL, NULL},
};
