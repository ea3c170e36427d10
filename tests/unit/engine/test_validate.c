/* Property test of the pipeline check (issue 12): random pipelines over
 * every registered op, with parameter values in range, at the edges, out of
 * range, malformed and in conflict, run on small random images. Validation
 * and the run must agree:
 *  - a pipeline the parser accepts and tsr_pipeline_check_size accepts for
 *    the image runs without error;
 *  - one check_size refuses fails to run with the same status and message,
 *    and only for an image reason (its message names a size or a limit);
 *  - one the parser refuses, built by hand from the same parameters
 *    (tsr_op_set_param alone, without the parse-time checks), fails to run,
 *    and for a one-op pipeline with the parser's very message;
 *  - the normalized JSON of an accepted pipeline parses again.
 * Fixed seed, 2000 draws of images up to 48x48 (outputs capped at 64 Kpx). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tessera/tessera.h"

enum { DRAWS = 2000, MAX_OPS = 3, TEXT = 2048 };

static unsigned long long rng_state = 0x5eed12ull;

static unsigned rnd(unsigned n) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)((rng_state >> 33) % n);
}

/* Visible ops of the registry. */
static const tsr_op_desc *visible[64];
static int n_visible;

/* Writes a number, often small (so geometry fits the image), sometimes at
 * or past the range's ends, sometimes malformed. */
static void draw_number(const tsr_param_spec *s, char *buf, size_t size) {
    int is_int = s->type == TSR_PARAM_INT;
    switch (rnd(10)) {
    case 0:
        snprintf(buf, size, "%g", s->min);
        break;
    case 1:
        snprintf(buf, size, "%g", s->max);
        break;
    case 2:
        snprintf(buf, size, "%g", rnd(2) ? s->min - 1 : s->max + 1);
        break;
    case 3:
        snprintf(buf, size, "%s", rnd(2) ? "abc" : "2.5");
        break;
    case 4:
    case 5: {
        double v = s->min + (s->max - s->min) * rnd(1000) / 1000.0;
        snprintf(buf, size, is_int ? "%.0f" : "%.3g", v);
        break;
    }
    default: /* small values: 0..80, or 0..4 with a fraction for floats */
        if (is_int)
            snprintf(buf, size, "%u", rnd(81));
        else
            snprintf(buf, size, "%.2f", rnd(400) / 100.0);
    }
}

/* Writes "name=value" for parameter s (now and then a bogus name). */
static void draw_param(const tsr_param_spec *s, char *buf, size_t size) {
    char value[256];
    switch (s->type) {
    case TSR_PARAM_INT:
    case TSR_PARAM_FLOAT:
        draw_number(s, value, sizeof value);
        break;
    case TSR_PARAM_BOOL:
        snprintf(value, sizeof value, "%s", rnd(8) ? (rnd(2) ? "true" : "false") : "maybe");
        break;
    case TSR_PARAM_ENUM: {
        int n = 0;
        while (s->choices[n])
            n++;
        snprintf(value, sizeof value, "%s%s", s->choices[rnd((unsigned)n)], rnd(10) ? "" : "x");
        break;
    }
    case TSR_PARAM_KERNEL: {
        static const int counts[] = {1, 4, 9, 9, 9, 10, 25};
        int n = counts[rnd(7)], len = 0;
        for (int i = 0; i < n; i++)
            len += snprintf(value + len, sizeof value - (size_t)len, "%s%d", i ? " " : "",
                            (int)rnd(7) - 3);
        break;
    }
    }
    snprintf(buf, size, "%s=%s", rnd(40) ? s->name : "bogus", value);
}

/* A random pipeline in the text form into `text`; returns its op count. */
static int draw_pipeline(char *text, size_t size) {
    int n = 1 + (int)rnd(MAX_OPS), len = 0;
    text[0] = '\0';
    for (int i = 0; i < n; i++) {
        const tsr_op_desc *d = visible[rnd((unsigned)n_visible)];
        len += snprintf(text + len, size - (size_t)len, "%s%s%s", i ? "|" : "", d->name,
                        rnd(60) ? "" : "z");
        int first = 1;
        for (int p = 0; p < d->n_params; p++) {
            if (rnd(2))
                continue;
            char param[300];
            draw_param(&d->params[p], param, sizeof param);
            len += snprintf(text + len, size - (size_t)len, "%s%s", first ? ":" : ",", param);
            first = 0;
        }
    }
    return n;
}

