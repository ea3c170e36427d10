/* Shared by every kernel family (prepended to the program). The CPU code's
 * float results are reproduced only without contraction into fused
 * multiply-add, as the CPU build's -ffp-contract=off. */
#pragma OPENCL FP_CONTRACT OFF

/* An image argument: buffer, rect (x, y, w, h), whole image (w, h), bands
 * (cl_kernels.h). */
#define TSR_IMAGE(p) __global uchar *p, int4 p##_r, int2 p##_img, int p##_b
#define TSR_CIMAGE(p) __global const uchar *p, int4 p##_r, int2 p##_img, int p##_b
/* Address of pixel (x, y) in image coordinates. */
#define TSR_AT(p, px, py) (p + ((size_t)((py) - p##_r.y) * (size_t)p##_r.z + (size_t)((px) - p##_r.x)) * (size_t)p##_b)

/* tsr_cl_run_2d rounds its grid up to whole work-groups: a kernel launched
 * by it returns early for the items past its w x h. */
#define TSR_GUARD(w, h)                                                                            \
    if ((int)get_global_id(0) >= (w) || (int)get_global_id(1) >= (h))                              \
        return;

/* Reflect-101 border (OpenCV's default), as tsr_reflect101. */
inline int tsr_reflect101(int i, int n) {
    if (n == 1)
        return 0;
    while (i < 0 || i >= n) {
        if (i < 0)
            i = -i;
        if (i >= n)
            i = 2 * n - 2 - i;
    }
    return i;
}

inline int tsr_clampi(int i, int lo, int hi) {
    return i < lo ? lo : (i > hi ? hi : i);
}

inline uchar tsr_sat_u8(int v) {
    return (uchar)(v < 0 ? 0 : (v > 255 ? 255 : v));
}
