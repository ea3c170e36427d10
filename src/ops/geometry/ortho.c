/* Shared kernel of the exact pixel moves: flip, rotate90/180/270. */
#include <string.h>

#include "ops/geometry/geometry.h"

static int map_x(tsr_ortho m, int x, int y) {
    return m.ax * x + m.bx * y + m.cx;
}

static int map_y(tsr_ortho m, int x, int y) {
    return m.ay * x + m.by * y + m.cy;
}

/* The bounding box of the images of out's corners: the mapping is linear, so
 * that box is exactly the set of input pixels read. */
tsr_rect tsr_ortho_need(tsr_ortho m, tsr_rect out, int in_w, int in_h) {
    if (tsr_rect_empty(out))
        return tsr_rect_make(0, 0, 0, 0);
    int xs[2] = {out.x, out.x + out.w - 1}, ys[2] = {out.y, out.y + out.h - 1};
    int x0 = map_x(m, xs[0], ys[0]), x1 = x0, y0 = map_y(m, xs[0], ys[0]), y1 = y0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++) {
            int x = map_x(m, xs[i], ys[j]), y = map_y(m, xs[i], ys[j]);
            x0 = x < x0 ? x : x0;
            x1 = x > x1 ? x : x1;
            y0 = y < y0 ? y : y0;
            y1 = y > y1 ? y : y1;
        }
    return tsr_rect_intersect(tsr_rect_make(x0, y0, x1 - x0 + 1, y1 - y0 + 1),
                              tsr_rect_make(0, 0, in_w, in_h));
}

/* Copies each output pixel from its mapped input pixel; rows that map to an
 * input row (no transpose) are copied or reversed as runs. */
void tsr_ortho_run(tsr_ortho m, const tsr_region *in, tsr_region *out) {
    int bands = out->bands;
    for (int y = out->rect.y; y < out->rect.y + out->rect.h; y++) {
        uint8_t *d = TSR_REGION_AT(out, out->rect.x, y);
        int x = out->rect.x;
        if (m.ax == 1 && m.ay == 0) {
            memcpy(d, TSR_REGION_AT(in, map_x(m, x, y), map_y(m, x, y)),
                   (size_t)out->rect.w * (size_t)bands);
            continue;
        }
        for (; x < out->rect.x + out->rect.w; x++, d += bands) {
            const uint8_t *s = TSR_REGION_AT(in, map_x(m, x, y), map_y(m, x, y));
            for (int b = 0; b < bands; b++)
                d[b] = s[b];
        }
    }
}
