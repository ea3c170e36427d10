/* The edge family on OpenCL (see cl_kernels.h). */
#include "opencl/cl_kernels.h"

const tsr_cl_op_kernel tsr_cl_kernels_edge[] = {
    {NULL, NULL, NULL, NULL},
};
