/* The 2x2 box halver: reduced levels built row by row as level-0 rows
 * arrive, each level holding only the even row that waits for its pair. */
#include <stdlib.h>
#include <string.h>

#include "pyramid_internal.h"

/* One reduced level. */
typedef struct level {
    int width, height; /* this level's size */
    int in_width;      /* the size of the level above it */
    int in_height;     /* rows of the level above */
    int rows_in;       /* rows of the level above received */
    uint8_t *pending;  /* the even row of the level above, waiting for its pair */
    uint8_t *out;      /* one row of this level */
} level;

struct tsr_halver {
    int bands;            /* bands per pixel */
    int levels;           /* reduced levels */
    tsr_halver_emit emit; /* receives every reduced row */
    void *user;           /* passed to emit */
    level *level;         /* [levels]; level[0] is half size */
};

void tsr_halver_free(tsr_halver *h) {
    if (!h)
        return;
    for (int i = 0; h->level && i < h->levels; i++) {
        free(h->level[i].pending);
        free(h->level[i].out);
    }
    free(h->level);
    free(h);
}

tsr_status tsr_halver_new(tsr_ctx *ctx, int width, int height, int bands, int levels,
                          tsr_halver_emit emit, void *user, tsr_halver **out) {
    *out = NULL;
    if (levels < 0 || levels > TSR_PYRAMID_MAX_LEVELS)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "halver: %d levels", levels);
    tsr_halver *h = calloc(1, sizeof *h);
    if (!h || !(h->level = calloc((size_t)levels + 1, sizeof *h->level))) {
        free(h);
        return tsr_error(ctx, TSR_ERR_NOMEM, "pyramid: out of memory");
    }
    h->bands = bands, h->levels = levels, h->emit = emit, h->user = user;
    for (int i = 0; i < levels; i++) {
        level *l = &h->level[i];
        l->in_width = width, l->in_height = height;
        l->width = tsr_halve_side(width), l->height = tsr_halve_side(height);
        l->pending = malloc((size_t)width * (size_t)bands);
        l->out = malloc((size_t)l->width * (size_t)bands);
        if (!l->pending || !l->out) {
            tsr_halver_free(h);
            return tsr_error(ctx, TSR_ERR_NOMEM, "pyramid: out of memory");
        }
        width = l->width, height = l->height;
    }
    *out = h;
    return TSR_OK;
}

/* out = the 2x2 means of rows a and b (in_width pixels) at an odd width the
 * last column pairs with itself. */
static void reduce(const level *l, int bands, const uint8_t *a, const uint8_t *b) {
    size_t bn = (size_t)bands;
    for (int x = 0; x < l->width; x++) {
        size_t x0 = (size_t)(2 * x) * bn;
        size_t x1 = 2 * x + 1 < l->in_width ? x0 + bn : x0;
        uint8_t *o = l->out + (size_t)x * bn;
        for (size_t c = 0; c < bn; c++)
            o[c] = (uint8_t)((a[x0 + c] + a[x1 + c] + b[x0 + c] + b[x1 + c] + 2) >> 2);
    }
}

/* Gives a row of the level above level index `i` to that level. */
static tsr_status push_level(tsr_halver *h, int i, const uint8_t *row) {
    level *l = &h->level[i];
    int r = l->rows_in++;
    size_t len = (size_t)l->in_width * (size_t)h->bands;
    if (r % 2 == 0 && r + 1 < l->in_height) {
        memcpy(l->pending, row, len);
        return TSR_OK;
    }
    reduce(l, h->bands, r % 2 ? l->pending : row, row);
    tsr_status st = h->emit(h->user, i + 1, r / 2, l->out);
    if (!st && i + 1 < h->levels)
        st = push_level(h, i + 1, l->out);
    return st;
}

tsr_status tsr_halver_push(tsr_halver *h, const uint8_t *row) {
    return h->levels > 0 ? push_level(h, 0, row) : TSR_OK;
}
