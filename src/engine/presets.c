/* Presets: ready-made pipelines users start from (the web UI's "Start from a
 * preset", `tessera ops --presets`, GET /api/v1/presets, `preset:NAME`).
 * One table; tests/unit/engine/test_presets.c parses every entry. */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/pipeline_internal.h"
#include "util/suggest.h"

static const tsr_preset presets[] = {
    {.id = "edge-detection",
     .name = "Edge detection",
     .description = "The outlines of shapes as white lines on black: gray, lightly blurred, "
                    "then Canny edges.",
     .pipeline = "grayscale|gaussian-blur:sigma=1.4|canny:low=50,high=150"},
    {.id = "web-thumbnail",
     .name = "Web thumbnail",
     .description = "A small copy that fits in 320 x 320 pixels, for web pages; "
                    "never enlarged.",
     .pipeline = "thumbnail:width=320,height=320"},
    {.id = "scan-cleanup",
     .name = "Scan clean-up",
     .description = "Scanned pages: gray, specks removed, then pure black and white at the "
                    "level that best splits ink from paper.",
     .pipeline = "grayscale|median:ksize=3|threshold-otsu"},
    {.id = "black-and-white",
     .name = "Black and white",
     .description = "A gray photo with a little more contrast.",
     .pipeline = "grayscale|contrast:factor=1.2"},
    {.id = "even-out-light",
     .name = "Even out the light",
     .description = "Spreads the tones over the whole range: livens up dull, dark or hazy "
                    "photos.",
     .pipeline = "equalize"},
    {.id = "half-size",
     .name = "Half size",
     .description = "Half the width and height, shrunk smoothly (no jagged edges).",
     .pipeline = "resize:scale=0.5,interp=area"},
    {.id = "original-design",
     .name = "The original design's pipeline",
     .description = "What the first (university) design ran: gray, a 5 x 5 Gaussian blur, "
                    "then Canny edges at 100/200.",
     .pipeline = "grayscale|gaussian-blur:ksize=5|canny:low=100,high=200"},
};

#define PRESET_COUNT ((int)(sizeof presets / sizeof presets[0]))

int tsr_preset_count(void) {
    return PRESET_COUNT;
}

const tsr_preset *tsr_preset_at(int index) {
    return index >= 0 && index < PRESET_COUNT ? &presets[index] : NULL;
}

/* Whether a and b are the same words, ignoring case and ' ' / '-' / '_'. */
static int same_name(const char *a, const char *b) {
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a), cb = tolower((unsigned char)*b);
        if (ca == ' ' || ca == '_')
            ca = '-';
        if (cb == ' ' || cb == '_')
            cb = '-';
        if (ca != cb)
            return 0;
        if (!ca)
            return 1;
    }
}

const tsr_preset *tsr_preset_find(const char *name) {
    for (int i = 0; i < PRESET_COUNT; i++)
        if (same_name(name, presets[i].id) || same_name(name, presets[i].name))
            return &presets[i];
    return NULL;
}

tsr_status tsr_pipeline_parse_preset(tsr_ctx *ctx, const char *name, tsr_pipeline **out) {
    *out = NULL;
    while (isspace((unsigned char)*name))
        name++;
    char word[128];
    size_t len = strlen(name);
    while (len && isspace((unsigned char)name[len - 1]))
        len--;
    if (len >= sizeof word)
        len = sizeof word - 1;
    memcpy(word, name, len);
    word[len] = '\0';
    const tsr_preset *preset = tsr_preset_find(word);
    if (preset)
        return tsr_pipeline_parse_text(ctx, preset->pipeline, out);
    tsr_suggest s;
    tsr_suggest_init(&s, word);
    for (int i = 0; i < PRESET_COUNT; i++)
        tsr_suggest_add(&s, presets[i].id);
    if (s.best)
        return tsr_error(ctx, TSR_ERR_USAGE, "unknown preset '%s'; did you mean '%s'?", word,
                         s.best);
    return tsr_error(ctx, TSR_ERR_USAGE, "unknown preset '%s' (`tessera ops --presets` lists them)",
                     word);
}

/* One preset as its JSON object, or NULL when it does not parse (a bug the
 * unit tests catch) or memory runs out. */
static json_t *preset_json(const tsr_preset *preset) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *pipe = NULL;
    char *text = NULL, *steps = NULL;
    json_t *out = NULL, *list = NULL;
    if (ctx && !tsr_pipeline_parse_text(ctx, preset->pipeline, &pipe) &&
        (text = tsr_pipeline_to_text(pipe)) && (steps = tsr_pipeline_to_json(pipe)) &&
        (list = json_loads(steps, 0, NULL)))
        out = json_pack("{s:s, s:s, s:s, s:s, s:o}", "id", preset->id, "name", preset->name,
                        "description", preset->description, "pipeline", text, "steps", list);
    free(text);
    free(steps);
    tsr_pipeline_free(pipe);
    tsr_ctx_free(ctx);
    return out;
}

char *tsr_presets_to_json(void) {
    json_t *list = json_array();
    for (int i = 0; list && i < PRESET_COUNT; i++) {
        json_t *one = preset_json(&presets[i]);
        if (!one || json_array_append_new(list, one)) {
            json_decref(list);
            return NULL;
        }
    }
    char *s = list
                  ? json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10))
                  : NULL;
    json_decref(list);
    return s;
}
