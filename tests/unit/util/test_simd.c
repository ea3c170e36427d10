/* The SIMD level: names, the TESSERA_SIMD cap (never above what the CPU
 * has, unknown values ignored) and the process's active level. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/simd.h"

/* The best level this CPU has. */
static tsr_simd_level best(void) {
    if (tsr_simd_cpu_has(TSR_SIMD_AVX512))
        return TSR_SIMD_AVX512;
    if (tsr_simd_cpu_has(TSR_SIMD_AVX2))
        return TSR_SIMD_AVX2;
    if (tsr_simd_cpu_has(TSR_SIMD_SSE41))
        return TSR_SIMD_SSE41;
    if (tsr_simd_cpu_has(TSR_SIMD_NEON))
        return TSR_SIMD_NEON;
    return TSR_SIMD_SCALAR;
}

static void test_names(void) {
    CHECK(!strcmp(tsr_simd_name(TSR_SIMD_SCALAR), "scalar"));
    CHECK(!strcmp(tsr_simd_name(TSR_SIMD_SSE41), "sse41"));
    CHECK(!strcmp(tsr_simd_name(TSR_SIMD_NEON), "neon"));
    CHECK(!strcmp(tsr_simd_name(TSR_SIMD_AVX2), "avx2"));
    CHECK(!strcmp(tsr_simd_name(TSR_SIMD_AVX512), "avx512"));
    CHECK(!strcmp(tsr_simd_name(TSR_SIMD_COUNT), "?"));
    CHECK(tsr_simd_cpu_has(TSR_SIMD_SCALAR));
#if defined(__x86_64__)
    CHECK(!tsr_simd_cpu_has(TSR_SIMD_NEON));
#endif
#if defined(__aarch64__)
    CHECK(tsr_simd_cpu_has(TSR_SIMD_NEON));
    CHECK(!tsr_simd_cpu_has(TSR_SIMD_AVX2));
    CHECK(!tsr_simd_cpu_has(TSR_SIMD_AVX512));
#endif
    /* AVX-512 (with BW and VBMI) implies AVX2 */
    CHECK(!tsr_simd_cpu_has(TSR_SIMD_AVX512) || tsr_simd_cpu_has(TSR_SIMD_AVX2));
}

static void test_choose(void) {
    bool known = false;
    CHECK_EQ_INT(tsr_simd_choose(NULL, &known), best());
    CHECK(known);
    CHECK_EQ_INT(tsr_simd_choose("", &known), best());
    CHECK_EQ_INT(tsr_simd_choose("auto", &known), best());
    CHECK(known);
    CHECK_EQ_INT(tsr_simd_choose("scalar", &known), TSR_SIMD_SCALAR);
    CHECK(known);
    /* a cap, never a raise: the chosen level is one the CPU has */
    static const char *const names[] = {"scalar", "sse41", "neon", "avx2", "avx512", "auto"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tsr_simd_level l = tsr_simd_choose(names[i], &known);
        CHECK(known);
        CHECK(tsr_simd_cpu_has(l));
    }
    CHECK_EQ_INT(tsr_simd_choose("avx512", NULL), best());
    if (tsr_simd_cpu_has(TSR_SIMD_AVX2))
        CHECK_EQ_INT(tsr_simd_choose("avx2", NULL), TSR_SIMD_AVX2); /* a cap below avx512 */
    else
        CHECK_EQ_INT(tsr_simd_choose("avx2", NULL), best());
    if (tsr_simd_cpu_has(TSR_SIMD_SSE41)) {
        CHECK_EQ_INT(tsr_simd_choose("sse41", NULL), TSR_SIMD_SSE41);
        CHECK_EQ_INT(tsr_simd_choose("neon", NULL), TSR_SIMD_SSE41); /* same rank */
    }
    if (tsr_simd_cpu_has(TSR_SIMD_NEON))
        CHECK_EQ_INT(tsr_simd_choose("sse41", NULL), TSR_SIMD_NEON);
    CHECK_EQ_INT(tsr_simd_choose("AVX2", &known), best()); /* names are lower case */
    CHECK(!known);
    CHECK_EQ_INT(tsr_simd_choose("avx-512", &known), best());
    CHECK(!known);
}

/* The active level is what $TESSERA_SIMD asks for in the environment
 * this test runs in (unset: auto). */
static void test_active(void) {
    CHECK_EQ_INT(tsr_simd_active(), tsr_simd_choose(getenv(TSR_SIMD_ENV), NULL));
    CHECK_EQ_INT(tsr_simd_active(), tsr_simd_active());
}

int main(void) {
    printf("     active: %s\n", tsr_simd_name(tsr_simd_active()));
    RUN(test_names);
    RUN(test_choose);
    RUN(test_active);
    return check_finish();
}
