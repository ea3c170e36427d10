/* Point ops: a 256-entry table on the colour bands, alpha copied
 * (tsr_point_apply_lut). One work item per pixel of dst's rect. */
__kernel void point_lut(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const uchar *lut) {
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    __global const uchar *s = TSR_AT(src, x, y);
    __global uchar *d = TSR_AT(dst, x, y);
    int colour = (dst_b == 2 || dst_b == 4) ? dst_b - 1 : dst_b;
    for (int c = 0; c < colour; c++)
        d[c] = lut[s[c]];
    if (colour < dst_b)
        d[colour] = s[colour];
}
