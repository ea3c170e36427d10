/* One image from its input blob to a result blob (see image_run.h). */
#include "service/image_run.h"
#include "util/clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* An opened input: the verified plaintext blob, its rows and the plan. */
typedef struct opened {
    tsr_blob_reader *blob;  /* the input's plaintext, which `reader` reads */
    tsr_row_reader *reader; /* its rows, shrunk on load when the pipeline allows */
    tsr_plan *plan;         /* the pipeline for its decoded size */
} opened;

static void opened_free(opened *o) {
    tsr_row_reader_free(o->reader);
    tsr_plan_free(o->plan);
    tsr_blob_reader_free(o->blob);
    memset(o, 0, sizeof *o);
}

/* Opens the image file at `path` for `pipe` (info: its header). A JPEG is
 * reopened with the shrink-on-load the pipeline allows for its upright size. */
static tsr_status open_rows(tsr_ctx *ctx, const char *path, const tsr_pipeline *pipe, opened *o,
                            tsr_image_info *info) {
    tsr_status st = tsr_row_reader_open(ctx, path, NULL, &o->reader, info);
    if (st || info->format != TSR_FORMAT_JPEG)
        return st;
    int w = info->orientation >= 5 ? info->height : info->width;
    int h = info->orientation >= 5 ? info->width : info->height;
    tsr_decode_options d = {0};
    d.shrink = tsr_pipeline_shrink_hint(pipe, w, h);
    if (d.shrink <= 1)
        return TSR_OK;
    tsr_row_reader_free(o->reader);
    o->reader = NULL;
    return tsr_row_reader_open(ctx, path, &d, &o->reader, info);
}

/* Plans `pipe` for the rows `o` opened. */
static tsr_status plan_rows(tsr_ctx *ctx, const tsr_pipeline *pipe, int tile, opened *o) {
    int w, h, bands;
    tsr_row_reader_shape(o->reader, &w, &h, &bands);
    return tsr_plan_new(ctx, pipe, w, h, bands, tile, &o->plan);
}

/* Opens blob `input` and plans `pipe` for it. */
static tsr_status open_input(tsr_store *store, tsr_ctx *ctx, const char *input,
                             const tsr_pipeline *pipe, int tile, opened *o) {
    tsr_image_info info;
    tsr_status st = tsr_blob_open_read(store, ctx, input, &o->blob);
    if (!st)
        st = open_rows(ctx, tsr_blob_reader_path(o->blob), pipe, o, &info);
    return st ? st : plan_rows(ctx, pipe, tile, o);
}

tsr_status tsr_image_plan_blob(tsr_store *store, tsr_ctx *ctx, const char *input,
                               const tsr_pipeline *pipe, int tile, tsr_plan **plan) {
    opened o = {0};
    tsr_status st = open_input(store, ctx, input, pipe, tile, &o);
    *plan = st ? NULL : o.plan;
    o.plan = NULL;
    opened_free(&o);
    return st;
}

void tsr_image_decoded_size(const tsr_pipeline *pipe, const char *format, int *width, int *height) {
    if (strcmp(format, tsr_format_name(TSR_FORMAT_JPEG)))
        return;
    int shrink = tsr_pipeline_shrink_hint(pipe, *width, *height);
    if (shrink > 1) {
        *width = (*width + shrink - 1) / shrink;
        *height = (*height + shrink - 1) / shrink;
    }
}

/* Runs the plan `o` holds, encoding rows into `fd` (duplicated; the
 * caller's stays open) as `format`; out->width and height get the output's
 * size. */
static tsr_status run_into(tsr_ctx *ctx, opened *o, const tsr_image_run *run, tsr_format format,
                           int fd, tsr_image_output *out) {
    tsr_row_writer *writer = NULL;
    int bands;
    tsr_plan_output(o->plan, &out->width, &out->height, &bands);
    tsr_encode_options eopts = {.quality = run->quality, .compression = -1};
    tsr_status st = tsr_row_writer_open_fd(ctx, fd, "result", format, out->width, out->height,
                                           bands, &eopts, &writer);
    tsr_run_options ropts = {.tile_size = run->tile,
                             .progress = run->progress,
                             .progress_user = run->progress_user,
                             .tile_done = run->tile_done,
                             .rows = run->rows,
                             .label = run->label,
                             .accel = run->accel,
                             .device_done = run->device_done,
                             .moved = run->moved};
    if (!st)
        st = tsr_plan_run_rows(ctx, o->plan, o->reader, writer, run->exec, &ropts);
    if (!st)
        st = tsr_row_writer_finish(writer);
    tsr_row_writer_free(writer);
    return st;
}

tsr_status tsr_image_run_blob(tsr_store *store, tsr_ctx *ctx, const tsr_image_run *run,
                              tsr_image_output *out) {
    opened o = {0};
    tsr_blob_file *file = NULL;
    double cpu0 = tsr_clock_thread_cpu_s();
    memset(out, 0, sizeof *out);
    out->format = run->format;
    tsr_status st = open_input(store, ctx, run->input, run->pipe, run->tile, &o);
    if (!st)
        st = tsr_blob_file_new(store, ctx, &file);
    if (!st)
        st = run_into(ctx, &o, run, run->format, tsr_blob_file_fd(file), out);
    if (st)
        goto out;
    if (run->result_id) {
        snprintf(out->blob, sizeof out->blob, "%s", run->result_id);
        st = tsr_blob_file_commit_as(file, ctx, run->result_id, &out->bytes);
    } else {
        st = tsr_blob_file_commit(file, ctx, out->blob, &out->bytes);
    }
out:
    tsr_blob_file_free(file);
    opened_free(&o);
    out->codec_cpu_seconds = tsr_clock_thread_cpu_s() - cpu0;
    return st;
}

tsr_status tsr_image_run_file(tsr_ctx *ctx, const char *path, const tsr_image_run *run, int fd,
                              tsr_image_output *out) {
    opened o = {0};
    tsr_image_info info;
    double cpu0 = tsr_clock_thread_cpu_s();
    memset(out, 0, sizeof *out);
    out->failed = TSR_IMAGE_OPEN;
    tsr_status st = open_rows(ctx, path, run->pipe, &o, &info);
    if (!st) {
        int bands;
        tsr_row_reader_shape(o.reader, &out->in_width, &out->in_height, &bands);
        out->in_format = info.format;
        out->format = run->format;
        if (out->format == TSR_FORMAT_UNKNOWN)
            out->format = tsr_format_can_encode(info.format) ? info.format : TSR_FORMAT_PNG;
        out->failed = TSR_IMAGE_PLAN;
        st = plan_rows(ctx, run->pipe, run->tile, &o);
    }
    if (!st) {
        out->failed = TSR_IMAGE_RUN;
        st = run_into(ctx, &o, run, out->format, fd, out);
    }
    struct stat sb;
    if (!st && fstat(fd, &sb) != 0)
        st = tsr_error(ctx, TSR_ERR_IO, "result: fstat: %s", strerror(errno));
    if (!st)
        out->bytes = (uint64_t)sb.st_size;
    opened_free(&o);
    out->codec_cpu_seconds = tsr_clock_thread_cpu_s() - cpu0;
    return st;
}
