/* The geometry family's kernels shared between its files (private to
 * src/opencl): resize and thumbnail, whose op->state is a tsr_resample. */
#ifndef TESSERA_OPENCL_CL_KERNELS_GEOMETRY_H
#define TESSERA_OPENCL_CL_KERNELS_GEOMETRY_H

#include "opencl/cl_kernels.h"

/* Whether the kernels cover the prepared resample of `op`. */
bool tsr_cl_resample_supports(const tsr_op *op);
/* Fills out->rect from in with the resample in op->state (cl_kernels.h's
 * run()). */
tsr_status tsr_cl_resample_run(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                               const tsr_cl_image *out);

#endif
