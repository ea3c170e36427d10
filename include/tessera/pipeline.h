/* Pipelines: parse (text or JSON), validate, normalize, print. */
#ifndef TESSERA_PIPELINE_H
#define TESSERA_PIPELINE_H

#include "tessera/op.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A validated, normalized, ordered list of operations. Every parameter holds
 * a value (given or default) inside its range. */
typedef struct tsr_pipeline {
    int n_ops;   /* number of operations, >= 1 */
    tsr_op *ops; /* owned array; size-dependent fields are not filled here */
} tsr_pipeline;

#define TSR_PIPELINE_MAX_OPS  64
#define TSR_PIPELINE_MAX_TEXT (64 * 1024)

/* Parses the text form `grayscale|gaussian-blur:sigma=2|canny:low=100,high=200`
 * or, when the text starts with '[', the JSON form
 * `[{"op":"grayscale"},{"op":"canny","low":100,"high":200}]`, or
 * `preset:NAME`: the pipeline of that preset (its id or its name, see
 * tsr_preset_find). An op may pin a version: `gaussian-blur@1:sigma=2`,
 * `{"op":"gaussian-blur@1"}` or `{"op":"gaussian-blur","version":1}`;
 * unpinned ops take their newest version. Errors (TSR_ERR_USAGE) name the
 * op, the parameter and its allowed range or values, or the versions that
 * exist. The caller frees *out with tsr_pipeline_free. */
tsr_status tsr_pipeline_parse(tsr_ctx *ctx, const char *text, tsr_pipeline **out);
tsr_status tsr_pipeline_parse_text(tsr_ctx *ctx, const char *text, tsr_pipeline **out);
tsr_status tsr_pipeline_parse_json(tsr_ctx *ctx, const char *json, tsr_pipeline **out);
void tsr_pipeline_free(tsr_pipeline *pipeline);

/* Normalized text form, every op's version and every parameter written out
 * (`grayscale@1|gaussian-blur@1:sigma=2,ksize=0`), so it parses back to the
 * same ops whatever version is the default then. Caller frees (free()). */
char *tsr_pipeline_to_text(const tsr_pipeline *pipeline);
/* Normalized JSON form, likewise (`[{"op":"grayscale","version":1}]`).
 * Caller frees (free()). */
char *tsr_pipeline_to_json(const tsr_pipeline *pipeline);

/* Formats one parameter value of `op` into buf ("2", "true", "linear",
 * "0,-1,0,-1,5,-1,0,-1,0"). */
void tsr_param_format(const tsr_op *op, int index, char *buf, size_t size);

/* Sets parameter `name` of `op` from its text form, checking type and range.
 * Used by both parsers. */
tsr_status tsr_op_set_param(tsr_ctx *ctx, tsr_op *op, const char *name, const char *value);

/* A ready-made pipeline to start from ("Edge detection"), from one table
 * in src/engine/presets.c; every entry parses (tests/unit/engine). */
typedef struct tsr_preset {
    const char *id;          /* short name for `preset:ID`: "edge-detection" */
    const char *name;        /* shown to users: "Edge detection" */
    const char *description; /* one plain sentence: what it does */
    const char *pipeline;    /* its text form, as written in the table */
} tsr_preset;

/* The presets, in the order users see them. */
int tsr_preset_count(void);
const tsr_preset *tsr_preset_at(int index); /* NULL past the end */
/* The preset whose id or name is `name`, ignoring case and treating ' ',
 * '-' and '_' alike; NULL when none. */
const tsr_preset *tsr_preset_find(const char *name);
/* Every preset as a JSON list of {"id", "name", "description", "pipeline"
 * (the normalized text form), "steps" (the normalized JSON list)}. NULL
 * when out of memory. Caller frees (free()). */
char *tsr_presets_to_json(void);

/* JPEG shrink-on-load factor (1, 2, 4, 8) the pipeline allows for an input of
 * this size: > 1 only when the first op is a downscaling thumbnail. */
int tsr_pipeline_shrink_hint(const tsr_pipeline *pipeline, int in_w, int in_h);

#ifdef __cplusplus
}
#endif
#endif
