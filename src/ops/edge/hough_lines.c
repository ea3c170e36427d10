/* hough-lines: the standard Hough transform, the same lines in the same order
 * as OpenCV 4.6 cv::HoughLines (HoughLinesStandard) on the nonzero pixels of
 * band 0. map() votes per tile into an int32 accumulator, merge() adds,
 * finalize() picks OpenCV's local maxima; run() draws the lines (mode=draw)
 * or passes the image through (mode=data); describe() lists them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/edge/edge.h"

#define CV_PI 3.1415926535897932384626433832795

enum { P_THRESHOLD, P_RHO, P_THETA, P_MAX_LINES, P_MODE };
enum { MODE_DRAW, MODE_DATA };

static const char *const modes[] = {"draw", "data", NULL};

static const tsr_param_spec params[] = {
    {"threshold", TSR_PARAM_INT, 150, 1, 100000, NULL, false,
     "votes a line needs (more than this many edge pixels)",
     "How many edge pixels a line needs; lower finds more and shorter lines", "px"},
    {"rho", TSR_PARAM_FLOAT, 1, 0.1, 100, NULL, false, "distance resolution in pixels",
     "Distance step of the line search; smaller is more precise and slower", "px"},
    {"theta", TSR_PARAM_FLOAT, 1, 0.01, 180, NULL, false, "angle resolution in degrees",
     "Angle step of the line search; smaller is more precise and slower", "degrees"},
    {"max_lines", TSR_PARAM_INT, 100, 1, 10000, NULL, false, "most lines kept, by votes",
     "Most lines to keep, strongest first", "lines"},
    {"mode", TSR_PARAM_ENUM, MODE_DRAW, 0, 1, modes, false,
     "draw: red 1-px lines over the image (RGB); data: image unchanged, lines in the report",
     "draw: red lines drawn over the image; data: the image unchanged, the lines listed in the "
     "report",
     ""},
};

/* OpenCV's computeNumangle(0, pi, theta). */
static int num_angles(double theta) {
    int n = (int)floor(CV_PI / theta) + 1;
    if (n > 1 && fabs(CV_PI - (n - 1) * theta) < theta / 2)
        --n;
    return n;
}

static void release(tsr_op *op) {
    hough_state *s = op->state;
    if (s) {
        free(s->tab_sin);
        free(s->tab_cos);
        free(s->lines);
    }
    free(s);
    op->state = NULL;
}

/* Sizes the accumulator and builds the trigonometric tables exactly as
 * OpenCV (float angle accumulated in float, values scaled by 1/rho in
 * double then rounded to float). Errors: accumulator over the alloc limit. */
static tsr_status prepare(tsr_ctx *ctx, tsr_op *op) {
    tsr_status st = TSR_OK;
    hough_state *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(ctx, TSR_ERR_NOMEM, "hough-lines: out of memory");
    s->rho = (float)op->values[P_RHO];
    s->theta = (float)(op->values[P_THETA] * CV_PI / 180.0);
    s->numangle = num_angles((double)s->theta);
    s->numrho = (int)lrintf((float)(2 * (op->in_w + op->in_h) + 1) / s->rho);
    uint64_t bytes = ((uint64_t)s->numangle + 2) * ((uint64_t)s->numrho + 2) * 4;
    if (bytes > tsr_ctx_limits(ctx)->max_alloc || bytes > INT32_MAX) {
        st = tsr_error(
            ctx, TSR_ERR_LIMIT,
            "hough-lines: accumulator of %llu bytes is over the limit; raise rho or theta",
            (unsigned long long)bytes);
        goto out;
    }
    s->tab_sin = malloc((size_t)s->numangle * sizeof *s->tab_sin);
    s->tab_cos = malloc((size_t)s->numangle * sizeof *s->tab_cos);
    if (!s->tab_sin || !s->tab_cos) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "hough-lines: out of memory");
        goto out;
    }
    float irho = 1 / s->rho, ang = 0.0f;
    for (int n = 0; n < s->numangle; ang += s->theta, n++) {
        s->tab_sin[n] = (float)(sin((double)ang) * irho);
        s->tab_cos[n] = (float)(cos((double)ang) * irho);
    }
    op->out_w = op->in_w;
    op->out_h = op->in_h;
    op->out_bands = op->values[P_MODE] == MODE_DATA ? op->in_bands : 3;
    op->radius = 0;
    op->state = s;
    s = NULL;
