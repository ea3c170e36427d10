/* resize and thumbnail: OpenCV's cv::resize for 8 bits, as
 * src/ops/geometry/resample.c, one kernel (or a horizontal and a vertical
 * pass) per path. Tables come from the op's tsr_resample, cut to the tile by
 * the host (cl_kernels_resize.c). */

#define RESIZE_COEF_BITS 11 /* resample.c COEF_BITS */

/* resample.c tsr_resample_run, TSR_RESAMPLE_COPY (tsr_region_copy): same
 * size. */
__kernel void resize_copy(TSR_CIMAGE(src), TSR_IMAGE(dst)) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    __global const uchar *s = GEO_AT(src, x, y);
    __global uchar *d = GEO_AT(dst, x, y);
    for (int b = 0; b < dst_b; b++)
        d[b] = s[b];
}

/* resample.c run_nearest. tab: the source column of each output column of
 * dst, then the source row of each output row. */
__kernel void resize_nearest(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const int *tab) {
    TSR_GUARD(dst_r.z, dst_r.w);
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
    TSR_GUARD(dst_r.z, dst_r.w);
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
                            int n, int row0, int rows) {
    TSR_GUARD(w, rows);
    int i = get_global_id(0), j = get_global_id(1);
    __global const int *first = tab, *col = tab + w + 1, *alpha = tab + w + 1 + n;
    __global const uchar *row = GEO_AT(src, src_r.x, row0 + j);
    __global float *t = tmp + ((size_t)j * w + i) * src_b;
    for (int b = 0; b < src_b; b++) {
        float buf = 0.f;
        for (int k = first[i]; k < first[i + 1]; k++)
            buf += (float)row[(col[k] - src_r.x) * src_b + b] * as_float(alpha[k]);
        t[b] = buf;
    }
}

/* resample.c run_area, second half: sum of alpha * buf over the output
 * row's entries in order, rounded to even. tab: h + 1 entry offsets, the
 * entries' source rows, their alphas (float bits). */
__kernel void resize_area_v(__global const float *tmp, TSR_IMAGE(dst), __global const int *tab,
                            int n, int row0) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int i = get_global_id(0), j = get_global_id(1);
    int h = dst_r.w;
    size_t stride = (size_t)dst_r.z * dst_b;
    __global const int *first = tab, *row = tab + h + 1, *alpha = tab + h + 1 + n;
    __global const float *t = tmp + (size_t)i * dst_b;
    __global uchar *d = GEO_AT(dst, dst_r.x + i, dst_r.y + j);
    for (int b = 0; b < dst_b; b++) {
        float sum = 0.f;
        for (int k = first[j]; k < first[j + 1]; k++)
            sum += as_float(alpha[k]) * t[(size_t)(row[k] - row0) * stride + b];
        d[b] = tsr_sat_u8((int)rint(sum));
    }
}

/* resample.c hpass of one work item: per band the sum of the taps'
 * edge-clamped pixels times their 1/2048 weights, in int (wrapping as the
 * CPU's unsigned sum). `taps` is a constant where it is inlined, so the
 * loops unroll. */
inline void resize_sep_h_item(__global const uchar *row, int first, int bands, int last, int s0,
                              __global const int *c, int taps, __global int *t) {
    for (int b = 0; b < bands; b++) {
        uint acc = 0;
        for (int k = 0; k < taps; k++)
            acc += (uint)(row[(clamp(s0 + k, 0, last) - first) * bands + b] * c[k]);
        t[b] = as_int(acc);
    }
}

/* resample.c hpass (resizeGeneric_'s horizontal pass): for source row
 * rows[j] and output column i of the tile. tab: the tile's w tap-0
 * offsets, then w * taps weights; the rows at `rows_at`. tmp: w * bands
 * ints per listed row. */
