/* The convolve family's kernels (ops/convolve). One work item per output
 * pixel, looping over the colour bands; the alpha band of 2- and 4-band
 * images is copied from the input as the CPU drivers' restore step. Borders
 * use the whole image (src_img), never the tile; the host has checked that
 * every source row and column lies in src's rect. */

/* Colour bands of a `bands`-band image (alpha last in 2 and 4). */
inline int tsr_colour_bands(int bands) {
    return (bands == 2 || bands == 4) ? bands - 1 : bands;
}

/* Whether this work item is inside dst's rect: the host rounds the grid
 * up to whole work-groups (run_grid in cl_kernels_convolve.c). */
#define TSR_IN_GRID(dst) ((int)get_global_id(0) < dst##_r.z && (int)get_global_id(1) < dst##_r.w)

/* Reflect-101 index, with the interior (nearly every call) checked first. */
inline int tsr_border101(int i, int n) {
    return (i >= 0 && i < n) ? i : tsr_reflect101(i, n);
}

/* Copies the alpha band of (x, y) from src to dst (restore_alpha). */
#define TSR_COPY_ALPHA(s, d, colour, bands)                                                        \
    do {                                                                                           \
        if ((colour) < (bands))                                                                    \
            (d)[colour] = (s)[colour];                                                             \
    } while (0)

/* Separable, horizontal pass (hpass in separable.c): for every column of
 * the output rect (x0 .. x0 + w - 1) and every row of src, the exact sum of
 * taps[i] * src(reflect101(x - r + i), y), kept modulo 2^16 as the CPU's
 * uint16_t rows. h holds one row of w pixels (src_b samples each) per row of
 * src, rows packed. */
__kernel void sep_hpass(TSR_CIMAGE(src), __global ushort *h, int x0, int w,
                        __global const ushort *taps, int n) {
    int i = get_global_id(0), j = get_global_id(1);
    if (i >= w || j >= src_r.w)
        return;
    int x = x0 + i, y = src_r.y + j, r = n / 2, colour = tsr_colour_bands(src_b);
    __global const uchar *row = src + (size_t)j * (size_t)src_r.z * (size_t)src_b;
    __global ushort *d = h + ((size_t)j * (size_t)w + (size_t)i) * (size_t)src_b;
    uint acc[3] = {0, 0, 0};
    for (int t = 0; t < n; t++) {
        int sx = tsr_border101(x - r + t, src_img.x) - src_r.x;
        __global const uchar *s = row + (size_t)sx * (size_t)src_b;
        uint k = taps[t];
        for (int c = 0; c < colour; c++)
            acc[c] += k * s[c];
    }
    for (int c = 0; c < colour; c++)
        d[c] = (ushort)acc[c];
}

/* Turns a vertical 32-bit sum into a byte (finish in separable.c): mode 0
 * SEP_ROUND16, 1 SEP_BOX_FIXED, 2 SEP_BOX_FLOAT. The CPU's box float is
 * nearbyint((double)acc * (1.0 / d)) with d = ksize^2 odd: acc / d is never
 * a half and lies at least 1 / (2d) from one, far beyond the double's error
 * (255 * 2^-52), so it is round(acc / d) = (2 acc + d) / (2 d) exactly
 * (checked for every acc and ksize by test_cl_convolve). */
inline uchar sep_finish(uint acc, int mode, uint scale, uint delta) {
    uint v;
    if (mode == 0)
        v = (acc + (1u << 15)) >> 16;
    else if (mode == 1)
        v = ((acc + delta) * scale) >> 23;
    else
        v = (2 * acc + scale) / (2 * scale);
    return (uchar)(v > 255 ? 255 : v);
}

/* Separable, vertical pass and rounding (vpass, finish and the alpha copy
 * of tsr_separable_run): h is sep_hpass's output for src's rows (h_y0 is
 * src_r.y); dst's colour bands get sum taps[i] * h(x, reflect101(y - r +
 * i)) turned into bytes; `scale` is the box divisor in mode 2. */
