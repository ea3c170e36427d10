/* The edge family's descriptors and what its files share (private to ops/edge). */
#ifndef TESSERA_OPS_EDGE_H
#define TESSERA_OPS_EDGE_H

#include "tessera/op.h"

extern const tsr_op_desc tsr_op_canny;            /* user-facing; expands to the two below */
extern const tsr_op_desc tsr_op_canny_nms;        /* Sobel + non-maximum suppression */
extern const tsr_op_desc tsr_op_canny_hysteresis; /* 8-connected flood from strong pixels */
extern const tsr_op_desc tsr_op_hough_lines;      /* standard Hough transform */

/* canny's parameters (low, high), shared by its internal ops so that they get
 * the same values. */
#define CANNY_N_PARAMS 2
extern const tsr_param_spec tsr_canny_params[CANNY_N_PARAMS];

/* Values of the candidate map that canny-nms writes and canny-hysteresis reads. */
enum {
    CANNY_NONE = 0,   /* not an edge */
    CANNY_WEAK = 1,   /* a local maximum above low: an edge if connected to a strong one */
    CANNY_STRONG = 2, /* a local maximum above high: an edge */
};

/* The integer thresholds OpenCV uses: swapped when low > high, then floored. */
void tsr_canny_thresholds(const tsr_op *op, int *low, int *high);

/* One line hough-lines detected: x*cos(theta) + y*sin(theta) = rho. */
typedef struct hough_line {
    float rho;   /* distance from the origin (top-left pixel centre), pixels */
    float theta; /* angle of the normal, radians in [0, pi) */
    int votes;   /* accumulator value */
    double cs;   /* cos(theta), for drawing */
    double sn;   /* sin(theta), for drawing */
} hough_line;

/* hough-lines's prepared state (op->state): precomputed tables (prepare)
 * and the lines found (finalize). */
typedef struct hough_state {
    int numangle;      /* angle bins */
    int numrho;        /* distance bins */
    float rho;         /* distance step, as OpenCV's float */
    float theta;       /* angle step in radians, as OpenCV's float */
    float *tab_sin;    /* sin(angle n) / rho, numangle entries */
    float *tab_cos;    /* cos(angle n) / rho */
    int n_lines;       /* lines in `lines` */
    hough_line *lines; /* strongest first; NULL before finalize */
} hough_state;

#endif
