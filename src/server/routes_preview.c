/* The live preview (POST /api/v1/images/{id}/preview): the pipeline run on
 * the image's cached thumbnail (routes_library.c makes it on demand), with
 * its pixel geometry scaled to that copy (tsr_pipeline_scale), on two
 * threads of its own (a shared pool would let one account's heavy preview
 * hold up everyone's: a tile of forty fused blurs takes seconds): never
 * the fleet, not a job, no blob written. A newer preview of the same account cancels it, and so
 * does the clock after PREVIEW_SECONDS (preview_runs.c). docs/internals/server.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "service/image_run.h"

#define PREVIEW_SECONDS    2.0      /* a preview running longer is stopped */
#define PREVIEW_THREADS    2        /* threads of a preview's own pool */
#define PREVIEW_TILE       64       /* small tiles: a cancelled run stops between tiles */
#define PREVIEW_QUALITY    85       /* JPEG and WebP quality of previews */
#define PREVIEW_MAX_PIXELS 16000000 /* any image a preview makes, intermediates included */
#define PREVIEW_MAX_ALLOC  (256u << 20)

/* Reads "format" (png, jpeg or webp; absent: chosen from the output) into
 * *format; replies 400 itself and returns 0 when it is something else. */
static int preview_format(request *r, json_t *body, tsr_format *format, enum MHD_Result *res) {
    json_t *f = json_object_get(body, "format");
    const char *name = json_string_value(f);
    *format = TSR_FORMAT_UNKNOWN;
    if (!f || json_is_null(f))
        return 1;
    if (name && (!strcmp(name, "png") || !strcmp(name, "jpeg") || !strcmp(name, "webp")) &&
        tsr_format_can_encode(tsr_format_from_name(name))) {
        *format = tsr_format_from_name(name);
        return 1;
    }
    *res = reply_error(r, 400, "bad_request", "format must be png, jpeg or webp (got %.40s)",
                       name ? name : "not a string");
    return 0;
}

/* Reads the body's pipeline into *pipe and checks it for the image `im` as
 * a job would (the answers of POST /pipelines/validate); full[] gets the
 * size the pipeline sees there (0 when the image has no usable record).
 * Replies itself and returns 0 when the pipeline is refused. */
static int preview_pipeline(request *r, json_t *body, const tsr_store_image *im,
                            tsr_pipeline **pipe, int full[2], enum MHD_Result *res) {
    json_t *v = json_object_get(body, "pipeline");
    char msg[1024];
    int out[3];
    if (!v) {
        *res = reply_error(r, 400, "bad_request", "the body needs a \"pipeline\"");
        return 0;
    }
    if (!request_pipeline(r, v, pipe, res))
        return 0;
    full[0] = (int)im->width;
    full[1] = (int)im->height;
    if (full[0] > 0 && full[1] > 0)
        tsr_image_decoded_size(*pipe, im->format, &full[0], &full[1]);
    tsr_status st = pipeline_check_image(r, *pipe, (int)im->width, (int)im->height, im->bands,
                                         im->format, 0, msg, sizeof msg, out);
    if (st) {
        *res = reply_pipeline_refused(r, st, msg, im->id, NULL);
        return 0;
    }
    return 1;
}

/* Decodes the thumbnail, scales `pipe` to it, runs it on two threads of its
 * own and encodes the result into *bytes, choosing *format when it is UNKNOWN
 * (JPEG; PNG where the output has alpha, which JPEG cannot hold). Errors on
 * `ctx`, the run's own context. */
static tsr_status render(request *r, tsr_ctx *ctx, const tsr_store_image *im, tsr_pipeline *pipe,
                         const int full[2], tsr_format *format, tsr_buffer *bytes) {
    static const tsr_limits limits = {.max_pixels = PREVIEW_MAX_PIXELS,
                                      .max_alloc = PREVIEW_MAX_ALLOC};
    tsr_blob_reader *reader = NULL;
    tsr_image *small = NULL, *out = NULL;
    tsr_status st = tsr_blob_open_read(r->srv->store, ctx, im->thumb, &reader);
    if (!st)
        st = tsr_image_load(ctx, tsr_blob_reader_path(reader), NULL, &small, NULL);
    tsr_blob_reader_free(reader);
    if (!st && full[0] > 0 && full[1] > 0)
        st = tsr_pipeline_scale(ctx, pipe, full[0], full[1], small->width, small->height,
                                small->bands);
    tsr_ctx_set_limits(ctx, &limits);
    tsr_run_options opts = {.tile_size = PREVIEW_TILE, .label = "preview"};
    tsr_executor *exec = NULL;
    if (!st)
        st = tsr_executor_local_new(ctx, PREVIEW_THREADS, &exec);
    if (!st)
        st = tsr_pipeline_run(ctx, pipe, small, exec, &opts, &out);
    tsr_executor_free(exec);
    if (!st) {
        int alpha = out->bands == 2 || out->bands == 4;
        if (*format == TSR_FORMAT_UNKNOWN || (*format == TSR_FORMAT_JPEG && alpha))
            *format = alpha ? TSR_FORMAT_PNG : TSR_FORMAT_JPEG;
        tsr_encode_options eo = {.quality = PREVIEW_QUALITY, .compression = 1};
        st = tsr_image_encode(ctx, out, *format, &eo, bytes);
    }
    tsr_image_free(small);
    tsr_image_free(out);
    return st;
}

