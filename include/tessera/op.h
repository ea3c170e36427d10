/*
 * The operation model: one descriptor per operation in a registry, with a
 * typed parameter schema, a footprint kind and its CPU kernel.
 *
 * How the planner uses an op (see docs/internals/engine.md):
 *  0. check() (at parse time) refuses parameter combinations no image could
 *     run, so a parsed pipeline fails at plan time only for its image.
 *  1. prepare() validates what depends on the input, learns the input size
 *     and bands, sets the output size and bands and any precomputed state.
 *  2. need() maps an output rectangle to the input rectangle the kernel
 *     reads (already clipped to the input image).
 *  3. run() fills `out` (exactly out->rect) from `in` (which covers
 *     need(out->rect)). Borders use the whole image's bounds (in->image_w,
 *     in->image_h), never the tile's, so output never depends on tiling.
 * GLOBAL ops first reduce: map() per input tile into a partial summary,
 * merge() partials in tile order, finalize() once; then run() applies the
 * summary per tile like a local op. Map tiles lie on a 64-px grid in image
 * coordinates (each starts at a multiple of 64 and ends at one or at the
 * image edge), so a summary may keep records per fixed 64x64 block.
 */
#ifndef TESSERA_OP_H
#define TESSERA_OP_H

#include "tessera/image.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TSR_OP_MAX_PARAMS  8
#define TSR_KERNEL_MAX     9       /* convolve kernels up to 9x9 */
#define TSR_OP_VERSION_MAX 1000000 /* largest op version a pipeline may name (op@N) */

typedef enum tsr_op_kind {
    TSR_OP_POINT,     /* output pixel depends on the same input pixel */
    TSR_OP_STENCIL,   /* on the input window of op->radius */
    TSR_OP_GEOMETRIC, /* output size is a function of input size; need() maps back */
    TSR_OP_GLOBAL     /* a reduction over the whole image, then a local apply */
} tsr_op_kind;

typedef enum tsr_param_type {
    TSR_PARAM_INT,
    TSR_PARAM_FLOAT,
    TSR_PARAM_BOOL,
    TSR_PARAM_ENUM,  /* value is the index into `choices` */
    TSR_PARAM_KERNEL /* a list of numbers, square, odd side 1..9 */
} tsr_param_type;

typedef struct tsr_param_spec {
    const char *name;           /* as written in pipelines: "sigma" */
    tsr_param_type type;        /* value type */
    double def;                 /* default value (enum: index) */
    double min;                 /* smallest allowed value (numbers) */
    double max;                 /* largest allowed value (numbers) */
    const char *const *choices; /* ENUM: NULL-terminated names */
    bool optional;              /* no default: "unset" unless given */
    const char *doc;            /* one technical line: formulas, OpenCV equivalents */
    const char *hint;           /* one plain-language sentence for users (CLI, API, web UI) */
    const char *unit;           /* "px", "degrees", "levels", "x" (a factor)...; "" when none */
} tsr_param_spec;

/* A convolution kernel given as a parameter. */
typedef struct tsr_kernel_param {
    int size;                                       /* side: 1, 3, 5, 7 or 9 */
    double values[TSR_KERNEL_MAX * TSR_KERNEL_MAX]; /* row-major */
} tsr_kernel_param;

typedef struct tsr_op_desc tsr_op_desc;

/* One operation of a pipeline with its normalized parameters. */
typedef struct tsr_op {
    const tsr_op_desc *desc;          /* what it is; static */
    double values[TSR_OP_MAX_PARAMS]; /* parameter values by index in desc->params */
    bool given[TSR_OP_MAX_PARAMS];    /* whether the user set it (else default) */
    tsr_kernel_param kernel;          /* the KERNEL parameter, if the op has one */
    /* Filled by prepare(): */
    int in_w, in_h, in_bands;    /* input size and bands */
    int out_w, out_h, out_bands; /* output size and bands */
    int radius;                  /* STENCIL footprint radius (default need()) */
    void *state;                 /* op-specific precomputed data, freed by desc->release */
    void *summary; /* GLOBAL: merged summary (owned by the engine, summary_size bytes) */
} tsr_op;

struct tsr_op_desc {
    const char *name;             /* "gaussian-blur" */
    int version;                  /* bumped when the op's output changes */
    tsr_op_kind kind;             /* footprint kind */
    const char *summary;          /* one line for `tessera ops` */
    const char *bands_rule;       /* e.g. "3->1, 4->2" or "same" */
    const tsr_param_spec *params; /* the parameter schema */
    int n_params;                 /* entries in params */

