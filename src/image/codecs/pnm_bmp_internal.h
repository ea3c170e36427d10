/* Shared between pnm.c/bmp.c (whole-image codecs) and raw_stream.c (rows). */
#ifndef TESSERA_PNM_BMP_INTERNAL_H
#define TESSERA_PNM_BMP_INTERNAL_H

#include "codec_internal.h"

/* The parsed PNM header. */
typedef struct pnm_header {
    int kind;        /* 1..6 from "P1".."P6" */
    uint32_t width;  /* columns */
    uint32_t height; /* rows */
    uint32_t maxval; /* largest sample value; 1 for bitmaps */
    int spp;         /* samples per pixel in the file: 1 or 3 */
    size_t data;     /* offset of the first sample */
} pnm_header;

/* What the BMP headers say, after validation. */
typedef struct bmp_header {
    int64_t width, height;   /* height made positive */
    bool top_down;           /* rows stored top first */
    int bpp;                 /* bits per pixel */
    uint32_t compression;    /* BI_* */
    uint32_t masks[4];       /* R, G, B, A bit masks for 16/32-bit */
    uint64_t data_offset;    /* first pixel byte */
    uint64_t row_bytes;      /* stored row length, padded to 4 */
    uint8_t palette[256][3]; /* RGB palette for <= 8 bpp */
    int colors;              /* palette entries present */
    int bands;               /* bands tessera decodes to */
} bmp_header;

/* What the BMP encoder writes: the headers and the size of each part. */
typedef struct bmp_layout {
    uint8_t head[14 + 108 + 1024]; /* file header, info or V4 header, gray palette */
    uint64_t data_offset;          /* header bytes: first pixel byte */
    uint64_t row_bytes;            /* stored row length, padded to 4 */
    uint64_t total;                /* bytes of the whole file */
} bmp_layout;

/* Parses a PNM header from the first `len` bytes of a file of `file_len`
 * bytes (binary pixel data is checked against file_len); checks limits. */
tsr_status tsr_pnm_parse(tsr_ctx *ctx, const uint8_t *b, size_t len, uint64_t file_len,
                         pnm_header *h);
/* A sample value scaled to 0..255 (clamped to maxval first). */
uint8_t tsr_pnm_scale(uint32_t v, uint32_t maxval);

/* Parses the BMP headers and palette from the first `len` bytes of a file
 * of `file_len` bytes; checks limits and the pixel data length. */
tsr_status tsr_bmp_parse(tsr_ctx *ctx, const uint8_t *b, size_t len, uint64_t file_len,
                         bmp_header *h);
/* Decodes one stored row into an image row of h->bands bands. */
void tsr_bmp_decode_row(const bmp_header *h, const uint8_t *src, uint8_t *dst);
/* Fills *l with the headers the encoder writes for a width x height image
 * of `bands` bands (8-bit gray palette, 24-bit, or 32-bit V4 with alpha for
 * 2 and 4 bands); TSR_ERR_USAGE when the file would pass 4 GiB. */
tsr_status tsr_bmp_layout(tsr_ctx *ctx, int width, int height, int bands, bmp_layout *l);
/* Converts one image row of `bands` bands to its stored form (gray, BGR or
 * BGRA): width * bpp / 8 bytes, the row padding is left as it is. */
void tsr_bmp_encode_row(const uint8_t *restrict src, int bands, int width, uint8_t *restrict dst);

#endif
