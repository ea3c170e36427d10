/* Shared by heif.c (detection, decode), heif_boxes.c (derived-image
 * limits) and heif_encode.c (AVIF and HEIC output), all over libheif. */
#ifndef TESSERA_HEIF_INTERNAL_H
#define TESSERA_HEIF_INTERNAL_H

#include <libheif/heif.h>

#include "codec_internal.h"

/* libheif's own ceiling on a side (MAX_IMAGE_WIDTH/HEIGHT in 1.15); our
 * limit is passed to libheif only when it is lower. */
#define TSR_HEIF_MAX_SIDE 32768
/* Most derived images (grid, iovl) a file may hold; each is checked. */
#define TSR_HEIF_MAX_DERIVED 256
/* Most iloc entries: libheif 1.15's MAX_ILOC_ITEMS, which it refuses past;
 * refused here first, so that the walk stays linear in a sane count. */
#define TSR_HEIF_MAX_ILOC_ITEMS 20000

/* The format the ftyp box at the start of `bytes` names: AVIF for the avif
 * and avis brands, HEIF for the HEVC brands and mif1/msf1, else UNKNOWN. */
tsr_format tsr_heif_brand_format(const uint8_t *bytes, size_t len);

/* Registers libheif's plugins once per process (heif_init); thread-safe. */
void tsr_heif_init(void);

/* Records libheif error `err` met while `doing`; returns its status:
 * LIMIT for libheif's security limits, CORRUPT for invalid or truncated
 * input, FORMAT for unsupported features and codecs, NOMEM, INTERNAL. */
tsr_status tsr_heif_fail(tsr_ctx *ctx, const char *what, struct heif_error err, const char *doing);

/* Checks the canvas of every derived image (grid, iovl) in the file
 * against the context's limits, before libheif decodes anything: libheif
 * 1.15 sizes a grid or overlay from its own payload, not from the ispe
 * property that the handle reports. Walks the boxes itself (ftyp, meta,
 * iinf, iloc, idat); a malformed walk is CORRUPT, over the limits LIMIT. */
tsr_status tsr_heif_check_derived(tsr_ctx *ctx, const char *what, const uint8_t *bytes, size_t len);

/* Encodes `image` as AVIF (AV1, aom) or HEIC (HEVC, x265) into `out`. */
tsr_status tsr_heif_encode(tsr_ctx *ctx, tsr_format format, const tsr_image *image,
                           const tsr_encode_options *opts, tsr_buffer *out);

/* Bytes a whole HEIF/AVIF decode of a w x h canvas holds at once: libheif's
 * planes and interleaved picture and ours, measured at 3 to 4 times an RGBA
 * image; checked against the single-buffer cap before decoding, so that a
 * declared or grid size the pixel caps let through (they are gigapixel for
 * the formats that stream) cannot make libheif allocate gigabytes. */
#define TSR_HEIF_DECODE_BYTES(w, h) ((uint64_t)(w) * (uint64_t)(h)*4u * 4u)

#endif
