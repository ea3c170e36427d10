/* The layout ops on OpenCL (crop, flip, rotate90/180/270: pixels moved,
 * not computed; see cl_kernels.h). Each is an orthogonal mapping
 * (tsr_ortho, ops/geometry/geometry.h) run by one copy kernel. */
#include "ops/geometry/geometry.h"
#include "opencl/cl_kernels.h"

/* The mapping the CPU op uses for its prepared sizes: crop.c's run(),
 * flip.c's and rotate90.c's mapping() (static there, so spelled again here;
 * test_cl_exact and test_cl_point compare every axis and turn). */
static tsr_ortho mapping(const tsr_op *op) {
    int w = op->in_w, h = op->in_h;
    if (op->desc == &tsr_op_crop)
        return (tsr_ortho){1, 0, (int)op->values[0], 0, 1, (int)op->values[1]};
    if (op->desc == &tsr_op_flip) {
        int axis = (int)op->values[0];
        bool mirror_x = axis == 0 || axis == 2, mirror_y = axis == 1 || axis == 2;
        return (tsr_ortho){mirror_x ? -1 : 1,   0, mirror_x ? w - 1 : 0, 0, mirror_y ? -1 : 1,
                           mirror_y ? h - 1 : 0};
    }
    if (op->desc == &tsr_op_rotate90)
        return (tsr_ortho){0, 1, 0, -1, 0, h - 1};
    if (op->desc == &tsr_op_rotate180)
        return (tsr_ortho){-1, 0, w - 1, 0, -1, h - 1};
    return (tsr_ortho){0, -1, w - 1, 1, 0, 0}; /* rotate270 */
}

/* Enqueues layout_ortho from in to out with the op's mapping. */
static tsr_status run_ortho(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                            const tsr_cl_image *out) {
    tsr_ortho m = mapping(op);
    cl_int4 mx = {{m.ax, m.bx, m.cx, 0}}, my = {{m.ay, m.by, m.cy, 0}};
    cl_kernel k = tsr_cl_kernel(q, "layout_ortho");
    if (!k)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof mx, &mx);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof my, &my);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "layout_ortho arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

const tsr_cl_op_kernel tsr_cl_kernels_layout[] = {
    {"crop", NULL, run_ortho, NULL},      {"flip", NULL, run_ortho, NULL},
    {"rotate90", NULL, run_ortho, NULL},  {"rotate180", NULL, run_ortho, NULL},
    {"rotate270", NULL, run_ortho, NULL}, {NULL, NULL, NULL, NULL},
};
