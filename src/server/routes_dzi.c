/* Deep Zoom results for the web UI's zoomable viewer: the descriptor and one
 * tile at a time, read from the result's stored zip (image_run.c writes a
 * DZI result through a descriptor as one stored zip holding result.dzi and
 * result_files/LEVEL/COL_ROW.EXT; docs/internals/pyramid.md). Access is that
 * of the result download: the job must be the caller's (404 otherwise).
 * The member name is built from parsed numbers, never from the path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "server/server_internal.h"

#define DZI_ZIP_NAME      "result"                 /* the name image_run.c gives its writer */
#define DZI_MAX_LEVEL     40                       /* no image has more levels */
#define DZI_MAX_TILES     (1 << 20)                /* columns or rows of a level, at most */
#define DZI_MAX_MEMBER    (64 << 20)               /* bytes of one member served from memory */
#define DZI_CACHE_CONTROL "private, max-age=86400" /* results never change */

/* Parses a decimal number 0..max with no sign, no leading zeros (but "0"). */
static int parse_index(const char *s, size_t len, int max) {
    if (len == 0 || len > 7 || (len > 1 && s[0] == '0'))
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v <= max ? v : -1;
}

/* The caller's job {id} and its item {image}, which must be a finished Deep
 * Zoom result; replies itself and returns NULL otherwise. *it points into
 * the returned job, which the caller frees. */
static tsr_store_job *dzi_item(request *r, const tsr_store_job_item **it, tsr_format *tiles,
                               enum MHD_Result *res) {
    tsr_store_job *job = NULL;
    tsr_layout layout;
    snprintf(r->job_id, sizeof r->job_id, "%s", r->params[0]);
    tsr_status st = tsr_store_job_get(r->srv->store, r->ctx, &r->user, r->params[0], &job);
    if (st || !job) {
        *res = st ? reply_status(r, st)
                  : reply_error(r, 404, "not_found", "job %s not found", r->params[0]);
        return NULL;
    }
    *it = NULL;
    for (size_t i = 0; i < job->item_count && !*it; i++)
        if (!strcmp(job->items[i].image, r->params[1]))
            *it = &job->items[i];
    if (!*it)
        *res = reply_error(r, 404, "not_found", "job %s has no image %s", job->id, r->params[1]);
    else if ((*it)->state != TSR_JOB_SUCCEEDED || !(*it)->result_blob[0])
        *res = reply_error(r, 409, "not_ready", "the result of image %s is not ready (%s)",
                           r->params[1], tsr_job_state_name((*it)->state));
    else if (!tsr_output_from_name((*it)->result_format, tiles, &layout) ||
             layout != TSR_LAYOUT_DZI)
        *res = reply_error(r, 404, "not_found",
                           "the result of image %s is not Deep Zoom (output format dzi)",
                           r->params[1]);
    else
        return job;
    tsr_store_job_free(job);
    return NULL;
}

/* Reads member `name` of zip blob `blob` into *data (malloc'd, *len bytes);
 * *data stays NULL when the zip has no such member. */
static tsr_status read_member(request *r, const char *blob, const char *name, char **data,
                              size_t *len) {
    tsr_blob_reader *rd = NULL;
    zip_stat_t sb;
    int err = 0;
    *data = NULL;
    tsr_status st = tsr_blob_open_read(r->srv->store, r->ctx, blob, &rd);
    if (st)
        return st;
    int fd = tsr_blob_reader_take_fd(rd);
    tsr_blob_reader_free(rd);
    zip_t *za = zip_fdopen(fd, ZIP_RDONLY, &err); /* owns fd from here on success */
    if (!za) {
        close(fd);
        return tsr_error(r->ctx, TSR_ERR_CORRUPT, "result %s: not a readable zip (%d)", blob, err);
    }
    zip_stat_init(&sb);
    if (zip_stat(za, name, 0, &sb) != 0) {
        zip_discard(za);
        return TSR_OK;
    }
    zip_file_t *zf = NULL;
    if (!(sb.valid & ZIP_STAT_SIZE) || sb.size > DZI_MAX_MEMBER ||
        !(*data = malloc(sb.size ? sb.size : 1)) || !(zf = zip_fopen_index(za, sb.index, 0)) ||
        zip_fread(zf, *data, sb.size) != (zip_int64_t)sb.size) {
        free(*data);
        *data = NULL;
        st = tsr_error(r->ctx, TSR_ERR_CORRUPT, "result %s: cannot read %s", blob, name);
    }
    *len = (size_t)sb.size;
    if (zf)
        zip_fclose(zf);
    zip_discard(za);
    return st;
}

/* Serves member `name` of the item's zip with `type`; 404 when absent. */
static enum MHD_Result serve_member(request *r, const tsr_store_job_item *it, const char *name,
                                    const char *type) {
    char etag[160], *data;
    size_t len;
    snprintf(etag, sizeof etag, "\"%s:%s\"", it->result_blob, name);
    if (etag_matches(r, etag))
        return reply(r, 304, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
    tsr_status st = read_member(r, it->result_blob, name, &data, &len);
    if (st == TSR_ERR_CORRUPT)
        return reply_integrity_failure(r, it->result_blob);
    if (st)
        return reply_status(r, st);
    if (!data)
        return reply_error(r, 404, "not_found", "no tile %s", name);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", DZI_CACHE_CONTROL);
    MHD_add_response_header(resp, "ETag", etag);
    return reply(r, 200, resp);
}

enum MHD_Result h_job_item_dzi(request *r) {
    enum MHD_Result res = MHD_YES;
    const tsr_store_job_item *it;
    tsr_format tiles;
    tsr_store_job *job = dzi_item(r, &it, &tiles, &res);
    if (!job)
        return res;
    res = serve_member(r, it, DZI_ZIP_NAME ".dzi", "application/xml");
    tsr_store_job_free(job);
    return res;
}

/* GET .../dzi/{level}/{tile}.{ext}: {tile} is COL_ROW, {ext} the tiles' jpg or png. */
enum MHD_Result h_job_item_dzi_tile(request *r) {
    enum MHD_Result res = MHD_YES;
    const tsr_store_job_item *it;
    tsr_format tiles;
    const char *tile = r->params[3], *sep = strchr(tile, '_');
    int level = parse_index(r->params[2], strlen(r->params[2]), DZI_MAX_LEVEL);
    int col = sep ? parse_index(tile, (size_t)(sep - tile), DZI_MAX_TILES) : -1;
    int row = sep ? parse_index(sep + 1, strlen(sep + 1), DZI_MAX_TILES) : -1;
    if (level < 0 || col < 0 || row < 0)
        return reply_error(r, 404, "not_found", "no such tile: LEVEL/COL_ROW are numbers");
    tsr_store_job *job = dzi_item(r, &it, &tiles, &res);
    if (!job)
        return res;
    const char *ext = tsr_format_extension(tiles);
    if (strcmp(r->params[4], ext)) {
        res = reply_error(r, 404, "not_found", "this result's tiles are .%s", ext);
    } else {
        char name[128];
        snprintf(name, sizeof name, DZI_ZIP_NAME "_files/%d/%d_%d.%s", level, col, row, ext);
        res = serve_member(r, it, name, tsr_format_mime(tiles));
    }
    tsr_store_job_free(job);
    return res;
}
