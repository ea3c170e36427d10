/* The geometry family on OpenCL (see cl_kernels.h): rotate here
 * (kernels/geometry.cl), resize and thumbnail in cl_kernels_resize.c. */
#include <stdlib.h>

#include "opencl/cl_kernels_geometry.h"
#include "ops/geometry/geometry.h"

#define ROTATE_WEIGHTS (TSR_ROTATE_INTER_TAB * TSR_ROTATE_INTER_TAB * 4)

/* rotate_warp's table for output rect r: per column (adelta, bdelta), per
 * row tsr_rotate_row's (x0, y0) (the CPU's own double arithmetic), then the
 * weights. *words: its size in ints. The caller frees it; NULL when out of
 * memory. */
static int *rotate_table(const tsr_rotate_state *st, tsr_rect r, size_t *words) {
    *words = 2 * (size_t)r.w + 2 * (size_t)r.h + ROTATE_WEIGHTS;
    int *tab = malloc(sizeof(int) * *words);
    if (!tab)
        return NULL;
    int *col = tab, *row = tab + 2 * (size_t)r.w, *w = row + 2 * (size_t)r.h;
    for (int i = 0; i < r.w; i++) {
        col[2 * i] = st->adelta[r.x + i];
        col[2 * i + 1] = st->bdelta[r.x + i];
    }
    for (int j = 0; j < r.h; j++)
        tsr_rotate_row(st, r.y + j, &row[2 * j], &row[2 * j + 1]);
    for (int f = 0; f < TSR_ROTATE_INTER_TAB * TSR_ROTATE_INTER_TAB; f++)
        for (int k = 0; k < 4; k++)
            w[4 * f + k] = st->wtab[f][k];
    return tab;
}

static tsr_status run_rotate(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                             const tsr_cl_image *out) {
    size_t words;
    int *tab = rotate_table(op->state, out->rect, &words);
    if (!tab)
        return TSR_ERR_NOMEM;
    cl_kernel k = tsr_cl_kernel(q, "rotate_warp");
    cl_mem t = tsr_cl_table(q, 0, tab, sizeof(int) * words);
    free(tab);
    if (!k || !t)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof t, &t);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "rotate_warp arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

const tsr_cl_op_kernel tsr_cl_kernels_geometry[] = {
    {"rotate", NULL, run_rotate, NULL},
    {"resize", tsr_cl_resample_supports, tsr_cl_resample_run, NULL},
    {"thumbnail", tsr_cl_resample_supports, tsr_cl_resample_run, NULL},
    {NULL, NULL, NULL, NULL},
};
