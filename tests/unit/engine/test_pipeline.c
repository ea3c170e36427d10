/* Pipeline parsing: text and JSON forms, normalization, error messages. */
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

static void test_text_and_json_agree(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *a = parse(ctx, "grayscale|gaussian-blur:sigma=2|canny:low=100,high=200");
    tsr_pipeline *b = parse(ctx, "[{\"op\":\"grayscale\"},{\"op\":\"gaussian-blur\",\"sigma\":2},"
                                 "{\"op\":\"canny\",\"low\":100,\"high\":200}]");
    CHECK(a && b);
    if (a && b) {
        char *ta = tsr_pipeline_to_text(a), *tb = tsr_pipeline_to_text(b);
        char *ja = tsr_pipeline_to_json(a), *jb = tsr_pipeline_to_json(b);
        CHECK(!strcmp(ta, tb));
        CHECK(!strcmp(ja, jb));
        CHECK_STR_CONTAINS(ta, "gaussian-blur@1:sigma=2,ksize=");
        CHECK_STR_CONTAINS(ja, "\"op\":\"canny\"");
        /* The normalized forms parse back to themselves. */
        tsr_pipeline *c = parse(ctx, ta), *d = parse(ctx, ja);
        CHECK(c && d);
        if (c && d) {
            char *tc = tsr_pipeline_to_text(c), *td = tsr_pipeline_to_text(d);
            CHECK(!strcmp(tc, ta));
            CHECK(!strcmp(td, ta));
            free(tc);
            free(td);
        }
        tsr_pipeline_free(c);
        tsr_pipeline_free(d);
        free(ta);
        free(tb);
        free(ja);
        free(jb);
    }
    tsr_pipeline_free(a);
    tsr_pipeline_free(b);
    tsr_ctx_free(ctx);
}

static void test_defaults_filled(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = parse(ctx, "brightness|threshold");
    CHECK(p != NULL);
    if (p) {
        char *t = tsr_pipeline_to_text(p);
        CHECK(!strcmp(t, "brightness@1:delta=60|threshold@1:value=127"));
        free(t);
    }
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
}

/* Each bad pipeline must fail with TSR_ERR_USAGE and a message with these words. */
static void expect_error(const char *text, const char *w1, const char *w2) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = NULL;
    tsr_status st = tsr_pipeline_parse(ctx, text, &p);
    CHECK_EQ_INT(st, TSR_ERR_USAGE);
    CHECK(p == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), w1);
    if (w2)
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), w2);
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
}

static void test_errors_name_op_param_range(void) {
    expect_error("grayscale|nosuchop", "unknown operation 'nosuchop'", NULL);
    expect_error("threshold:value=300", "threshold: value", "between 0 and 255");
    expect_error("threshold:value=abc", "threshold: value", "number");
    expect_error("threshold:value=1.5", "threshold: value", "whole number");
    expect_error("threshold:level=3", "unknown parameter 'level'", "value");
    expect_error("threshold:value", "expected key=value", NULL);
    expect_error("threshold:value=1,value=2", "given twice", NULL);
    expect_error("", "empty", NULL);
    expect_error("grayscale||invert", "empty step", NULL);
    expect_error("[{\"op\":\"threshold\",\"value\":999}]", "threshold: value", "between 0 and 255");
    expect_error("[{\"op\":\"threshold\",\"value\":\"x\"}]", "threshold: value", "number");
    expect_error("[{\"op\":\"threshold\",\"value\":[1,2]}]", "threshold: value", NULL);
    expect_error("[{\"nope\":1}]", "no \"op\"", NULL);
    expect_error("[1]", "must be an object", NULL);
    expect_error("[{\"op\":\"grayscale\"", "pipeline JSON", NULL);
    expect_error("{\"op\":\"grayscale\"}", "array", NULL);
}

