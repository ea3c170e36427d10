/* canny-hysteresis's distributed reduction (per-block border labels, merged,
 * union-find in finalize without the whole image) against the original
 * whole-image flood, kept here as the test-only reference: real photos'
 * candidate maps, synthetic spirals, chains through block corners, weak
 * chains reaching a strong pixel many blocks away and random maps, over
 * several map tilings, partial groupings and apply tilings. */
#include <stdio.h>

#include "check.h"
#include "edge_test_util.h"
#include "ops/edge/edge.h"

/* The original hysteresis (OpenCV-exact): flood from every strong pixel
 * through 8-connected weak ones over the whole padded map. */
static tsr_image *reference_flood(tsr_ctx *ctx, const tsr_image *cand) {
    int w = cand->width, h = cand->height;
    size_t stride = (size_t)w + 2, total = stride * ((size_t)h + 2), top = 0;
    uint8_t *map = calloc(total, 1);
    size_t *stack = malloc(total * sizeof *stack);
    tsr_image *out = NULL;
    if (!map || !stack || tsr_image_new(ctx, w, h, 1, &out))
        goto done;
    for (int y = 0; y < h; y++)
        memcpy(map + (size_t)(y + 1) * stride + 1, cand->data + (size_t)y * cand->stride,
               (size_t)w);
    const ptrdiff_t st = (ptrdiff_t)stride;
    const ptrdiff_t nb[8] = {-1, 1, -st - 1, -st, -st + 1, st - 1, st, st + 1};
    for (size_t i = 0; i < total; i++)
        if (map[i] == CANNY_STRONG)
            stack[top++] = i;
    while (top) {
        size_t p = stack[--top];
        for (int k = 0; k < 8; k++) {
            size_t q = (size_t)((ptrdiff_t)p + nb[k]);
            if (map[q] == CANNY_WEAK) {
                map[q] = CANNY_STRONG;
                stack[top++] = q;
            }
        }
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            out->data[(size_t)y * out->stride + (size_t)x] =
                map[(size_t)(y + 1) * stride + 1 + (size_t)x] == CANNY_STRONG ? 255 : 0;
done:
    free(map);
    free(stack);
    return out;
}

/* Edges of candidate map `cand` by the op: map tiles of map_tile (0 whole)
 * into `parts` partials, finalize without the whole map, apply tiles tw x th
 * (0 whole). */
static tsr_image *hysteresis(tsr_ctx *ctx, const tsr_image *cand, int map_tile, int parts, int tw,
                             int th) {
    tsr_op op;
    tsr_image *edges = NULL;
    if (edge_op_prepare(ctx, &tsr_op_canny_hysteresis, &op, cand->width, cand->height, 1) == 0 &&
        edge_op_reduce(ctx, &op, cand, map_tile, parts) == 0)
        edges = edge_op_apply(ctx, &op, cand, tw, th);
    edge_op_free(&op);
    return edges;
}

static int count_nonzero(const tsr_image *img) {
    int n = 0;
    for (int y = 0; img && y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            n += img->data[(size_t)y * img->stride + (size_t)x] != 0;
    return n;
}

static const int map_tiles[] = {0, 64, 128, 320};
static const int apply_tiles[][2] = {{0, 0}, {16, 16}, {37, 23}, {64, 64}, {5, 300}, {100, 1}};
#define N_MAP   (int)(sizeof map_tiles / sizeof map_tiles[0])
#define N_APPLY (int)(sizeof apply_tiles / sizeof apply_tiles[0])

static int n_compared;

/* Compares the op with the reference on `cand` over every map tiling (1 and
 * 3 partials) and apply tiling (the first n_apply of them: thin tiles relabel
 * each block many times, too slow on photos); returns the reference's edge
 * count. */
static int check_against_reference(tsr_ctx *ctx, const tsr_image *cand, const char *what,
                                   int n_apply) {
    tsr_image *ref = reference_flood(ctx, cand);
    CHECK(ref != NULL);
    for (int m = 0; ref && m < N_MAP; m++)
        for (int a = 0; a < n_apply; a++) {
            int parts = 1 + 2 * ((m + a) % 2);
            tsr_image *got =
                hysteresis(ctx, cand, map_tiles[m], parts, apply_tiles[a][0], apply_tiles[a][1]);
            n_compared++;
            if (!edge_same_image(ref, got)) {
                fprintf(stderr, "%s (%dx%d): map tile %d, %d partials, apply %dx%d differ\n", what,
                        cand->width, cand->height, map_tiles[m], parts, apply_tiles[a][0],
                        apply_tiles[a][1]);
                CHECK(0);
            }
            tsr_image_free(got);
        }
    int n = count_nonzero(ref);
    tsr_image_free(ref);
    return n;
}

/* canny-nms's candidate map of a photo (whole image). */
static tsr_image *candidates_of(tsr_ctx *ctx, const char *name, double low, double high) {
    tsr_image *img = edge_load(ctx, name);
    tsr_op nms;
    tsr_image *cand = NULL;
    if (img &&
        !edge_op_prepare(ctx, &tsr_op_canny_nms, &nms, img->width, img->height, img->bands)) {
        nms.values[0] = low;
        nms.values[1] = high;
        cand = edge_op_apply(ctx, &nms, img, 0, 0);
    }
    tsr_image_free(img);
    return cand;
}

static void test_photos(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const char *const photos[] = {"astronaut.png", "coffee.png", "chelsea.png",
                                         "hubble_deep_field.jpg", "rocket.jpg"};
    static const double th[][2] = {{100, 200}, {10, 40}, {0, 0}};
    for (int p = 0; p < 5; p++)
        for (int t = 0; t < 3; t++) {
            tsr_image *cand = candidates_of(ctx, photos[p], th[t][0], th[t][1]);
            CHECK(cand != NULL);
            if (cand)
                CHECK(check_against_reference(ctx, cand, photos[p], 4) > 100);
            tsr_image_free(cand);
        }
    tsr_ctx_free(ctx);
}

static void put(tsr_image *img, int x, int y, uint8_t v) {
    if (x >= 0 && y >= 0 && x < img->width && y < img->height)
        img->data[(size_t)y * img->stride + (size_t)x] = v;
}

/* A square spiral of weak pixels (arms 2 px apart, so never 8-connected to
 * each other) from (cx, cy) outwards over `turns` arms; returns its length
 * and its last pixel in *ex, *ey. */
static int spiral(tsr_image *img, int cx, int cy, int turns, int *ex, int *ey) {
    static const int dx[4] = {1, 0, -1, 0}, dy[4] = {0, 1, 0, -1};
    int x = cx, y = cy, n = 0;
    put(img, x, y, CANNY_WEAK), n++;
    for (int arm = 0; arm < turns; arm++) {
        int len = 2 * (arm / 2 + 1);
        for (int k = 0; k < len; k++) {
            x += dx[arm % 4], y += dy[arm % 4];
            put(img, x, y, CANNY_WEAK), n++;
        }
    }
    *ex = x;
    *ey = y;
    return n;
}

/* Two spirals across many blocks: one with a strong pixel at its centre (all
 * of it is an edge), one with a strong pixel at its far end, one with none. */
static void test_spirals(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *cand = NULL;
    CHECK_EQ_INT(tsr_image_new(ctx, 1000, 700, 1, &cand), TSR_OK);
    int ex, ey;
    int a = spiral(cand, 250, 250, 240, &ex, &ey);
    put(cand, 250, 250, CANNY_STRONG);
    int b = spiral(cand, 750, 250, 240, &ex, &ey);
    put(cand, ex, ey, CANNY_STRONG);
    spiral(cand, 500, 600, 90, &ex, &ey); /* no strong pixel: no edge */
    int edges = check_against_reference(ctx, cand, "spirals", N_APPLY);
    CHECK_EQ_INT(edges, a + b);
    tsr_image *got = hysteresis(ctx, cand, 64, 2, 37, 23);
    CHECK_EQ_INT(count_nonzero(got), a + b);
    tsr_image_free(got);
    tsr_image_free(cand);
    tsr_ctx_free(ctx);
}

/* Chains that cross block borders only through block corners (diagonal
 * steps at multiples of 64), both diagonals, and corner-touching pairs. */
static void test_block_corners(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *cand = NULL;
    CHECK_EQ_INT(tsr_image_new(ctx, 400, 300, 1, &cand), TSR_OK);
    /* Main diagonal from (0,0) to (255,255), strong only at its far end. */
    for (int i = 0; i < 256; i++)
        put(cand, i, i, CANNY_WEAK);
    put(cand, 255, 255, CANNY_STRONG);
    /* Anti-diagonal x + y = 319 (through corners such as (256,63)-(255,64)),
     * strong only at its top end; it touches the diagonal near (159,160). */
    for (int i = 0; i < 256; i++)
        put(cand, 300 - i, 19 + i, CANNY_WEAK);
    put(cand, 300, 19, CANNY_STRONG);
    /* Four-block corner pairs: (127,63)-(128,64) joined to a strong pixel;
     * (191,63)-(192,64) weak only; (256,127) strong touching (255,128). */
    put(cand, 120, 63, CANNY_STRONG);
    for (int x = 121; x <= 127; x++)
        put(cand, x, 63, CANNY_WEAK);
    put(cand, 128, 64, CANNY_WEAK);
    put(cand, 191, 63, CANNY_WEAK);
    put(cand, 192, 64, CANNY_WEAK);
    put(cand, 256, 127, CANNY_STRONG);
    put(cand, 255, 128, CANNY_WEAK);
    put(cand, 254, 129, CANNY_WEAK);
    /* A weak pixel on a block corner diagonal to a strong one that is not
     * adjacent (two apart): stays off. */
    put(cand, 320, 192, CANNY_STRONG);
    put(cand, 318, 190, CANNY_WEAK);
    int edges = check_against_reference(ctx, cand, "block corners", N_APPLY);
    CHECK_EQ_INT(edges, 512 + 9 + 3 + 1);
    tsr_image_free(cand);
    tsr_ctx_free(ctx);
}

/* A triangle wave 0..8..0 of period 16. */
static int tri(int k) {
    return k % 16 < 8 ? k % 16 : 16 - k % 16;
}

/* Weak zig-zag chains across 30 blocks reaching a strong pixel at the far
 * end; a parallel chain broken by one gap stays off past the gap. */
static void test_far_chain(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *cand = NULL;
    int w = 30 * 64 + 7;
    CHECK_EQ_INT(tsr_image_new(ctx, w, 200, 1, &cand), TSR_OK);
    for (int x = 0; x < w; x++) {
        put(cand, x, 60 + tri(x / 3), CANNY_WEAK); /* stairs up and down, rows 60..68 */
        put(cand, x, 130 + (x % 2), CANNY_WEAK);   /* zig-zag over rows 130, 131 */
    }
    put(cand, w - 1, 60 + tri((w - 1) / 3), CANNY_STRONG);
    put(cand, w - 1, 130 + (w - 1) % 2, CANNY_STRONG);
    put(cand, 1000, 130, CANNY_NONE); /* the zig-zag's gap */
    put(cand, 1000, 131, CANNY_NONE);
    int edges = check_against_reference(ctx, cand, "far chain", N_APPLY);
    CHECK_EQ_INT(edges, w + (w - 1001));
    tsr_image_free(cand);
    tsr_ctx_free(ctx);
}

static unsigned long long rng = 0x2545f4914f6cdd1dull;
static unsigned rnd(unsigned n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* Random maps near and above the percolation density, at sizes around the
 * block size and with thin shapes. */
static void test_random_maps(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    static const int sizes[][2] = {{1, 1},   {1, 200},  {200, 1},  {63, 63},   {64, 64},
                                   {65, 65}, {129, 70}, {70, 129}, {300, 257}, {640, 130}};
    static const int weak_pct[] = {20, 40, 55};
    for (int s = 0; s < 10; s++)
        for (int d = 0; d < 3; d++) {
            tsr_image *cand = NULL;
            CHECK_EQ_INT(tsr_image_new(ctx, sizes[s][0], sizes[s][1], 1, &cand), TSR_OK);
            for (int y = 0; cand && y < cand->height; y++)
                for (int x = 0; x < cand->width; x++) {
                    unsigned r = rnd(1000);
                    put(cand, x, y,
                        r < 3 ? CANNY_STRONG : (r < (unsigned)weak_pct[d] * 10 ? CANNY_WEAK : 0));
                }
            if (cand)
                check_against_reference(ctx, cand, "random map", N_APPLY);
            tsr_image_free(cand);
        }
    printf("     %d tilings compared with the whole-image flood\n", n_compared);
    tsr_ctx_free(ctx);
}

/* A map tile off the 64-px grid is reported by finalize, never mislabelled. */
static void test_misaligned_map(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *cand = NULL;
    tsr_op op;
    CHECK_EQ_INT(tsr_image_new(ctx, 100, 100, 1, &cand), TSR_OK);
    CHECK_EQ_INT(edge_op_prepare(ctx, &tsr_op_canny_hysteresis, &op, 100, 100, 1), TSR_OK);
    CHECK_EQ_INT(edge_op_reduce(ctx, &op, cand, 37, 2), TSR_ERR_INTERNAL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "aligned");
    edge_op_free(&op);
    tsr_image_free(cand);
    tsr_ctx_free(ctx);
}

/* The engine: canny over odd tile sizes and thread counts equals the
 * single-tile run (its map tiles are 64-px aligned whatever the tile). */
static void test_engine_tiles(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = edge_load(ctx, "chelsea.png");
    tsr_pipeline *p = NULL;
    tsr_executor *pool = NULL;
    CHECK(img != NULL);
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, "canny:low=20,high=80", &p), TSR_OK);
    CHECK_EQ_INT(tsr_executor_local_new(ctx, 3, &pool), TSR_OK);
    tsr_image *ref = NULL;
    if (img && p)
        CHECK_EQ_INT(tsr_pipeline_run_reference(ctx, p, img, &ref), TSR_OK);
    static const int tiles[] = {16, 37, 64, 100, 129, 256};
    for (int t = 0; ref && t < 6; t++) {
        tsr_run_options opts = {.tile_size = tiles[t]};
        tsr_image *out = NULL;
        CHECK_EQ_INT(tsr_pipeline_run(ctx, p, img, pool, &opts, &out), TSR_OK);
        if (!edge_same_image(ref, out))
            fprintf(stderr, "engine tile %d differs from the reference\n", tiles[t]);
        CHECK(edge_same_image(ref, out));
        tsr_image_free(out);
    }
    CHECK(count_nonzero(ref) > 1000);
    tsr_image_free(ref);
    tsr_executor_free(pool);
    tsr_pipeline_free(p);
    tsr_image_free(img);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_photos);
    RUN(test_spirals);
    RUN(test_block_corners);
    RUN(test_far_chain);
    RUN(test_random_maps);
    RUN(test_misaligned_map);
    RUN(test_engine_tiles);
    return check_finish();
}
