/* The point ops' inner loop (point_row.c): one row of samples through a
 * 256-entry table, in the closed form the table turns out to have when it
 * has one, and otherwise as a table lookup at the SIMD level asked for;
 * the same bytes either way. */
#ifndef TESSERA_OPS_POINT_ROW_H
#define TESSERA_OPS_POINT_ROW_H

#include <stddef.h>
#include <stdint.h>

#include "util/simd.h"

/* What a table computes, found by tsr_point_kernel_init from its 256
 * entries (never from the op's name or parameters), so a closed form is
 * used only where it gives exactly the table's bytes. */
typedef enum tsr_point_form {
    TSR_POINT_TABLE,     /* any other table: a lookup */
    TSR_POINT_IDENTITY,  /* v */
    TSR_POINT_INVERT,    /* 255 - v */
    TSR_POINT_ADD,       /* min(v + k, 255), k in 1..255 */
    TSR_POINT_SUB,       /* max(v - k, 0), k in 1..255 */
    TSR_POINT_THRESHOLD, /* v >= k ? 255 : 0, k in 1..255 */
} tsr_point_form;

typedef struct tsr_point_kernel {
    uint8_t lut[256] __attribute__((aligned(64))); /* the table itself */
    tsr_point_form form;
    uint8_t k; /* the closed form's constant */
} tsr_point_kernel;

/* Copies `lut` into `kernel` and finds its closed form. */
void tsr_point_kernel_init(tsr_point_kernel *kernel, const uint8_t lut[256]);

/* d[i] = kernel->lut[s[i]] for i < n, by the kernel's form; `level` picks
 * the instruction set of a TSR_POINT_TABLE lookup (tsr_simd_active()),
 * every level giving the same bytes. s and d may be the same buffer. */
void tsr_point_row(tsr_simd_level level, const tsr_point_kernel *kernel, const uint8_t *s,
                   uint8_t *d, size_t n);

#endif