__kernel void resize_sep_h(TSR_CIMAGE(src), __global int *tmp, __global const int *tab, int w,
                           int taps, int rows_at, int rows) {
    TSR_GUARD(w, rows);
    int i = get_global_id(0), j = get_global_id(1);
    int s0 = tab[i], last = src_img.x - 1;
    __global const int *c = tab + w + i * taps;
    __global const uchar *row = GEO_AT(src, src_r.x, tab[rows_at + j]);
    __global int *t = tmp + ((size_t)j * w + i) * src_b;
    if (taps == 2)
        resize_sep_h_item(row, src_r.x, src_b, last, s0, c, 2, t);
    else if (taps == 4)
        resize_sep_h_item(row, src_r.x, src_b, last, s0, c, 4, t);
    else
        resize_sep_h_item(row, src_r.x, src_b, last, s0, c, 8, t);
}

/* resample.c vpass, linear: OpenCV's SIMD formula in 16-bit steps. */
inline uchar resize_v_linear(int S0, int S1, int b0, int b1) {
    short s0 = (short)(S0 >> 4), s1 = (short)(S1 >> 4);
    short t = (short)((short)((s0 * b0) >> 16) + (short)((s1 * b1) >> 16));
    short v = (short)((t + 2) >> 2);
    return (uchar)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

/* resample.c vpass, cubic before vec_end: OpenCV's float SIMD formula.
 * Tap k's sample is t[idx[k] * stride]. */
inline uchar resize_v_cubic_vector(__global const int *t, __global const int *idx, size_t stride,
                                   __global const int *beta) {
    const float scale = 1.f / ((1 << RESIZE_COEF_BITS) * (1 << RESIZE_COEF_BITS));
    float b0 = (float)beta[0] * scale, b1 = (float)beta[1] * scale;
    float b2 = (float)beta[2] * scale, b3 = (float)beta[3] * scale;
    float s0 = (float)t[idx[0] * stride], s1 = (float)t[idx[1] * stride];
    float s2 = (float)t[idx[2] * stride], s3 = (float)t[idx[3] * stride];
    float v = s0 * b0 + (s1 * b1 + (s2 * b2 + s3 * b3));
    int r = (int)rint(v);
    r = r < -32768 ? -32768 : (r > 32767 ? 32767 : r);
    return tsr_sat_u8(r);
}

/* resample.c vpass, fixed point: (sum of S * beta + 2^21) >> 22, the sum
 * wrapping as the CPU's unsigned one; `taps` a constant where inlined. */
inline uchar resize_v_fixed(__global const int *t, __global const int *idx, size_t stride,
                            __global const int *beta, int taps) {
    uint acc = 0;
    for (int k = 0; k < taps; k++)
        acc += (uint)t[idx[k] * stride] * (uint)beta[k];
    return tsr_sat_u8(as_int(acc + (1u << (2 * RESIZE_COEF_BITS - 1))) >> (2 * RESIZE_COEF_BITS));
}

/* resample.c vpass (resizeGeneric_'s vertical pass): per output sample the
 * taps' rows of tmp weighted as OpenCV does. tab at `at`: per output row
 * its taps' indices into tmp's rows (h * taps), then their weights. The
 * cubic SIMD formula for the row samples before vec_end. */
__kernel void resize_sep_v(__global const int *tmp, TSR_IMAGE(dst), __global const int *tab,
                           int taps, int at, int vec_end) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int i = get_global_id(0), j = get_global_id(1);
    int x = dst_r.x + i, bands = dst_b;
    size_t stride = (size_t)dst_r.z * bands;
    __global const int *idx = tab + at + j * taps, *beta = tab + at + dst_r.w * taps + j * taps;
    __global uchar *d = GEO_AT(dst, x, dst_r.y + j);
    for (int b = 0; b < bands; b++) {
        __global const int *t = tmp + (size_t)i * bands + b;
        if (taps == 2)
            d[b] = resize_v_linear(t[idx[0] * stride], t[idx[1] * stride], beta[0], beta[1]);
        else if (taps == 4 && x * bands + b < vec_end)
            d[b] = resize_v_cubic_vector(t, idx, stride, beta);
        else if (taps == 4)
            d[b] = resize_v_fixed(t, idx, stride, beta, 4);
        else
            d[b] = resize_v_fixed(t, idx, stride, beta, 8);
    }
}
