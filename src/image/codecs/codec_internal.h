/* Private interface between codec.c (dispatch, limits, orientation) and the
 * one-file-per-format codecs. */
#ifndef TESSERA_CODEC_INTERNAL_H
#define TESSERA_CODEC_INTERNAL_H

#include "tessera/codec.h"

/*
 * One file format. Every decoder checks the declared dimensions with
 * tsr_limits_check before it allocates pixels, fills `info` (never NULL
 * here) with the stored facts, and returns the image in its stored
 * orientation; codec.c applies EXIF orientation afterwards.
 */
typedef struct tsr_codec {
    tsr_format format;     /* the format this codec handles */
    const char *name;      /* "jpeg" */
    const char *mime;      /* "image/jpeg" */
    const char *extension; /* "jpg" */
    const char *aliases;   /* other accepted names, space separated */
    /* Whether `bytes` start like this format (magic bytes only). */
    bool (*sniff)(const uint8_t *bytes, size_t len);
    /* Reads the header into `info`; checks limits. */
    tsr_status (*info)(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info);
    /* Decodes the first frame; *out is owned by the caller. */
    tsr_status (*decode)(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                         const tsr_decode_options *opts, tsr_image **out, tsr_image_info *info);
    /* Encodes into `out`; NULL when this build cannot write the format. */
    tsr_status (*encode)(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                         tsr_buffer *out);
} tsr_codec;

extern const tsr_codec tsr_codec_jpeg;
extern const tsr_codec tsr_codec_png;
extern const tsr_codec tsr_codec_gif;
extern const tsr_codec tsr_codec_webp;
extern const tsr_codec tsr_codec_tiff;
extern const tsr_codec tsr_codec_bmp;
extern const tsr_codec tsr_codec_pnm;
extern const tsr_codec tsr_codec_heif;
extern const tsr_codec tsr_codec_avif;

/* Appends to an encoder's output, recording a message naming `what` on failure. */
tsr_status tsr_codec_append(tsr_ctx *ctx, tsr_buffer *out, const void *bytes, size_t n,
                            const char *what);

/* Converts one row of `width` pixels between band layouts: gray <-> RGB,
 * adding opaque alpha or dropping alpha as needed. RGB -> gray uses the
 * BT.601 integer weights. `src` and `dst` must not overlap. */
void tsr_codec_convert_row(const uint8_t *src, int src_bands, uint8_t *dst, int dst_bands,
                           int width);

/* EXIF orientation (1..8) from an EXIF blob (with or without the
 * "Exif\0\0" prefix); 1 when absent or unreadable. */
int tsr_exif_orientation(const uint8_t *exif, size_t len);

/* Replaces *image with a copy turned to orientation 1 from `orientation`.
 * On failure *image is left untouched. */
tsr_status tsr_image_orient(tsr_ctx *ctx, tsr_image **image, int orientation);

#endif
