/* libjpeg source and destination managers over a file descriptor, with a
 * 256 KiB buffer instead of jpeg_stdio_src/dest's 4 KiB. libjpeg-turbo's
 * Huffman decoder and encoder take their fast paths only while the worst
 * case of a whole MCU (512 bytes a block) fits in what is left of the
 * buffer: with 4 KiB that fails for most MCUs of a 4:2:0 photo (6 blocks,
 * 3 KiB) and the slow, byte-at-a-time path runs instead; and every 4 KiB
 * was a read(2) or write(2). Behaviour at the edges is jdatasrc.c's: an
 * empty file is an error, a truncated one gets a fake EOI after a warning
 * (which tessera's error manager turns into an error). */
#include <errno.h>
#include <unistd.h>

#include <jerror.h>

#include "jpeg_internal.h"

#define FDIO_BUFFER (256u << 10)
#define FDIO_FIRST                                                                                 \
    (16u << 10) /* the first read: the header (and a reader opened                                 \
                   for its header only reads no more) */

typedef struct fd_source {
    struct jpeg_source_mgr pub; /* libjpeg's part; must come first */
    int fd;                     /* read from its current offset; not closed */
    JOCTET *buffer;             /* FDIO_BUFFER bytes, in the decoder's permanent pool */
    boolean start_of_file;      /* nothing read yet */
} fd_source;

typedef struct fd_dest {
    struct jpeg_destination_mgr pub; /* libjpeg's part; must come first */
    int fd;                          /* written at its current offset; not closed */
    JOCTET *buffer;                  /* FDIO_BUFFER bytes, in the encoder's permanent pool */
} fd_dest;

static void init_source(j_decompress_ptr d) {
    ((fd_source *)d->src)->start_of_file = TRUE;
}

static boolean fill_input_buffer(j_decompress_ptr d) {
    fd_source *s = (fd_source *)d->src;
    ssize_t n;
    do
        n = read(s->fd, s->buffer, s->start_of_file ? FDIO_FIRST : FDIO_BUFFER);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        ERREXIT(d, JERR_FILE_READ);
    if (n == 0) {
        if (s->start_of_file)
            ERREXIT(d, JERR_INPUT_EMPTY);
        WARNMS(d, JWRN_JPEG_EOF);
        s->buffer[0] = (JOCTET)0xFF;
        s->buffer[1] = (JOCTET)JPEG_EOI;
        n = 2;
    }
    s->pub.next_input_byte = s->buffer;
    s->pub.bytes_in_buffer = (size_t)n;
    s->start_of_file = FALSE;
    return TRUE;
}

static void skip_input_data(j_decompress_ptr d, long num_bytes) {
    struct jpeg_source_mgr *src = d->src;
    if (num_bytes <= 0)
        return;
    while (num_bytes > (long)src->bytes_in_buffer) {
        num_bytes -= (long)src->bytes_in_buffer;
        fill_input_buffer(d);
    }
    src->next_input_byte += (size_t)num_bytes;
    src->bytes_in_buffer -= (size_t)num_bytes;
}

static void term_source(j_decompress_ptr d) {
    (void)d;
}

void tsr_jpeg_fd_src(j_decompress_ptr d, int fd) {
    fd_source *s = (*d->mem->alloc_small)((j_common_ptr)d, JPOOL_PERMANENT, sizeof *s);
    s->buffer = (*d->mem->alloc_large)((j_common_ptr)d, JPOOL_PERMANENT, FDIO_BUFFER);
    s->fd = fd;
    s->pub.init_source = init_source;
    s->pub.fill_input_buffer = fill_input_buffer;
    s->pub.skip_input_data = skip_input_data;
    s->pub.resync_to_restart = jpeg_resync_to_restart;
    s->pub.term_source = term_source;
    s->pub.bytes_in_buffer = 0;
    s->pub.next_input_byte = NULL;
    d->src = &s->pub;
}

/* Writes all `n` bytes of `p`; 0 when the file refuses them. */
static int write_all(int fd, const JOCTET *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}

static void init_destination(j_compress_ptr c) {
    fd_dest *s = (fd_dest *)c->dest;
    s->pub.next_output_byte = s->buffer;
    s->pub.free_in_buffer = FDIO_BUFFER;
}

static boolean empty_output_buffer(j_compress_ptr c) {
    fd_dest *s = (fd_dest *)c->dest;
    if (!write_all(s->fd, s->buffer, FDIO_BUFFER))
        ERREXIT(c, JERR_FILE_WRITE);
    init_destination(c);
    return TRUE;
}

static void term_destination(j_compress_ptr c) {
    fd_dest *s = (fd_dest *)c->dest;
    if (!write_all(s->fd, s->buffer, FDIO_BUFFER - s->pub.free_in_buffer))
        ERREXIT(c, JERR_FILE_WRITE);
}

void tsr_jpeg_fd_dest(j_compress_ptr c, int fd) {
    fd_dest *s = (*c->mem->alloc_small)((j_common_ptr)c, JPOOL_PERMANENT, sizeof *s);
    s->buffer = (*c->mem->alloc_large)((j_common_ptr)c, JPOOL_PERMANENT, FDIO_BUFFER);
    s->fd = fd;
    s->pub.init_destination = init_destination;
    s->pub.empty_output_buffer = empty_output_buffer;
    s->pub.term_destination = term_destination;
    c->dest = &s->pub;
}
