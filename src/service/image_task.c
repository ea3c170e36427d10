/* Image tasks, the service's side: encoding, running on a worker, the
 * completion (see image_task.h). */
#include "service/image_task.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "service/image_run.h"
#include "util/clock.h"
#include "util/hex.h"

void tsr_image_result_id(const char *job_id, int position, char id[TSR_STORE_ID_LEN + 1]) {
    char text[128];
    unsigned char digest[crypto_hash_sha256_BYTES];
    int n = snprintf(text, sizeof text, "tessera-result:%s:%d", job_id, position);
    crypto_hash_sha256(digest, (const unsigned char *)text, (unsigned long long)n);
    tsr_hex_encode(id, digest, TSR_STORE_ID_LEN / 2);
}

/* Appends the JSON text of `j` to `out` and frees `j`. */
static tsr_status dump(tsr_ctx *ctx, json_t *j, tsr_buffer *out) {
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    tsr_status st = text ? tsr_buffer_append(out, text, strlen(text))
                         : tsr_error(ctx, TSR_ERR_NOMEM, "image task: out of memory");
    free(text);
    return st;
}

tsr_status tsr_image_task_encode(tsr_ctx *ctx, const tsr_image_task_spec *s, tsr_buffer *out) {
    tsr_limits none = {0};
    const tsr_limits *l = s->limits ? s->limits : &none;
    /* Short: every byte crosses Redis twice (XADD, then XREADGROUP). The
     * label stays with the coordinator, which names the image in messages;
     * the limits are [file bytes, width, height, pixels, frames, alloc]. */
    json_t *j = json_pack(
        "{s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:[I, I, I, I, I, I]}", "v", 1, "in", s->input, "out",
        s->result, "p", s->pipeline_json, "f", s->format, "q", s->quality, "t", s->tile, "l",
        (json_int_t)l->max_file_bytes, (json_int_t)l->max_width, (json_int_t)l->max_height,
        (json_int_t)l->max_pixels, (json_int_t)l->max_frames, (json_int_t)l->max_alloc);
    /* Added for animations, after the fields every worker reads: the frame
     * choice and the cap on all frames' pixels ("lt", 0 = default). */
    if (j && (json_object_set_new(j, "fr", json_integer(s->frame)) ||
              json_object_set_new(j, "lt", json_integer((json_int_t)l->max_total_pixels)))) {
        json_decref(j);
        j = NULL;
    }
    if (j && s->speed) /* only when set: a worker of an older tessera ignores it */
        json_object_set_new(j, "s", json_integer(s->speed));
    return dump(ctx, j, out);
}

/* Parses `bytes` as one JSON object of at most TSR_IMAGE_TASK_MAX bytes. */
static json_t *load(tsr_ctx *ctx, const uint8_t *bytes, size_t len, const char *what) {
    json_error_t err;
    json_t *j = len <= TSR_IMAGE_TASK_MAX ? json_loadb((const char *)bytes, len, 0, &err) : NULL;
    if (!j || !json_is_object(j)) {
        json_decref(j);
        tsr_error(ctx, TSR_ERR_CORRUPT, "%s is not a JSON object", what);
        return NULL;
    }
    return j;
}

/* A decoded task: the spec's strings point into `json`. */
typedef struct task {
    json_t *json;             /* owns the strings */
    tsr_image_task_spec spec; /* the fields */
    tsr_limits limits;        /* spec.limits points here */
} task;

static tsr_status decode_task(tsr_ctx *ctx, const uint8_t *bytes, size_t len, task *t) {
    json_int_t lim[6] = {0};
    int v = 0;
    memset(t, 0, sizeof *t);
    if (!(t->json = load(ctx, bytes, len, "image task")))
        return TSR_ERR_CORRUPT;
    tsr_image_task_spec *s = &t->spec;
    if (json_unpack(t->json, "{s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:[I, I, I, I, I, I]}", "v", &v,
                    "in", &s->input, "out", &s->result, "p", &s->pipeline_json, "f", &s->format,
                    "q", &s->quality, "t", &s->tile, "l", &lim[0], &lim[1], &lim[2], &lim[3],
                    &lim[4], &lim[5]) ||
        v != 1)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "image task: missing or malformed fields");
    for (int i = 0; i < 6; i++)
        if (lim[i] < 0)
            return tsr_error(ctx, TSR_ERR_CORRUPT, "image task: a negative limit");
    t->limits = (tsr_limits){.max_file_bytes = (uint64_t)lim[0],
                             .max_width = (uint32_t)lim[1],
                             .max_height = (uint32_t)lim[2],
                             .max_pixels = (uint64_t)lim[3],
                             .max_frames = (uint32_t)lim[4],
                             .max_alloc = (uint64_t)lim[5]};
    /* a task from a coordinator that predates animations chose no frame */
    json_t *fr = json_object_get(t->json, "fr"), *lt = json_object_get(t->json, "lt");
    s->frame = json_is_integer(fr) ? (int)json_integer_value(fr) : -1;
    if ((fr && (!json_is_integer(fr) || json_integer_value(fr) < -1 ||
                json_integer_value(fr) > INT32_MAX)) ||
        (lt && (!json_is_integer(lt) || json_integer_value(lt) < 0)))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "image task: bad frame or frame pixel cap");
    t->limits.max_total_pixels = lt ? (uint64_t)json_integer_value(lt) : 0;
    json_t *sp = json_object_get(t->json, "s"); /* AVIF encoder speed; absent = default */
    if (sp && (!json_is_integer(sp) || json_integer_value(sp) < 0 || json_integer_value(sp) > 9))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "image task: bad speed");
    s->speed = sp ? (int)json_integer_value(sp) : 0;
    s->limits = &t->limits;
    if (!tsr_store_id_valid(s->input) || !tsr_store_id_valid(s->result))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "image task: a blob id is malformed");
    tsr_format format;
    tsr_layout layout;
    if (!tsr_output_from_name(s->format, &format, &layout) || s->quality < 1 || s->quality > 100 ||
        s->tile < TSR_TILE_MIN || s->tile > TSR_TILE_MAX)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "image task: bad format, quality or tile size");
    return TSR_OK;
}

