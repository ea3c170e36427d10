/* A pipeline over the frames of an animation (see engine.h,
 * tsr_pipeline_run_frames): each composed frame is planned and run as a
 * still image, and its result goes to the frame writer with the frame's
 * delay. Only one frame and its result are held at a time. */
#include <stdlib.h>

#include "tessera/engine.h"

/* The caller's callbacks, with progress rescaled to the whole animation.
 * Every engine callback gets this as its user pointer and forwards. */
typedef struct frames_run {
    const tsr_run_options *opts; /* the caller's callbacks */
    uint64_t base;               /* tasks of the frames already run */
    uint64_t total;              /* tasks of all frames */
} frames_run;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    frames_run *f = user;
    (void)total;
    f->opts->progress(f->opts->progress_user, f->base + done, f->total);
}

static void on_tile(void *user, double seconds) {
    frames_run *f = user;
    f->opts->tile_done(f->opts->progress_user, seconds);
}

static void on_device(void *user, double seconds) {
    frames_run *f = user;
    f->opts->device_done(f->opts->progress_user, seconds);
}

static void on_moved(void *user, uint64_t bytes) {
    frames_run *f = user;
    f->opts->moved(f->opts->progress_user, bytes);
}

/* The options one frame's run gets: the caller's, forwarding through `f`. */
static tsr_run_options frame_options(const tsr_run_options *opts, frames_run *f) {
    tsr_run_options o = *opts;
    o.progress_user = f;
    o.progress = opts->progress ? on_progress : NULL;
    o.tile_done = opts->tile_done ? on_tile : NULL;
    o.device_done = opts->device_done ? on_device : NULL;
    o.moved = opts->moved ? on_moved : NULL;
    o.rows = NULL; /* reported per frame by tsr_pipeline_run_frames */
    return o;
}

/* Runs one frame and appends its result to the writer. */
static tsr_status run_frame(tsr_ctx *ctx, const tsr_pipeline *pipeline, const tsr_image *frame,
                            int delay_ms, tsr_frame_writer *writer, tsr_executor *exec,
                            const tsr_run_options *opts, frames_run *f, int frames) {
    tsr_plan *plan = NULL;
    tsr_image *out = NULL;
    tsr_status st = tsr_plan_new(ctx, pipeline, frame->width, frame->height, frame->bands,
                                 opts->tile_size, &plan);
    if (st)
        return st;
    uint64_t tasks = tsr_plan_task_count(plan);
    if (f->total == 0)
        f->total = tasks * (uint64_t)frames;
    tsr_run_options o = frame_options(opts, f);
    st = tsr_plan_run(ctx, plan, frame, exec, &o, &out);
    if (!st)
        st = tsr_frame_writer_add(writer, out, delay_ms);
    f->base += tasks;
    tsr_image_free(out);
    tsr_plan_free(plan);
    return st;
}

tsr_status tsr_pipeline_run_frames(tsr_ctx *ctx, const tsr_pipeline *pipeline,
                                   tsr_frame_reader *reader, tsr_frame_writer *writer,
                                   tsr_executor *exec, const tsr_run_options *opts) {
    static const tsr_run_options none = {0};
    const tsr_anim_info *a = tsr_frame_reader_info(reader);
    frames_run f = {.opts = opts ? opts : &none};
    tsr_status st = TSR_OK;
    int out_h = 0;
    tsr_pipeline_check_size(ctx, pipeline, a->width, a->height, a->bands, NULL, &out_h, NULL);
    for (int i = 0; i < a->frames && !st; i++) {
        const tsr_image *frame;
        int delay;
        if (tsr_ctx_cancelled(ctx))
            return tsr_error(ctx, TSR_ERR_CANCELLED, "cancelled");
        if ((st = tsr_frame_reader_next(reader, &frame, &delay)))
            break;
        st = run_frame(ctx, pipeline, frame, delay, writer, exec, f.opts, &f, a->frames);
        if (!st && f.opts->rows)
            f.opts->rows(f.opts->progress_user, (int)((int64_t)a->height * (i + 1) / a->frames),
                         (int)((int64_t)out_h * (i + 1) / a->frames));
    }
    return st;
}