    /* Optional: refuses parameter values or combinations that no image could
     * run (an even ksize, scale together with width). The parsers call it
     * once every parameter is set, so a pipeline that parses never fails
     * these at run time; prepare() calls it again (ops built by hand), so
     * both give the same message. Errors (TSR_ERR_USAGE) name op and param. */
    tsr_status (*check)(tsr_ctx *ctx, const tsr_op *op);
    /* Validates what depends on the input (a crop outside it) and sets
     * out_w/out_h/out_bands, radius, state from in_w/in_h/in_bands (already
     * set). Errors name op and param. */
    tsr_status (*prepare)(tsr_ctx *ctx, tsr_op *op);
    /* Frees op->state (may be NULL when the op has none). */
    void (*release)(tsr_op *op);
    /* Input rect read to produce output rect `out`, clipped to the input
     * image. NULL: `out` grown by op->radius and clipped. */
    tsr_rect (*need)(const tsr_op *op, tsr_rect out);
    /* Fills out->rect from in. Must be a pure function of the op, the input
     * pixels and the image-coordinate position. */
    tsr_status (*run)(const tsr_op *op, const tsr_region *in, tsr_region *out);
    /* Optional: `out` as a view into `in`'s pixels for output rect `rect`,
     * without copying (a crop: the same pixels, moved), or false when it
     * cannot. Inside a stage the engine takes the view instead of run() for
     * every op but the stage's last, whose output is the stage's. */
    bool (*view)(const tsr_op *op, const tsr_region *in, tsr_rect rect, tsr_region *out);

    /* GLOBAL ops only. The summary must be exact and order-independent
     * (integer sums, counts, max), so any grouping of tiles merges to the
     * same bytes. */
    /* Bytes of a partial and of the merged summary for this prepared op. */
    size_t (*summary_size)(const tsr_op *op);
    /* Adds what tile `in` contributes into `partial` (which starts zeroed and
     * may already hold other tiles' contributions). `in` covers one whole
     * tile of the op's input. NULL when the op needs no per-tile reduction. */
    void (*map)(const tsr_op *op, const tsr_region *in, void *partial);
    /* Folds `partial` into `acc`. */
    void (*merge)(const tsr_op *op, void *acc, const void *partial);
    /* Turns the merged summary (op->summary) into what run() needs, storing
     * derived data in op->state. `whole` is the whole input image when the
     * executor has it (the local one always does), for ops whose reduction is
     * not a simple sum; may be NULL otherwise (remote workers), so ops must
     * not depend on it. It may be called again after op->summary is replaced
     * (a worker receiving another image's summary): it must then replace,
     * not leak, what the previous call derived. */
    tsr_status (*finalize)(tsr_ctx *ctx, tsr_op *op, const tsr_image *whole);
    /* Optional: a JSON object describing what the op found after finalize
     * (hough lines, otsu threshold), e.g. {"threshold":117}. Caller frees. */
    char *(*describe)(const tsr_op *op);

    /* Internal ops this user-facing op expands into, in order (e.g. canny ->
     * gradient+NMS then hysteresis). Each gets a copy of this op's values.
     * NULL-terminated; NULL when the op is not expanded. */
    const tsr_op_desc *const *expands_to;
    bool hidden; /* internal: not listed, not accepted in pipelines */
};

/* The registry. An op whose output changes gets a new descriptor with the
 * next version, and the old descriptor stays registered and runnable, so a
 * job recorded with `op@1` reruns with the same bytes (docs/operations.md,
 * "Versions and rollback"). A name's default is its newest version. */
int tsr_op_count(void);                           /* every version, user-visible and hidden */
const tsr_op_desc *tsr_op_at(int index);          /* NULL past the end */
const tsr_op_desc *tsr_op_find(const char *name); /* the newest version; NULL when unknown */
/* Version `version` of op `name`; NULL when that version is not registered. */
const tsr_op_desc *tsr_op_find_version(const char *name, int version);
/* Writes the registered versions of `name` in ascending order into
 * versions[0..max) (the smallest `max` when there are more) and returns how
 * many there are (0 for an unknown name). */
int tsr_op_versions(const char *name, int *versions, int max);
/* Whether `desc` is its name's default (newest) version. */
bool tsr_op_is_default(const tsr_op_desc *desc);
/* TEST ONLY: adds versions of real ops that exist to test versioning (a
 * brightness v2 whose output differs from v1's; the registry's default
 * then). The tessera binary calls it at start when TESSERA_TEST_OP_V2=1;
 * never call it in production. Call before any thread uses the registry. */
void tsr_op_enable_test_versions(void);
/* Index of parameter `name` in desc->params, -1 when none. */
int tsr_op_param_index(const tsr_op_desc *desc, const char *name);

/* Convenience accessors for kernels: value of parameter `name` (by index). */
static inline double tsr_op_value(const tsr_op *op, int index) {
    return op->values[index];
}

/* Default need(): out grown by op->radius on each side, clipped to the input. */
tsr_rect tsr_op_need_radius(const tsr_op *op, tsr_rect out);

/* Reflect-101 border (OpenCV's default): maps any coordinate into [0, n). */
static inline int tsr_reflect101(int i, int n) {
    if (n == 1)
        return 0;
    while (i < 0 || i >= n) {
        if (i < 0)
            i = -i;
        if (i >= n)
            i = 2 * n - 2 - i;
    }
    return i;
}
/* Replicate border: clamps into [0, n). */
static inline int tsr_clampi(int i, int lo, int hi) {
    return i < lo ? lo : (i > hi ? hi : i);
}
static inline uint8_t tsr_sat_u8(int v) {
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

#ifdef __cplusplus
}
#endif
#endif
