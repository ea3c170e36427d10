/* resize and thumbnail: OpenCV's cv::resize for 8 bits, as
 * src/ops/geometry/resample.c, one kernel (or a horizontal and a vertical
 * pass) per path. Tables come from the op's tsr_resample, cut to the tile by
 * the host (cl_kernels_resize.c). */

#define RESIZE_COEF_BITS 11 /* resample.c COEF_BITS */

/* resample.c MODE_COPY (tsr_region_copy): same size. */
__kernel void resize_copy(TSR_CIMAGE(src), TSR_IMAGE(dst)) {
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    __global const uchar *s = GEO_AT(src, x, y);
    __global uchar *d = GEO_AT(dst, x, y);
    for (int b = 0; b < dst_b; b++)
        d[b] = s[b];
}

/* resample.c run_nearest. tab: the source column of each output column of
 * dst, then the source row of each output row. */
__kernel void resize_nearest(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const int *tab) {
    int i = get_global_id(0), j = get_global_id(1);
    __global const uchar *s = GEO_AT(src, tab[i], tab[dst_r.z + j]);
    __global uchar *d = GEO_AT(dst, dst_r.x + i, dst_r.y + j);
    for (int b = 0; b < dst_b; b++)
        d[b] = s[b];
}

/* resample.c run_area_fast: integer shrink factors f; whole blocks
 * (x < full_w on a whole row of blocks) average with (sum + 2) >> 2
 * (`shift`) or sum * scale rounded to even, edge blocks with sum / count
 * rounded to even (computed in integers: equal to rounding the float
 * quotient while count < 65536, which supports() checks). */
__kernel void resize_area_fast(TSR_CIMAGE(src), TSR_IMAGE(dst), int2 f, float scale, int shift,
                               int full_w) {
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    int sx0 = x * f.x, sy0 = y * f.y;
    int nx = min(f.x, src_img.x - sx0), ny = min(f.y, src_img.y - sy0);
    int whole = sy0 + f.y <= src_img.y && x < full_w;
    __global uchar *d = GEO_AT(dst, x, y);
    for (int b = 0; b < dst_b; b++) {
        int sum = 0;
        for (int j = 0; j < ny; j++) {
            __global const uchar *s = GEO_AT(src, sx0, sy0 + j) + b;
            for (int i = 0; i < nx; i++)
                sum += s[i * src_b];
        }
        if (whole && shift) {
            d[b] = tsr_sat_u8((sum + 2) >> 2);
        } else if (whole) {
            d[b] = tsr_sat_u8((int)rint((float)sum * scale));
        } else {
            int count = nx * ny, q = sum / count, r = sum - q * count;
            q += (2 * r > count || (2 * r == count && (q & 1))) ? 1 : 0;
            d[b] = tsr_sat_u8(q);
        }
    }
}

/* resample.c run_area, first half: for source row row0 + j and output
 * column i of the tile, buf = sum of (float)pixel * alpha over the column's
 * entries in order. tab (32-bit words): w + 1 entry offsets from the tile's
 * first entry, the entries' source columns, their alphas (float bits).
 * tmp: w * bands floats per source row. */
__kernel void resize_area_h(TSR_CIMAGE(src), __global float *tmp, __global const int *tab, int w,
                            int n, int row0) {
    int i = get_global_id(0), j = get_global_id(1);
    __global const int *first = tab, *col = tab + w + 1, *alpha = tab + w + 1 + n;
    __global float *t = tmp + ((size_t)j * w + i) * src_b;
    float buf[4] = {0.f, 0.f, 0.f, 0.f};
    for (int k = first[i]; k < first[i + 1]; k++) {
        __global const uchar *s = GEO_AT(src, col[k], row0 + j);
        float a = as_float(alpha[k]);
        for (int b = 0; b < src_b; b++)
            buf[b] += (float)s[b] * a;
    }
    for (int b = 0; b < src_b; b++)
        t[b] = buf[b];
}

/* resample.c run_area, second half: sum of alpha * buf over the output
 * row's entries in order, rounded to even. tab: h + 1 entry offsets, the
 * entries' source rows, their alphas (float bits). */