out:
    if (s) {
        op->state = s;
        release(op);
    }
    return st;
}

static size_t summary_size(const tsr_op *op) {
    const hough_state *s = op->state;
    return ((size_t)s->numangle + 2) * ((size_t)s->numrho + 2) * sizeof(int32_t);
}

/* Votes of the tile's nonzero band-0 pixels: (numangle+2) x (numrho+2) cells
 * with a zero border, as OpenCV's accumulator. */
static void map(const tsr_op *op, const tsr_region *in, void *partial) {
    const hough_state *s = op->state;
    int32_t *acc = partial;
    int numrho = s->numrho, half = (numrho - 1) / 2;
    size_t row = (size_t)numrho + 2;
    for (int i = in->rect.y; i < in->rect.y + in->rect.h; i++) {
        const uint8_t *src = TSR_REGION_AT(in, in->rect.x, i);
        for (int jj = 0; jj < in->rect.w; jj++) {
            if (!src[(size_t)jj * (size_t)in->bands])
                continue;
            float fj = (float)(in->rect.x + jj), fi = (float)i;
            for (int n = 0; n < s->numangle; n++) {
                float a = fj * s->tab_cos[n];
                float b = fi * s->tab_sin[n];
                int r = (int)lrintf(a + b) + half;
                if (r >= -1 && r <= numrho)
                    acc[(size_t)(n + 1) * row + (size_t)(r + 1)]++;
            }
        }
    }
}

static void merge(const tsr_op *op, void *acc, const void *partial) {
    int32_t *a = acc;
    const int32_t *p = partial;
    size_t n = summary_size(op) / sizeof(int32_t);
    for (size_t i = 0; i < n; i++)
        a[i] += p[i];
}

/* A peak: its accumulator index and votes. */
typedef struct peak {
    int index; /* (n + 1) * (numrho + 2) + r + 1 */
    int votes; /* accumulator value */
} peak;

/* OpenCV's hough_cmp_gt: more votes first, then the smaller index. */
static int peak_cmp(const void *a, const void *b) {
    const peak *x = a, *y = b;
    if (x->votes != y->votes)
        return x->votes > y->votes ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Finds OpenCV's local maxima of the merged accumulator (op->summary), sorts
 * them and keeps max_lines in op->state. Errors: out of memory. */
static tsr_status finalize(tsr_ctx *ctx, tsr_op *op, const tsr_image *whole) {
    (void)whole;
    hough_state *s = op->state;
    const int32_t *acc = op->summary;
    int numrho = s->numrho, threshold = (int)op->values[P_THRESHOLD];
    int stride = numrho + 2;
    size_t n_peaks = 0, cap = 64;
    if (!acc)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "hough-lines: finalize without merged votes");
    peak *peaks = malloc(cap * sizeof *peaks);
    if (!peaks)
        return tsr_error(ctx, TSR_ERR_NOMEM, "hough-lines: out of memory");
    for (int r = 0; r < numrho; r++) {
        for (int n = 0; n < s->numangle; n++) {
            int base = (n + 1) * stride + r + 1, v = acc[base];
            if (v > threshold && v > acc[base - 1] && v >= acc[base + 1] &&
                v > acc[base - stride] && v >= acc[base + stride]) {
                if (n_peaks == cap) {
                    peak *grown = realloc(peaks, 2 * cap * sizeof *peaks);
                    if (!grown) {
                        free(peaks);
                        return tsr_error(ctx, TSR_ERR_NOMEM, "hough-lines: out of memory");
                    }
                    peaks = grown;
                    cap *= 2;
                }
                peaks[n_peaks++] = (peak){base, v};
            }
        }
    }
    qsort(peaks, n_peaks, sizeof *peaks, peak_cmp);
    size_t keep =
        n_peaks < (size_t)op->values[P_MAX_LINES] ? n_peaks : (size_t)op->values[P_MAX_LINES];
    hough_line *lines = calloc(keep ? keep : 1, sizeof *lines);
    if (!lines) {
        free(peaks);
        return tsr_error(ctx, TSR_ERR_NOMEM, "hough-lines: out of memory");
    }
    for (size_t i = 0; i < keep; i++) {
        int idx = peaks[i].index;
        int n = idx / stride - 1, r = idx - (n + 1) * stride - 1;
        lines[i].rho = ((float)r - (float)(numrho - 1) * 0.5f) * s->rho;
        lines[i].theta = 0.0f + (float)n * s->theta;
        lines[i].votes = peaks[i].votes;
        lines[i].cs = cos((double)lines[i].theta);
        lines[i].sn = sin((double)lines[i].theta);
    }
    free(peaks);
    free(s->lines);
    s->lines = lines;
    s->n_lines = (int)keep;
    return TSR_OK;
}

