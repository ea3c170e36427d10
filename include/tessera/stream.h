/*
 * Streaming codecs: decode rows top to bottom from a file, and encode rows
 * top to bottom into a file, so a pipeline of local ops can run over an
 * image much larger than memory holds in a window of rows.
 *
 * Formats that can stream do so natively (JPEG scanlines, non-interlaced PNG
 * rows, TIFF strips and tile rows, PNM and top-down BMP rows); the others
 * (GIF, WebP, interlaced PNG, oriented JPEG, bottom-up BMP, odd TIFF layouts)
 * are decoded whole behind the same interface, and their writers collect
 * the rows then encode once. tsr_row_reader_streams()/tsr_row_writer_streams()
 * tell which happened.
 */
#ifndef TESSERA_STREAM_H
#define TESSERA_STREAM_H

#include "tessera/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tsr_row_reader tsr_row_reader;
typedef struct tsr_row_writer tsr_row_writer;

/* Opens `path` for row reading. Checks the byte cap and the header limits
 * before allocating pixels; `info` (may be NULL) receives the header facts.
 * The rows delivered are the decoded image as tsr_image_decode would return
 * it (EXIF orientation applied, shrink applied). The caller frees *out. */
tsr_status tsr_row_reader_open(tsr_ctx *ctx, const char *path, const tsr_decode_options *opts,
                               tsr_row_reader **out, tsr_image_info *info);
/* Size and bands of the rows delivered. */
void tsr_row_reader_shape(const tsr_row_reader *reader, int *width, int *height, int *bands);
/* Whether rows are decoded incrementally (true) or from a whole decoded image. */
bool tsr_row_reader_streams(const tsr_row_reader *reader);
/* Decodes the next `rows` rows into dst (row i at dst + i*stride, width*bands
 * bytes each). Fails with TSR_ERR_CORRUPT on truncated or corrupt data and
 * TSR_ERR_INTERNAL when asked past the last row. Errors are sticky. */
tsr_status tsr_row_reader_read(tsr_row_reader *reader, uint8_t *dst, size_t stride, int rows);
void tsr_row_reader_free(tsr_row_reader *reader);

/* Opens a writer of a width x height x bands image in `format` at `path`.
 * Rows go to a temporary file in the same folder; nothing appears at `path`
 * until tsr_row_writer_finish succeeds (fsync + rename). The caller frees *out. */
tsr_status tsr_row_writer_open(tsr_ctx *ctx, const char *path, tsr_format format, int width,
                               int height, int bands, const tsr_encode_options *opts,
                               tsr_row_writer **out);
/* Like tsr_row_writer_open, but rows go straight into the open, empty file
 * `fd` (duplicated: the caller keeps and closes its own), with no temporary
 * file and no rename: for a scratch file such as a memfd. `name` labels errors. Finish completes
 * and fsyncs it; a writer freed unfinished leaves partial content that the caller discards. */
tsr_status tsr_row_writer_open_fd(tsr_ctx *ctx, int fd, const char *name, tsr_format format,
                                  int width, int height, int bands, const tsr_encode_options *opts,
                                  tsr_row_writer **out);
bool tsr_row_writer_streams(const tsr_row_writer *writer);
/* Appends `rows` rows (row i at src + i*stride). */
tsr_status tsr_row_writer_write(tsr_row_writer *writer, const uint8_t *src, size_t stride,
                                int rows);
/* Checks all rows were written, completes the file, fsyncs and renames it into place. */
tsr_status tsr_row_writer_finish(tsr_row_writer *writer);
/* Frees the writer; an unfinished file is removed. */
void tsr_row_writer_free(tsr_row_writer *writer);

#ifdef __cplusplus
}
#endif
#endif
