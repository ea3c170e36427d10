/*
 * The pipeline parsers (text and JSON): whatever parses must print back to
 * a form that parses again and prints the same (text and JSON forms), and
 * the two printed forms must describe the same pipeline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tessera/pipeline.h"

/* Aborts with both strings when they differ. */
static void same(const char *what, const char *a, const char *b) {
    if (a && b && !strcmp(a, b))
        return;
    fprintf(stderr, "pipeline round trip differs (%s):\n  %s\n  %s\n", what, a ? a : "(null)",
            b ? b : "(null)");
    abort();
}

/* Parses `text`, which must succeed, and returns its normalized text form. */
static char *reparse(tsr_ctx *ctx, const char *text, int json) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p)) {
        fprintf(stderr, "printed pipeline does not parse: %s\n  %s\n", tsr_ctx_message(ctx), text);
        abort();
    }
    char *out = json ? tsr_pipeline_to_json(p) : tsr_pipeline_to_text(p);
    tsr_pipeline_free(p);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > TSR_PIPELINE_MAX_TEXT + 16)
        return 0;
    char *text = malloc(size + 1);
    tsr_ctx *ctx = fuzz_ctx();
    tsr_pipeline *p = NULL;
    if (!text || !ctx)
        goto out;
    memcpy(text, data, size);
    text[size] = '\0';
    /* Both parsers directly, then the dispatching one. */
    tsr_pipeline *q = NULL;
    if (tsr_pipeline_parse_text(ctx, text, &q) == TSR_OK)
        tsr_pipeline_free(q);
    tsr_ctx_reset(ctx);
    q = NULL;
    if (tsr_pipeline_parse_json(ctx, text, &q) == TSR_OK)
        tsr_pipeline_free(q);
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p) != TSR_OK)
        goto out;
    char *t1 = tsr_pipeline_to_text(p), *j1 = tsr_pipeline_to_json(p);
    char *t2 = t1 ? reparse(ctx, t1, 0) : NULL, *j2 = j1 ? reparse(ctx, j1, 1) : NULL;
    same("text", t1, t2);
    same("json", j1, j2);
    char *tj = reparse(ctx, j1, 0); /* the JSON form describes the same pipeline */
    same("json->text", t1, tj);
    free(t1);
    free(j1);
    free(t2);
    free(j2);
    free(tj);
out:
    tsr_pipeline_free(p);
    tsr_ctx_free(ctx);
    free(text);
    return 0;
}
