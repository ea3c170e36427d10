/* One image from its input blob to a result blob (see image_run.h). */
#include "service/image_run.h"
#include "util/clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An opened input: the verified plaintext blob, its rows and the plan. */
typedef struct opened {
    tsr_blob_reader *blob;  /* the input's plaintext, which `reader` reads */
    tsr_row_reader *reader; /* its rows, shrunk on load when the pipeline allows */
    tsr_plan *plan;         /* the pipeline for its decoded size */
    tsr_image_info info;    /* its header */
} opened;

static void opened_free(opened *o) {
    tsr_row_reader_free(o->reader);
    tsr_plan_free(o->plan);
    tsr_blob_reader_free(o->blob);
    memset(o, 0, sizeof *o);
}

/* Opens the image file at `path` for `pipe`: frame `frame` of an
 * animation (0 = the first), a JPEG reopened with the shrink-on-load the
 * pipeline allows for its upright size; o->info gets its header. */
static tsr_status open_rows(tsr_ctx *ctx, const char *path, const tsr_pipeline *pipe, int frame,
                            opened *o) {
    tsr_decode_options first = {.frame = frame > 0 ? frame : 0};
    tsr_image_info *info = &o->info;
    tsr_status st = tsr_row_reader_open(ctx, path, &first, &o->reader, info);
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
                             const tsr_pipeline *pipe, int tile, int frame, opened *o) {
    tsr_status st = tsr_blob_open_read(store, ctx, input, &o->blob);
    if (!st)
        st = open_rows(ctx, tsr_blob_reader_path(o->blob), pipe, frame, o);
    return st ? st : plan_rows(ctx, pipe, tile, o);
}

