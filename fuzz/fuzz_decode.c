/*
 * One decoder, chosen at build time by FUZZ_FORMAT (TSR_FORMAT_PNG, ...):
 * header inspection and full decode under small limits. Inputs that are
 * not of that format are skipped, so each target stays on its decoder.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "tessera/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (tsr_format_detect(data, size) != FUZZ_FORMAT)
        return 0;
    tsr_ctx *ctx = fuzz_ctx();
    if (!ctx)
        return 0;
    tsr_image_info info;
    (void)tsr_image_info_read(ctx, data, size, &info);
    tsr_ctx_reset(ctx);
    tsr_image *img = NULL;
    tsr_status st = tsr_image_decode(ctx, data, size, NULL, &img, &info);
    if (st == TSR_OK && (!img || img->width < 1 || img->height < 1))
        abort(); /* success must give an image */
    if (st != TSR_OK && img)
        abort(); /* failure must give none */
    tsr_image_free(img);
    if (FUZZ_FORMAT == TSR_FORMAT_JPEG) { /* shrink-on-load path */
        tsr_decode_options opts = {8, true};
        tsr_ctx_reset(ctx);
        img = NULL;
        (void)tsr_image_decode(ctx, data, size, &opts, &img, NULL);
        tsr_image_free(img);
    }
    tsr_ctx_free(ctx);
    return 0;
}