static void test_enum_bool_kernel(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    if (tsr_op_find("resize")) {
        expect_error("resize:scale=0.5,interp=cubicx", "resize: interp must be one of", "linear");
        tsr_pipeline *p = parse(ctx, "resize:scale=0.5,interp=area");
        CHECK(p != NULL);
        tsr_pipeline_free(p);
    }
    if (tsr_op_find("convolve")) {
        tsr_pipeline *p = parse(ctx, "convolve:kernel=0 -1 0 -1 5 -1 0 -1 0");
        CHECK(p != NULL);
        if (p) {
            CHECK_EQ_INT(p->ops[0].kernel.size, 3);
            CHECK(p->ops[0].kernel.values[4] == 5);
            char *j = tsr_pipeline_to_json(p);
            CHECK_STR_CONTAINS(j, "[0,-1,0,-1,5,-1,0,-1,0]");
            tsr_pipeline *q = parse(ctx, j);
            CHECK(q && q->ops[0].kernel.size == 3 && q->ops[0].kernel.values[3] == -1);
            tsr_pipeline_free(q);
            free(j);
        }
        tsr_pipeline_free(p);
        p = parse(ctx, "[{\"op\":\"convolve\",\"kernel\":[[1,2,1],[2,4,2],[1,2,1]],"
                       "\"divisor\":16}]");
        CHECK(p != NULL && p->ops[0].kernel.size == 3 && p->ops[0].kernel.values[4] == 4);
        tsr_pipeline_free(p);
        expect_error("convolve:kernel=1 2 3 4", "square kernel", NULL);
        expect_error("convolve:kernel=1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", "odd side", NULL);
    }
    if (tsr_op_find("rotate")) {
        tsr_pipeline *p = parse(ctx, "rotate:angle=30,expand=true");
        CHECK(p != NULL);
        if (p) {
            char *t = tsr_pipeline_to_text(p);
            CHECK_STR_CONTAINS(t, "expand=true");
            free(t);
        }
        tsr_pipeline_free(p);
        expect_error("rotate:angle=30,expand=maybe", "expand must be true or false", NULL);
    }
    tsr_ctx_free(ctx);
}

/* Rules that no image could run are refused at parse time with the run's
 * message, in both forms; what depends on the image is checked by
 * tsr_pipeline_check_size with the message tsr_plan_new gives. */
static void test_parse_refuses_what_a_run_would(void) {
    expect_error("gaussian-blur:ksize=4", "gaussian-blur: ksize must be odd, got 4", NULL);
    expect_error("[{\"op\":\"gaussian-blur\",\"ksize\":4}]", "ksize must be odd, got 4", NULL);
    expect_error("box-blur:ksize=2", "box-blur: ksize must be odd, got 2", NULL);
    expect_error("median:ksize=4", "median: ksize must be an odd number from 3 to 99, got 4", NULL);
    expect_error("resize:scale=0.5,width=100", "resize: give either scale or width", "not both");
    expect_error("resize:interp=area", "resize: give either scale or width", "none given");
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = parse(ctx, "gaussian-blur:sigma=2|crop:x=50,y=0,width=20");
    CHECK(p != NULL);
    int w = 0, h = 0, b = 0;
    if (p) {
        CHECK_EQ_INT(tsr_pipeline_check_size(ctx, p, 100, 40, 3, &w, &h, &b), TSR_OK);
        CHECK(w == 20 && h == 40 && b == 3);
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_pipeline_check_size(ctx, p, 40, 40, 3, &w, &h, &b), TSR_ERR_USAGE);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "crop: x=50, y=0 lies outside the 40x40 image");
        CHECK(w == 0 && h == 0 && b == 0);
        /* The same message as planning it for that size. */
        tsr_ctx *run = tsr_ctx_new();
        tsr_plan *plan = NULL;
        CHECK_EQ_INT(tsr_plan_new(run, p, 40, 40, 3, 0, &plan), TSR_ERR_USAGE);
        CHECK(!strcmp(tsr_ctx_message(run), tsr_ctx_message(ctx)));
        tsr_ctx_free(run);
    }
    tsr_pipeline_free(p);
    p = parse(ctx, "resize:scale=0.001");
    CHECK(p != NULL);
    if (p) {
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_pipeline_check_size(ctx, p, 100, 100, 1, NULL, NULL, NULL), TSR_ERR_USAGE);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "resize: scale gives a 0x0 output");
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_pipeline_check_size(ctx, p, 0, 100, 1, NULL, NULL, NULL), TSR_ERR_USAGE);
    }
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
}

