/* Image buffers, rects, limits, buffers and the error context. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "tessera/tessera.h"

static void test_rects(void) {
    tsr_rect a = tsr_rect_make(0, 0, 10, 10), b = tsr_rect_make(5, 5, 10, 10);
    tsr_rect i = tsr_rect_intersect(a, b);
    CHECK(i.x == 5 && i.y == 5 && i.w == 5 && i.h == 5);
    CHECK(tsr_rect_empty(tsr_rect_intersect(a, tsr_rect_make(20, 20, 5, 5))));
    tsr_rect u = tsr_rect_union(a, b);
    CHECK(u.x == 0 && u.y == 0 && u.w == 15 && u.h == 15);
    CHECK(tsr_rect_contains(u, a) && !tsr_rect_contains(a, b));
    tsr_rect g = tsr_rect_grow_clip(tsr_rect_make(2, 3, 4, 4), 5, 5, 5, 5, 12, 9);
    CHECK(g.x == 0 && g.y == 0 && g.w == 11 && g.h == 9);
}

static void test_image_alloc_and_cap(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *img = NULL;
    CHECK_EQ_INT(tsr_image_new(ctx, 7, 5, 3, &img), TSR_OK);
    CHECK(img && img->stride == 21 && img->data[0] == 0);
    tsr_image *copy = NULL;
    img->data[20] = 9;
    CHECK_EQ_INT(tsr_image_copy(ctx, img, &copy), TSR_OK);
    CHECK(copy && copy->data[20] == 9);
    tsr_region r = tsr_image_region(img, tsr_rect_make(2, 1, 3, 3));
    *TSR_REGION_AT(&r, 3, 2) = 77;
    CHECK_EQ_INT(img->data[2 * 21 + 3 * 3], 77);
    tsr_region dst = tsr_image_region(copy, tsr_rect_make(0, 0, 7, 5));
    tsr_region_copy(&r, &dst);
    CHECK_EQ_INT(copy->data[2 * 21 + 9], 77);
    tsr_image_free(img);
    tsr_image_free(copy);
    tsr_image_free(NULL);
    tsr_limits lim = {0};
    lim.max_alloc = 1000;
    tsr_ctx_set_limits(ctx, &lim);
    CHECK_EQ_INT(tsr_image_new(ctx, 100, 100, 1, &img), TSR_ERR_LIMIT);
    CHECK(img == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "an image of 100x100x1: 10 kB in one buffer is more "
                                             "than the single-buffer limit of 1.0 kB");
    tsr_ctx_free(ctx);
}

static void test_limits_check(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_limits lim = {0};
    lim.max_width = 100;
    lim.max_height = 50;
    lim.max_pixels = 1000;
    tsr_ctx_set_limits(ctx, &lim);
    CHECK_EQ_INT(tsr_limits_check(ctx, "x", 10, 10, 3), TSR_OK);
    CHECK_EQ_INT(tsr_limits_check(ctx, "x", 101, 1, 3), TSR_ERR_LIMIT);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_limits_check(ctx, "x", 50, 50, 3), TSR_ERR_LIMIT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "pixels");
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_limits_check(ctx, "x", 0, 5, 3), TSR_ERR_CORRUPT);
    CHECK(tsr_ctx_limits(ctx)->max_file_bytes == TSR_DEFAULT_MAX_FILE_BYTES);
    tsr_ctx_free(ctx);
    /* The defaults take a gigapixel image (streamed: the header check does not
     * ask for one buffer of it); holding it whole is the single-buffer cap's. */
    ctx = tsr_ctx_new();
    CHECK_EQ_INT(tsr_limits_check(ctx, "x", 40000, 40000, 3), TSR_OK);
    CHECK_EQ_INT(tsr_limits_check(ctx, "x", 30000, 20000, 3), TSR_OK);
    CHECK_EQ_INT(tsr_limits_check_alloc(ctx, "x", 40000ull * 40000 * 3), TSR_ERR_LIMIT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "x: 4.8 GB in one buffer is more than the "
                                             "single-buffer limit of 4.3 GB");
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_limits_check_alloc(ctx, "x", 30000ull * 20000 * 3), TSR_OK);
    CHECK_EQ_INT(tsr_limits_check(ctx, "x", 65000, 65000, 1), TSR_ERR_LIMIT);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "4.2 GP is more than the limit of 4.0 GP");
    tsr_ctx_free(ctx);
}

static void test_first_error_wins(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK_EQ_INT(tsr_ctx_status(ctx), TSR_OK);
    CHECK(!strcmp(tsr_ctx_message(ctx), ""));
    CHECK_EQ_INT(tsr_error(ctx, TSR_ERR_CORRUPT, "first %d", 1), TSR_ERR_CORRUPT);
    tsr_error(ctx, TSR_ERR_IO, "second");
    CHECK(!strcmp(tsr_ctx_message(ctx), "first 1"));
    CHECK_EQ_INT(tsr_ctx_status(ctx), TSR_ERR_CORRUPT);
    tsr_ctx_cancel(ctx);
    CHECK(tsr_ctx_cancelled(ctx));
    tsr_ctx_reset(ctx);
    CHECK(!tsr_ctx_cancelled(ctx) && tsr_ctx_status(ctx) == TSR_OK);
    CHECK(strcmp(tsr_status_name(TSR_ERR_LIMIT), "ok") != 0);
    tsr_ctx_free(ctx);
}

static void test_buffer_cap(void) {
    tsr_buffer b = {0};
    b.max = 10;
    CHECK_EQ_INT(tsr_buffer_append(&b, "12345", 5), TSR_OK);
    CHECK_EQ_INT(tsr_buffer_append(&b, "12345", 5), TSR_OK);
    CHECK_EQ_INT(tsr_buffer_append(&b, "1", 1), TSR_ERR_LIMIT);
    CHECK_EQ_INT(b.len, 10);
    tsr_buffer_free(&b);
    tsr_buffer_free(&b);
}

static void test_file_io(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char dir[] = "/tmp/tessera-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/f.bin", dir);
    CHECK_EQ_INT(tsr_file_write_atomic(ctx, path, "hello", 5), TSR_OK);
    tsr_buffer b = {0};
    CHECK_EQ_INT(tsr_file_read(ctx, path, 100, &b), TSR_OK);
    CHECK(b.len == 5 && !memcmp(b.data, "hello", 5));
    tsr_buffer_free(&b);
    CHECK_EQ_INT(tsr_file_read(ctx, path, 4, &b), TSR_ERR_LIMIT);
    tsr_buffer_free(&b);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_file_read(ctx, dir, 100, &b), TSR_ERR_IO);
    tsr_buffer_free(&b);
    tsr_ctx_reset(ctx);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/f.bin", dir);
    CHECK_EQ_INT(tsr_file_write_atomic(ctx, bad, "x", 1), TSR_ERR_IO);
    /* Nothing half-written: only the finished file is in the folder. */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "test $(ls %s | wc -l) -eq 1", dir);
    CHECK(system(cmd) == 0);
    unlink(path);
    rmdir(dir);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_rects);
    RUN(test_image_alloc_and_cap);
    RUN(test_limits_check);
    RUN(test_first_error_wins);
    RUN(test_buffer_cap);
    RUN(test_file_io);
    return check_finish();
}
