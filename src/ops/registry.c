/* The operation registry: every family's table, looked up by name. */
#include <string.h>

#include "ops/families.h"
#include "tessera/op.h"

static const tsr_op_desc *const *const families[] = {
    tsr_ops_point, tsr_ops_convolve, tsr_ops_edge, tsr_ops_geometry, tsr_ops_global,
};

#define N_FAMILIES (int)(sizeof families / sizeof families[0])

int tsr_op_count(void) {
    int n = 0;
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = families[f]; *d; d++)
            n++;
    return n;
}

const tsr_op_desc *tsr_op_at(int index) {
    if (index < 0)
        return NULL;
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = families[f]; *d; d++)
            if (index-- == 0)
                return *d;
    return NULL;
}

const tsr_op_desc *tsr_op_find(const char *name) {
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = families[f]; *d; d++)
            if (strcmp((*d)->name, name) == 0)
                return *d;
    return NULL;
}

int tsr_op_param_index(const tsr_op_desc *desc, const char *name) {
    for (int i = 0; i < desc->n_params; i++)
        if (strcmp(desc->params[i].name, name) == 0)
            return i;
    return -1;
}

tsr_rect tsr_op_need_radius(const tsr_op *op, tsr_rect out) {
    return tsr_rect_grow_clip(out, op->radius, op->radius, op->radius, op->radius, op->in_w,
                              op->in_h);
}
