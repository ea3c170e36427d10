/* What the in-process benchmark programs (cl_throughput, limits) share: the
 * photo-like input (a photo scaled to the size asked, with camera-like noise
 * so no op gets an unrealistically smooth image) and the median of runs. */
#ifndef TSR_BENCH_INPUT_H
#define TSR_BENCH_INPUT_H

#include <stdio.h>
#include <stdlib.h>

#include "tessera/tessera.h"

/* `photo` resized to w x h (lanczos) plus noise of +-12 levels; NULL on failure. */
static tsr_image *bench_make_input(tsr_ctx *ctx, const char *photo, int w, int h) {
    tsr_image *src = NULL, *big = NULL;
    tsr_pipeline *p = NULL;
    char text[128];
    if (tsr_image_load(ctx, photo, NULL, &src, NULL))
        return NULL;
    snprintf(text, sizeof text, "resize:width=%d,height=%d,interp=lanczos", w, h);
    if (!tsr_pipeline_parse(ctx, text, &p))
        tsr_pipeline_run(ctx, p, src, NULL, NULL, &big);
    tsr_pipeline_free(p);
    tsr_image_free(src);
    unsigned long long s = 88172645463325252ull;
    for (int y = 0; big && y < big->height; y++)
        for (int x = 0; x < big->width * big->bands; x++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            uint8_t *v = big->data + (size_t)y * big->stride + (size_t)x;
            *v = tsr_sat_u8(*v + (int)(s % 25) - 12);
        }
    return big;
}

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of t[0..n) (sorts t). */
static double bench_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof t[0], bench_cmp_double);
    return t[n / 2];
}

#endif
