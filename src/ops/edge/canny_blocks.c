/* Block-local 8-connected labelling of canny's candidate map: an explicit
 * stack flood inside one padded 64x64 block (see canny_blocks.h). */
#include <string.h>

#include "ops/edge/canny_blocks.h"

/* Loads the block's candidates into b->label as CANNY_CELL_WEAK/STRONG
 * (other values read as none) inside a frame of 0. Returns whether any. */
static int load(canny_block *b, const tsr_region *in) {
    int w = b->w, h = b->h;
    uint16_t any = 0;
    memset(b->label, 0, (size_t)(w + 2) * sizeof *b->label);
    memset(b->label + (h + 1) * CANNY_PADDED, 0, (size_t)(w + 2) * sizeof *b->label);
    for (int y = 0; y < h; y++) {
        const uint8_t *restrict src = TSR_REGION_AT(in, b->x, b->y + y);
        uint16_t *restrict dst = b->label + (y + 1) * CANNY_PADDED;
        dst[0] = 0;
        dst[w + 1] = 0;
        for (int x = 0; x < w; x++) {
            uint8_t v = src[x];
            uint16_t c =
                v == CANNY_WEAK ? CANNY_CELL_WEAK : (v == CANNY_STRONG ? CANNY_CELL_STRONG : 0);
            dst[x + 1] = c;
            any |= c;
        }
    }
    return any != 0;
}

/* Whether the 4 cells at p are all none (a fast skip over empty runs). */
static int none4(const uint16_t *p) {
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v == 0;
}

/* Floods component `id` from padded index `seed`; returns whether it holds a
 * strong pixel. Each pixel is pushed once (labelled when pushed). */
static uint8_t flood(canny_block *b, int seed, uint16_t id) {
    static const int nb[8] = {-CANNY_PADDED - 1, -CANNY_PADDED, -CANNY_PADDED + 1, -1, 1,
                              CANNY_PADDED - 1,  CANNY_PADDED,  CANNY_PADDED + 1};
    uint16_t *cell = b->label;
    int top = 0;
    uint8_t strong = cell[seed] == CANNY_CELL_STRONG;
    cell[seed] = id;
    b->stack[top++] = (uint16_t)seed;
    while (top) {
        int p = b->stack[--top];
        for (int k = 0; k < 8; k++) {
            int q = p + nb[k];
            if (cell[q] >= CANNY_CELL_WEAK) {
                strong |= cell[q] == CANNY_CELL_STRONG;
                cell[q] = id;
                b->stack[top++] = (uint16_t)q;
            }
        }
    }
    return strong;
}

/* Gives the component at padded index p the next border id if it has none. */
static void number(canny_block *b, int p, uint16_t *next) {
    uint16_t l = b->label[p];
    if (l && !b->border[l])
        b->border[l] = (*next)++;
}

void canny_block_label(canny_block *b, const tsr_region *in, int bx, int by) {
    b->x = bx * CANNY_BLOCK;
    b->y = by * CANNY_BLOCK;
    b->w = in->image_w - b->x < CANNY_BLOCK ? in->image_w - b->x : CANNY_BLOCK;
    b->h = in->image_h - b->y < CANNY_BLOCK ? in->image_h - b->y : CANNY_BLOCK;
    b->n = 0;
    if (!load(b, in))
        return;
    for (int y = 1; y <= b->h; y++) {
        int p = y * CANNY_PADDED + 1, e = p + b->w;
        while (p < e) {
            if (p + 4 <= e && none4(b->label + p)) {
                p += 4;
                continue;
            }
            if (b->label[p] >= CANNY_CELL_WEAK) {
                uint16_t id = (uint16_t)++b->n;
                b->strong[id] = flood(b, p, id);
                b->border[id] = 0;
            }
            p++;
        }
    }
    uint16_t next = 1;
    int first = CANNY_PADDED + 1, last_row = b->h * CANNY_PADDED + 1;
    for (int x = 0; x < b->w; x++)
        number(b, first + x, &next);
    for (int x = 0; x < b->w; x++)
        number(b, last_row + x, &next);
    for (int y = 0; y < b->h; y++)
        number(b, first + y * CANNY_PADDED, &next);
    for (int y = 0; y < b->h; y++)
        number(b, first + y * CANNY_PADDED + b->w - 1, &next);
}
