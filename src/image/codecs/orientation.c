/* EXIF orientation: reading the tag with libexif and turning an image
 * upright (the 8 combinations of transpose and flips). */
#include <libexif/exif-data.h>
#include <stdlib.h>
#include <string.h>

#include "codec_internal.h"

#define EXIF_MAX_BYTES (1u << 20)

int tsr_exif_orientation(const uint8_t *exif, size_t len) {
    static const uint8_t header[6] = {'E', 'x', 'i', 'f', 0, 0};
    uint8_t *copy = NULL;
    int orientation = 1;
    if (!exif || len < 8 || len > EXIF_MAX_BYTES)
        return 1;
    if (memcmp(exif, header, sizeof header) != 0) {
        /* A bare TIFF structure (PNG eXIf, WebP EXIF): libexif wants the prefix. */
        copy = malloc(len + sizeof header);
        if (!copy)
            return 1;
        memcpy(copy, header, sizeof header);
        memcpy(copy + sizeof header, exif, len);
        exif = copy;
        len += sizeof header;
    }
    ExifData *data = exif_data_new_from_data(exif, (unsigned int)len);
    if (!data)
        goto out;
    ExifEntry *entry = exif_content_get_entry(data->ifd[EXIF_IFD_0], EXIF_TAG_ORIENTATION);
    if (entry && entry->format == EXIF_FORMAT_SHORT && entry->components >= 1 && entry->data &&
        entry->size >= 2) {
        int v = exif_get_short(entry->data, exif_data_get_byte_order(data));
        if (v >= 1 && v <= 8)
            orientation = v;
    }
    exif_data_unref(data);
out:
    free(copy);
    return orientation;
}

/*
 * Maps an output pixel (x, y) of the upright image to the stored pixel it
 * shows, for stored size w x h. Orientations 5..8 swap the axes.
 */
static void source_of(int orientation, int x, int y, int w, int h, int *sx, int *sy) {
    switch (orientation) {
    case 2:
        *sx = w - 1 - x, *sy = y;
        break;
    case 3:
        *sx = w - 1 - x, *sy = h - 1 - y;
        break;
    case 4:
        *sx = x, *sy = h - 1 - y;
        break;
    case 5:
        *sx = y, *sy = x;
        break;
    case 6:
        *sx = y, *sy = h - 1 - x;
        break;
    case 7:
        *sx = w - 1 - y, *sy = h - 1 - x;
        break;
    case 8:
        *sx = w - 1 - y, *sy = x;
        break;
    default:
        *sx = x, *sy = y;
        break;
    }
}

tsr_status tsr_image_orient(tsr_ctx *ctx, tsr_image **image, int orientation) {
    const tsr_image *src = *image;
    if (orientation <= 1 || orientation > 8)
        return TSR_OK;
    bool swap = orientation >= 5;
    int ow = swap ? src->height : src->width, oh = swap ? src->width : src->height;
    int bands = src->bands;
    tsr_image *dst;
    tsr_status st = tsr_image_new(ctx, ow, oh, bands, &dst);
    if (st)
        return st;
    for (int y = 0; y < oh; y++) {
        uint8_t *row = dst->data + (size_t)y * dst->stride;
        for (int x = 0; x < ow; x++) {
            int sx, sy;
            source_of(orientation, x, y, src->width, src->height, &sx, &sy);
            memcpy(row + (size_t)x * bands,
                   src->data + (size_t)sy * src->stride + (size_t)sx * bands, (size_t)bands);
        }
    }
    tsr_image_free(*image);
    *image = dst;
    return TSR_OK;
}
