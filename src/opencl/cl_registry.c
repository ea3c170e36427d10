/* Which kernel family runs which op. */
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_kernels.h"

static const tsr_cl_op_kernel *const families[] = {
    tsr_cl_kernels_point,    tsr_cl_kernels_convolve, tsr_cl_kernels_edge,
    tsr_cl_kernels_geometry, tsr_cl_kernels_global,   tsr_cl_kernels_layout,
};

/* Whether kernel table name `entry` ("name" = version 1, "name@N") names
 * `desc`'s name and version. */
static bool names_version(const char *entry, const tsr_op_desc *desc) {
    size_t len = strlen(desc->name);
    if (strncmp(entry, desc->name, len) != 0)
        return false;
    if (entry[len] == '\0')
        return desc->version == 1;
    return entry[len] == '@' && atoi(entry + len + 1) == desc->version;
}

const tsr_cl_op_kernel *tsr_cl_find_kernel(const tsr_op *op) {
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const tsr_cl_op_kernel *k = families[f]; k->op; k++)
            if (names_version(k->op, op->desc))
                return !k->supports || k->supports(op) ? k : NULL;
    return NULL;
}
