/* The global family's kernels (equalize, threshold-otsu). */

/* tsr_histograms_map (ops/global/histogram.c): counts the colour samples of
 * all of src's rect into hist[band * 256 + value] (alpha not counted). Each
 * group counts into local bins (with atomics unless it is one item), then
 * adds them into hist; work items stride over the pixels, so any grid
 * covers the image. */
__kernel void global_histogram(TSR_CIMAGE(src), __global uint *hist) {
    __local uint bins[4 * 256];
    int colour = (src_b == 2 || src_b == 4) ? src_b - 1 : src_b;
    int lid = (int)get_local_id(0), ls = (int)get_local_size(0);
    for (int i = lid; i < colour * 256; i += ls)
        bins[i] = 0;
    barrier(CLK_LOCAL_MEM_FENCE);
    size_t n = (size_t)src_r.z * (size_t)src_r.w;
    for (size_t p = get_global_id(0); p < n; p += get_global_size(0)) {
        __global const uchar *s = src + p * (size_t)src_b;
        if (ls == 1) /* the group is this item: no other writes its bins */
            for (int c = 0; c < colour; c++)
                bins[c * 256 + s[c]]++;
        else
            for (int c = 0; c < colour; c++)
                atomic_inc(&bins[c * 256 + s[c]]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int i = lid; i < colour * 256; i += ls)
        if (bins[i])
            atomic_add(&hist[i], bins[i]);
}

/* tsr_global_run (ops/global/histogram.c): each colour band through its own
 * table luts[band * 256 + value], alpha copied. */
__kernel void global_lut(TSR_CIMAGE(src), TSR_IMAGE(dst), __global const uchar *luts) {
    TSR_GUARD(dst_r.z, dst_r.w);
    int x = dst_r.x + get_global_id(0), y = dst_r.y + get_global_id(1);
    __global const uchar *s = TSR_AT(src, x, y);
    __global uchar *d = TSR_AT(dst, x, y);
    int colour = (dst_b == 2 || dst_b == 4) ? dst_b - 1 : dst_b;
    for (int c = 0; c < colour; c++)
        d[c] = luts[c * 256 + s[c]];
    if (colour < dst_b)
        d[colour] = s[colour];
}