/* Builds `text` into *out by hand: op lookup and tsr_op_set_param only, so
 * neither required parameters nor the ops' check() are applied. Returns the
 * first error (message on ctx). The caller frees *out. */
static tsr_status build_raw(tsr_ctx *ctx, const char *text, tsr_pipeline **out) {
    char copy[TEXT];
    snprintf(copy, sizeof copy, "%s", text);
    tsr_pipeline *p = calloc(1, sizeof *p);
    p->ops = calloc(MAX_OPS, sizeof *p->ops);
    *out = p;
    char *save_op = NULL;
    for (char *step = strtok_r(copy, "|", &save_op); step; step = strtok_r(NULL, "|", &save_op)) {
        char *colon = strchr(step, ':');
        if (colon)
            *colon = '\0';
        tsr_op *op = &p->ops[p->n_ops++];
        op->desc = tsr_op_find(step);
        if (!op->desc || op->desc->hidden)
            return tsr_error(ctx, TSR_ERR_USAGE, "unknown operation '%s'", step);
        for (int i = 0; i < op->desc->n_params; i++)
            op->values[i] = op->desc->params[i].def;
        char *save_kv = NULL;
        for (char *kv = colon ? strtok_r(colon + 1, ",", &save_kv) : NULL; kv;
             kv = strtok_r(NULL, ",", &save_kv)) {
            char *eq = strchr(kv, '=');
            *eq = '\0';
            tsr_status st = tsr_op_set_param(ctx, op, kv, eq + 1);
            if (st)
                return st;
        }
    }
    return TSR_OK;
}

static tsr_image *random_image(void) {
    tsr_image *img = NULL;
    tsr_image_new(NULL, 1 + (int)rnd(48), 1 + (int)rnd(48), 1 + (int)rnd(4), &img);
    for (int y = 0; img && y < img->height; y++)
        for (size_t x = 0; x < (size_t)img->width * (size_t)img->bands; x++)
            img->data[(size_t)y * img->stride + x] = (uint8_t)rnd(256);
    return img;
}

/* Counts of each outcome, printed and checked for coverage. */
typedef struct tally {
    int ran;              /* accepted, and it ran */
    int refused_by_size;  /* refused by check_size for the image, and by the run */
    int refused_at_parse; /* refused by an op's check(), and by the run */
    int unbuilt;          /* a bad name, type or range */
} tally;

/* Runs pipeline p on img; the run's status, message on ctx. */
static tsr_status run_on(tsr_ctx *ctx, tsr_executor *exec, const tsr_pipeline *p,
                         const tsr_image *img) {
    tsr_run_options opts = {.tile_size = 16 + (int)rnd(49)};
    tsr_image *out = NULL;
    tsr_status st = tsr_pipeline_run(ctx, p, img, exec, &opts, &out);
    tsr_image_free(out);
    return st;
}

static tsr_ctx *limited_ctx(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_limits lim = {.max_pixels = 1u << 16};
    tsr_ctx_set_limits(ctx, &lim);
    return ctx;
}

/* Whether msg has "<digits>x<digits>" in it (an image size). */
static int names_a_size(const char *msg) {
    for (const char *p = msg; *p; p++)
        if (*p == 'x' && p > msg && p[-1] >= '0' && p[-1] <= '9' && p[1] >= '0' && p[1] <= '9')
            return 1;
    return 0;
}