/* Whether pixel centre (x, y) lies within half a pixel of line l. */
static int on_line(const hough_line *l, int x, int y) {
    return fabs((double)x * l->cs + (double)y * l->sn - (double)l->rho) <= 0.5;
}

/* Paints red the pixels of row y in [x0, x1) that lie on line l. Only the
 * per-pixel test decides; the column range merely skips far pixels. */
static void draw_row(const hough_line *l, int y, int x0, int x1, uint8_t *row) {
    int lo = x0, hi = x1;
    if (fabs(l->cs) > 1e-6) {
        double a = ((double)l->rho - (double)y * l->sn - 0.5) / l->cs;
        double b = ((double)l->rho - (double)y * l->sn + 0.5) / l->cs;
        double mn = a < b ? a : b, mx = a < b ? b : a;
        if (mx < x0 - 1.0 || mn > x1 + 1.0)
            return;
        lo = mn - 1 > x0 ? (int)floor(mn) - 1 : x0;
        hi = mx + 2 < x1 ? (int)ceil(mx) + 2 : x1;
    }
    for (int x = lo; x < hi; x++) {
        if (on_line(l, x, y)) {
            uint8_t *p = row + (size_t)(x - x0) * 3;
            p[0] = 255;
            p[1] = 0;
            p[2] = 0;
        }
    }
}

static tsr_status run(const tsr_op *op, const tsr_region *in, tsr_region *out) {
    const hough_state *s = op->state;
    int x0 = out->rect.x, w = out->rect.w, ib = in->bands;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        const uint8_t *src = TSR_REGION_AT(in, x0, y);
        uint8_t *dst = TSR_REGION_AT(out, x0, y);
        if (op->values[P_MODE] == MODE_DATA) {
            memcpy(dst, src, (size_t)w * (size_t)ib);
            continue;
        }
        for (int j = 0; j < w; j++) {
            const uint8_t *p = src + (size_t)j * (size_t)ib;
            uint8_t *q = dst + (size_t)j * 3;
            if (ib >= 3) {
                q[0] = p[0], q[1] = p[1], q[2] = p[2];
            } else {
                q[0] = q[1] = q[2] = p[0];
            }
        }
        for (int i = 0; s && i < s->n_lines; i++)
            draw_row(&s->lines[i], y, x0, x0 + w, dst);
    }
    return TSR_OK;
}

/* {"lines":[{"rho":..,"theta":..,"votes":..},...]}; floats printed so that
 * they read back to the same float. Caller frees. */
static char *describe(const tsr_op *op) {
    const hough_state *s = op->state;
    int n = s ? s->n_lines : 0;
    size_t cap = 32 + (size_t)n * 80;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    size_t len = (size_t)snprintf(buf, cap, "{\"lines\":[");
    for (int i = 0; i < n; i++) {
        const hough_line *l = &s->lines[i];
        len +=
            (size_t)snprintf(buf + len, cap - len, "%s{\"rho\":%.9g,\"theta\":%.9g,\"votes\":%d}",
                             i ? "," : "", (double)l->rho, (double)l->theta, l->votes);
    }
    snprintf(buf + len, cap - len, "]}");
    return buf;
}

const tsr_op_desc tsr_op_hough_lines = {
    .name = "hough-lines",
    .version = 1,
    .kind = TSR_OP_GLOBAL,
    .summary = "straight lines by the standard Hough transform (OpenCV cv2.HoughLines)",
    .bands_rule = "draw: any->3; data: same",
    .params = params,
    .n_params = (int)(sizeof params / sizeof params[0]),
    .prepare = prepare,
    .release = release,
    .run = run,
    .summary_size = summary_size,
    .map = map,
    .merge = merge,
    .finalize = finalize,
    .describe = describe,
};
