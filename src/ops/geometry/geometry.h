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

/* Precomputed tables of one resize (opaque; see resample.c). */
typedef struct tsr_resample tsr_resample;

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
