/* Shared between tiff.c (whole-image codec) and tiff_stream.c (rows). */
#ifndef TESSERA_TIFF_INTERNAL_H
#define TESSERA_TIFF_INTERNAL_H

#include <tiffio.h>

#include "codec_internal.h"

#define STRIP_BYTES (64u << 10) /* rows per strip aim at this many bytes */

/* The first libtiff error message of one open handle. */
typedef struct messages {
    char text[256]; /* "module: message"; empty when none */
} messages;

/* The facts of the current directory that pick a decode path. */
typedef struct layout {
    uint32_t width, height; /* pixels */
    uint16_t spp;           /* samples per pixel */
    uint16_t bps;           /* bits per sample */
    uint16_t photometric;   /* PHOTOMETRIC_* */
    uint16_t planar;        /* PLANARCONFIG_* */
    uint16_t format;        /* SAMPLEFORMAT_* */
    uint16_t extra;         /* extra samples (alpha and others) */
    uint16_t orientation;   /* ORIENTATION_* 1..8 as libtiff holds it; 1 when absent */
    bool direct;            /* strips/tiles copied directly, not via RGBA */
    int bands;              /* bands tessera decodes to */
} layout;

/* The client procedures of one kind of handle (memory or file). */
typedef struct tiff_procs {
    TIFFReadWriteProc read;  /* read at the handle's position */
    TIFFReadWriteProc write; /* write at the handle's position; -1 when read-only */
    TIFFSeekProc seek;       /* move the position */
    TIFFSizeProc size;       /* bytes in the file */
    TIFFMapFileProc map;     /* NULL: no mapping */
} tiff_procs;

/* A file position for libtiff's client procedures over a descriptor. */
typedef struct tiff_fd_handle {
    int fd;            /* the file */
    uint64_t pos;      /* current offset */
    uint64_t len;      /* bytes in the file */
    tsr_status status; /* first write failure */
} file_handle;

/* pread/pwrite procedures over a file_handle (tiff_stream.c). */
extern const tiff_procs tsr_tiff_fd_procs;

/* Opens `handle` through `procs` with tessera's allocation cap and handlers
 * that record the first message into `m`; NULL on failure. */
TIFF *tsr_tiff_open(tsr_ctx *ctx, thandle_t handle, const char *mode, messages *m,
                    const tiff_procs *procs);
/* Records `st` with what was being done and libtiff's message. */
tsr_status tsr_tiff_fail(tsr_ctx *ctx, tsr_status st, const messages *m, const char *doing);
/* Reads the layout of the first directory into `l` and `info` (orientation
 * included: tag 274, 1..8, anything else 1); checks limits and pages. */
tsr_status tsr_tiff_header(tsr_ctx *ctx, TIFF *tif, layout *l, tsr_image_info *info);
/* Copies `w` pixels of decoded samples into 8-bit image samples (16-bit
 * samples keep their high byte, MINISWHITE is inverted). */
void tsr_tiff_store(const layout *l, const uint8_t *src, uint8_t *dst, uint32_t w);
/* Allocates a strip or tile buffer of `size` bytes under the allocation cap. */
tsr_status tsr_tiff_chunk_buffer(tsr_ctx *ctx, tmsize_t size, uint8_t **out);
/* Sets the tags tessera writes: 8-bit contiguous strips of ~STRIP_BYTES,
 * Deflate at `compression` 1..9, otherwise uncompressed. */
void tsr_tiff_set_tags(TIFF *tif, int width, int height, int bands, int compression);
/* "w" or "w8" (BigTIFF past 3 GiB of pixels). */
const char *tsr_tiff_write_mode(int width, int height, int bands);

#endif
