/* One instruction set's sorting-network rows for median 3 and 5, included
 * by median_sortnet.c once per set (no include guard, by design). The
 * includer defines:
 *   SN_NAME(x)   the function name x with the set's suffix
 *   SN_ATTR      function attributes (the target set), may be empty
 *   SN_V, SN_W   the vector type and its width in bytes (1: scalar)
 *   SN_LOAD(p), SN_STORE(p, v), SN_MIN(a, b), SN_MAX(a, b)
 * Each function writes out[j] for j < len (len >= SN_W) as the median of
 * rows[u][j + v * step] over the window's rows u and columns v: SN_W
 * outputs at a time, many pixels in each vector; the last vector is moved
 * back to end at len, recomputing a few outputs rather than running a
 * scalar tail. Everything defined here is undefined at the end. */

#define SN_C(a, b)                                                                                 \
    do {                                                                                           \
        SN_V lo_ = SN_MIN(a, b);                                                                   \
        (b) = SN_MAX(a, b);                                                                        \
        (a) = lo_;                                                                                 \
    } while (0)
#define SN_L(a, b) ((a) = SN_MIN(a, b))
#define SN_H(a, b) ((b) = SN_MAX(a, b))

static SN_ATTR void SN_NAME(median9)(const uint8_t *const *rows, size_t len, size_t step,
                                     uint8_t *out) {
    for (size_t j = 0; j < len; j += SN_W) {
        if (j + SN_W > len)
            j = len - SN_W;
        SN_V p[9];
        for (int u = 0; u < 3; u++)
            for (int v = 0; v < 3; v++)
                p[u * 3 + v] = SN_LOAD(rows[u] + j + (size_t)v * step);
        TSR_MEDIAN9_NET(SN_C, SN_L, SN_H, p);
        SN_STORE(out + j, p[4]);
    }
}

static SN_ATTR void SN_NAME(median25)(const uint8_t *const *rows, size_t len, size_t step,
                                      uint8_t *out) {
    for (size_t j = 0; j < len; j += SN_W) {
        if (j + SN_W > len)
            j = len - SN_W;
        SN_V p[25];
        for (int u = 0; u < 5; u++)
            for (int v = 0; v < 5; v++)
                p[u * 5 + v] = SN_LOAD(rows[u] + j + (size_t)v * step);
        TSR_MEDIAN25_NET(SN_C, SN_L, SN_H, p);
        SN_STORE(out + j, p[12]);
    }
}

#undef SN_C
#undef SN_L
#undef SN_H
#undef SN_NAME
#undef SN_ATTR
#undef SN_V
#undef SN_W
#undef SN_LOAD
#undef SN_STORE
#undef SN_MIN
#undef SN_MAX
