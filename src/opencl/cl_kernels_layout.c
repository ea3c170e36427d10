/* The layout ops on OpenCL (crop, flip, rotate90/180/270: pixels moved,
 * not computed; see cl_kernels.h). */
#include "opencl/cl_kernels.h"

const tsr_cl_op_kernel tsr_cl_kernels_layout[] = {
    {NULL, NULL, NULL, NULL},
};
