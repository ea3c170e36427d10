/* rotate: any angle about the image centre, bilinear, black (transparent)
 * fill; the same bytes as cv2.warpAffine(img, cv2.getRotationMatrix2D(
 * (w/2, h/2), angle, 1), (w, h)) with OpenCV 4.6's fixed-point remap. */
#include <math.h>
#include <stdlib.h>

#include "ops/geometry/rotate_span.h"

enum { P_ANGLE, P_EXPAND };

#define AB_BITS     TSR_ROTATE_AB_BITS
#define AB_SCALE    (1 << AB_BITS)
#define INTER_BITS  TSR_ROTATE_INTER_BITS
#define INTER_TAB   TSR_ROTATE_INTER_TAB
#define COEF_SCALE  (1 << TSR_ROTATE_COEF_BITS)
#define ROUND_DELTA (AB_SCALE / INTER_TAB / 2)

static const tsr_param_spec params[] = {
    {"angle", TSR_PARAM_FLOAT, 90, -360, 360, NULL, false,
     "degrees counter-clockwise (as cv2.getRotationMatrix2D)",
     "How far to turn the image counter-clockwise; negative turns it clockwise", "degrees"},
    {"expand", TSR_PARAM_BOOL, 0, 0, 1, NULL, false,
     "grow the canvas to hold the whole rotated image",
     "Enlarge the canvas so that no corner is cut off", ""},
};

typedef tsr_rotate_state rotate_state;

/* cvRound / saturate_cast<int>(double): nearest, ties to even. */
static int round_int(double v) {
    if (!(v > -2147483648.0))
        return INT32_MIN;
    if (v >= 2147483647.0)
        return INT32_MAX;
    return (int)lrint(v);
}

static short sat_short(int v) {
    return (short)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
}

/* OpenCV's initInterTab2D(INTER_LINEAR, fixpt): products of 1-D weights in
 * float scaled by 32768; only the (0, 0) entry does not sum to 32768 (32767
 * saturates), and OpenCV's fix-up gives the missing unit to weight [1][1]. */
static void init_weights(short wtab[][4]) {
    for (int i = 0; i < INTER_TAB; i++)
        for (int j = 0; j < INTER_TAB; j++) {
            float fy[2] = {1.f - (float)i * (1.f / INTER_TAB), (float)i * (1.f / INTER_TAB)};
            float fx[2] = {1.f - (float)j * (1.f / INTER_TAB), (float)j * (1.f / INTER_TAB)};
            short *w = wtab[i * INTER_TAB + j];
            int sum = 0;
            for (int k = 0; k < 4; k++) {
                float v = fy[k >> 1] * fx[k & 1] * COEF_SCALE;
                w[k] = sat_short((int)lrintf(v));
                sum += w[k];
            }
            w[3] = (short)(w[3] + COEF_SCALE - sum);
        }
}

/* The forward matrix of cv2.getRotationMatrix2D((w/2, h/2), angle, 1), moved
 * so the centre lands on the centre of the (possibly expanded) canvas, then
 * inverted as cv2.warpAffine does. */
static void inverse_matrix(const tsr_op *op, double m[6]) {
    double angle = op->values[P_ANGLE] * (M_PI / 180);
    double alpha = cos(angle), beta = sin(angle);
    double cx = (float)(op->in_w / 2.0), cy = (float)(op->in_h / 2.0);
    m[0] = alpha;
    m[1] = beta;
    m[2] = (1 - alpha) * cx - beta * cy;
    m[3] = -beta;
    m[4] = alpha;
    m[5] = beta * cx + (1 - alpha) * cy;
    if (op->values[P_EXPAND] != 0) {
        m[2] += op->out_w / 2.0 - cx;
        m[5] += op->out_h / 2.0 - cy;
    }
    double d = m[0] * m[4] - m[1] * m[3];
    d = d != 0 ? 1. / d : 0;
    double a11 = m[4] * d, a22 = m[0] * d;
    m[0] = a11;
    m[1] *= -d;
    m[3] *= -d;
    m[4] = a22;
    double b1 = -m[0] * m[2] - m[1] * m[5];
    double b2 = -m[3] * m[2] - m[4] * m[5];
    m[2] = b1;
    m[5] = b2;
}

