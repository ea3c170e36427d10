/* The SIMD level: CPU detection and the TESSERA_SIMD cap. */
#include "util/simd.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

static const char *const names[TSR_SIMD_COUNT] = {
    [TSR_SIMD_SCALAR] = "scalar", [TSR_SIMD_SSE41] = "sse41",   [TSR_SIMD_NEON] = "neon",
    [TSR_SIMD_AVX2] = "avx2",     [TSR_SIMD_AVX512] = "avx512",
};

/* The rank a level caps at: SSE4.1 and NEON are both 128-bit. */
static int rank(tsr_simd_level level) {
    switch (level) {
    case TSR_SIMD_SCALAR:
        return 0;
    case TSR_SIMD_AVX2:
        return 2;
    case TSR_SIMD_AVX512:
        return 3;
    default:
        return 1;
    }
}

const char *tsr_simd_name(tsr_simd_level level) {
    return (unsigned)level < TSR_SIMD_COUNT ? names[level] : "?";
}

bool tsr_simd_cpu_has(tsr_simd_level level) {
    switch (level) {
    case TSR_SIMD_SCALAR:
        return true;
#if defined(__x86_64__) || defined(__i386__)
    case TSR_SIMD_SSE41:
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse4.1");
    case TSR_SIMD_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    case TSR_SIMD_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi");
#endif
#if defined(__aarch64__)
    case TSR_SIMD_NEON:
        return true;
#endif
    default:
        return false;
    }
}

tsr_simd_level tsr_simd_choose(const char *request, bool *known) {
    int cap = 3;
    bool ok = true;
    if (request && *request && strcmp(request, "auto") != 0) {
        ok = false;
        for (int i = 0; i < TSR_SIMD_COUNT; i++)
            if (!strcmp(request, names[i])) {
                cap = rank((tsr_simd_level)i);
                ok = true;
            }
    }
    if (known)
        *known = ok;
    tsr_simd_level best = TSR_SIMD_SCALAR;
    for (int i = 0; i < TSR_SIMD_COUNT; i++)
        if (rank((tsr_simd_level)i) <= cap && rank((tsr_simd_level)i) >= rank(best) &&
            tsr_simd_cpu_has((tsr_simd_level)i))
            best = (tsr_simd_level)i;
    return best;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;
static tsr_simd_level active;

static void choose_once(void) {
    const char *request = getenv(TSR_SIMD_ENV);
    bool known;
    active = tsr_simd_choose(request, &known);
    if (!known) {
        tsr_log_field f[] = {TSR_LOG_FIELD_STRING("value", request),
                             TSR_LOG_FIELD_STRING("using", tsr_simd_name(active))};
        tsr_log(TSR_LOG_WARN,
                TSR_SIMD_ENV " is not scalar, sse41, neon, avx2, avx512 or auto; ignored", f, 2);
    }
}

tsr_simd_level tsr_simd_active(void) {
    pthread_once(&once, choose_once);
    return active;
}
