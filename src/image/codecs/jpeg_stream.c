/* JPEG row streaming: scanlines decoded from the file's descriptor
 * (shrink-on-load via scale_denom; an EXIF orientation other than 1 falls
 * back to the whole decode, whose rows come out turned), and encoded into
 * the temporary file's descriptor, both through jpeg_fdio.c's buffers. */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>

#include "jpeg_internal.h"
#include "stream_internal.h"

/* Decoder state of one reader. */
typedef struct jpeg_reader {
    struct jpeg_decompress_struct d; /* the decompressor */
    struct jpeg_progress_mgr prog;   /* caps progressive scans */
    error_mgr err;                   /* longjmps to the current call */
    bool cmyk;                       /* rows come as CMYK and are converted */
    bool started;                    /* jpeg_start_decompress ran (at the first read) */
    uint8_t *row;                    /* CMYK row buffer */
} jpeg_reader;

/* Encoder state of one writer. */
typedef struct jpeg_writer {
    struct jpeg_compress_struct c; /* the compressor */
    error_mgr err;                 /* longjmps to the current call */
    int bands;                     /* 1 or 3: bands written */
    uint8_t *row;                  /* band conversion buffer */
} jpeg_writer;

static void close_reader(tsr_row_reader *r) {
    jpeg_reader *s = r->state;
    if (!s)
        return;
    jpeg_destroy_decompress(&s->d);
    free(s->row);
    free(s);
}

/* Decodes `rows` scanlines; finishes the decompressor after the last. */
static void scan_rows(jpeg_reader *s, uint8_t *dst, size_t stride, int rows) {
    for (int i = 0; i < rows; i++) {
        uint8_t *line = dst + (size_t)i * stride;
        JSAMPROW target = s->cmyk ? s->row : line;
        if (jpeg_read_scanlines(&s->d, &target, 1) != 1)
            ERREXIT(&s->d, JERR_INPUT_EOF);
        if (s->cmyk)
            tsr_jpeg_cmyk_row(s->row, line, (int)s->d.output_width);
    }
    if (s->d.output_scanline == s->d.output_height)
        jpeg_finish_decompress(&s->d);
}

static tsr_status read_rows(tsr_row_reader *r, uint8_t *dst, size_t stride, int rows) {
    jpeg_reader *s = r->state;
    if (setjmp(s->err.jump))
        return tsr_error(r->ctx, s->err.status, "jpeg: %s", s->err.message);
    if (!s->started) {
        jpeg_start_decompress(&s->d);
        s->started = true;
    }
    scan_rows(s, dst, stride, rows);
    return TSR_OK;
}

/* Reads the header; sets *fallback for oriented files, else starts decoding. */
static tsr_status start(tsr_row_reader *r, jpeg_reader *s, const tsr_decode_options *opts,
                        tsr_image_info *info, bool *fallback) {
    uint64_t mem = tsr_ctx_limits(r->ctx)->max_alloc;
    jpeg_create_decompress(&s->d);
    s->d.progress = &s->prog;
    s->d.mem->max_memory_to_use = (long)(mem > 0x7fffffffffffll ? 0x7fffffffffffll : mem);
    tsr_jpeg_fd_src(&s->d, r->fd);
    jpeg_save_markers(&s->d, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&s->d, TRUE);
    tsr_status st = tsr_jpeg_header_info(r->ctx, &s->d, info);
    if (st)
        return st;
    if (!opts->no_autorotate && info->orientation > 1 && info->orientation <= 8) {
        *fallback = true;
        return TSR_OK;
    }
    int shrink = opts->shrink;
    if (shrink == 2 || shrink == 4 || shrink == 8) {
        s->d.scale_num = 1;
        s->d.scale_denom = (unsigned)shrink;
    } else if (shrink > 1) {
        return tsr_error(r->ctx, TSR_ERR_USAGE, "jpeg: shrink %d is not 1, 2, 4 or 8", shrink);
    }
    s->cmyk = s->d.jpeg_color_space == JCS_CMYK || s->d.jpeg_color_space == JCS_YCCK;
    s->d.out_color_space = info->bands == 1 ? JCS_GRAYSCALE : s->cmyk ? JCS_CMYK : JCS_RGB;
    /* The decoder starts at the first read: a reader opened for its header
     * only (image_run.c opens a JPEG once to choose its shrink-on-load, then
     * again with it) never sets up full-size buffers, nor reads the whole of
     * a progressive file, which jpeg_start_decompress does. */
    jpeg_calc_output_dimensions(&s->d);
    r->width = (int)s->d.output_width;
    r->height = (int)s->d.output_height;
    r->bands = info->bands;
    if (s->cmyk && !(s->row = malloc((size_t)r->width * 4)))
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "jpeg: out of memory");
    r->read = read_rows;
    return TSR_OK;
}