tsr_status tsr_image_plan_blob(tsr_store *store, tsr_ctx *ctx, const char *input,
                               const tsr_pipeline *pipe, int tile, tsr_plan **plan) {
    opened o = {0};
    tsr_status st = open_input(store, ctx, input, pipe, tile, 0, &o);
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

/* Writes all of `bytes` to `fd`. */
static tsr_status write_all(tsr_ctx *ctx, int fd, const uint8_t *bytes, size_t n) {
    while (n) {
        ssize_t put = write(fd, bytes, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put < 0)
            return tsr_error(ctx, TSR_ERR_IO, "result: %s", strerror(errno));
        bytes += put, n -= (size_t)put;
    }
    return TSR_OK;
}

/* Every frame of the animation at `path` through the pipeline into an
 * animation in run->format (delays and loop count kept), written to `fd`. */
static tsr_status run_frames(tsr_ctx *ctx, const tsr_image_run *run, const char *path,
                             const tsr_run_options *ropts, int fd, tsr_image_output *out) {
    tsr_frame_reader *reader = NULL;
    tsr_frame_writer *writer = NULL;
    tsr_buffer buf = {0};
    tsr_anim_info a;
    int bands;
    tsr_encode_options eopts = {.quality = run->quality, .compression = -1, .layout = run->layout};
    tsr_status st = tsr_frame_reader_open_file(ctx, path, &reader, &a);
    if (!st)
        st = tsr_pipeline_check_size(ctx, run->pipe, a.width, a.height, a.bands, &out->width,
                                     &out->height, &bands);
    if (!st)
        st = tsr_frame_writer_open(ctx, run->format, out->width, out->height, bands, a.loop_count,
                                   &eopts, &writer);
    if (!st)
        st = tsr_pipeline_run_frames(ctx, run->pipe, reader, writer, run->exec, ropts);
    if (!st)
        st = tsr_frame_writer_finish(writer, &buf);
    if (!st)
        st = write_all(ctx, fd, buf.data, buf.len);
    tsr_buffer_free(&buf);
    tsr_frame_writer_free(writer);
    tsr_frame_reader_free(reader);
    return st;
}

/* The opened input's rows through its plan into run->format, written to `fd`. */
static tsr_status run_rows(tsr_ctx *ctx, const tsr_image_run *run, opened *o,
                           const tsr_run_options *ropts, int fd, tsr_image_output *out) {
    tsr_row_writer *writer = NULL;
    int bands;
    tsr_plan_output(o->plan, &out->width, &out->height, &bands);
    tsr_encode_options eopts = {
        .quality = run->quality, .compression = -1, .layout = run->layout, .speed = run->speed};
    tsr_status st = tsr_row_writer_open_fd(ctx, fd, "result", run->format, out->width, out->height,
                                           bands, &eopts, &writer);
    if (!st)
        st = tsr_plan_run_rows(ctx, o->plan, o->reader, writer, run->exec, ropts);
    if (!st)
        st = tsr_row_writer_finish(writer);
    tsr_row_writer_free(writer);
    return st;
}

/* The engine's options for `run`. */
static tsr_run_options run_options(const tsr_image_run *run) {
    return (tsr_run_options){.tile_size = run->tile,
                             .progress = run->progress,
                             .progress_user = run->progress_user,
                             .tile_done = run->tile_done,
                             .rows = run->rows,
                             .label = run->label,
                             .accel = run->accel,
                             .device_done = run->device_done,
                             .moved = run->moved,
                             .memory_budget = run->memory_budget};
}

tsr_status tsr_image_run_blob(tsr_store *store, tsr_ctx *ctx, const tsr_image_run *run,
                              tsr_image_output *out) {
    opened o = {0};
    tsr_blob_file *file = NULL;
    bool animate = false;
    double cpu0 = tsr_clock_thread_cpu_s(), elsewhere = 0; /* encoding on band threads */
    memset(out, 0, sizeof *out);
    tsr_status st = open_input(store, ctx, run->input, run->pipe, run->tile, run->frame, &o);
    if (!st)
        st =
            tsr_frame_choice_check(ctx, &o.info, run->format, run->frame, "output.frame", &animate);
    if (st || (st = tsr_blob_file_new(store, ctx, &file)))
        goto out;
    out->format = run->format;
    tsr_run_options ropts = run_options(run);
    ropts.write_cpu_seconds = &elsewhere;
    int fd = tsr_blob_file_fd(file);
    if (animate)
        st = run_frames(ctx, run, tsr_blob_reader_path(o.blob), &ropts, fd, out);
    else
        st = run_rows(ctx, run, &o, &ropts, fd, out);
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
    out->codec_cpu_seconds = tsr_clock_thread_cpu_s() - cpu0 + elsewhere;
    return st;
}

tsr_status tsr_image_run_file(tsr_ctx *ctx, const char *path, const tsr_image_run *run, int fd,
                              tsr_image_output *out) {
    opened o = {0};
    tsr_image_run r = *run;
    bool animate = false;
    double cpu0 = tsr_clock_thread_cpu_s(), elsewhere = 0; /* encoding on band threads */
    memset(out, 0, sizeof *out);
    out->failed = TSR_IMAGE_OPEN;
    tsr_status st = open_rows(ctx, path, r.pipe, r.frame, &o);
    if (!st) {
        int bands;
        tsr_row_reader_shape(o.reader, &out->in_width, &out->in_height, &bands);
        out->in_format = o.info.format;
        if (r.format == TSR_FORMAT_UNKNOWN)
            r.format = tsr_format_can_encode(o.info.format) ? o.info.format : TSR_FORMAT_PNG;
        out->format = r.format;
        st = tsr_frame_choice_check(ctx, &o.info, r.format, r.frame, "frame=N", &animate);
    }
    if (!st) {
        out->failed = TSR_IMAGE_PLAN;
        st = plan_rows(ctx, r.pipe, r.tile, &o);
    }
    if (!st) {
        tsr_run_options ropts = run_options(&r);
        ropts.write_cpu_seconds = &elsewhere;
        out->failed = TSR_IMAGE_RUN;
        st = animate ? run_frames(ctx, &r, path, &ropts, fd, out)
                     : run_rows(ctx, &r, &o, &ropts, fd, out);
    }
    struct stat sb;
    if (!st && fstat(fd, &sb) != 0)
        st = tsr_error(ctx, TSR_ERR_IO, "result: fstat: %s", strerror(errno));
    if (!st)
        out->bytes = (uint64_t)sb.st_size;
    opened_free(&o);
    out->codec_cpu_seconds = tsr_clock_thread_cpu_s() - cpu0 + elsewhere;
    return st;
}
