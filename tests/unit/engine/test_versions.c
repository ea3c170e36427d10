/* Op versions in pipelines (issue 14): `op@N` in the text form, "op@N" or
 * a "version" member in JSON, the registry holding several versions of one
 * name, the newest as the default, unknown versions refused with the list
 * of those that exist, and printed forms that pin every version. Uses the
 * TEST ONLY brightness v2 (tsr_op_enable_test_versions). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tessera/tessera.h"

static tsr_pipeline *parse(tsr_ctx *ctx, const char *text) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    tsr_pipeline_parse(ctx, text, &p);
    return p;
}

/* The text form of `text` parsed, or NULL when it does not parse. Caller frees. */
static char *normalized(const char *text) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = parse(ctx, text);
    char *t = p ? tsr_pipeline_to_text(p) : NULL;
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
    return t;
}

static void expect_error(const char *text, const char *w1, const char *w2) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, text, &p), TSR_ERR_USAGE);
    CHECK(p == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), w1);
    if (w2)
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), w2);
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
}

/* Version 1 only: every op prints its version, and a pin parses. */
static void test_printed_forms_pin_versions(void) {
    char *t = normalized("grayscale|gaussian-blur:sigma=2");
    CHECK(t && !strcmp(t, "grayscale@1|gaussian-blur@1:sigma=2,ksize=0"));
    free(t);
    t = normalized("gaussian-blur@1:sigma=2");
    CHECK(t && !strcmp(t, "gaussian-blur@1:sigma=2,ksize=0"));
    free(t);
    t = normalized(" invert @ 1 | grayscale@1 ");
    CHECK(t && !strcmp(t, "invert@1|grayscale@1"));
    free(t);
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = parse(ctx, "grayscale|threshold:value=9");
    char *j = p ? tsr_pipeline_to_json(p) : NULL;
    CHECK(j && !strcmp(j, "[{\"op\":\"grayscale\",\"version\":1},"
                          "{\"op\":\"threshold\",\"version\":1,\"value\":9}]"));
    free(j);
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
}

static void test_json_pins(void) {
    char *a = normalized("[{\"op\":\"gaussian-blur@1\",\"sigma\":2}]");
    char *b = normalized("[{\"op\":\"gaussian-blur\",\"version\":1,\"sigma\":2}]");
    char *c = normalized("[{\"op\":\"gaussian-blur@1\",\"version\":1,\"sigma\":2}]");
    CHECK(a && b && c && !strcmp(a, b) && !strcmp(b, c));
    CHECK(a && !strcmp(a, "gaussian-blur@1:sigma=2,ksize=0"));
    free(a);
    free(b);
    free(c);
}

static void test_bad_versions(void) {
    expect_error("gaussian-blur@3", "gaussian-blur: version 3 does not exist", "(versions: 1)");
    expect_error("gaussian-blur@0", "gaussian-blur: the version after '@'", "from 1 to");
    expect_error("gaussian-blur@x:sigma=2", "the version after '@'", "'x'");
    expect_error("gaussian-blur@", "the version after '@'", NULL);
    expect_error("gaussian-blur@1.5", "the version after '@'", NULL);
    expect_error("gaussian-blur@-1", "the version after '@'", NULL);
    expect_error("gaussian-blur@99999999999999999999", "the version after '@'", NULL);
    expect_error("[{\"op\":\"gaussian-blur\",\"version\":7}]", "version 7 does not exist", NULL);
    expect_error("[{\"op\":\"gaussian-blur\",\"version\":\"1\"}]", "\"version\" must be", NULL);
    expect_error("[{\"op\":\"gaussian-blur\",\"version\":0}]", "\"version\" must be", NULL);
    expect_error("[{\"op\":\"gaussian-blur@1\",\"version\":2}]", "two different versions",
                 "@1 and 2");
    /* did-you-mean still works on a pinned name */
    expect_error("gausian-blur@1", "unknown operation 'gausian-blur'",
                 "did you mean 'gaussian-blur'?");
    expect_error("[{\"op\":\"brighten@2\"}]", "did you mean 'brightness'?", NULL);
    /* hidden (internal) ops stay refused with any version */
    expect_error("canny-nms@1", "unknown operation", NULL);
}

