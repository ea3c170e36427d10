/* The convolve family's descriptors and what its files share (private to
 * ops/convolve): border handling over the whole image and two tile drivers,
 * one for general windows and one for symmetric separable kernels. */
#ifndef TESSERA_OPS_CONVOLVE_H
#define TESSERA_OPS_CONVOLVE_H

#include "tessera/op.h"

extern const tsr_op_desc tsr_op_gaussian_blur; /* OpenCV GaussianBlur, bit-exact */
extern const tsr_op_desc tsr_op_box_blur;      /* OpenCV blur (normalized box) */
extern const tsr_op_desc tsr_op_median;        /* OpenCV medianBlur, ksize 3..99 */
extern const tsr_op_desc tsr_op_sharpen;       /* filter2D with a fixed 3x3 kernel */
extern const tsr_op_desc tsr_op_convolve;      /* filter2D with a user kernel */
extern const tsr_op_desc tsr_op_sobel;         /* |Sobel x|, |Sobel y| or both */

/* How coordinates outside the image are mapped back into it. */
typedef enum border_mode {
    BORDER_REFLECT101, /* gfedcb|abcdefgh|gfedcba (OpenCV's default) */
    BORDER_REPLICATE   /* aaaaaa|abcdefgh|hhhhhhh */
} border_mode;

static inline int border_index(int i, int n, border_mode mode) {
    return mode == BORDER_REPLICATE ? tsr_clampi(i, 0, n - 1) : tsr_reflect101(i, n);
}

/* Called once per output row with the 2r+1 padded input rows around it:
 * rows[i] holds image row border(y - r + i), and its byte (j * bands + b)
 * is band b of image column border(x0 - r + j). Writes w * bands bytes of
 * out_row (alpha is restored by the driver afterwards). `scratch` is the
 * driver-allocated per-tile buffer of the size asked for. */
typedef void (*stencil_row_fn)(const tsr_op *op, const uint8_t *const *rows, int w, int bands,
                               uint8_t *out_row, void *scratch);

/* Fills out->rect from `in` by calling `row` for each output row, with the
 * window of radius r and `mode` borders over the whole image. The alpha band
 * of 2- and 4-band images is copied from the input. Errors: TSR_ERR_NOMEM,
 * TSR_ERR_INTERNAL when `in` does not cover the window. */
tsr_status tsr_stencil_run(const tsr_op *op, const tsr_region *in, tsr_region *out, int r,
                           border_mode mode, stencil_row_fn row, size_t scratch_bytes);

/* Copies the alpha band of `in` (2 and 4 bands; nothing otherwise) into
 * out's row y over out->rect's columns; `in` covers them. */
void tsr_stencil_copy_alpha(const tsr_region *in, tsr_region *out, int y);

/* A symmetric kernel of unsigned 16-bit taps applied horizontally then
 * vertically, with exact integer sums (horizontal sums must fit 16 bits). */
typedef enum sep_final {
    SEP_ROUND16,   /* out = (sum + 2^15) >> 16: taps in 8.8 fixed point (Gaussian) */
    SEP_BOX_FIXED, /* out = ((sum + delta) * scale) >> 23 (OpenCV's small box) */
    SEP_BOX_FLOAT  /* out = round_half_even(sum * box_scale) (OpenCV's large box) */
} sep_final;

#define SEP_MAX_TAPS 601 /* gaussian-blur with sigma 100 */

typedef struct sep_kernel {
    int n;                       /* taps, odd, <= SEP_MAX_TAPS */
    uint16_t taps[SEP_MAX_TAPS]; /* coefficients, taps[i] == taps[n-1-i] */
    sep_final final;             /* how the 32-bit sum becomes a byte */
    uint32_t div_scale;          /* SEP_BOX_FIXED multiplier */
    uint32_t div_delta;          /* SEP_BOX_FIXED rounding offset */
    double box_scale;            /* SEP_BOX_FLOAT factor: 1 / taps^2 */
} sep_kernel;

/* Fills out->rect from `in` with kernel `k` (reflect-101 borders over the
 * whole image; alpha copied). Errors as tsr_stencil_run. */
tsr_status tsr_separable_run(const sep_kernel *k, const tsr_region *in, tsr_region *out);

/* Frees op->state (a plain malloc'd block). */
void tsr_convolve_release(tsr_op *op);

#endif

/* A 2D kernel prepared for filter2D-style convolution (sharpen, convolve). */
typedef struct filter2d {
    int size;                                       /* odd side, 1..TSR_KERNEL_MAX */
    bool integer;                                   /* all taps integers: exact int sums */
    int n_taps;                                     /* nonzero taps */
    int offset_of[TSR_KERNEL_MAX * TSR_KERNEL_MAX]; /* tap's window row and column: u*size+v */
    int itap[TSR_KERNEL_MAX * TSR_KERNEL_MAX];      /* integer taps (when integer) */
    double dtap[TSR_KERNEL_MAX * TSR_KERNEL_MAX];   /* taps as given */
    double divisor;                                 /* sum is divided by it (never 0) */
    double offset;                                  /* then this is added */
    bool shift;   /* integer taps and offset, divisor 2^bits: exact integer rounding */
    int bits;     /* shift: log2 of the divisor */
    int ioffset;  /* shift: offset * divisor, added to the integer sum */
    bool fused16; /* shift, 3x3, every sum fits 16 bits: one fused 16-bit pass */
} filter2d;

/* Prepares op->state (owned) from a row-major size x size kernel: the
 * result is sat(round_half_even(sum(k*v) / divisor + offset)) per colour
 * band, reflect-101 borders. Errors: out of memory. */
tsr_status tsr_filter2d_prepare(tsr_ctx *ctx, tsr_op *op, const double *kernel, int size,
                                double divisor, double offset);
/* Runs the filter2d in op->state. */
tsr_status tsr_filter2d_run(const tsr_op *op, const tsr_region *in, tsr_region *out);
