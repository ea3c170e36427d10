/* Shared between png.c (whole-image codec) and png_stream.c (rows). */
#ifndef TESSERA_PNG_INTERNAL_H
#define TESSERA_PNG_INTERNAL_H

#include <spng.h>

#include "codec_internal.h"

#define CHUNK_SIZE_LIMIT  (8u << 20)  /* largest single ancillary chunk kept (ICC, XMP fit) */
#define CHUNK_CACHE_LIMIT (32u << 20) /* all ancillary chunks together, inflated text too */

/* How rows come out of libspng and become image rows. */
typedef struct row_format {
    int fmt;         /* SPNG_FMT_* asked for */
    int samples;     /* samples per pixel in the decoded row */
    bool sixteen;    /* big-endian 16-bit samples (SPNG_FMT_RAW) */
    bool has_key;    /* 16-bit tRNS colour key to turn into alpha */
    uint16_t key[3]; /* the key: gray, or red, green, blue */
} row_format;

/* Sets tessera's image and chunk limits on a decoder; a libspng error code. */
int tsr_png_set_limits(spng_ctx *dec, const tsr_limits *l);
/* Records a libspng error `err` met while `doing`; returns its status. */
tsr_status tsr_png_fail(tsr_ctx *ctx, int err, const char *doing);
/* Reads IHDR/tRNS/eXIf and fills `info`; checks the dimension limits. */
tsr_status tsr_png_read_header(tsr_ctx *ctx, spng_ctx *dec, tsr_image_info *info,
                               struct spng_ihdr *ihdr);
/* Picks the libspng output format for an image decoded to `bands` bands. */
void tsr_png_pick_format(spng_ctx *dec, const struct spng_ihdr *ihdr, int bands, row_format *r);
/* Copies one decoded row into an image row of `bands` bands. */
void tsr_png_store_row(const uint8_t *src, const row_format *r, uint8_t *dst, int bands, int width);
/* Whether a complete IEND chunk lies in the last 64 KiB of `bytes` (the file's tail). */
bool tsr_png_has_iend(const uint8_t *bytes, size_t len);

#endif