/* Unknown names get the closest known one in the message. */
static void test_did_you_mean(void) {
    expect_error("brighten", "unknown operation 'brighten'; did you mean 'brightness'?", NULL);
    expect_error("[{\"op\":\"greyscale\"}]", "did you mean 'grayscale'?", NULL);
    expect_error("gaussian_blur", "did you mean 'gaussian-blur'?", NULL);
    expect_error("gaussian-blur:sigm=2", "unknown parameter 'sigm'; did you mean 'sigma'?",
                 "(parameters: sigma, ksize)");
    expect_error("flip:axis=vert", "(got 'vert'); did you mean 'vertical'?", NULL);
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *p = NULL;
    CHECK_EQ_INT(tsr_pipeline_parse(ctx, "zzzqqq", &p), TSR_ERR_USAGE);
    CHECK(!strstr(tsr_ctx_message(ctx), "did you mean"));
    tsr_ctx_free(ctx);
}

static void test_limits(void) {
    /* 65 ops is over the limit. */
    char text[65 * 7 + 1] = "";
    for (int i = 0; i < 65; i++)
        strcat(text, i ? "|invert" : "invert");
    expect_error(text, "limit is 64", NULL);
    char *big = malloc(TSR_PIPELINE_MAX_TEXT + 10);
    memset(big, ' ', TSR_PIPELINE_MAX_TEXT + 9);
    big[TSR_PIPELINE_MAX_TEXT + 9] = '\0';
    big[0] = 'x';
    expect_error(big, "longer than", NULL);
    free(big);
}

static void test_registry_is_sane(void) {
    int visible = 0;
    for (int i = 0; i < tsr_op_count(); i++) {
        const tsr_op_desc *d = tsr_op_at(i);
        CHECK(d->name && d->name[0]);
        CHECK(d->version >= 1);
        CHECK(d->run != NULL || d->expands_to != NULL);
        CHECK(d->n_params <= TSR_OP_MAX_PARAMS);
        CHECK(tsr_op_find_version(d->name, d->version) == d);
        CHECK(tsr_op_find(d->name)->version >= d->version);
        if (d->kind == TSR_OP_GLOBAL && !d->hidden && !d->expands_to)
            CHECK(d->summary_size != NULL || d->finalize != NULL);
        for (int p = 0; p < d->n_params; p++) {
            const tsr_param_spec *s = &d->params[p];
            CHECK(s->doc && s->doc[0]);
            CHECK(s->hint && s->hint[0] >= 'A' && s->hint[0] <= 'z' && strlen(s->hint) < 140);
            CHECK(s->unit != NULL);
            if (s->type == TSR_PARAM_INT || s->type == TSR_PARAM_FLOAT)
                CHECK(s->optional || (s->def >= s->min && s->def <= s->max));
        }
        if (!d->hidden) {
            visible++;
            CHECK(d->summary && d->summary[0]);
        }
    }
    CHECK(tsr_op_find("no-such-op") == NULL);
    CHECK(tsr_op_at(-1) == NULL && tsr_op_at(tsr_op_count()) == NULL);
    printf("     %d operations registered, %d visible\n", tsr_op_count(), visible);
}

int main(void) {
    RUN(test_text_and_json_agree);
    RUN(test_defaults_filled);
    RUN(test_errors_name_op_param_range);
    RUN(test_enum_bool_kernel);
    RUN(test_parse_refuses_what_a_run_would);
    RUN(test_did_you_mean);
    RUN(test_limits);
    RUN(test_registry_is_sane);
    return check_finish();
}
