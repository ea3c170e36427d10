/* Image routes other than upload: list, get, delete, original bytes. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/server_internal.h"

enum MHD_Result h_images_list(request *r) {
    size_t count = 0;
    int64_t total = 0;
    enum MHD_Result res;
    tsr_store_image *list = NULL;
    tsr_store_image_query q = {.name = query_arg(r, "q")};
    if (!query_limit(r, &q.limit, &res) || !query_offset(r, &q.offset, &res))
        return res;
    if (q.name && strlen(q.name) > TSR_STORE_FILE_NAME_MAX)
        return reply_error(r, 400, "bad_request", "q may hold at most %d bytes",
                           TSR_STORE_FILE_NAME_MAX);
    tsr_status st =
        tsr_store_image_search(r->srv->store, r->ctx, &r->user, &q, &list, &count, &total);
    if (st)
        return reply_status(r, st);
    json_t *arr = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(arr, image_json(&list[i]));
    free(list);
    return reply_json(r, 200, json_pack("{s:o, s:I}", "images", arr, "total", (json_int_t)total));
}

int find_image(request *r, tsr_store_image *im, enum MHD_Result *res) {
    int found = 0;
    tsr_status st = tsr_store_image_get(r->srv->store, r->ctx, &r->user, r->params[0], im, &found);
    if (st)
        *res = reply_status(r, st);
    else if (!found)
        *res = reply_error(r, 404, "not_found", "image %s not found", r->params[0]);
    return !st && found;
}

enum MHD_Result h_image_get(request *r) {
    tsr_store_image im;
    enum MHD_Result res;
    if (!find_image(r, &im, &res))
        return res;
    return reply_json(r, 200, image_json(&im));
}

enum MHD_Result h_image_delete(request *r) {
    int found = 0;
    tsr_status st = tsr_store_image_delete(r->srv->store, r->ctx, &r->user, r->params[0], &found);
    if (st == TSR_ERR_USAGE)
        return reply_error(r, 409, "in_use", "%s", tsr_ctx_message(r->ctx));
    if (st)
        return reply_status(r, st);
    if (!found)
        return reply_error(r, 404, "not_found", "image %s not found", r->params[0]);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
    return reply(r, 204, resp);
}

enum MHD_Result reply_integrity_failure(request *r, const char *blob) {
    tsr_server_log("error", "stored data failed its integrity check", "request_id",
                   json_string(r->id), "blob", json_string(blob), "detail",
                   json_string(tsr_ctx_message(r->ctx)), NULL);
    audit(r, "error", "blob_integrity_failure", "blob", json_string(blob), "detail",
          json_string(tsr_ctx_message(r->ctx)), NULL);
    return reply_error(r, 500, "integrity", "stored data failed its integrity check");
}

enum MHD_Result serve_file(request *r, const char *blob, int fd, const char *type, const char *etag,
                           const char *filename) {
    return serve_blob(r, blob, fd, type, etag, filename, "private, no-cache", "attachment");
}

enum MHD_Result serve_blob(request *r, const char *blob, int fd, const char *type, const char *etag,
                           const char *filename, const char *cache_control,
                           const char *disposition) {
    char disp[400];
    if (etag_matches(r, etag)) {
        if (fd >= 0)
            close(fd);
        struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(resp, "ETag", etag);
        MHD_add_response_header(resp, "Cache-Control", cache_control);
        return reply(r, 304, resp);
    }
    if (fd < 0) {
        tsr_blob_reader *rd = NULL; /* verified plaintext: decrypted whole before any byte */
        tsr_status st = tsr_blob_open_read(r->srv->store, r->ctx, blob, &rd);
        if (st == TSR_ERR_CORRUPT)
            return reply_integrity_failure(r, blob);
        if (st == TSR_ERR_USAGE)
            return reply_status(r, st);
        fd = rd ? tsr_blob_reader_take_fd(rd) : -1;
        tsr_blob_reader_free(rd);
    }
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb)) {
        if (fd >= 0)
            close(fd);
        return reply_error(r, 500, "internal", "the stored file is missing");
    }
    struct MHD_Response *resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
    if (!resp) {
        close(fd);
        return MHD_NO;
    }
    atomic_fetch_add(&r->srv->bytes_out, (uint64_t)sb.st_size);
    snprintf(disp, sizeof disp, "%s; filename=\"%s\"", disposition, filename);
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Content-Disposition", disp);
    MHD_add_response_header(resp, "Cache-Control", cache_control);
    return reply(r, 200, resp);
}

enum MHD_Result h_image_content(request *r) {
    tsr_store_image im;
    enum MHD_Result res;
    char etag[80], stem[200], name[260];
    if (!find_image(r, &im, &res))
        return res;
    snprintf(etag, sizeof etag, "\"%s\"", im.sha256);
    safe_stem(im.name, stem, sizeof stem);
    tsr_format f = tsr_format_from_name(im.format);
    snprintf(name, sizeof name, "%s.%s", stem[0] ? stem : im.id, tsr_format_extension(f));
    return serve_file(r, im.blob, -1, tsr_format_mime(f), etag, name);
}
