/* Image file formats: detection from bytes, header inspection, decode, encode. */
#ifndef TESSERA_CODEC_H
#define TESSERA_CODEC_H

#include "tessera/image.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tsr_format {
    TSR_FORMAT_UNKNOWN = 0,
    TSR_FORMAT_JPEG,
    TSR_FORMAT_PNG,
    TSR_FORMAT_GIF,
    TSR_FORMAT_WEBP,
    TSR_FORMAT_TIFF,
    TSR_FORMAT_BMP,
    TSR_FORMAT_PNM,
    TSR_FORMAT_HEIF, /* HEIF with HEVC (HEIC) and the other non-AV1 brands */
    TSR_FORMAT_AVIF, /* HEIF with AV1 */
    TSR_FORMAT_COUNT
} tsr_format;

/* What a file's header says, read without decoding pixels. */
typedef struct tsr_image_info {
    tsr_format format; /* detected from the bytes */
    int width;         /* as stored (before EXIF orientation) */
    int height;        /* as stored */
    int bands;         /* bands tessera decodes to: 1..4 */
    int bit_depth;     /* bits per sample in the file (8, 10, 12 or 16; 1/2/4 for palettes) */
    int frames;        /* frames or pages; 1 for still formats */
    int orientation;   /* EXIF orientation 1..8; 1 when absent */
} tsr_image_info;

typedef struct tsr_decode_options {
    int shrink;         /* JPEG shrink-on-load: 1, 2, 4 or 8 (0 = 1); other formats ignore it */
    bool no_autorotate; /* keep the stored orientation instead of applying EXIF orientation
                           (HEIF/AVIF: the coded image, without irot, imir and clap) */
    int frame; /* GIF, WebP: the frame to decode, composed (0 = the first); others ignore it */
} tsr_decode_options;

/* How an encoded image is laid out on disk (row writers only: tsr_image_encode
 * writes TSR_LAYOUT_SINGLE and refuses the others). */
typedef enum tsr_layout {
    TSR_LAYOUT_SINGLE = 0, /* one image in one file */
    TSR_LAYOUT_PYRAMID,    /* TIFF only: 256x256 tiles, then each level halved (2x2 box
                              average) down to <= 256 px on the longer side, as pages
                              marked NewSubfileType = reduced image (docs/formats.md) */
    TSR_LAYOUT_DZI,        /* Deep Zoom: NAME.dzi plus NAME_files/LEVEL/COL_ROW.EXT tiles
                              (254 px, overlap 1) in the format (JPEG or PNG); through a
                              file descriptor, one stored zip holding both */
} tsr_layout;

typedef struct tsr_encode_options {
    int quality;       /* 1..100 for JPEG, lossy WebP, AVIF and HEIC; 0 = default (85; AVIF
                          and HEIC 60) */
    int compression;   /* PNG zlib level 0..9, -1 = default (6) */
    bool lossless;     /* WebP lossless; AVIF and HEIC lossless (4:4:4, identity matrix) */
    tsr_layout layout; /* row writers: SINGLE (the zero default), PYRAMID or DZI */
    int speed;         /* AVIF and HEIC encoder speed 1 (slowest, smallest) ..9 (fastest);
                          0 = default (6) */
} tsr_encode_options;

/* Detects the format from the first bytes; never from a file name. */
tsr_format tsr_format_detect(const uint8_t *bytes, size_t len);
/* "jpeg", "png", ...; "unknown" for TSR_FORMAT_UNKNOWN. */
const char *tsr_format_name(tsr_format format);
/* "image/jpeg", ... */
const char *tsr_format_mime(tsr_format format);
/* Usual file extension without the dot ("jpg"). */
const char *tsr_format_extension(tsr_format format);
/* Parses a format name or extension ("jpg", "JPEG", "tif"); UNKNOWN if none. */
tsr_format tsr_format_from_name(const char *name);
/* Whether this build can write the format. */
bool tsr_format_can_encode(tsr_format format);

/* Output names beyond the formats: "dzi" (Deep Zoom, JPEG tiles) and
 * "dzi-png" (PNG tiles), also the ".dzi" extension, set *format to the tile
 * format and *layout to TSR_LAYOUT_DZI and return true; "tiff-pyramid" (the
 * name the service records) sets TIFF and TSR_LAYOUT_PYRAMID; any other name
 * sets tsr_format_from_name(name) and TSR_LAYOUT_SINGLE and returns whether
 * that format is known. */
bool tsr_output_from_name(const char *name, tsr_format *format, tsr_layout *layout);
/* The name tsr_output_from_name reads back: "dzi", "dzi-png", "tiff-pyramid"
 * or the format's name. */
const char *tsr_output_name(tsr_format format, tsr_layout layout);

/* Reads the header: format, dimensions, bands, frames. Checks limits. */
tsr_status tsr_image_info_read(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                               tsr_image_info *info);

/* Decodes the first frame to 8-bit pixels (16-bit samples are scaled down,
 * palettes expanded, CMYK converted to RGB). Limits are checked from the
 * header before any pixel buffer is allocated; a truncated or corrupt input
 * fails with TSR_ERR_CORRUPT and no image. `opts` may be NULL. `info`, when
 * not NULL, receives the header facts. The caller frees *out. */
tsr_status tsr_image_decode(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                            const tsr_decode_options *opts, tsr_image **out, tsr_image_info *info);

/* Encodes `image` into `out` (initialised by the caller, freed by the caller).
 * `opts` may be NULL. */
tsr_status tsr_image_encode(tsr_ctx *ctx, const tsr_image *image, tsr_format format,
                            const tsr_encode_options *opts, tsr_buffer *out);

/* File helpers: read whole with the context's byte cap (and its single-buffer cap),
 * decode; encode, write atomically. */
tsr_status tsr_image_load(tsr_ctx *ctx, const char *path, const tsr_decode_options *opts,
                          tsr_image **out, tsr_image_info *info);
tsr_status tsr_image_save(tsr_ctx *ctx, const tsr_image *image, const char *path, tsr_format format,
                          const tsr_encode_options *opts);

#ifdef __cplusplus
}
#endif
#endif
