/* The geometry family's kernels: rotate (OpenCV's fixed-point warpAffine).
 * resize and thumbnail are in resize.cl. */

/* TSR_AT with parameter names that cannot capture the .x/.y of the rect
 * (common.cl's TSR_AT(p, x, y) works only when called with x and y). */
#define GEO_AT(p, px, py)                                                                        \
    (p + ((size_t)((py) - p##_r.y) * (size_t)p##_r.z + (size_t)((px) - p##_r.x)) * (size_t)p##_b)

#define ROTATE_AB_BITS    10 /* rotate.c AB_BITS */
#define ROTATE_INTER_BITS 5  /* rotate.c INTER_BITS */
#define ROTATE_INTER_TAB  (1 << ROTATE_INTER_BITS)
#define ROTATE_COEF_BITS  15 /* rotate.c COEF_BITS */

inline int rotate_sat_short(int v) {
    return v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
}

/* Output of the 4 weighted neighbours' sum, as rotate.c. */
inline uchar rotate_round(int acc) {
    return tsr_sat_u8((acc + (1 << (ROTATE_COEF_BITS - 1))) >> ROTATE_COEF_BITS);
}

/* rotate (rotate.c run and sample_border): one work item per output pixel.
 * tab: per output column of dst (adelta, bdelta), per output row
 * (tsr_rotate_row's x0, y0), then the 32 x 32 x 4 bilinear weights. Pixels
 * whose 2 x 2 window leaves the image count outside neighbours as 0. */
__kernel void rotate_warp(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const int *tab) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int i = get_global_id(0), j = get_global_id(1);
    int x = dst_r.x + i, y = dst_r.y + j;
    __global const int *col = tab + 2 * i, *row = tab + 2 * dst_r.z + 2 * j;
    int fx = (row[0] + col[0]) >> (ROTATE_AB_BITS - ROTATE_INTER_BITS);
    int fy = (row[1] + col[1]) >> (ROTATE_AB_BITS - ROTATE_INTER_BITS);
    int sx = rotate_sat_short(fx >> ROTATE_INTER_BITS);
    int sy = rotate_sat_short(fy >> ROTATE_INTER_BITS);
    int frac = (fy & (ROTATE_INTER_TAB - 1)) * ROTATE_INTER_TAB + (fx & (ROTATE_INTER_TAB - 1));
    __global const int *w = tab + 2 * dst_r.z + 2 * dst_r.w + 4 * frac;
    __global uchar *d = GEO_AT(dst, x, y);
    int bands = dst_b;
    if (sx < 0 || sy < 0 || sx >= src_img.x - 1 || sy >= src_img.y - 1) {
        for (int b = 0; b < bands; b++) {
            int acc = 0;
            for (int k = 0; k < 4; k++) {
                int px = sx + (k & 1), py = sy + (k >> 1);
                if (px >= 0 && py >= 0 && px < src_img.x && py < src_img.y && w[k] != 0)
                    acc += GEO_AT(src, px, py)[b] * w[k];
            }
            d[b] = rotate_round(acc);
        }
        return;
    }
    __global const uchar *s0 = GEO_AT(src, sx, sy);
    __global const uchar *s1 = s0 + (size_t)src_r.z * (size_t)src_b;
    for (int b = 0; b < bands; b++) {
        int v = s0[b] * w[0] + s0[b + bands] * w[1] + s1[b] * w[2] + s1[b + bands] * w[3];
        d[b] = rotate_round(v);
    }
}
