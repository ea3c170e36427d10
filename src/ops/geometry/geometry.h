/* The geometry family: operations that move pixels (rotate, resize, crop,
 * flip) and the resampling engine that resize and thumbnail share.
 * Private to src/ops/geometry. See docs/internals/ops-geometry.md. */
#ifndef TESSERA_OPS_GEOMETRY_H
#define TESSERA_OPS_GEOMETRY_H

#include "tessera/op.h"

extern const tsr_op_desc tsr_op_rotate;
extern const tsr_op_desc tsr_op_rotate90;
extern const tsr_op_desc tsr_op_rotate180;
extern const tsr_op_desc tsr_op_rotate270;
extern const tsr_op_desc tsr_op_flip;
extern const tsr_op_desc tsr_op_resize;
extern const tsr_op_desc tsr_op_crop;
extern const tsr_op_desc tsr_op_thumbnail;

/* Resampling filters, in the order of resize's `interp` choices. */
typedef enum tsr_interp {
    TSR_INTERP_LINEAR = 0, /* cv2.INTER_LINEAR */
    TSR_INTERP_AREA,       /* cv2.INTER_AREA */
    TSR_INTERP_LANCZOS,    /* cv2.INTER_LANCZOS4 */
    TSR_INTERP_NEAREST,    /* cv2.INTER_NEAREST */
    TSR_INTERP_CUBIC       /* cv2.INTER_CUBIC */
} tsr_interp;

/* Which OpenCV path a resize takes (resample.c). */
typedef enum tsr_resample_mode {
    TSR_RESAMPLE_COPY,      /* same size: a copy */
    TSR_RESAMPLE_NEAREST,   /* resizeNN */
    TSR_RESAMPLE_SEPARABLE, /* resizeGeneric_: linear, cubic, lanczos, area upscaling */
    TSR_RESAMPLE_AREA_FAST, /* resizeAreaFast_: integer shrink factors */
    TSR_RESAMPLE_AREA       /* ResizeArea_Invoker: exact area weights in float */
} tsr_resample_mode;

/* One axis of a resize's tables. */
typedef struct tsr_resample_axis {
    int n;        /* output samples along the axis */
    int *ofs;     /* SEPARABLE: source index of tap 0 (clamped when read); NEAREST: source */
    short *coef;  /* SEPARABLE: n * taps weights in 1/2048 */
    int *first;   /* AREA: n + 1 offsets into src/alpha, per output sample */
    int *src;     /* AREA: source index of each entry */
    float *alpha; /* AREA: weight of each entry */
} tsr_resample_axis;

/* Precomputed tables of one resize (resample.c; read by the OpenCL
 * kernels, which upload them). */
typedef struct tsr_resample {
    tsr_resample_mode mode; /* which OpenCV path */
    tsr_interp interp;      /* the filter asked for */
    int in_w, in_h;         /* input size */
    int bands;              /* bands of input and output */
    int taps;               /* SEPARABLE: filter taps per axis (2, 4 or 8) */
    int fx, fy;             /* AREA_FAST: integer shrink factors */
    int vec_end;            /* SEPARABLE: first sample of an output row (out_w * bands
                               samples) that OpenCV computes with its scalar formula */
    tsr_resample_axis x, y; /* column and row tables */
} tsr_resample;

/*
 * Plans a resize of an in_w x in_h x bands image to out_w x out_h with the
 * scale factors OpenCV would use (inv_scale = output / input size, or the
 * factor the user gave). `what` names the op in error messages. The caller
 * frees *out with tsr_resample_free.
 */
tsr_status tsr_resample_new(tsr_ctx *ctx, const char *what, tsr_interp interp, int in_w, int in_h,
                            int bands, int out_w, int out_h, double inv_scale_x, double inv_scale_y,
                            tsr_resample **out);
void tsr_resample_free(tsr_resample *rs);
/* Input rect read to produce output rect `out`, clipped to the input. */
tsr_rect tsr_resample_need(const tsr_resample *rs, tsr_rect out);
/* Fills out->rect from `in` (which covers tsr_resample_need(out->rect)).
 * TSR_ERR_NOMEM when the scratch rows cannot be allocated. */
tsr_status tsr_resample_run(const tsr_resample *rs, const tsr_region *in, tsr_region *out);
/* Descriptor callbacks for ops whose op->state is a tsr_resample (resize,
 * thumbnail): release, need and run. */
void tsr_resample_op_release(tsr_op *op);
tsr_rect tsr_resample_op_need(const tsr_op *op, tsr_rect out);
tsr_status tsr_resample_op_run(const tsr_op *op, const tsr_region *in, tsr_region *out);

/* rotate's fixed-point warp (rotate.c, OpenCV's imgwarp.cpp). */
#define TSR_ROTATE_INTER_TAB 32 /* 1 << INTER_BITS: fractions per pixel */

/* Precomputed mapping of a prepared rotate. */
typedef struct tsr_rotate_state {
    double m[6]; /* inverse affine: output -> input coordinates */
    int *adelta; /* out_w entries: round(m[0]*x*AB_SCALE) */
    int *bdelta; /* out_w entries: round(m[3]*x*AB_SCALE) */
    short wtab[TSR_ROTATE_INTER_TAB * TSR_ROTATE_INTER_TAB][4]; /* bilinear weights per
                                                                    fraction, sum 32768 */
} tsr_rotate_state;

/* The fixed-point source position of output column 0 of row y, in 1/1024
 * pixels plus the rounding delta: (*x0 + adelta[x]) >> 5 is column x's
 * source x in 1/32 pixels (same for y with bdelta). */
void tsr_rotate_row(const tsr_rotate_state *st, int y, int *x0, int *y0);

/* Orthogonal pixel moves (flip, rotate90...): out(x, y) = in(ax*x + bx*y + cx,
 * ay*x + by*y + cy) with coefficients in {-1, 0, 1}. */
typedef struct tsr_ortho {
    int ax, bx, cx; /* input column from output column and row */
    int ay, by, cy; /* input row from output column and row */
} tsr_ortho;

/* The mapping of an orthogonal op for its prepared sizes. */
typedef tsr_ortho (*tsr_ortho_fn)(const tsr_op *op);
tsr_rect tsr_ortho_need(tsr_ortho m, tsr_rect out, int in_w, int in_h);
void tsr_ortho_run(tsr_ortho m, const tsr_region *in, tsr_region *out);

#endif
