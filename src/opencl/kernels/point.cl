/* Point ops: a 256-entry table on the colour bands, alpha copied
 * (tsr_point_apply_lut). One work item per pixel of dst's rect. */
__kernel void point_lut(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const uchar *lut) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    __global const uchar *s = TSR_AT(src, x, y);
    __global uchar *d = TSR_AT(dst, x, y);
    int colour = (dst_b == 2 || dst_b == 4) ? dst_b - 1 : dst_b;
    for (int c = 0; c < colour; c++)
        d[c] = lut[s[c]];
    if (colour < dst_b)
        d[colour] = s[colour];
}

/* grayscale's luma_row (ops/point/grayscale.c): OpenCV 4.6 BGR2GRAY in
 * 15-bit fixed point, Y = (R*9798 + G*19235 + B*3735 + 16384) >> 15; 4
 * bands keep alpha (4 -> 2), 1 and 2 bands are copied. */
__kernel void point_grayscale(TSR_CIMAGE(src), TSR_IMAGE(dst)) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    __global const uchar *s = TSR_AT(src, x, y);
    __global uchar *d = TSR_AT(dst, x, y);
    if (src_b < 3) {
        for (int c = 0; c < src_b; c++)
            d[c] = s[c];
        return;
    }
    d[0] = (uchar)((s[0] * 9798 + s[1] * 19235 + s[2] * 3735 + (1 << 14)) >> 15);
    if (src_b == 4)
        d[1] = s[3];
}
