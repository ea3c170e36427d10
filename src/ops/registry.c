/* The operation registry: every family's table, looked up by name and
 * version. An op name may have several versions, each its own descriptor
 * and each still runnable; the default is the newest. */
#include <stdatomic.h>
#include <string.h>

#include "ops/families.h"
#include "tessera/op.h"

static const tsr_op_desc *const *const families[] = {
    tsr_ops_point,  tsr_ops_convolve,      tsr_ops_edge, tsr_ops_geometry,
    tsr_ops_global, tsr_ops_test_versions, /* TEST ONLY: skipped unless enabled */
};

#define N_FAMILIES (int)(sizeof families / sizeof families[0])
#define TEST_TABLE (N_FAMILIES - 1)

/* TEST ONLY: whether tsr_ops_test_versions is part of the registry. */
static atomic_bool test_versions;

void tsr_op_enable_test_versions(void) {
    atomic_store(&test_versions, true);
}

/* Family table `f`, or NULL when it is the test table and that is off. */
static const tsr_op_desc *const *table(int f) {
    return f == TEST_TABLE && !atomic_load(&test_versions) ? NULL : families[f];
}

int tsr_op_count(void) {
    int n = 0;
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = table(f); d && *d; d++)
            n++;
    return n;
}

const tsr_op_desc *tsr_op_at(int index) {
    if (index < 0)
        return NULL;
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = table(f); d && *d; d++)
            if (index-- == 0)
                return *d;
    return NULL;
}

const tsr_op_desc *tsr_op_find(const char *name) {
    const tsr_op_desc *best = NULL;
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = table(f); d && *d; d++)
            if (strcmp((*d)->name, name) == 0 && (!best || (*d)->version > best->version))
                best = *d;
    return best;
}

const tsr_op_desc *tsr_op_find_version(const char *name, int version) {
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = table(f); d && *d; d++)
            if (strcmp((*d)->name, name) == 0 && (*d)->version == version)
                return *d;
    return NULL;
}

int tsr_op_versions(const char *name, int *versions, int max) {
    int n = 0;
    for (int f = 0; f < N_FAMILIES; f++)
        for (const tsr_op_desc *const *d = table(f); d && *d; d++) {
            if (strcmp((*d)->name, name) != 0)
                continue;
            /* insertion sort: a name has a handful of versions at most */
            int v = (*d)->version, at = n < max ? n : max;
            while (at > 0 && versions[at - 1] > v) {
                if (at < max)
                    versions[at] = versions[at - 1];
                at--;
            }
            if (at < max)
                versions[at] = v;
            n++;
        }
    return n;
}

bool tsr_op_is_default(const tsr_op_desc *desc) {
    return desc && tsr_op_find(desc->name) == desc;
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
