/* The work units of an image (service/work_cost.c): what each part costs
 * and how much of it counts as done. */
#include <stdio.h>

#include "check.h"
#include "service/work_cost.h"

static tsr_pipeline *parse(const char *text) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *pipe = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, text, &pipe), TSR_OK);
    tsr_ctx_free(ctx);
    return pipe;
}

static tsr_work_cost cost(const char *in, int w, int h, const tsr_pipeline *pipe, int threads,
                          const char *out) {
    tsr_work_image im = {.in_format = in,
                         .in_w = w,
                         .in_h = h,
                         .pipe = pipe,
                         .threads = threads,
                         .out_format = out,
                         .out_pixels = (uint64_t)w * (uint64_t)h};
    return tsr_work_cost_of(&im);
}

/* Formats, sizes, ops and threads move the parts they should. */
static void test_parts_scale(void) {
    tsr_pipeline *blur = parse("gaussian-blur:sigma=2");
    tsr_pipeline *median = parse("median");
    tsr_pipeline *two = parse("gaussian-blur:sigma=2|median");
    tsr_work_cost a = cost("jpeg", 1024, 1024, blur, 1, "png");
    tsr_work_cost b = cost("jpeg", 2048, 2048, blur, 1, "png");
    CHECK(a.decode > 0 && a.compute > 0 && a.encode > 0);
    CHECK(b.decode > 3.9 * a.decode && b.decode < 4.1 * a.decode); /* per pixel */
    CHECK(b.compute > 3.9 * a.compute && b.compute < 4.1 * a.compute);
    CHECK(cost("png", 1024, 1024, blur, 1, "png").decode > a.decode);   /* png decodes slower */
    CHECK(cost("jpeg", 1024, 1024, blur, 1, "jpeg").encode < a.encode); /* png encodes slower */
    CHECK(cost("nonesuch", 1024, 1024, blur, 1, "png").decode ==
          cost("png", 1024, 1024, blur, 1, "png").decode); /* unknown: like png */
    tsr_work_cost m = cost("jpeg", 1024, 1024, median, 1, "png");
    tsr_work_cost both = cost("jpeg", 1024, 1024, two, 1, "png");
    CHECK(m.compute > a.compute); /* median is heavier */
    CHECK(both.compute > m.compute && both.compute < m.compute + a.compute * 1.01);
    tsr_work_cost t2 = cost("jpeg", 1024, 1024, blur, 2, "png");
    CHECK(t2.compute < a.compute * 0.51 && t2.decode == a.decode); /* tiles share the threads */
    tsr_pipeline_free(blur);
    tsr_pipeline_free(median);
    tsr_pipeline_free(two);
}

/* Done counts each part by its own fraction and never passes the total. */
static void test_done_fractions(void) {
    tsr_work_cost c = {.decode = 1, .compute = 2, .encode = 3};
    CHECK(tsr_work_cost_total(&c) == 6);
    CHECK(tsr_work_cost_done(&c, 0, 100, 0, 10, 0, 50) == 0);
    CHECK(tsr_work_cost_done(&c, 50, 100, 0, 10, 0, 50) == 0.5);
    CHECK(tsr_work_cost_done(&c, 100, 100, 5, 10, 0, 50) == 2);
    CHECK(tsr_work_cost_done(&c, 100, 100, 10, 10, 25, 50) == 4.5);
    CHECK(tsr_work_cost_done(&c, 100, 100, 10, 10, 50, 50) == 6);
    CHECK(tsr_work_cost_done(&c, 200, 100, 20, 10, 99, 50) == 6); /* capped */
    CHECK(tsr_work_cost_done(&c, 10, 0, 3, 0, 10, 0) == 0);       /* empty sizes count nothing */
}

int main(void) {
    RUN(test_parts_scale);
    RUN(test_done_fractions);
    return check_finish();
}
