/* Work units of an image: decode, compute and encode costs (work_cost.h). */
#include "service/work_cost.h"

#include <string.h>

/* Seconds of one core per megapixel to decode and to encode each format
 * (encoding at the default quality and compression), and per tile of
 * TSR_DEFAULT_TILE side for compute, on the reference machine: the 2-core
 * Debian 12 VM tessera is developed on, release build, measured by
 * bench/progress_costs.py (`tessera process --threads 1`, 1 and 4 Mpx
 * photo-like images, the least of 3 sessions of 3..5 runs each, as the
 * machine was shared). GIF is read like PNG (LZW, palette) and never
 * written. */
typedef struct format_cost {
    const char *format; /* tsr_format_name */
    double decode_s_mp; /* decode seconds per megapixel (of the decoded size) */
    double encode_s_mp; /* encode seconds per megapixel */
} format_cost;

static const format_cost format_costs[] = {
    {"jpeg", 0.014, 0.014}, {"png", 0.032, 0.216}, {"webp", 0.072, 0.209}, {"tiff", 0.021, 0.025},
    {"bmp", 0.006, 0.024},  {"pnm", 0.013, 0.041}, {"gif", 0.032, 0.216},
};

/* Compute seconds of one core per tile of TSR_DEFAULT_TILE side of the
 * reference op (gaussian-blur:sigma=2), measured the same way; an op not in
 * op_costs (crop, thumbnail) costs this. */
#define TILE_SECONDS 0.00095

/* Compute seconds of one core per input tile of TSR_DEFAULT_TILE side of
 * each op at its defaults (gaussian-blur at sigma=2, rotate at 30 degrees,
 * resize at scale 0.5), measured by bench/progress_costs.py --ops on a
 * 4 Mpx image: the run less the same run with a look-up-table op, the
 * least of two sessions (3 and 5 runs), at least 0.0002 s: on the shared
 * machine the noise is about 0.0005 s a tile, so only the heavy ops (median,
 * hough-lines, canny, the global ops, rotations) stand out from it. An op
 * not listed costs TILE_SECONDS. Parameters are not weighed (a 5x5 median
 * costs like the 3x3 default). */
typedef struct op_cost {
    const char *op; /* tsr_op_desc name */
    double tile_s;  /* seconds per tile */
} op_cost;

static const op_cost op_costs[] = {
    {"grayscale", 0.0002},       {"invert", 0.00075},      {"brightness", 0.0002},
    {"contrast", 0.0006},        {"gamma", 0.00062},       {"threshold", 0.0006},
    {"gaussian-blur", 0.00095},  {"box-blur", 0.0006},     {"median", 0.02057},
    {"sharpen", 0.0002},         {"convolve", 0.00096},    {"sobel", 0.0002},
    {"canny", 0.00285},          {"hough-lines", 0.06134}, {"rotate", 0.00189},
    {"rotate90", 0.00289},       {"rotate180", 0.00368},   {"rotate270", 0.00178},
    {"flip", 0.00088},           {"resize", 0.00049},      {"equalize", 0.00231},
    {"threshold-otsu", 0.00306},
};

/* The cost of an unknown format: PNG's. */
#define FALLBACK_FORMAT "png"

static const format_cost *cost_of_format(const char *format) {
    size_t n = sizeof format_costs / sizeof format_costs[0];
    for (size_t i = 0; format && i < n; i++)
        if (!strcmp(format_costs[i].format, format))
            return &format_costs[i];
    for (size_t i = 0; i < n; i++)
        if (!strcmp(format_costs[i].format, FALLBACK_FORMAT))
            return &format_costs[i];
    return &format_costs[0];
}

/* Seconds of one core per input tile of TSR_DEFAULT_TILE side of the op
 * named `name`. */
static double cost_of_op(const char *name) {
    size_t n = sizeof op_costs / sizeof op_costs[0];
    for (size_t i = 0; i < n; i++)
        if (!strcmp(op_costs[i].op, name))
            return op_costs[i].tile_s;
    return TILE_SECONDS;
}

tsr_work_cost tsr_work_cost_of(const tsr_work_image *im) {
    int tile = im->tile > 0 ? im->tile : TSR_DEFAULT_TILE;
    double side = (double)tile / TSR_DEFAULT_TILE;
    double in_pixels = (double)im->in_w * (double)im->in_h;
    double grid = (double)((im->in_w + tile - 1) / tile) * (double)((im->in_h + tile - 1) / tile);
    double per_tile = 0;
    for (int i = 0; im->pipe && i < im->pipe->n_ops; i++)
        per_tile += cost_of_op(im->pipe->ops[i].desc->name);
    tsr_work_cost c;
    c.decode = cost_of_format(im->in_format)->decode_s_mp * in_pixels / 1e6;
    c.compute = per_tile * side * side * grid / (im->threads > 1 ? im->threads : 1);
    c.encode = cost_of_format(im->out_format)->encode_s_mp * (double)im->out_pixels / 1e6;
    return c;
}

double tsr_work_cost_total(const tsr_work_cost *c) {
    return c->decode + c->compute + c->encode;
}

static double fraction(double done, double total) {
    if (total <= 0)
        return 0;
    return done >= total ? 1 : (done <= 0 ? 0 : done / total);
}

double tsr_work_cost_done(const tsr_work_cost *c, int rows_read, int in_h, int64_t tiles_done,
                          int64_t tiles, int rows_written, int out_h) {
    return c->decode * fraction(rows_read, in_h) +
           c->compute * fraction((double)tiles_done, (double)tiles) +
           c->encode * fraction(rows_written, out_h);
}
