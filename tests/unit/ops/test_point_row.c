/* The point ops' inner loops (ops/point/point_row.c, luma_row.c): the
 * closed form found for each op's table, every form at every SIMD level
 * this machine runs giving exactly the table's bytes, on rows of every
 * length around the vector widths and at unaligned addresses, and
 * grayscale's luma at every level against the formula. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops/point/luma_row.h"
#include "ops/point/point.h"
#include "ops/point/point_row.h"

/* The kernel an op prepares with one parameter set (NULL: defaults). */
static tsr_point_kernel kernel_of(const tsr_op_desc *desc, const char *param, double value) {
    tsr_op op;
    memset(&op, 0, sizeof op);
    op.desc = desc;
    op.in_w = op.in_h = 1;
    op.in_bands = 3;
    for (int i = 0; i < desc->n_params; i++)
        op.values[i] = desc->params[i].def;
    if (param)
        op.values[tsr_op_param_index(desc, param)] = value;
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_point_kernel k;
    memset(&k, 0, sizeof k);
    CHECK_EQ_INT(desc->prepare(ctx, &op), TSR_OK);
    if (op.state)
        k = *(const tsr_point_kernel *)op.state;
    desc->release(&op);
    tsr_ctx_free(ctx);
    return k;
}

static void test_forms_of_the_ops(void) {
    struct {
        const tsr_op_desc *desc;
        const char *param;
        double value;
        tsr_point_form form;
        int k;
    } t[] = {
        {&tsr_op_invert, NULL, 0, TSR_POINT_INVERT, 0},
        {&tsr_op_brightness, "delta", 40, TSR_POINT_ADD, 40},
        {&tsr_op_brightness, "delta", 255, TSR_POINT_ADD, 255},
        {&tsr_op_brightness, "delta", -40, TSR_POINT_SUB, 40},
        {&tsr_op_brightness, "delta", 0, TSR_POINT_IDENTITY, 0},
        {&tsr_op_threshold, "value", 127, TSR_POINT_THRESHOLD, 127},
        {&tsr_op_threshold, "value", 1, TSR_POINT_THRESHOLD, 1},
        {&tsr_op_threshold, "value", 255, TSR_POINT_THRESHOLD, 255},
        {&tsr_op_contrast, "factor", 1.3, TSR_POINT_TABLE, 0},
        {&tsr_op_contrast, "factor", 1, TSR_POINT_IDENTITY, 0},
        {&tsr_op_gamma, "gamma", 0.8, TSR_POINT_TABLE, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        tsr_point_kernel k = kernel_of(t[i].desc, t[i].param, t[i].value);
        if (k.form != t[i].form || k.k != t[i].k)
            fprintf(stderr, "  %s %s=%g: form %d k %d\n", t[i].desc->name,
                    t[i].param ? t[i].param : "-", t[i].value, k.form, k.k);
        CHECK_EQ_INT(k.form, t[i].form);
        CHECK_EQ_INT(k.k, t[i].k);
    }
}

/* A table one entry away from a closed form is a table. */
static void test_near_misses_are_tables(void) {
    uint8_t lut[256];
    tsr_point_kernel k;
    for (int at = 0; at < 256; at += 51) {
        for (int v = 0; v < 256; v++)
            lut[v] = (uint8_t)(255 - v);
        lut[at] ^= 1;
        tsr_point_kernel_init(&k, lut);
        CHECK_EQ_INT(k.form, TSR_POINT_TABLE);
        for (int v = 0; v < 256; v++)
            lut[v] = (uint8_t)(v >= 100 ? 255 : 0);
        lut[at] = (uint8_t)(lut[at] ? 254 : 1);
        tsr_point_kernel_init(&k, lut);
        CHECK_EQ_INT(k.form, TSR_POINT_TABLE);
    }
}

static unsigned seed = 12345;

static uint8_t next_byte(void) {
    seed = seed * 1103515245u + 12345u;
    return (uint8_t)(seed >> 16);
}

/* One kernel on rows of lengths 0..300 at offsets 0..3, at every level,
 * against lut[s[i]]; the bytes after the row are untouched. */
static bool rows_match(const tsr_point_kernel *k, const char *what) {
    static uint8_t src[320], dst[320];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = next_byte();
    for (int l = 0; l < TSR_SIMD_COUNT; l++) {
        if (!tsr_simd_cpu_has((tsr_simd_level)l))
            continue;
        for (size_t n = 0; n <= 300; n += n < 80 ? 1 : 37)
            for (size_t off = 0; off < 4; off++) {
                memset(dst, 0xA5, sizeof dst);
                tsr_point_row((tsr_simd_level)l, k, src + off, dst + off, n);
                for (size_t i = 0; i < sizeof dst; i++) {
                    int want = i >= off && i < off + n ? k->lut[src[i]] : 0xA5;
                    if (dst[i] != want) {
                        fprintf(stderr, "  %s at %s, n %zu off %zu: byte %zu is %d, want %d\n",
                                what, tsr_simd_name((tsr_simd_level)l), n, off, i, dst[i], want);
                        return false;
                    }
                }
            }
    }
    return true;
}

static void test_every_form_at_every_level(void) {
    uint8_t lut[256];
    tsr_point_kernel k;
    int forms_seen[8] = {0};
    for (int c = 0; c < 40; c++) {
        int p = c * 7 % 256;
        for (int v = 0; v < 256; v++)
            switch (c % 5) {
            case 0: /* closed forms around their constant */
                lut[v] = (uint8_t)(v + p > 255 ? 255 : v + p);
                break;
            case 1:
                lut[v] = (uint8_t)(v - p < 0 ? 0 : v - p);
                break;
            case 2:
                lut[v] = (uint8_t)(v >= p ? 255 : 0);
                break;
            case 3:
                lut[v] = (uint8_t)(c == 3 ? 255 - v : v);
                break;
            default: /* any table */
                lut[v] = next_byte();
            }
        tsr_point_kernel_init(&k, lut);
        forms_seen[k.form]++;
        CHECK(!memcmp(k.lut, lut, 256));
        char what[64];
        snprintf(what, sizeof what, "table %d (form %d, k %d)", c, k.form, k.k);
        CHECK(rows_match(&k, what));
    }
    for (int f = TSR_POINT_TABLE; f <= TSR_POINT_THRESHOLD; f++)
        CHECK(forms_seen[f] > 0);
}

/* grayscale's rows, 3 and 4 bands, lengths 0..200, at every level: the
 * formula's bytes; rows are malloc'ed to their exact size, so the
 * sanitizer build catches a read past the row. */
static void test_luma_at_every_level(void) {
    int bad = 0;
    for (int bands = 3; bands <= 4; bands++)
        for (int n = 0; n <= 200 && !bad; n += n < 70 ? 1 : 23) {
            uint8_t *src = malloc((size_t)n * bands + 1), *dst = malloc((size_t)n * 2 + 1);
            for (int i = 0; i < n * bands; i++)
                src[i] = i % 7 == 0 ? 255 : next_byte();
            for (int l = 0; l < TSR_SIMD_COUNT && !bad; l++) {
                if (!tsr_simd_cpu_has((tsr_simd_level)l))
                    continue;
                tsr_luma_row((tsr_simd_level)l, src, dst, n, bands);
                for (int x = 0; x < n && !bad; x++) {
                    const uint8_t *p = src + x * bands;
                    int y = (p[0] * 9798 + p[1] * 19235 + p[2] * 3735 + 16384) >> 15;
                    int got = dst[bands == 3 ? x : 2 * x];
                    if (got != y || (bands == 4 && dst[2 * x + 1] != p[3])) {
                        fprintf(stderr, "  luma %d bands n %d at %s: pixel %d is %d, want %d\n",
                                bands, n, tsr_simd_name((tsr_simd_level)l), x, got, y);
                        bad = 1;
                    }
                }
            }
            free(src);
            free(dst);
        }
    CHECK(!bad);
}

int main(void) {
    printf("     levels:");
    for (int l = 0; l < TSR_SIMD_COUNT; l++)
        if (tsr_simd_cpu_has((tsr_simd_level)l))
            printf(" %s", tsr_simd_name((tsr_simd_level)l));
    printf("\n");
    RUN(test_forms_of_the_ops);
    RUN(test_near_misses_are_tables);
    RUN(test_every_form_at_every_level);
    RUN(test_luma_at_every_level);
    return check_finish();
}
