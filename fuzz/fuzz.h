/* Shared by the libFuzzer targets and their replay programs. */
#ifndef TESSERA_FUZZ_H
#define TESSERA_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

/* The entry point every target defines (libFuzzer's name). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A context with small limits, so hostile headers fail fast instead of
 * allocating: 4096 px sides, 4 Mpx, 64 frames, 16 Mpx for all frames of
 * an animation, 64 MiB per buffer. */
static inline tsr_ctx *fuzz_ctx(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    if (ctx) {
        tsr_limits lim = {.max_file_bytes = 8u << 20,
                          .max_width = 4096,
                          .max_height = 4096,
                          .max_pixels = 4u << 20,
                          .max_frames = 64,
                          .max_alloc = 64u << 20,
                          .max_total_pixels = 16u << 20};
        tsr_ctx_set_limits(ctx, &lim);
    }
    return ctx;
}

#endif
