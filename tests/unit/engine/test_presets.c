/* Presets (src/engine/presets.c): every entry parses and normalizes, the
 * required ones are there, lookup by id or name, `preset:NAME`, the JSON
 * list. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tessera/tessera.h"

/* The normalized text of `text`, or NULL when it does not parse. */
static char *normalized(tsr_ctx *ctx, const char *text) {
    tsr_pipeline *p = NULL;
    tsr_ctx_reset(ctx);
    if (tsr_pipeline_parse(ctx, text, &p))
        return NULL;
    char *out = tsr_pipeline_to_text(p);
    tsr_pipeline_free(p);
    return out;
}

static void test_every_preset_parses_and_normalizes(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK(tsr_preset_count() >= 4);
    for (int i = 0; i < tsr_preset_count(); i++) {
        const tsr_preset *p = tsr_preset_at(i);
        CHECK(p && p->id[0] && p->name[0] && p->pipeline[0]);
        CHECK(strlen(p->description) > 10 && strlen(p->description) < 140);
        char *text = normalized(ctx, p->pipeline);
        if (!text)
            fprintf(stderr, "preset %s: %s\n", p->name, tsr_ctx_message(ctx));
        CHECK(text != NULL);
        char *again = text ? normalized(ctx, text) : NULL;
        CHECK(again && !strcmp(again, text)); /* the normalized form parses back to itself */
        for (int j = 0; j < i; j++) {
            CHECK(strcmp(tsr_preset_at(j)->id, p->id));
            CHECK(strcmp(tsr_preset_at(j)->name, p->name));
        }
        free(text);
        free(again);
    }
    CHECK(tsr_preset_at(-1) == NULL && tsr_preset_at(tsr_preset_count()) == NULL);
    tsr_ctx_free(ctx);
}

static void test_required_presets(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    const char *names[] = {"Edge detection", "Web thumbnail", "Scan clean-up",
                           "The original design's pipeline"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(tsr_preset_find(names[i]) != NULL);
    /* the original design: grayscale, 5x5 Gaussian blur, Canny 100/200 */
    const tsr_preset *original = tsr_preset_find("original-design");
    char *text = original ? normalized(ctx, original->pipeline) : NULL;
    CHECK(text &&
          !strcmp(text, "grayscale@1|gaussian-blur@1:sigma=0,ksize=5|canny@1:low=100,high=200"));
    free(text);
    tsr_ctx_free(ctx);
}

static void test_find_by_id_or_name(void) {
    const tsr_preset *edge = tsr_preset_find("edge-detection");
    CHECK(edge && !strcmp(edge->name, "Edge detection"));
    CHECK(tsr_preset_find("EDGE DETECTION") == edge);
    CHECK(tsr_preset_find("edge_detection") == edge);
    CHECK(tsr_preset_find("edge") == NULL);
    CHECK(tsr_preset_find("") == NULL);
}

static void test_preset_prefix_parses(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char *a = normalized(ctx, "preset:web-thumbnail");
    char *b = normalized(ctx, "  preset: Web thumbnail ");
    char *c = normalized(ctx, tsr_preset_find("web-thumbnail")->pipeline);
    CHECK(a && b && c && !strcmp(a, c) && !strcmp(b, c));
    free(a);
    free(b);
    free(c);
    CHECK(normalized(ctx, "preset:edge-detecton") == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "unknown preset 'edge-detecton'");
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "did you mean 'edge-detection'?");
    CHECK(normalized(ctx, "preset:zzzzzzzzzzzz") == NULL);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "tessera ops --presets");
    tsr_ctx_free(ctx);
}

static void test_json_list(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char *text = tsr_presets_to_json();
    json_t *list = text ? json_loads(text, 0, NULL) : NULL;
    CHECK(json_is_array(list) && (int)json_array_size(list) == tsr_preset_count());
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *pipeline = json_string_value(json_object_get(v, "pipeline"));
        json_t *steps = json_object_get(v, "steps");
        CHECK(json_is_string(json_object_get(v, "id")));
        CHECK(json_is_string(json_object_get(v, "name")));
        CHECK(json_is_string(json_object_get(v, "description")));
        CHECK(pipeline && json_is_array(steps) && json_array_size(steps) >= 1);
        /* "pipeline" is already normalized, and "steps" is the same pipeline */
        char *again = pipeline ? normalized(ctx, pipeline) : NULL;
        CHECK(again && !strcmp(again, pipeline));
        char *steps_text = json_dumps(steps, JSON_COMPACT);
        char *from_steps = steps_text ? normalized(ctx, steps_text) : NULL;
        CHECK(from_steps && pipeline && !strcmp(from_steps, pipeline));
        free(again);
        free(steps_text);
        free(from_steps);
    }
    json_decref(list);
    free(text);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_every_preset_parses_and_normalizes);
    RUN(test_required_presets);
    RUN(test_find_by_id_or_name);
    RUN(test_preset_prefix_parses);
    RUN(test_json_list);
    return check_finish();
}