__kernel void resize_area_v(__global const float *tmp, TSR_IMAGE(dst), __global const int *tab,
                            int n, int row0) {
    int i = get_global_id(0), j = get_global_id(1);
    int h = dst_r.w, stride = dst_r.z * dst_b;
    __global const int *first = tab, *row = tab + h + 1, *alpha = tab + h + 1 + n;
    __global uchar *d = GEO_AT(dst, dst_r.x + i, dst_r.y + j);
    float sum[4] = {0.f, 0.f, 0.f, 0.f};
    for (int k = first[j]; k < first[j + 1]; k++) {
        __global const float *t = tmp + (size_t)(row[k] - row0) * stride + i * dst_b;
        float a = as_float(alpha[k]);
        for (int b = 0; b < dst_b; b++)
            sum[b] += a * t[b];
    }
    for (int b = 0; b < dst_b; b++)
        d[b] = tsr_sat_u8((int)rint(sum[b]));
}

/* resample.c hpass (resizeGeneric_'s horizontal pass): for source row
 * rows[j] and output column i of the tile, per band the sum of the taps'
 * edge-clamped pixels times their 1/2048 weights, in int. tab: the tile's
 * w tap-0 offsets, then w * taps weights; rows at `rows_at`. tmp: w * bands
 * ints per listed row. */
__kernel void resize_sep_h(TSR_CIMAGE(src), __global int *tmp, __global const int *tab, int w,
                           int taps, int rows_at) {
    int i = get_global_id(0), j = get_global_id(1);
    int s0 = tab[i], last = src_img.x - 1;
    __global const int *c = tab + w + i * taps;
    __global const uchar *row = GEO_AT(src, src_r.x, tab[rows_at + j]);
    __global int *t = tmp + ((size_t)j * w + i) * src_b;
    for (int b = 0; b < src_b; b++) {
        uint acc = 0;
        for (int k = 0; k < taps; k++)
            acc += (uint)(row[(clamp(s0 + k, 0, last) - src_r.x) * src_b + b] * c[k]);
        t[b] = (int)acc;
    }
}

/* One output sample of resample.c vpass: S are the taps' horizontal sums,
 * beta their weights; `vector`: OpenCV's SIMD formula for cubic. */
inline uchar resize_vsample(const int *S, const int *beta, int taps, bool vector) {
    if (taps == 2) {
        short s0 = (short)(S[0] >> 4), s1 = (short)(S[1] >> 4);
        short t = (short)((short)((s0 * beta[0]) >> 16) + (short)((s1 * beta[1]) >> 16));
        short v = (short)((t + 2) >> 2);
        return (uchar)(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
    if (vector) {
        const float scale = 1.f / ((1 << RESIZE_COEF_BITS) * (1 << RESIZE_COEF_BITS));
        float b[4];
        for (int k = 0; k < 4; k++)
            b[k] = (float)beta[k] * scale;
        float v = (float)S[0] * b[0] + ((float)S[1] * b[1] + ((float)S[2] * b[2] + (float)S[3] * b[3]));
        int r = (int)rint(v);
        r = r < -32768 ? -32768 : (r > 32767 ? 32767 : r);
        return tsr_sat_u8(r);
    }
    uint acc = 0;
    for (int k = 0; k < taps; k++)
        acc += (uint)S[k] * (uint)beta[k];
    return tsr_sat_u8((int)(acc + (1u << (2 * RESIZE_COEF_BITS - 1))) >> (2 * RESIZE_COEF_BITS));
}

/* resample.c vpass (resizeGeneric_'s vertical pass): per output sample the
 * taps' rows of tmp (their indices and weights at tab[at], h * taps each)
 * weighted as OpenCV does; samples of the output row before vec_end take
 * the cubic SIMD formula. */
__kernel void resize_sep_v(__global const int *tmp, TSR_IMAGE(dst), __global const int *tab,
                           int taps, int at, int vec_end) {
    int i = get_global_id(0), j = get_global_id(1);
    int x = dst_r.x + i, stride = dst_r.z * dst_b;
    __global const int *idx = tab + at + j * taps, *beta = tab + at + dst_r.w * taps + j * taps;
    __global uchar *d = GEO_AT(dst, x, dst_r.y + j);
    int bk[8];
    for (int k = 0; k < taps; k++)
        bk[k] = beta[k];
    for (int b = 0; b < dst_b; b++) {
        int S[8];
        for (int k = 0; k < taps; k++)
            S[k] = tmp[(size_t)idx[k] * stride + i * dst_b + b];
        d[b] = resize_vsample(S, bk, taps, taps == 4 && x * dst_b + b < vec_end);
    }
}
