/* A compute device the engine may run fused stages on besides the CPU (the
 * OpenCL backend in src/opencl/ implements it). The engine owns no device:
 * a caller passes one in tsr_run_options.accel (or tsr_task_worker_set_accel)
 * and the engine asks it, tile by tile, whether it takes a stage.
 *
 * Contract: a device gives exactly the bytes of the CPU code for every op it
 * claims. When run_tile or map fails (out of device memory, a lost device)
 * the engine computes that tile on the CPU instead and calls fell_back, so a
 * device error never fails a run. Every hook is called from the engine's
 * tile workers, concurrently: a device keeps per-thread state itself. */
#ifndef TESSERA_ENGINE_ACCEL_H
#define TESSERA_ENGINE_ACCEL_H

#include <stdbool.h>

#include "tessera/op.h"

typedef struct tsr_accel tsr_accel;

typedef struct tsr_accel_vt {
    /* Whether the device runs ops[0..count) (one fused stage, in order) on a
     * tile: every op has a kernel for its prepared parameters. */
    bool (*supports)(const tsr_accel *a, const tsr_op *ops, int count);
    /* Runs ops[0..count) forwards: rects[0] is the input rect (inside
     * in->rect), rects[k + 1] the output rect of op k (none empty); writes rects[count]
     * into `out` (which covers it). Any status but TSR_OK: the engine redoes
     * the tile on the CPU. */
    tsr_status (*run_tile)(const tsr_accel *a, const tsr_op *ops, int count, const tsr_rect *rects,
                           const tsr_region *in, const tsr_region *out);
    /* GLOBAL op `op`'s map on the device: adds what `in` contributes into
     * `partial`, exactly as op->desc->map would. NULL, or false from
     * supports_map: the CPU maps. */
    bool (*supports_map)(const tsr_accel *a, const tsr_op *op);
    tsr_status (*map)(const tsr_accel *a, const tsr_op *op, const tsr_region *in, void *partial);
    /* Told after a failed run_tile/map that the CPU redid: the device logs
     * and counts it (metrics). `what` names the stage's first op. */
    void (*fell_back)(const tsr_accel *a, const char *what, tsr_status st);
} tsr_accel_vt;

struct tsr_accel {
    const tsr_accel_vt *vt;
};

#endif