/* Sets the canvas (the input size, or the rotated bounding box rounded to
 * the nearest pixel with expand) and precomputes the mapping. */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->in_bands;
    if (op->values[P_EXPAND] != 0) {
        double angle = op->values[P_ANGLE] * (M_PI / 180);
        double c = fabs(cos(angle)), s = fabs(sin(angle));
        double w = floor(op->in_h * s + op->in_w * c + 0.5);
        double h = floor(op->in_h * c + op->in_w * s + 0.5);
        op->out_w = w < 1 ? 1 : (int)w;
        op->out_h = h < 1 ? 1 : (int)h;
        if (op->out_w > 65500 || op->out_h > 65500)
            return tsr_error(ctx, TSR_ERR_LIMIT,
                             "rotate: expand would make a %dx%d canvas (over 65500)", op->out_w,
                             op->out_h);
    }
    rotate_state *st = calloc(1, sizeof *st);
    if (!st)
        return tsr_error(ctx, TSR_ERR_NOMEM, "rotate: out of memory for the mapping tables");
    st->adelta = malloc(sizeof(int) * (size_t)op->out_w);
    st->bdelta = malloc(sizeof(int) * (size_t)op->out_w);
    if (!st->adelta || !st->bdelta) {
        free(st->adelta);
        free(st->bdelta);
        free(st);
        return tsr_error(ctx, TSR_ERR_NOMEM, "rotate: out of memory for the mapping tables");
    }
    inverse_matrix(op, st->m);
    for (int x = 0; x < op->out_w; x++) {
        st->adelta[x] = round_int(st->m[0] * x * AB_SCALE);
        st->bdelta[x] = round_int(st->m[3] * x * AB_SCALE);
    }
    init_weights(st->wtab);
    op->state = st;
    return TSR_OK;
}

static void release(tsr_op *op) {
    rotate_state *st = op->state;
    if (st) {
        free(st->adelta);
        free(st->bdelta);
        free(st);
    }
    op->state = NULL;
}

void tsr_rotate_row(const rotate_state *st, int y, int *x0, int *y0) {
    *x0 = round_int((st->m[1] * y + st->m[2]) * AB_SCALE) + ROUND_DELTA;
    *y0 = round_int((st->m[4] * y + st->m[5]) * AB_SCALE) + ROUND_DELTA;
}

/* Fixed-point source position of output pixel (x, y) in 1/32 pixels. */
static void source_pos(const rotate_state *st, int x, int y, int *fx, int *fy) {
    int x0, y0;
    tsr_rotate_row(st, y, &x0, &y0);
    *fx = (x0 + st->adelta[x]) >> (AB_BITS - INTER_BITS);
    *fy = (y0 + st->bdelta[x]) >> (AB_BITS - INTER_BITS);
}

/* The integer source position is monotone in x and in y separately (sums of
 * rounded monotone terms), so the corners bound every pixel read; each read
 * is (sx..sx+1, sy..sy+1). One more pixel of margin for safety. */
static tsr_rect need(const tsr_op *op, tsr_rect out) {
    const rotate_state *st = op->state;
    if (tsr_rect_empty(out))
        return tsr_rect_make(0, 0, 0, 0);
    int xs[2] = {out.x, out.x + out.w - 1}, ys[2] = {out.y, out.y + out.h - 1};
    int x0 = INT32_MAX, y0 = INT32_MAX, x1 = INT32_MIN, y1 = INT32_MIN;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            int fx, fy;
            source_pos(st, xs[i], ys[j], &fx, &fy);
            int sx = sat_short(fx >> INTER_BITS), sy = sat_short(fy >> INTER_BITS);
            x0 = sx < x0 ? sx : x0;
            y0 = sy < y0 ? sy : y0;
            x1 = sx > x1 ? sx : x1;
            y1 = sy > y1 ? sy : y1;
        }
    tsr_rect r = tsr_rect_make(x0 - 1, y0 - 1, x1 - x0 + 3, y1 - y0 + 3);
    return tsr_rect_intersect(r, tsr_rect_make(0, 0, op->in_w, op->in_h));
}

/* Columns of SPAN_W output pixels at a time, row by row through
 * rotate_span.c with this machine's vector level: a row of a whole tile
 * reads source pixels along a long diagonal, a narrow column's rows read
 * neighbouring ones, which stay in the L1 cache from row to row. */
#define SPAN_W 64

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    tsr_simd_level level = tsr_simd_active();
    int right = out->rect.x + out->rect.w;
    for (int x = out->rect.x; x < right; x += SPAN_W) {
        int end = right - x < SPAN_W ? right : x + SPAN_W;
        for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++)
            tsr_rotate_span(level, op->state, in, y, x, end, TSR_REGION_AT(out, x, y));
    }
    return TSR_OK;
}

const tsr_op_desc tsr_op_rotate = {
    .name = "rotate",
    .version = 1,
    .kind = TSR_OP_GEOMETRIC,
    .summary = "rotate about the centre, bilinear, black fill (cv2.warpAffine)",
    .bands_rule = "same",
    .params = params,
    .n_params = 2,
    .prepare = prepare,
    .release = release,
    .need = need,
    .run = run,
};
