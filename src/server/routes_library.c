/* The image library's routes: thumbnails (made by the engine on first
 * request, then served from their cached blob; the preview runs on them
 * too, routes_preview.c) and deleting many images at once. */
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"
#include "service/image_run.h"

#define THUMB_QUALITY   80   /* JPEG quality of thumbnails */
#define DELETE_MANY_MAX 1000 /* ids in one POST /images/delete */

tsr_format thumb_format(const tsr_store_image *im) {
    return im->bands == 2 || im->bands == 4 ? TSR_FORMAT_PNG : TSR_FORMAT_JPEG;
}

/* Makes image `im`'s thumbnail with the engine (the thumbnail op, which
 * lets a JPEG shrink on load), commits it and records it; when another
 * request recorded one first, ours is dropped. On success im->thumb names
 * the recorded blob. */
static tsr_status make_thumb(request *r, tsr_store_image *im) {
    tsr_pipeline *pipe = NULL;
    tsr_executor *exec = NULL;
    tsr_image_output out;
    char text[48];
    int changed = 0, found = 0;
    snprintf(text, sizeof text, "thumbnail:width=%d", THUMB_SIDE);
    tsr_status st = tsr_pipeline_parse(r->ctx, text, &pipe);
    if (!st)
        st = tsr_executor_local_new(r->ctx, 1, &exec);
    if (!st) {
        tsr_image_run run = {.input = im->blob,
                             .pipe = pipe,
                             .format = thumb_format(im),
                             .quality = THUMB_QUALITY,
                             .frame = 0, /* an animation's thumbnail is its first frame */
                             .tile = TSR_DEFAULT_TILE,
                             .exec = exec,
                             .label = "thumbnail"};
        st = tsr_image_run_blob(r->srv->store, r->ctx, &run, &out);
    }
    if (!st &&
        !(st = tsr_store_image_set_thumb(r->srv->store, r->ctx, im->id, out.blob, &changed)) &&
        !changed) {
        tsr_blob_delete(r->srv->store, r->ctx, out.blob);
        st = tsr_store_image_get(r->srv->store, r->ctx, &r->user, im->id, im, &found);
        if (!st && (!found || !im->thumb[0]))
            st = tsr_error(r->ctx, TSR_ERR_USAGE, "image %s was deleted", im->id);
    } else if (!st) {
        snprintf(im->thumb, sizeof im->thumb, "%s", out.blob);
    }
    tsr_executor_free(exec);
    tsr_pipeline_free(pipe);
    return st;
}

tsr_status image_thumb(request *r, tsr_store_image *im) {
    return im->thumb[0] ? TSR_OK : make_thumb(r, im);
}

enum MHD_Result reply_thumb_error(request *r, const tsr_store_image *im, tsr_status st) {
    if (st == TSR_ERR_CORRUPT)
        return reply_integrity_failure(r, im->blob);
    if (st == TSR_ERR_USAGE)
        return reply_error(r, 404, "not_found", "image %s not found", im->id);
    return reply_status(r, st);
}

enum MHD_Result h_image_thumbnail(request *r) {
    tsr_store_image im;
    enum MHD_Result res;
    char etag[48], stem[200], name[260];
    if (!find_image(r, &im, &res))
        return res;
    tsr_status st = image_thumb(r, &im);
    if (st)
        return reply_thumb_error(r, &im, st);
    tsr_format f = thumb_format(&im);
    snprintf(etag, sizeof etag, "\"%s\"", im.thumb);
    safe_stem(im.name, stem, sizeof stem);
    snprintf(name, sizeof name, "%s-thumb.%s", stem[0] ? stem : im.id, tsr_format_extension(f));
    /* A thumbnail never changes (the image's bytes do not), so browsers may
     * keep it a day without asking. */
    return serve_blob(r, im.thumb, -1, tsr_format_mime(f), etag, name, "private, max-age=86400",
                      "inline");
}

/* Deletes one image of a bulk request, adding its id to the list it
 * belongs in. Fails only on a store error (message on r->ctx). */
static tsr_status delete_one(request *r, const char *id, json_t *deleted, json_t *not_found,
                             json_t *in_use) {
    int found = 0;
    tsr_status st = tsr_store_image_delete(r->srv->store, r->ctx, &r->user, id, &found);
    if (st == TSR_ERR_USAGE) {
        json_array_append_new(
            in_use, json_pack("{s:s, s:s}", "id", id, "message", tsr_ctx_message(r->ctx)));
        tsr_ctx_reset(r->ctx);
        return TSR_OK;
    }
    if (!st)
        json_array_append_new(found ? deleted : not_found, json_string(id));
    return st;
}

enum MHD_Result h_images_delete_many(request *r) {
    json_t *body = request_json(r);
    if (!body)
        return MHD_YES;
    json_t *ids = json_object_get(body, "ids");
    if (!json_is_array(ids) || json_array_size(ids) > DELETE_MANY_MAX) {
        json_decref(body);
        return reply_error(r, 400, "bad_request", "ids must be a list of at most %d image ids",
                           DELETE_MANY_MAX);
    }
    for (size_t i = 0; i < json_array_size(ids); i++)
        if (!json_is_string(json_array_get(ids, i))) {
            json_decref(body);
            return reply_error(r, 400, "bad_request", "ids[%zu] is not a string", i);
        }
    json_t *deleted = json_array(), *not_found = json_array(), *in_use = json_array();
    tsr_status st = TSR_OK;
    for (size_t i = 0; !st && i < json_array_size(ids); i++)
        st = delete_one(r, json_string_value(json_array_get(ids, i)), deleted, not_found, in_use);
    json_decref(body);
    if (st) {
        json_decref(deleted);
        json_decref(not_found);
        json_decref(in_use);
        return reply_status(r, st);
    }
    return reply_json(
        r, 200,
        json_pack("{s:o, s:o, s:o}", "deleted", deleted, "not_found", not_found, "in_use", in_use));
}