/* One draw: checks that validation and the run agree. */
static void one_draw(tsr_executor *exec, tally *t) {
    char text[TEXT];
    int n_ops = draw_pipeline(text, sizeof text);
    tsr_image *img = random_image();
    tsr_ctx *parse_ctx = limited_ctx(), *raw_ctx = limited_ctx(), *run_ctx = limited_ctx();
    tsr_pipeline *parsed = NULL, *raw = NULL;
    tsr_status parse_st = tsr_pipeline_parse(parse_ctx, text, &parsed);
    tsr_status raw_st = build_raw(raw_ctx, text, &raw);
    if (raw_st) { /* unknown name, type or range: the parser refuses it too */
        CHECK_EQ_INT(parse_st, TSR_ERR_USAGE);
        t->unbuilt++;
    } else if (parse_st) { /* refused by a check(): the run fails the same way */
        CHECK_EQ_INT(parse_st, TSR_ERR_USAGE);
        tsr_status run_st = run_on(run_ctx, exec, raw, img);
        if (run_st == TSR_OK ||
            (n_ops == 1 && (run_st != TSR_ERR_USAGE ||
                            strcmp(tsr_ctx_message(run_ctx), tsr_ctx_message(parse_ctx))))) {
            fprintf(stderr, "  %s on %dx%dx%d: parse '%s', run %d '%s'\n", text, img->width,
                    img->height, img->bands, tsr_ctx_message(parse_ctx), run_st,
                    tsr_ctx_message(run_ctx));
            CHECK(0);
        }
        t->refused_at_parse++;
    } else {
        /* The normalized form (what workers and the API echo) passes too. */
        char *norm = tsr_pipeline_to_json(parsed);
        tsr_pipeline *again = NULL;
        CHECK(norm && tsr_pipeline_parse(raw_ctx, norm, &again) == TSR_OK);
        tsr_pipeline_free(again);
        free(norm);
        tsr_ctx *check_ctx = limited_ctx();
        tsr_status check_st = tsr_pipeline_check_size(check_ctx, parsed, img->width, img->height,
                                                      img->bands, NULL, NULL, NULL);
        tsr_status run_st = run_on(run_ctx, exec, parsed, img);
        if (run_st != check_st || strcmp(tsr_ctx_message(run_ctx), tsr_ctx_message(check_ctx))) {
            fprintf(stderr, "  %s on %dx%dx%d: check %d '%s', run %d '%s'\n", text, img->width,
                    img->height, img->bands, check_st, tsr_ctx_message(check_ctx), run_st,
                    tsr_ctx_message(run_ctx));
            CHECK(0);
        }
        /* What passes the parser fails only for the image: the message
         * names a size (a crop outside it) or a limit (an output too big). */
        if (check_st && !names_a_size(tsr_ctx_message(check_ctx)) &&
            !strstr(tsr_ctx_message(check_ctx), "limit")) {
            fprintf(stderr, "  %s: refused for no image reason: '%s'\n", text,
                    tsr_ctx_message(check_ctx));
            CHECK(0);
        }
        if (check_st)
            t->refused_by_size++;
        else
            t->ran++;
        tsr_ctx_free(check_ctx);
    }
    tsr_pipeline_free(parsed);
    tsr_pipeline_free(raw);
    tsr_image_free(img);
    tsr_ctx_free(parse_ctx);
    tsr_ctx_free(raw_ctx);
    tsr_ctx_free(run_ctx);
}

static void test_check_and_run_agree(void) {
    for (int i = 0; i < tsr_op_count(); i++)
        if (!tsr_op_at(i)->hidden && n_visible < 64)
            visible[n_visible++] = tsr_op_at(i);
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *exec = NULL;
    CHECK_EQ_INT(tsr_executor_local_new(ctx, 2, &exec), TSR_OK);
    tally t = {0};
    for (int i = 0; exec && i < DRAWS; i++)
        one_draw(exec, &t);
    printf("     %d draws: %d ran, %d refused for the image, %d refused at parse by a rule, %d "
           "with a bad name, type or range\n",
           DRAWS, t.ran, t.refused_by_size, t.refused_at_parse, t.unbuilt);
    /* Every outcome is exercised often enough to mean something. */
    CHECK(t.ran >= 200 && t.refused_by_size >= 50 && t.refused_at_parse >= 50 && t.unbuilt >= 200);
    tsr_executor_free(exec);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_check_and_run_agree);
    return check_finish();
}
