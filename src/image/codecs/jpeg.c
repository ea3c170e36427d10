/* JPEG through libjpeg-turbo: scanline decode (gray stays 1 band, CMYK and
 * YCCK become RGB), shrink-on-load, EXIF orientation, quality encode.
 * Library errors and corrupt-data warnings end the decode with a longjmp. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "jpeg_internal.h"

#define OUT_CHUNK 65536 /* destination buffer growth step */

/* Records the library's message and jumps back to the decoder. */
static void error_exit(j_common_ptr cinfo) {
    error_mgr *err = (error_mgr *)cinfo->err;
    err->pub.format_message(cinfo, err->message);
    if (err->status == TSR_OK)
        err->status = err->pub.msg_code == JERR_OUT_OF_MEMORY ? TSR_ERR_LIMIT : TSR_ERR_CORRUPT;
    longjmp(err->jump, 1);
}

/* Warnings about the file's data (premature end, bad Huffman code, ...) are
 * errors: a truncated JPEG must fail rather than give a grey-filled image.
 * Harmless notes about headers are ignored, as is trace output. */
static void emit_message(j_common_ptr cinfo, int level) {
    error_mgr *err = (error_mgr *)cinfo->err;
    if (level != -1)
        return;
    switch (err->pub.msg_code) {
    case JWRN_JFIF_MAJOR:
    case JWRN_ADOBE_XFORM:
    case JWRN_BOGUS_ICC:
    case JWRN_EXTRANEOUS_DATA:
        return;
    default:
        error_exit(cinfo);
    }
}

/* Caps the number of progressive scans (each one re-walks the coefficients). */
void tsr_jpeg_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor)
        return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->progressive_mode && d->input_scan_number > MAX_SCANS) {
        error_mgr *err = (error_mgr *)cinfo->err;
        snprintf(err->message, sizeof err->message, "more than %d progressive scans", MAX_SCANS);
        err->status = TSR_ERR_LIMIT;
        longjmp(err->jump, 1);
    }
}

