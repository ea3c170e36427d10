/* One instruction set's sorting-network rows for median 3 and 5, included
 * by median_sortnet.c once per set (no include guard, by design). The
 * includer defines:
 *   SN_NAME(x)   the function name x with the set's suffix
 *   SN_ATTR      function attributes (the target set), may be empty
 *   SN_V, SN_W   the vector type and its width in bytes (1: scalar)
 *   SN_LOAD(p), SN_STORE(p, v), SN_MIN(a, b), SN_MAX(a, b)
 * median9 and median25 write out[j] for j < len (len >= SN_W) as the
 * median of rows[u][j + v * step] over the window's rows u and columns v,
 * in two passes over the row (median_net.h): every padded column sorted
 * into `tmp` (k * (len + (k - 1) * step) bytes), then the selection
 * network over the k sorted columns of each output. SN_W bytes at a time,
 * many pixels in each vector; the last vector of a pass is moved back to
 * end at the pass's end, recomputing a few bytes rather than running a
 * scalar tail. Everything defined here is undefined at the end. */

#define SN_C(a, b)                                                                                 \
    do {                                                                                           \
        SN_V lo_ = SN_MIN(a, b);                                                                   \
        (b) = SN_MAX(a, b);                                                                        \
        (a) = lo_;                                                                                 \
    } while (0)
#define SN_L(a, b) ((a) = SN_MIN(a, b))
#define SN_H(a, b) ((b) = SN_MAX(a, b))

/* Sorts the k values of each of the n padded columns x (rows[u][x], u < k)
 * into tmp: rank r of column x at tmp[r * n + x]. */
static SN_ATTR void SN_NAME(sort_columns3)(const uint8_t *const *rows, size_t n, uint8_t *tmp) {
    for (size_t x = 0; x < n; x += SN_W) {
        if (x + SN_W > n)
            x = n - SN_W;
        SN_V a = SN_LOAD(rows[0] + x), b = SN_LOAD(rows[1] + x), c = SN_LOAD(rows[2] + x);
        TSR_SORT3(SN_C, a, b, c);
        SN_STORE(tmp + x, a);
        SN_STORE(tmp + n + x, b);
        SN_STORE(tmp + 2 * n + x, c);
    }
}

static SN_ATTR void SN_NAME(sort_columns5)(const uint8_t *const *rows, size_t n, uint8_t *tmp) {
    for (size_t x = 0; x < n; x += SN_W) {
        if (x + SN_W > n)
            x = n - SN_W;
        SN_V a = SN_LOAD(rows[0] + x), b = SN_LOAD(rows[1] + x), c = SN_LOAD(rows[2] + x),
             d = SN_LOAD(rows[3] + x), e = SN_LOAD(rows[4] + x);
        TSR_SORT5(SN_C, a, b, c, d, e);
        SN_STORE(tmp + x, a);
        SN_STORE(tmp + n + x, b);
        SN_STORE(tmp + 2 * n + x, c);
        SN_STORE(tmp + 3 * n + x, d);
        SN_STORE(tmp + 4 * n + x, e);
    }
}

static SN_ATTR void SN_NAME(median9)(const uint8_t *const *rows, size_t len, size_t step,
                                     uint8_t *out, uint8_t *tmp) {
    size_t n = len + 2 * step;
    SN_NAME(sort_columns3)(rows, n, tmp);
    for (size_t j = 0; j < len; j += SN_W) {
        if (j + SN_W > len)
            j = len - SN_W;
        SN_V p[9];
        for (int c = 0; c < 3; c++)
            for (int r = 0; r < 3; r++)
                p[3 * c + r] = SN_LOAD(tmp + (size_t)r * n + j + (size_t)c * step);
        TSR_MEDIAN9_COLS(SN_C, SN_L, SN_H, p);
        SN_STORE(out + j, p[4]);
    }
}

static SN_ATTR void SN_NAME(median25)(const uint8_t *const *rows, size_t len, size_t step,
                                      uint8_t *out, uint8_t *tmp) {
    size_t n = len + 4 * step;
    SN_NAME(sort_columns5)(rows, n, tmp);
    for (size_t j = 0; j < len; j += SN_W) {
        if (j + SN_W > len)
            j = len - SN_W;
        SN_V p[25];
        for (int c = 0; c < 5; c++)
            for (int r = 0; r < 5; r++)
                p[5 * c + r] = SN_LOAD(tmp + (size_t)r * n + j + (size_t)c * step);
        TSR_MEDIAN25_COLS(SN_C, SN_L, SN_H, p);
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
