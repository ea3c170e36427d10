/* canny: Canny edge detector, byte-exact with OpenCV 4.6 cv::Canny (aperture
 * 3, L1 gradient). The planner expands it into canny-nms (a stencil) and
 * canny-hysteresis (a global flood fill); see docs/internals/ops-edge.md. */
#include <math.h>

#include "ops/edge/edge.h"

const tsr_param_spec tsr_canny_params[CANNY_N_PARAMS] = {
    {"low", TSR_PARAM_FLOAT, 100, 0, 10000, NULL, false,
     "lower hysteresis threshold on the L1 gradient magnitude",
     "Weaker edges are kept only where they join a strong one; lower keeps more of them", ""},
    {"high", TSR_PARAM_FLOAT, 200, 0, 10000, NULL, false,
     "upper threshold: pixels above it start edges (swapped with low when smaller)",
     "Edge strength at which an edge starts; lower finds more edges", ""},
};

void tsr_canny_thresholds(const tsr_op *op, int *low, int *high) {
    double lo = op->values[0], hi = op->values[1];
    if (lo > hi) {
        double t = lo;
        lo = hi;
        hi = t;
    }
    *low = (int)floor(lo);
    *high = (int)floor(hi);
}

/* Sets the output to one band of the same size; the parameters are already
 * range-checked and need no cross-check (low > high is swapped, as OpenCV). */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    (void)ctx;
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = 1;
    return TSR_OK;
}

static const tsr_op_desc *const canny_parts[] = {
    &tsr_op_canny_nms,
    &tsr_op_canny_hysteresis,
    NULL,
};

const tsr_op_desc tsr_op_canny = {
    .name = "canny",
    .version = 1,
    .kind = TSR_OP_GLOBAL,
    .summary = "Canny edges (OpenCV cv2.Canny, aperture 3, L1): 255 on edges, 0 elsewhere",
    .bands_rule = "any->1 (colour: channel with the largest gradient; alpha ignored)",
    .params = tsr_canny_params,
    .n_params = CANNY_N_PARAMS,
    .prepare = prepare,
    .expands_to = canny_parts,
};
