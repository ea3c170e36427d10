/* Work units of an image: decode, compute and encode costs (work_cost.h). */
#include "service/work_cost.h"

#include <string.h>

#include "tessera/tessera.h"

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

/* Compute seconds of one core per tile of TSR_DEFAULT_TILE side, for the
 * reference pipeline (gaussian-blur:sigma=2), measured the same way. Ops
 * are not weighed one by one: every tile of a job costs the same. */
#define TILE_SECONDS 0.00095

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

tsr_work_cost tsr_work_cost_of(const char *in_format, uint64_t in_pixels, int64_t tiles, int tile,
                               int threads, const char *out_format, uint64_t out_pixels) {
    double side = (double)(tile > 0 ? tile : TSR_DEFAULT_TILE) / TSR_DEFAULT_TILE;
    tsr_work_cost c;
    c.decode = cost_of_format(in_format)->decode_s_mp * (double)in_pixels / 1e6;
    c.compute =
        TILE_SECONDS * side * side * (double)(tiles > 0 ? tiles : 0) / (threads > 1 ? threads : 1);
    c.encode = cost_of_format(out_format)->encode_s_mp * (double)out_pixels / 1e6;
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
