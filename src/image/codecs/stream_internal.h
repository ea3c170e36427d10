/* Private interface between stream.c (file handling, dispatch, whole-image
 * fallbacks) and the per-format streaming readers and writers. */
#ifndef TESSERA_STREAM_INTERNAL_H
#define TESSERA_STREAM_INTERNAL_H

#include "codec_internal.h"
#include "tessera/stream.h"

/* A row reader. The per-format part lives behind `state`. */
struct tsr_row_reader {
    tsr_ctx *ctx;      /* where errors go; borrowed */
    int fd;            /* the input file, read with pread or read */
    uint64_t file_len; /* bytes in the file at open */
    int width, height; /* rows delivered are width x height */
    int bands;         /* bands of the rows delivered */
    int next_row;      /* index of the next row to deliver */
    bool streams;      /* rows decoded incrementally */
    tsr_status error;  /* first failure; sticky */
    tsr_image *image;  /* fallback: the whole decoded image */
    void *state;       /* per-format decoder state */
    /* Decodes the next `rows` rows (the caller checked the range). */
    tsr_status (*read)(tsr_row_reader *r, uint8_t *dst, size_t stride, int rows);
    /* Frees `state`. */
    void (*close)(tsr_row_reader *r);
};

/* A row writer. The per-format part lives behind `state`. */
struct tsr_row_writer {
    tsr_ctx *ctx;             /* where errors go; borrowed */
    char *path;               /* final path; owned */
    char *temp;               /* temporary file; owned; NULL once renamed */
    int fd;                   /* the temporary file */
    tsr_format format;        /* output format */
    int width, height, bands; /* the image being written */
    int rows_done;            /* rows written so far */
    bool streams;             /* rows encoded as they come */
    tsr_status error;         /* first failure; sticky */
    tsr_encode_options opts;  /* encoder options, defaulted */
    tsr_image *image;         /* fallback: rows collected here */
    void *state;              /* per-format encoder state */
    /* Encodes `rows` rows (the caller checked the range). */
    tsr_status (*write)(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows);
    /* Completes the file after the last row (before fsync). */
    tsr_status (*finish)(tsr_row_writer *w);
    /* Frees `state`. */
    void (*close)(tsr_row_writer *w);
    bool direct;        /* writes into a caller's fd (tsr_row_writer_open_fd): no temp, no rename */
    bool finished;      /* direct: finish succeeded, no more rows */
    uint64_t unflushed; /* pixel bytes passed in since the last early writeback */
};

/*
 * Per-format openers. A reader opener either sets r->read/close/state and
 * the shape (streaming), or sets *fallback and returns TSR_OK without
 * recording an error, when the layout cannot stream. `info` is never NULL.
 */
tsr_status tsr_jpeg_reader_open(tsr_row_reader *r, const tsr_decode_options *opts,
                                tsr_image_info *info, bool *fallback);
tsr_status tsr_png_reader_open(tsr_row_reader *r, const tsr_decode_options *opts,
                               tsr_image_info *info, bool *fallback);
tsr_status tsr_tiff_reader_open(tsr_row_reader *r, const tsr_decode_options *opts,
                                tsr_image_info *info, bool *fallback);
tsr_status tsr_pnm_reader_open(tsr_row_reader *r, tsr_image_info *info, bool *fallback);
tsr_status tsr_bmp_reader_open(tsr_row_reader *r, tsr_image_info *info, bool *fallback);

/* Writer openers: set w->write/finish/close/state. The BMP opener sets
 * *fallback instead (recording no error) when w->fd cannot seek or appends:
 * then the rows are collected and encoded at finish. */
tsr_status tsr_jpeg_writer_open(tsr_row_writer *w);
tsr_status tsr_png_writer_open(tsr_row_writer *w);
tsr_status tsr_tiff_writer_open(tsr_row_writer *w);
tsr_status tsr_pnm_writer_open(tsr_row_writer *w);
tsr_status tsr_bmp_writer_open(tsr_row_writer *w, bool *fallback);

/* pread of exactly n bytes at `offset`; false on error or end of file. */
bool tsr_stream_pread(int fd, void *dst, size_t n, uint64_t offset);
/* write of all n bytes; TSR_ERR_IO (recorded, naming the writer's path) on failure. */
tsr_status tsr_stream_write(tsr_row_writer *w, const void *src, size_t n);
/* pwrite of all n bytes at `offset`; errors as tsr_stream_write. */
tsr_status tsr_stream_pwrite(tsr_row_writer *w, const void *src, size_t n, uint64_t offset);

#endif
