/* Shared between jpeg.c (whole-image codec) and jpeg_stream.c (rows). */
#ifndef TESSERA_JPEG_INTERNAL_H
#define TESSERA_JPEG_INTERNAL_H

#include <setjmp.h>
#include <stdio.h>

#include <jpeglib.h>

#include "codec_internal.h"

#define MAX_SCANS       1000 /* more progressive scans than this is a CPU bomb */
#define DEFAULT_QUALITY 85

/* libjpeg's error manager extended with a jump target and a message. */
typedef struct error_mgr {
    struct jpeg_error_mgr pub;     /* libjpeg's part; must come first */
    jmp_buf jump;                  /* where error_exit returns to */
    tsr_status status;             /* status to report after the jump */
    char message[JMSG_LENGTH_MAX]; /* the library's message */
} error_mgr;

/* Installs tessera's handlers: errors and data warnings longjmp to err->jump. */
void tsr_jpeg_init_error(error_mgr *err);
/* Progress monitor capping progressive scans at MAX_SCANS. */
void tsr_jpeg_progress(j_common_ptr cinfo);
/* Fills `info` from the header read into `d` (APP1 markers saved); checks limits. */
tsr_status tsr_jpeg_header_info(tsr_ctx *ctx, j_decompress_ptr d, tsr_image_info *info);
/* Adobe (inverted) CMYK row to RGB, as OpenCV does it. */
void tsr_jpeg_cmyk_row(const uint8_t *src, uint8_t *dst, int width);
/* Source and destination managers over `fd` (read and written at its
 * offset, never closed) with a 256 KiB buffer (jpeg_fdio.c). */
void tsr_jpeg_fd_src(j_decompress_ptr d, int fd);
void tsr_jpeg_fd_dest(j_compress_ptr c, int fd);

#endif
