/* Which kernel family runs which op. */
#include <string.h>

#include "opencl/cl_kernels.h"

static const tsr_cl_op_kernel *const families[] = {
    tsr_cl_kernels_point,    tsr_cl_kernels_convolve, tsr_cl_kernels_edge,
    tsr_cl_kernels_geometry, tsr_cl_kernels_global,   tsr_cl_kernels_layout,
};

const tsr_cl_op_kernel *tsr_cl_find_kernel(const tsr_op *op) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const tsr_cl_op_kernel *k = families[f]; k->op; k++)
            if (!strcmp(k->op, op->desc->name))
                return !k->supports || k->supports(op) ? k : NULL;
    return NULL;
}