/* Nothing calls a parameter "version", which JSON steps use for the pin. */
static void test_no_param_named_version(void) {
    for (int i = 0; i < tsr_op_count(); i++)
        CHECK(tsr_op_param_index(tsr_op_at(i), "version") < 0);
}

/* With the TEST ONLY brightness v2 registered: both versions run, v2 is
 * the default, listing and printing keep them apart. */
static void test_two_versions(void) {
    int v[4];
    CHECK_EQ_INT(tsr_op_versions("brightness", v, 4), 1);
    CHECK(tsr_op_find("brightness")->version == 1);
    tsr_op_enable_test_versions();
    CHECK_EQ_INT(tsr_op_versions("brightness", v, 4), 2);
    CHECK(v[0] == 1 && v[1] == 2);
    CHECK_EQ_INT(tsr_op_versions("brightness", v, 1), 2);
    CHECK(v[0] == 1);
    CHECK_EQ_INT(tsr_op_versions("no-such-op", v, 4), 0);
    const tsr_op_desc *d1 = tsr_op_find_version("brightness", 1);
    const tsr_op_desc *d2 = tsr_op_find_version("brightness", 2);
    CHECK(d1 && d2 && d1 != d2 && tsr_op_find("brightness") == d2);
    CHECK(tsr_op_is_default(d2) && !tsr_op_is_default(d1));
    CHECK(tsr_op_find_version("brightness", 3) == NULL);

    char *t = normalized("brightness:delta=10");
    CHECK(t && !strcmp(t, "brightness@2:delta=10"));
    free(t);
    t = normalized("brightness@1:delta=10|brightness:delta=10");
    CHECK(t && !strcmp(t, "brightness@1:delta=10|brightness@2:delta=10"));
    free(t);
    expect_error("brightness@3", "brightness: version 3 does not exist", "(versions: 1, 2)");

    /* The two versions give different bytes; each pin gives its own. */
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = NULL, *o1 = NULL, *o2 = NULL, *o2b = NULL;
    CHECK_EQ_INT(tsr_image_new(ctx, 8, 4, 3, &in), TSR_OK);
    for (size_t i = 0; in && i < (size_t)8 * 4 * 3; i++)
        in->data[i] = (uint8_t)(i * 7);
    tsr_pipeline *p1 = parse(ctx, "brightness@1:delta=10");
    tsr_pipeline *p2 = parse(ctx, "brightness:delta=10");
    tsr_pipeline *p2b = parse(ctx, "[{\"op\":\"brightness\",\"version\":2,\"delta\":10}]");
    CHECK(p1 && p2 && p2b && in);
    if (p1 && p2 && p2b && in) {
        CHECK_EQ_INT(tsr_pipeline_run_reference(ctx, p1, in, &o1), TSR_OK);
        CHECK_EQ_INT(tsr_pipeline_run_reference(ctx, p2, in, &o2), TSR_OK);
        CHECK_EQ_INT(tsr_pipeline_run_reference(ctx, p2b, in, &o2b), TSR_OK);
        CHECK(o1 && o2 && o2b && o1->data[0] == 10 && o2->data[0] == 11);
        CHECK(o2 && o2b && !memcmp(o2->data, o2b->data, (size_t)8 * 4 * 3));
    }
    tsr_image_free(in);
    tsr_image_free(o1);
    tsr_image_free(o2);
    tsr_image_free(o2b);
    tsr_pipeline_free(p1);
    tsr_pipeline_free(p2);
    tsr_pipeline_free(p2b);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_printed_forms_pin_versions);
    RUN(test_json_pins);
    RUN(test_bad_versions);
    RUN(test_no_param_named_version);
    RUN(test_two_versions); /* last: it registers the test versions */
    return check_finish();
}