static bool sniff(const uint8_t *b, size_t len) {
    return len >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

void tsr_jpeg_init_error(error_mgr *err) {
    jpeg_std_error(&err->pub);
    err->pub.error_exit = error_exit;
    err->pub.emit_message = emit_message;
    err->status = TSR_OK;
    err->message[0] = '\0';
}

/* EXIF orientation from the saved APP1 markers; 1 when none. */
static int orientation_of(j_decompress_ptr d) {
    for (jpeg_saved_marker_ptr m = d->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
            memcmp(m->data, "Exif\0\0", 6) == 0)
            return tsr_exif_orientation(m->data, m->data_length);
    return 1;
}

/* Fills `info` from the header read into `d`; checks limits. */
tsr_status tsr_jpeg_header_info(tsr_ctx *ctx, j_decompress_ptr d, tsr_image_info *info) {
    info->width = (int)d->image_width;
    info->height = (int)d->image_height;
    info->bands = d->jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
    info->bit_depth = d->data_precision;
    info->frames = 1;
    info->orientation = orientation_of(d);
    return tsr_limits_check(ctx, "jpeg", d->image_width, d->image_height, info->bands);
}

/* Sets up a decompressor over `bytes` and reads the header. Call inside setjmp. */
static void start_header(j_decompress_ptr d, const uint8_t *bytes, size_t len, uint64_t mem) {
    d->mem->max_memory_to_use = (long)(mem > 0x7fffffffffffll ? 0x7fffffffffffll : mem);
    jpeg_mem_src(d, bytes, (unsigned long)len);
    jpeg_save_markers(d, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(d, TRUE);
}

static tsr_status info_jpeg(tsr_ctx *ctx, const uint8_t *bytes, size_t len, tsr_image_info *info) {
    struct jpeg_decompress_struct d;
    error_mgr err;
    volatile tsr_status st = TSR_OK;
    tsr_jpeg_init_error(&err);
    d.err = &err.pub;
    if (setjmp(err.jump)) {
        st = tsr_error(ctx, err.status, "jpeg: %s", err.message);
        goto out;
    }
    jpeg_create_decompress(&d);
    start_header(&d, bytes, len, tsr_ctx_limits(ctx)->max_alloc);
    st = tsr_jpeg_header_info(ctx, &d, info);
out:
    jpeg_destroy_decompress(&d);
    return st;
}

/* Adobe CMYK (stored inverted) to RGB, as OpenCV does it. */
void tsr_jpeg_cmyk_row(const uint8_t *src, uint8_t *dst, int width) {
    for (int x = 0; x < width; x++, src += 4, dst += 3) {
        int k = src[3];
        dst[0] = (uint8_t)(k - ((255 - src[0]) * k >> 8));
        dst[1] = (uint8_t)(k - ((255 - src[1]) * k >> 8));
        dst[2] = (uint8_t)(k - ((255 - src[2]) * k >> 8));
    }
}

static tsr_status decode_jpeg(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                              const tsr_decode_options *opts, tsr_image **out,
                              tsr_image_info *info) {
    struct jpeg_decompress_struct d;
    struct jpeg_progress_mgr prog = {.progress_monitor = tsr_jpeg_progress};
    error_mgr err;
    tsr_image *volatile image = NULL;
    uint8_t *volatile row = NULL;
    volatile tsr_status st = TSR_OK;
    tsr_jpeg_init_error(&err);
    d.err = &err.pub;
    if (setjmp(err.jump)) {
        st = tsr_error(ctx, err.status, "jpeg: %s", err.message);
        goto out;
    }
    jpeg_create_decompress(&d);
    d.progress = &prog;
    start_header(&d, bytes, len, tsr_ctx_limits(ctx)->max_alloc);
    st = tsr_jpeg_header_info(ctx, &d, info);
    if (st)
        goto out;
    bool cmyk = d.jpeg_color_space == JCS_CMYK || d.jpeg_color_space == JCS_YCCK;
    d.out_color_space = info->bands == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    int shrink = opts->shrink;
    if (shrink == 2 || shrink == 4 || shrink == 8) {
        d.scale_num = 1;
        d.scale_denom = (unsigned)shrink;
    } else if (shrink > 1) {
        st = tsr_error(ctx, TSR_ERR_USAGE, "jpeg: shrink %d is not 1, 2, 4 or 8", shrink);
        goto out;
    }
    jpeg_start_decompress(&d);
    tsr_image *img;
    st = tsr_image_new(ctx, (int)d.output_width, (int)d.output_height, info->bands, &img);
    if (st)
        goto out;
    image = img;
    if (cmyk) {
        row = malloc((size_t)d.output_width * 4);
        if (!row) {
            st = tsr_error(ctx, TSR_ERR_NOMEM, "jpeg: out of memory");
            goto out;
        }
    }
    while (d.output_scanline < d.output_height) {
        uint8_t *dst = image->data + (size_t)d.output_scanline * image->stride;
        JSAMPROW target = cmyk ? row : dst;
        jpeg_read_scanlines(&d, &target, 1);
        if (cmyk)
            tsr_jpeg_cmyk_row(row, dst, image->width);
    }
    jpeg_finish_decompress(&d);
out:
    jpeg_destroy_decompress(&d);
    free(row);
    if (st) {
        tsr_image_free(image);
        return st;
    }
    *out = image;
    return TSR_OK;
}

/* A libjpeg destination that appends to a tsr_buffer. */
typedef struct dest_mgr {
    struct jpeg_destination_mgr pub; /* libjpeg's part; must come first */
    tsr_buffer *out;                 /* where finished chunks go */
    uint8_t chunk[OUT_CHUNK];        /* libjpeg writes here */
    tsr_status status;               /* first append failure */
} dest_mgr;

static void init_destination(j_compress_ptr c) {
    dest_mgr *dm = (dest_mgr *)c->dest;
    dm->pub.next_output_byte = dm->chunk;
    dm->pub.free_in_buffer = OUT_CHUNK;
}

static boolean empty_output_buffer(j_compress_ptr c) {
    dest_mgr *dm = (dest_mgr *)c->dest;
    dm->status = tsr_buffer_append(dm->out, dm->chunk, OUT_CHUNK);
    if (dm->status)
        ERREXIT(c, JERR_FILE_WRITE);
    init_destination(c);
    return TRUE;
}

static void term_destination(j_compress_ptr c) {
    dest_mgr *dm = (dest_mgr *)c->dest;
    dm->status = tsr_buffer_append(dm->out, dm->chunk, OUT_CHUNK - dm->pub.free_in_buffer);
    if (dm->status)
        ERREXIT(c, JERR_FILE_WRITE);
}

static tsr_status encode_jpeg(tsr_ctx *ctx, const tsr_image *image, const tsr_encode_options *opts,
                              tsr_buffer *out) {
    struct jpeg_compress_struct c;
    error_mgr err;
    dest_mgr *volatile dm = NULL;
    uint8_t *volatile row = NULL;
    volatile tsr_status st = TSR_OK;
    int bands = image->bands >= 3 ? 3 : 1;
    tsr_jpeg_init_error(&err);
    c.err = &err.pub;
    if (setjmp(err.jump)) {
        tsr_status s = dm && dm->status ? dm->status : TSR_ERR_INTERNAL;
        st = tsr_error(ctx, s, "jpeg: encoding failed: %s", err.message);
        goto out;
    }
    jpeg_create_compress(&c);
    dest_mgr *d = calloc(1, sizeof *d);
    row = malloc((size_t)image->width * 3);
    if (!d || !row) {
        free(d);
        st = tsr_error(ctx, TSR_ERR_NOMEM, "jpeg: out of memory");
        goto out;
    }
    dm = d;
    d->out = out;
    d->pub.init_destination = init_destination;
    d->pub.empty_output_buffer = empty_output_buffer;
    d->pub.term_destination = term_destination;
    c.dest = &d->pub;
    c.image_width = (JDIMENSION)image->width;
    c.image_height = (JDIMENSION)image->height;
    c.input_components = bands;
    c.in_color_space = bands == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, opts->quality > 0 ? opts->quality : DEFAULT_QUALITY, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        const uint8_t *src = image->data + (size_t)c.next_scanline * image->stride;
        JSAMPROW line = (JSAMPROW)src;
        if (image->bands != bands) {
            tsr_codec_convert_row(src, image->bands, row, bands, image->width);
            line = row;
        }
        jpeg_write_scanlines(&c, &line, 1);
    }
    jpeg_finish_compress(&c);
out:
    jpeg_destroy_compress(&c);
    free(dm);
    free(row);
    return st;
}

const tsr_codec tsr_codec_jpeg = {
    .format = TSR_FORMAT_JPEG,
    .name = "jpeg",
    .mime = "image/jpeg",
    .extension = "jpg",
    .aliases = "jpe jfif",
    .sniff = sniff,
    .info = info_jpeg,
    .decode = decode_jpeg,
    .encode = encode_jpeg,
};
