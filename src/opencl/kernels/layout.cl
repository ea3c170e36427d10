/* The layout ops' kernels (crop, flip, rotate90/180/270). */

/* TSR_AT for a source pixel at (x, y). (The macro's parameters are x and y,
 * which also replace the `.x`/`.y` of the rect it reads: its arguments must
 * be spelled x and y.) */
inline __global const uchar *layout_at(__global const uchar *src, int4 src_r, int src_b, int x,
                                       int y) {
    return TSR_AT(src, x, y);
}

/* tsr_ortho_run (ops/geometry/ortho.c): out(x, y) = in(mx.x*x + mx.y*y +
 * mx.z, my.x*x + my.y*y + my.z), every band copied. */
__kernel void layout_ortho(TSR_CIMAGE(src), TSR_IMAGE(dst), int4 mx, int4 my) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    __global const uchar *s =
        layout_at(src, src_r, src_b, mx.x * x + mx.y * y + mx.z, my.x * x + my.y * y + my.z);
    __global uchar *d = TSR_AT(dst, x, y);
    for (int c = 0; c < dst_b; c++)
        d[c] = s[c];
}
