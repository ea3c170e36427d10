/* Which vector instructions the kernels use: the best the CPU has, which
 * the environment variable TESSERA_SIMD may lower (never raise). x86-64
 * checks the CPU at run time (cpuid, through __builtin_cpu_supports), so
 * one binary runs everywhere; arm64 always has NEON, so its level is known
 * at compile time. Every kernel that has a SIMD path keeps a scalar twin
 * giving the same bytes (docs/internals/simd.md). */
#ifndef TESSERA_UTIL_SIMD_H
#define TESSERA_UTIL_SIMD_H

#include <stdbool.h>

#define TSR_SIMD_ENV "TESSERA_SIMD" /* scalar | sse41 | neon | avx2 | avx512 | auto */

/* Instruction sets, by rank: a request caps the rank (scalar < sse41 and
 * neon < avx2 < avx512), and the level used is the best one the CPU has
 * at or below the cap. The x86 levels are in rank order, so a kernel
 * without a 512-bit path of its own takes its AVX2 path with
 * `level >= TSR_SIMD_AVX2`. */
typedef enum tsr_simd_level {
    TSR_SIMD_SCALAR, /* portable C (the compiler may still vectorise for the baseline ISA) */
    TSR_SIMD_SSE41,  /* x86-64 SSE4.1 (128-bit) */
    TSR_SIMD_NEON,   /* arm64 Advanced SIMD (128-bit) */
    TSR_SIMD_AVX2,   /* x86-64 AVX2 (256-bit) */
    TSR_SIMD_AVX512, /* x86-64 AVX-512 F, BW and VBMI (512-bit; Ice Lake, Zen 4 and later) */
    TSR_SIMD_COUNT   /* number of levels */
} tsr_simd_level;

/* "scalar", "sse41", "neon", "avx2", "avx512". */
const char *tsr_simd_name(tsr_simd_level level);

/* Whether this CPU (and this build) can run `level`'s kernels. */
bool tsr_simd_cpu_has(tsr_simd_level level);

/* The best level the CPU has at or below the cap that `request` names
 * (NULL, "" or "auto": no cap). *known (may be NULL) is set false when
 * `request` is none of the names or auto; the level is then the best the
 * CPU has. */
tsr_simd_level tsr_simd_choose(const char *request, bool *known);

/* The level the kernels use in this process: tsr_simd_choose() of
 * $TESSERA_SIMD, read once (an unknown value is logged as a warning and
 * ignored). Thread-safe. */
tsr_simd_level tsr_simd_active(void);

#endif