/* What the engine's callbacks see while a task runs. */
typedef struct run_state {
    tsr_image_progress_fn progress; /* the fleet's progress post */
    void *progress_user;            /* passed to it */
    pthread_mutex_t lock;           /* guards the counters: tiles finish on pool threads */
    uint64_t tiles;                 /* tiles finished */
    double cpu;                     /* their CPU seconds */
    double gpu;                     /* device wall seconds */
} run_state;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    run_state *r = user;
    r->progress(r->progress_user, done, total);
}

static void on_tile(void *user, double cpu) {
    run_state *r = user;
    pthread_mutex_lock(&r->lock);
    r->tiles++;
    r->cpu += cpu;
    pthread_mutex_unlock(&r->lock);
}

static void on_device(void *user, double seconds) {
    run_state *r = user;
    pthread_mutex_lock(&r->lock);
    r->gpu += seconds;
    pthread_mutex_unlock(&r->lock);
}

static tsr_status encode_completion(tsr_ctx *ctx, const tsr_image_output *o, const run_state *r,
                                    double seconds, tsr_buffer *out) {
    json_t *j = json_pack("{s:i, s:s, s:I, s:i, s:i, s:I, s:f, s:f, s:f}", "v", 1, "blob", o->blob,
                          "bytes", (json_int_t)o->bytes, "width", o->width, "height", o->height,
                          "tiles", (json_int_t)r->tiles, "cpu_seconds",
                          r->cpu + o->codec_cpu_seconds, "gpu_seconds", r->gpu, "seconds", seconds);
    return dump(ctx, j, out);
}

tsr_status tsr_image_runner_run(void *user, tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                                tsr_image_progress_fn progress, void *progress_user,
                                tsr_buffer *result) {
    tsr_image_runner *runner = user;
    double t0 = tsr_clock_mono_s();
    task t;
    tsr_pipeline *pipe = NULL;
    run_state r = {.progress = progress, .progress_user = progress_user};
    pthread_mutex_init(&r.lock, NULL);
    tsr_status st = decode_task(ctx, bytes, len, &t);
    if (!st)
        st = tsr_pipeline_parse_json(ctx, t.spec.pipeline_json, &pipe);
    tsr_format format = TSR_FORMAT_UNKNOWN;
    tsr_layout layout = TSR_LAYOUT_SINGLE;
    if (!st)
        tsr_output_from_name(t.spec.format, &format, &layout);
    if (!st) {
        tsr_ctx_set_limits(ctx, &t.limits);
        tsr_image_run run = {.input = t.spec.input,
                             .pipe = pipe,
                             .format = format,
                             .layout = layout,
                             .quality = t.spec.quality,
                             .frame = t.spec.frame,
                             .speed = t.spec.speed,
                             .tile = t.spec.tile,
                             .exec = runner->exec,
                             .accel = runner->accel,
                             .result_id = t.spec.result,
                             .progress = on_progress,
                             .tile_done = on_tile,
                             .device_done = on_device,
                             .progress_user = &r,
                             .label = t.spec.label};
        tsr_image_output o;
        st = tsr_image_run_blob(runner->store, ctx, &run, &o);
        if (!st)
            st = encode_completion(ctx, &o, &r, tsr_clock_mono_s() - t0, result);
    }
    tsr_pipeline_free(pipe);
    json_decref(t.json);
    pthread_mutex_destroy(&r.lock);
    return st;
}

tsr_status tsr_image_completion_decode(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                                       tsr_image_completion *out) {
    memset(out, 0, sizeof *out);
    json_t *j = load(ctx, bytes, len, "image task completion");
    if (!j)
        return TSR_ERR_CORRUPT;
    const char *blob = NULL;
    json_int_t size = -1, tiles = -1;
    int v = 0;
    tsr_status st = TSR_OK;
    if (json_unpack(j, "{s:i, s:s, s:I, s:i, s:i, s:I, s:F, s?F, s:F}", "v", &v, "blob", &blob,
                    "bytes", &size, "width", &out->width, "height", &out->height, "tiles", &tiles,
                    "cpu_seconds", &out->cpu_seconds, "gpu_seconds", &out->gpu_seconds, "seconds",
                    &out->seconds) ||
        v != 1 || !tsr_store_id_valid(blob) || size < 0 || tiles < 0 || out->width < 1 ||
        out->height < 1 || !(out->cpu_seconds >= 0) || !(out->gpu_seconds >= 0) ||
        !(out->seconds >= 0))
        st = tsr_error(ctx, TSR_ERR_CORRUPT, "image task completion: missing or malformed fields");
    else {
        snprintf(out->blob, sizeof out->blob, "%s", blob);
        out->bytes = (uint64_t)size;
        out->tiles = (uint64_t)tiles;
    }
    json_decref(j);
    return st;
}
