/* Image buffers, rectangles and regions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/image.h"
#include "util/bigalloc.h"

static tsr_status image_new(tsr_ctx *ctx, int width, int height, int bands, bool zeroed,
                            tsr_image **out) {
    *out = NULL;
    if (width <= 0 || height <= 0 || bands < 1 || bands > TSR_MAX_BANDS)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "invalid image shape %dx%dx%d", width, height,
                         bands);
    uint64_t bytes = (uint64_t)width * (uint64_t)height * (uint64_t)bands;
    if (ctx && bytes > tsr_ctx_limits(ctx)->max_alloc) {
        char what[64];
        snprintf(what, sizeof what, "an image of %dx%dx%d", width, height, bands);
        return tsr_limits_check_alloc(ctx, what, bytes);
    }
    tsr_image *img = calloc(1, sizeof *img);
    if (!img)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    img->data = zeroed ? tsr_big_alloc(bytes) : tsr_big_alloc_overwritten(bytes);
    if (!img->data) {
        free(img);
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory allocating %llu bytes",
                         (unsigned long long)bytes);
    }
    img->width = width;
    img->height = height;
    img->bands = bands;
    img->stride = (size_t)width * (size_t)bands;
    *out = img;
    return TSR_OK;
}

tsr_status tsr_image_new(tsr_ctx *ctx, int width, int height, int bands, tsr_image **out) {
    return image_new(ctx, width, height, bands, true, out);
}

tsr_status tsr_image_new_overwritten(tsr_ctx *ctx, int width, int height, int bands,
                                     tsr_image **out) {
    return image_new(ctx, width, height, bands, false, out);
}

void tsr_image_free(tsr_image *image) {
    if (!image)
        return;
    tsr_big_free(image->data, image->stride * (size_t)image->height);
    free(image);
}

tsr_status tsr_image_copy(tsr_ctx *ctx, const tsr_image *src, tsr_image **out) {
    tsr_status st = tsr_image_new(ctx, src->width, src->height, src->bands, out);
    if (st)
        return st;
    for (int y = 0; y < src->height; y++)
        memcpy((*out)->data + (size_t)y * (*out)->stride, src->data + (size_t)y * src->stride,
               (size_t)src->width * (size_t)src->bands);
    return TSR_OK;
}

tsr_region tsr_image_region(const tsr_image *image, tsr_rect rect) {
    tsr_region r;
    r.rect = rect;
    r.bands = image->bands;
    r.stride = image->stride;
    r.data = image->data + (size_t)rect.y * image->stride + (size_t)rect.x * (size_t)image->bands;
    r.image_w = image->width;
    r.image_h = image->height;
    return r;
}

void tsr_region_copy(const tsr_region *src, tsr_region *dst) {
    tsr_rect r = tsr_rect_intersect(src->rect, dst->rect);
    if (tsr_rect_empty(r))
        return;
    size_t row = (size_t)r.w * (size_t)src->bands;
    for (int y = r.y; y < r.y + r.h; y++)
        memcpy(TSR_REGION_AT(dst, r.x, y), TSR_REGION_AT(src, r.x, y), row);
}

tsr_rect tsr_rect_make(int x, int y, int w, int h) {
    tsr_rect r = {x, y, w, h};
    return r;
}

bool tsr_rect_empty(tsr_rect r) {
    return r.w <= 0 || r.h <= 0;
}

tsr_rect tsr_rect_intersect(tsr_rect a, tsr_rect b) {
    int x0 = a.x > b.x ? a.x : b.x;
    int y0 = a.y > b.y ? a.y : b.y;
    int x1 = a.x + a.w < b.x + b.w ? a.x + a.w : b.x + b.w;
    int y1 = a.y + a.h < b.y + b.h ? a.y + a.h : b.y + b.h;
    if (x1 <= x0 || y1 <= y0)
        return tsr_rect_make(x0, y0, 0, 0);
    return tsr_rect_make(x0, y0, x1 - x0, y1 - y0);
}

tsr_rect tsr_rect_union(tsr_rect a, tsr_rect b) {
    if (tsr_rect_empty(a))
        return b;
    if (tsr_rect_empty(b))
        return a;
    int x0 = a.x < b.x ? a.x : b.x;
    int y0 = a.y < b.y ? a.y : b.y;
    int x1 = a.x + a.w > b.x + b.w ? a.x + a.w : b.x + b.w;
    int y1 = a.y + a.h > b.y + b.h ? a.y + a.h : b.y + b.h;
    return tsr_rect_make(x0, y0, x1 - x0, y1 - y0);
}

bool tsr_rect_contains(tsr_rect outer, tsr_rect inner) {
    if (tsr_rect_empty(inner))
        return true;
    return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
           inner.y + inner.h <= outer.y + outer.h;
}

tsr_rect tsr_rect_grow_clip(tsr_rect r, int left, int top, int right, int bottom, int w, int h) {
    tsr_rect g = tsr_rect_make(r.x - left, r.y - top, r.w + left + right, r.h + top + bottom);
    return tsr_rect_intersect(g, tsr_rect_make(0, 0, w, h));
}
