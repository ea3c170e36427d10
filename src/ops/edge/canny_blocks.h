/* Block-local connected components of canny's candidate map, shared by
 * canny-hysteresis's map() and run() (private to ops/edge). Blocks are
 * CANNY_BLOCK x CANNY_BLOCK squares aligned in image coordinates (smaller at
 * the right and bottom edges); the labels of a block are a pure function of
 * its own candidate pixels, so every caller that labels it agrees. */
#ifndef TESSERA_OPS_CANNY_BLOCKS_H
#define TESSERA_OPS_CANNY_BLOCKS_H

#include <stdint.h>

#include "ops/edge/edge.h"

/* Block side. Must divide the engine's 64-px map-tile alignment (op.h). */
#define CANNY_BLOCK  64
#define CANNY_PADDED (CANNY_BLOCK + 2) /* row stride of the padded arrays */
/* Cells of canny_block.label not labelled yet (above any label). */
#define CANNY_CELL_WEAK   0xfffe
#define CANNY_CELL_STRONG 0xffff

/* A block's components touching its border are numbered 1.. below this. */
#define CANNY_BORDER_IDS (4 * CANNY_BLOCK)

/* One labelled block. Components are 8-connected sets of candidate (weak or
 * strong) pixels inside the block, numbered 1..n in raster order of their
 * first pixel. */
typedef struct canny_block {
    int x, y, w, h; /* the block in image coordinates */
    int n;          /* components found */
    /* Component per pixel, 0 none, in a frame of 0 (rows and columns past
     * h + 1, w + 1 are stale). While labelling, unlabelled candidates hold
     * CANNY_CELL_WEAK or CANNY_CELL_STRONG. */
    uint16_t label[CANNY_PADDED * CANNY_PADDED];
    uint16_t stack[CANNY_BLOCK * CANNY_BLOCK];      /* flood stack of padded indices */
    uint8_t strong[CANNY_BLOCK * CANNY_BLOCK + 1];  /* per component: has a strong pixel */
    uint16_t border[CANNY_BLOCK * CANNY_BLOCK + 1]; /* per component: border id, 0 inner */
} canny_block;

/* canny-hysteresis's summary layout, in uint16 words: a header, then one
 * record per block (row-major). A record holds the mapped mark then the
 * values of the top row, bottom row, left column and right column
 * (CANNY_BLOCK slots each, the first w or h used). A value is 0 for no candidate, else the pixel's
 * component border id, with VALUE_STRONG when the component is strong. */
enum {
    HEADER_WORDS = 2,                    /* flags, reserved */
    REC_MAPPED = 0,                      /* 1 once a map() labelled the block */
    REC_TOP = 1,                         /* top row values */
    REC_BOTTOM = REC_TOP + CANNY_BLOCK,  /* bottom row values */
    REC_LEFT = REC_BOTTOM + CANNY_BLOCK, /* left column values */
    REC_RIGHT = REC_LEFT + CANNY_BLOCK,  /* right column values */
    REC_WORDS = REC_RIGHT + CANNY_BLOCK, /* words per block record */
    EDGE_WORDS = CANNY_BORDER_IDS / 32,  /* uint32 words of edge bits per block */
    VALUE_STRONG = 0x8000,               /* the component holds a strong pixel */
    VALUE_ID = 0x7fff,                   /* the border id part of a value */
    FLAG_MISALIGNED = 1,                 /* a map() tile was not block-aligned */
    FLAG_NOMEM = 2,                      /* a map() could not allocate */
};

/* canny-hysteresis's prepared state (op->state after finalize), what run()
 * needs: which border components of each block are edges. */
typedef struct hysteresis_state {
    int nbx, nby;   /* blocks across and down */
    uint32_t *edge; /* per block, EDGE_WORDS words: bit k = border id k is an edge */
} hysteresis_state;

/* Labels block (bx, by) of the candidate map `in`, which must cover it.
 * Border ids number the components met scanning the top row, bottom row,
 * left column then right column, in that order. */
void canny_block_label(canny_block *b, const tsr_region *in, int bx, int by);

/* Padded index of image pixel (x, y) of the block. */
static inline int canny_block_at(const canny_block *b, int x, int y) {
    return (y - b->y + 1) * CANNY_PADDED + (x - b->x + 1);
}

#endif