__kernel void sep_vpass(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const ushort *h,
                        __global const ushort *taps, int n, int mode, uint scale, uint delta) {
    int i = get_global_id(0), x = dst_r.x + i, y = dst_r.y + get_global_id(1);
    if (!TSR_IN_GRID(dst))
        return;
    int r = n / 2, colour = tsr_colour_bands(dst_b);
    size_t row = (size_t)dst_r.z * (size_t)dst_b;
    __global const ushort *col = h + (size_t)i * (size_t)dst_b;
    uint acc[3] = {0, 0, 0};
    for (int t = 0; t < n; t++) {
        int sy = tsr_border101(y - r + t, src_img.y) - src_r.y;
        __global const ushort *s = col + (size_t)sy * row;
        uint k = taps[t];
        for (int c = 0; c < colour; c++)
            acc[c] += k * s[c];
    }
    __global uchar *d = TSR_AT(dst, x, y);
    for (int c = 0; c < colour; c++)
        d[c] = sep_finish(acc[c], mode, scale, delta);
    TSR_COPY_ALPHA(TSR_AT(src, x, y), d, colour, dst_b);
}

/* Byte offsets into src of the rows and columns of the size x size window
 * around (x, y), reflect-101 (the stencil driver's column table and rows). */
#define TSR_WINDOW_101(src, px, py, size, roff, coff)                                              \
    for (int k_ = 0; k_ < (size); k_++) {                                                          \
        int sy_ = tsr_border101((py) - (size) / 2 + k_, src##_img.y) - src##_r.y;                  \
        int sx_ = tsr_border101((px) - (size) / 2 + k_, src##_img.x) - src##_r.x;                  \
        roff[k_] = (size_t)sy_ * (size_t)src##_r.z * (size_t)src##_b;                              \
        coff[k_] = (size_t)sx_ * (size_t)src##_b;                                                  \
    }

/* filter2d with integer taps, a power-of-two divisor and an integer offset
 * (the f->shift rows of filter2d.c, fused16 included: the same value in
 * 16 bits): sat((acc + ioffset + rnd + ((v >> bits) & 1)) >> bits), the
 * integer round half to even. taps: (window row u, column v, tap) triples
 * in the CPU's order. */
__kernel void filter2d_shift(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const int *taps,
                             int n_taps, int size, int bits, int ioffset) {
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    if (!TSR_IN_GRID(dst))
        return;
    int colour = tsr_colour_bands(dst_b);
    size_t roff[9], coff[9];
    TSR_WINDOW_101(src, x, y, size, roff, coff);
    int rnd = bits ? (1 << (bits - 1)) - 1 : 0, odd = bits ? 1 : 0;
    __global uchar *d = TSR_AT(dst, x, y);
    for (int c = 0; c < colour; c++) {
        int acc = 0;
        for (int t = 0; t < n_taps; t++) {
            __global const int *tap = taps + 3 * t;
            acc += tap[2] * src[roff[tap[0]] + coff[tap[1]] + (size_t)c];
        }
        int v = acc + ioffset;
        d[c] = tsr_sat_u8((v + rnd + ((v >> bits) & odd)) >> bits);
    }
    TSR_COPY_ALPHA(TSR_AT(src, x, y), d, colour, dst_b);
}

/* sobel (row in sobel.c): |Gx|, |Gy| or |Gx| + |Gy| of the 3x3 Sobel
 * kernels, saturated; dir 0 x, 1 y, 2 both. */
__kernel void sobel(TSR_CIMAGE(src), TSR_IMAGE(dst), int dir) {
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    if (!TSR_IN_GRID(dst))
        return;
    int colour = tsr_colour_bands(dst_b);
    size_t roff[3], coff[3];
    TSR_WINDOW_101(src, x, y, 3, roff, coff);
    __global const uchar *a = src + roff[0], *m = src + roff[1], *e = src + roff[2];
    size_t l = coff[0], mid = coff[1], rt = coff[2];
    __global uchar *d = TSR_AT(dst, x, y);
    for (int c = 0; c < colour; c++) {
        int gx = (a[rt + c] - a[l + c]) + 2 * (m[rt + c] - m[l + c]) + (e[rt + c] - e[l + c]);
        int gy = (e[l + c] + 2 * e[mid + c] + e[rt + c]) - (a[l + c] + 2 * a[mid + c] + a[rt + c]);
        gx = abs(gx);
        gy = abs(gy);
        int v = dir == 0 ? gx : dir == 1 ? gy : gx + gy;
        d[c] = (uchar)(v > 255 ? 255 : v);
    }
    TSR_COPY_ALPHA(TSR_AT(src, x, y), d, colour, dst_b);
}

#define TSR_SORT2(p, i, j)                                                                         \
    do {                                                                                           \
        uchar lo_ = min(p[i], p[j]), hi_ = max(p[i], p[j]);                                        \
        p[i] = lo_;                                                                                \
        p[j] = hi_;                                                                                \
    } while (0)

/* Median of 9 with the CPU's 19-exchange network (median9 in median.c). */
inline uchar median9(uchar *p) {
    TSR_SORT2(p, 1, 2);
    TSR_SORT2(p, 4, 5);
    TSR_SORT2(p, 7, 8);
    TSR_SORT2(p, 0, 1);
    TSR_SORT2(p, 3, 4);
    TSR_SORT2(p, 6, 7);
    TSR_SORT2(p, 1, 2);
    TSR_SORT2(p, 4, 5);
    TSR_SORT2(p, 7, 8);
    TSR_SORT2(p, 0, 3);
    TSR_SORT2(p, 5, 8);
    TSR_SORT2(p, 4, 7);
    TSR_SORT2(p, 3, 6);
    TSR_SORT2(p, 1, 4);
    TSR_SORT2(p, 2, 5);
    TSR_SORT2(p, 4, 7);
    TSR_SORT2(p, 4, 2);
    TSR_SORT2(p, 6, 4);
    TSR_SORT2(p, 4, 2);
    return p[4];
}

/* Median of 25 (median25 in median.c): the 13th smallest, found by
 * counting, which gives the sorted array's element 12 whatever the method. */
inline uchar median25(const uchar *p) {
    for (int i = 0; i < 25; i++) {
        int less = 0, equal = 0;
        for (int j = 0; j < 25; j++) {
            less += p[j] < p[i];
            equal += p[j] == p[i];
        }
        if (less <= 12 && 12 < less + equal)
            return p[i];
    }
    return p[0];
}

/* median (row in median.c): the median of the ksize x ksize window (3 or
 * 5), replicate borders (clamped rows and columns). */
__kernel void median(TSR_CIMAGE(src), TSR_IMAGE(dst), int ksize) {
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    if (!TSR_IN_GRID(dst))
        return;
    int colour = tsr_colour_bands(dst_b), r = ksize / 2;
    size_t roff[5], coff[5];
    for (int k = 0; k < ksize; k++) {
        int sy = tsr_clampi(y - r + k, 0, src_img.y - 1) - src_r.y;
        int sx = tsr_clampi(x - r + k, 0, src_img.x - 1) - src_r.x;
        roff[k] = (size_t)sy * (size_t)src_r.z * (size_t)src_b;
        coff[k] = (size_t)sx * (size_t)src_b;
    }
    __global uchar *d = TSR_AT(dst, x, y);
    uchar win[25];
    for (int c = 0; c < colour; c++) {
        int n = 0;
        for (int u = 0; u < ksize; u++)
            for (int v = 0; v < ksize; v++)
                win[n++] = src[roff[u] + coff[v] + (size_t)c];
        d[c] = ksize == 3 ? median9(win) : median25(win);
    }
    TSR_COPY_ALPHA(TSR_AT(src, x, y), d, colour, dst_b);
}

#ifdef cl_khr_fp64
#pragma OPENCL EXTENSION cl_khr_fp64 : enable

/* filter2d's double rows (row in filter2d.c, neither fused16 nor shift):
 * integer taps sum in int then (double)acc / divisor + offset; other taps
 * sum acc += tap * v in double, tap by tap in the CPU's order; then
 * sat(round_half_even(v)) as to_byte (rint rounds to even, exactly).
 * taps: (window row, column, integer tap) triples; dtaps: the taps as
 * doubles. */
__kernel void filter2d_real(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const int *taps,
                            __global const double *dtaps, int n_taps, int size, int integer,
                            double divisor, double offset) {
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    if (!TSR_IN_GRID(dst))
        return;
    int colour = tsr_colour_bands(dst_b);
    size_t roff[9], coff[9];
    TSR_WINDOW_101(src, x, y, size, roff, coff);
    __global uchar *d = TSR_AT(dst, x, y);
    for (int c = 0; c < colour; c++) {
        double v;
        if (integer) {
            int acc = 0;
            for (int t = 0; t < n_taps; t++) {
                __global const int *tap = taps + 3 * t;
                acc += tap[2] * src[roff[tap[0]] + coff[tap[1]] + (size_t)c];
            }
            v = (double)acc / divisor + offset;
        } else {
            double acc = 0;
            for (int t = 0; t < n_taps; t++) {
                __global const int *tap = taps + 3 * t;
                double s = (double)src[roff[tap[0]] + coff[tap[1]] + (size_t)c];
                double p = dtaps[t] * s;
                acc = acc + p;
            }
            v = acc / divisor + offset;
        }
        v = v < 0 ? 0 : (v > 255 ? 255 : v);
        d[c] = (uchar)rint(v);
    }
    TSR_COPY_ALPHA(TSR_AT(src, x, y), d, colour, dst_b);
}
#endif