/* Answers a failed preview: 409 superseded, 422 too_slow, 400 for the
 * pipeline, 413 over the preview's limits, 500 for a thumbnail that failed
 * its integrity check, else the status' own answer. */
static enum MHD_Result reply_preview_error(request *r, preview_run *run, const tsr_store_image *im,
                                           tsr_status st) {
    preview_stop stop = (preview_stop)atomic_load(&run->stop);
    if (stop == PREVIEW_SUPERSEDED)
        return reply_error(r, 409, "superseded",
                           "a newer preview of this account replaced this one");
    if (stop == PREVIEW_TIMED_OUT)
        return reply_error(r, 422, "too_slow",
                           "the preview was stopped after %g s: this pipeline is too slow to "
                           "preview; check it and run it as a job",
                           PREVIEW_SECONDS);
    tsr_error(r->ctx, st, "%s", tsr_ctx_message(run->ctx));
    if (st == TSR_ERR_USAGE)
        return reply_pipeline_refused(r, st, tsr_ctx_message(r->ctx), im->id, NULL);
    if (st == TSR_ERR_LIMIT)
        return reply_error(r, 413, "too_large", "the preview is too large: %s",
                           tsr_ctx_message(r->ctx));
    if (st == TSR_ERR_CORRUPT)
        return reply_integrity_failure(r, im->thumb);
    return reply_status(r, st);
}

/* The encoded preview (consumed) as the answer, never cached. */
static enum MHD_Result reply_preview(request *r, tsr_buffer *bytes, tsr_format format) {
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(bytes->len, bytes->data, MHD_RESPMEM_MUST_FREE);
    if (!resp)
        return MHD_NO; /* bytes are freed by the caller */
    bytes->data = NULL;
    bytes->len = bytes->cap = 0;
    MHD_add_response_header(resp, "Content-Type", tsr_format_mime(format));
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return reply(r, 200, resp);
}

/* Makes the preview of image `im` (its thumbnail made first when it has
 * none) and answers it, registered for cancellation the whole time. */
static enum MHD_Result preview_answer(request *r, tsr_store_image *im, tsr_pipeline *pipe,
                                      const int full[2], tsr_format format) {
    preview_run run = {.user = r->user.id, .ctx = tsr_ctx_new()};
    tsr_buffer bytes = {0};
    enum MHD_Result res;
    if (!run.ctx)
        return reply_error(r, 503, "unavailable", "out of memory");
    tsr_ctx_set_limits(run.ctx, tsr_ctx_limits(r->ctx));
    preview_runs_start(r->srv->previews, &run);
    tsr_status st = image_thumb(r, im);
    if (st) {
        preview_runs_end(r->srv->previews, &run);
        tsr_ctx_free(run.ctx);
        return reply_thumb_error(r, im, st);
    }
    /* the clock starts once the thumbnail is there: making it the first
     * time is the library's work, not the pipeline's */
    preview_runs_arm(r->srv->previews, &run, PREVIEW_SECONDS);
    if (tsr_ctx_cancelled(run.ctx))
        st = TSR_ERR_CANCELLED;
    else
        st = render(r, run.ctx, im, pipe, full, &format, &bytes);
    preview_runs_end(r->srv->previews, &run);
    res = st ? reply_preview_error(r, &run, im, st) : reply_preview(r, &bytes, format);
    tsr_buffer_free(&bytes);
    tsr_ctx_free(run.ctx);
    return res;
}

enum MHD_Result h_image_preview(request *r) {
    enum MHD_Result res = MHD_NO;
    tsr_store_image im;
    tsr_pipeline *pipe = NULL;
    tsr_format format;
    int full[2];
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    int ok = find_image(r, &im, &res) && preview_format(r, body, &format, &res) &&
             preview_pipeline(r, body, &im, &pipe, full, &res);
    json_decref(body);
    if (ok)
        res = preview_answer(r, &im, pipe, full, format);
    tsr_pipeline_free(pipe);
    return res;
}