tsr_status tsr_jpeg_reader_open(tsr_row_reader *r, const tsr_decode_options *opts,
                                tsr_image_info *info, bool *fallback) {
    jpeg_reader *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(r->ctx, TSR_ERR_NOMEM, "jpeg: out of memory");
    r->state = s;
    r->close = close_reader;
    tsr_jpeg_init_error(&s->err);
    s->d.err = &s->err.pub;
    s->prog.progress_monitor = tsr_jpeg_progress;
    if (setjmp(s->err.jump))
        return tsr_error(r->ctx, s->err.status, "jpeg: %s", s->err.message);
    return start(r, s, opts, info, fallback);
}

/* The status of a compressor failure: write errors are I/O. */
static tsr_status write_failure(tsr_row_writer *w, jpeg_writer *s) {
    tsr_status st = s->err.pub.msg_code == JERR_FILE_WRITE ? TSR_ERR_IO : TSR_ERR_INTERNAL;
    return tsr_error(w->ctx, st, "jpeg: %s: encoding failed: %s", w->path, s->err.message);
}

static void close_writer(tsr_row_writer *w) {
    jpeg_writer *s = w->state;
    if (!s)
        return;
    jpeg_destroy_compress(&s->c);
    free(s->row);
    free(s);
}

static void put_rows(tsr_row_writer *w, jpeg_writer *s, const uint8_t *src, size_t stride,
                     int rows) {
    for (int i = 0; i < rows; i++) {
        JSAMPROW line = (JSAMPROW)(src + (size_t)i * stride);
        if (w->bands != s->bands) {
            tsr_codec_convert_row(line, w->bands, s->row, s->bands, w->width);
            line = s->row;
        }
        jpeg_write_scanlines(&s->c, &line, 1);
    }
}

static tsr_status write_rows(tsr_row_writer *w, const uint8_t *src, size_t stride, int rows) {
    jpeg_writer *s = w->state;
    if (setjmp(s->err.jump))
        return write_failure(w, s);
    put_rows(w, s, src, stride, rows);
    return TSR_OK;
}

static tsr_status finish_file(tsr_row_writer *w) {
    jpeg_writer *s = w->state;
    if (setjmp(s->err.jump))
        return write_failure(w, s);
    jpeg_finish_compress(&s->c); /* writes the rest; a refused write is JERR_FILE_WRITE */
    return TSR_OK;
}

static void start_compress(tsr_row_writer *w, jpeg_writer *s) {
    jpeg_create_compress(&s->c);
    tsr_jpeg_fd_dest(&s->c, w->fd);
    s->c.image_width = (JDIMENSION)w->width;
    s->c.image_height = (JDIMENSION)w->height;
    s->c.input_components = s->bands;
    s->c.in_color_space = s->bands == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&s->c);
    jpeg_set_quality(&s->c, w->opts.quality > 0 ? w->opts.quality : DEFAULT_QUALITY, TRUE);
    jpeg_start_compress(&s->c, TRUE);
}

tsr_status tsr_jpeg_writer_open(tsr_row_writer *w) {
    jpeg_writer *s = calloc(1, sizeof *s);
    if (!s)
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "jpeg: out of memory");
    w->state = s;
    w->close = close_writer;
    w->write = write_rows;
    w->finish = finish_file;
    s->bands = w->bands >= 3 ? 3 : 1;
    if (!(s->row = malloc((size_t)w->width * 3)))
        return tsr_error(w->ctx, TSR_ERR_NOMEM, "jpeg: out of memory");
    tsr_jpeg_init_error(&s->err);
    s->c.err = &s->err.pub;
    if (setjmp(s->err.jump))
        return write_failure(w, s);
    start_compress(w, s);
    return TSR_OK;
}
