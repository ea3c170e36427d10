/* Running one job: plan every image for the tile total, then process each
 * image from its blob into a result blob, in this process one after the
 * other, or as image tasks on the fleet (jobs_images.c). */
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/image_run.h"
#include "service/jobs_internal.h"
#include "util/clock.h"

/* The store's record of image `image_id`, whoever owns it. */
tsr_status tsr_jobs_image_record(tsr_jobs *jobs, tsr_ctx *ctx, const char *image_id,
                                 tsr_store_image *img) {
    tsr_store_user admin = {0};
    admin.role = TSR_ROLE_ADMIN;
    int found = 0;
    tsr_status st = tsr_store_image_get(jobs->store, ctx, &admin, image_id, img, &found);
    if (!st && !found)
        st = tsr_error(ctx, TSR_ERR_USAGE, "the image was deleted");
    return st;
}

tsr_status tsr_jobs_check_frames(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                                 const char *const *image_ids, size_t image_count,
                                 const tsr_job_settings *settings) {
    tsr_status st = TSR_OK;
    tsr_ctx *one = tsr_ctx_new();
    if (!one)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < image_count && !st; i++) {
        tsr_store_image img;
        int found = 0;
        bool animate;
        if ((st = tsr_store_image_get(jobs->store, ctx, caller, image_ids[i], &img, &found)) ||
            !found)
            break; /* tsr_jobs_submit_with reports a missing image */
        tsr_image_info info = {.format = tsr_format_from_name(img.format),
                               .frames = (int)img.frames};
        if (tsr_frame_choice_check(one, &info, settings->format,
                                   settings->frame_set ? settings->frame : -1, "output.frame",
                                   &animate))
            st = tsr_error(ctx, tsr_ctx_status(one), "image %s: %s", image_ids[i],
                           tsr_ctx_message(one));
    }
    tsr_ctx_free(one);
    return st;
}

/* Images from this many pixels on return the heap to the system when done. */
#define TRIM_PIXELS 64000000ull

/* Gives freed heap memory back to the system: a big image's windows, bands
 * and tile buffers are freed when it ends, but glibc keeps freed memory
 * below its top for reuse, so without this a server that ran one
 * gigapixel job stays hundreds of MB larger until the next one. */
static void return_heap(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* Processes one image in this process (tiles on the scheduler's executor)
 * into a committed result blob and records it. */
static tsr_status item_process(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job, int position,
                               const tsr_pipeline *pipe) {
    tsr_ctx *ctx = e->ctx;
    double t0 = tsr_clock_mono_s();
    tsr_store_image img;
    tsr_status st = tsr_jobs_image_record(jobs, ctx, job->items[position].image, &img);
    if (st)
        return st;
    char label[96];
    snprintf(label, sizeof label, "image %s", job->items[position].image);
    tsr_format fmt;
    tsr_layout layout;
    tsr_output_from_name(job->output_format, &fmt, &layout);
    tsr_image_run run = {.input = img.blob,
                         .pipe = pipe,
                         .format = fmt,
                         .quality = job->quality,
                         .layout = layout,
                         .frame = job->frame,
                         .speed = job->speed,
                         .tile = tsr_jobs_tile_of(jobs, job),
                         .exec = jobs->cfg.executor ? jobs->cfg.executor : jobs->exec,
                         .accel = jobs->cfg.executor ? NULL : jobs->cfg.accel,
                         .progress = tsr_jobs_on_progress,
                         .tile_done = tsr_jobs_on_tile,
                         .rows = tsr_jobs_on_rows,
                         .device_done = tsr_jobs_on_device,
                         .moved = tsr_jobs_on_moved,
                         .progress_user = e,
                         .label = label,
                         .memory_budget = jobs->cfg.memory_budget};
    tsr_image_output o;
    st = tsr_image_run_blob(jobs->store, ctx, &run, &o);
    tsr_job_usage used = {.cpu_seconds = o.codec_cpu_seconds, .read_bytes = (int64_t)img.bytes};
    if (!st) {
        used.written_bytes = (int64_t)o.bytes;
        used.peak_pixels = (int64_t)img.width * img.height + (int64_t)o.width * o.height;
    }
    tsr_jobs_add_usage(e, &used);
    if ((uint64_t)img.width * (uint64_t)img.height >= TRIM_PIXELS)
        return_heap();
    if (st)
        return st;
    tsr_store_item_result res = {o.blob,
                                 o.bytes,
                                 tsr_output_name(fmt, layout),
                                 (uint32_t)o.width,
                                 (uint32_t)o.height,
                                 tsr_clock_mono_s() - t0};
    int changed = 0;
    st = tsr_store_job_item_result(jobs->store, ctx, job->id, position, &res, &changed);
    if (!st && !changed) /* a result was already recorded: keep the first */
        tsr_blob_delete(jobs->store, ctx, o.blob);
    return st;
}

/* Plans the pipeline from what the store recorded of an image at upload
 * (upright size, bands, format) without opening its blob, which for an
 * encrypted store would decrypt it once more (tsr_image_decoded_size gives
 * the size the row reader will give). */
static tsr_status plan_from_record(tsr_jobs *jobs, tsr_ctx *ctx, const char *image_id,
                                   const tsr_pipeline *pipe, int tile, tsr_plan **plan) {
    tsr_store_image img;
    tsr_status st = tsr_jobs_image_record(jobs, ctx, image_id, &img);
    if (st)
        return st;
    if (!img.width || !img.height || img.bands < 1)
        return tsr_error(ctx, TSR_ERR_USAGE, "no usable record of image %s", image_id);
    int w = (int)img.width, h = (int)img.height;
    tsr_image_decoded_size(pipe, img.format, &w, &h);
    return tsr_plan_new(ctx, pipe, w, h, img.bands, tile, plan);
}

/* Fills `size` from image `i`'s plan: tiles, decoded pixels and rows,
 * output rows and its work units. */
static void item_size(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_job *job, size_t i,
                      const tsr_pipeline *pipe, const tsr_plan *plan, tsr_jobs_item_size *size) {
    int w, h, ow, oh, ob;
    tsr_plan_input(plan, &w, &h);
    tsr_plan_output(plan, &ow, &oh, &ob);
    size->tiles = (int64_t)tsr_plan_task_count(plan);
    size->pixels = (uint64_t)w * (uint64_t)h;
    size->in_h = h;
    size->out_h = oh;
    tsr_store_image img;
    tsr_ctx_reset(ctx);
    int recorded = !tsr_jobs_image_record(jobs, ctx, job->items[i].image, &img);
    if (recorded && job->frame < 0 && img.frames > 1 &&
        tsr_format_animates(tsr_format_from_name(img.format)) &&
        tsr_format_animates(tsr_format_from_name(job->output_format)))
        size->tiles *= (int64_t)img.frames; /* every frame runs (tsr_pipeline_run_frames) */
    tsr_work_image im = {
        .in_format = recorded ? img.format : NULL,
        .in_w = w,
        .in_h = h,
        .pipe = pipe,
        .tile = tsr_jobs_tile_of(jobs, job),
        .threads = tsr_executor_threads(jobs->cfg.executor ? jobs->cfg.executor : jobs->exec),
        .out_format = job->output_format,
        .out_pixels = (uint64_t)ow * (uint64_t)oh};
    size->cost = tsr_work_cost_of(&im);
}

/* Plans every image of the job: its tile count, decoded pixels and work
 * units into sizes[i] (zero when it does not plan: it fails when run), the
 * total and the tiles of the images already done. Planned from the store's
 * records; an image whose record does not plan is opened instead. */
static void count_tiles(tsr_jobs *jobs, const tsr_store_job *job, const tsr_pipeline *pipe,
                        tsr_jobs_item_size *sizes, int64_t *total, int64_t *done) {
    tsr_ctx *ctx = tsr_ctx_new();
    *total = *done = 0;
    for (size_t i = 0; ctx && i < job->item_count; i++) {
        tsr_plan *plan = NULL;
        tsr_store_image img;
        tsr_ctx_reset(ctx);
        int tile = tsr_jobs_tile_of(jobs, job);
        if (plan_from_record(jobs, ctx, job->items[i].image, pipe, tile, &plan)) {
            tsr_ctx_reset(ctx);
            if (!tsr_jobs_image_record(jobs, ctx, job->items[i].image, &img))
                tsr_image_plan_blob(jobs->store, ctx, img.blob, pipe, tile, &plan);
        }
        if (plan) {
            item_size(jobs, ctx, job, i, pipe, plan, &sizes[i]);
            *total += sizes[i].tiles;
            if (job->items[i].state == TSR_JOB_SUCCEEDED)
                *done += sizes[i].tiles;
        }
        tsr_plan_free(plan);
    }
    tsr_ctx_free(ctx);
}

void tsr_jobs_item_failed(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job, int position,
                          const char *message, tsr_jobs_outcome *o) {
    char msg[TSR_STORE_ERROR_MAX];
    snprintf(msg, sizeof msg, "%s", message);
    pthread_mutex_lock(&jobs->lock);
    o->failures++;
    if (!o->first_error[0])
        snprintf(o->first_error, sizeof o->first_error, "image %s: %.400s",
                 job->items[position].image, msg);
    pthread_mutex_unlock(&jobs->lock);
    tsr_ctx *ctx = tsr_ctx_new();
    if (ctx)
        tsr_store_job_item_set_state(jobs->store, ctx, e->id, position, TSR_JOB_FAILED, msg, NULL);
    tsr_ctx_free(ctx);
}

/* Runs the job's items that are not finished yet in this process, one
 * after the other, until all ran or the job was cancelled or stopped. */
static void run_items(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job,
                      const tsr_pipeline *pipe, const tsr_jobs_item_size *sizes, tsr_ctx *ctx,
                      tsr_jobs_outcome *o) {
    for (size_t i = 0; i < job->item_count; i++) {
        const tsr_store_job_item *item = &job->items[i];
        if (tsr_job_state_terminal(item->state))
            continue;
        if (tsr_ctx_cancelled(e->ctx))
            break;
        tsr_store_job_item_set_state(jobs->store, ctx, e->id, (int)i, TSR_JOB_RUNNING, NULL, NULL);
        pthread_mutex_lock(&jobs->lock); /* a cancel may arrive any time */
        tsr_ctx_reset(e->ctx);
        if (e->cancelled || e->stopped)
            tsr_ctx_cancel(e->ctx);
        tsr_jobs_next_item(e, &sizes[i]);
        pthread_mutex_unlock(&jobs->lock);
        tsr_status st = item_process(jobs, e, job, (int)i, pipe);
        if (st == TSR_ERR_CANCELLED || tsr_ctx_cancelled(e->ctx))
            break;
        if (st)
            tsr_jobs_item_failed(jobs, e, job, (int)i, tsr_ctx_message(e->ctx), o);
    }
    pthread_mutex_lock(&jobs->lock); /* the last image counts whole */
    tsr_jobs_next_item(e, NULL);
    pthread_mutex_unlock(&jobs->lock);
}

/* What became of a job whose state write `state` changed nothing: a user
 * cancelled it meanwhile (CANCELLED), or another coordinator holds its lease
 * (RUNNING: it is theirs to finish; store_lease.h). */
static tsr_job_state write_refused(tsr_jobs *jobs, tsr_ctx *ctx, const char *id) {
    tsr_store_user admin = {.role = TSR_ROLE_ADMIN};
    tsr_store_job *job = NULL;
    tsr_store_job_get(jobs->store, ctx, &admin, id, &job);
    tsr_job_state state =
        job && !tsr_job_state_terminal(job->state) ? TSR_JOB_RUNNING : TSR_JOB_CANCELLED;
    tsr_store_job_free(job);
    return state;
}

/* Records the job's end in the store (progress, then the final state) and
 * returns that state; a job stopped by shutdown stays running for the next
 * start. */
static tsr_job_state finish_job(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job,
                                tsr_ctx *ctx, int64_t total, const tsr_jobs_outcome *o) {
    pthread_mutex_lock(&jobs->lock);
    int stopped = e->stopped, cancelled = e->cancelled;
    tsr_store_progress p = tsr_jobs_progress_of(e);
    pthread_mutex_unlock(&jobs->lock);
    p.tiles_total = total;
    if (stopped && !cancelled)
        return TSR_JOB_RUNNING; /* left for the next start */
    tsr_store_job_progress(jobs->store, ctx, e->id, &p);
    if (cancelled) {
        for (size_t i = 0; i < job->item_count; i++)
            tsr_store_job_item_set_state(jobs->store, ctx, e->id, (int)i, TSR_JOB_CANCELLED, NULL,
                                         NULL);
        return TSR_JOB_CANCELLED;
    }
    if (o->failures) {
        char msg[TSR_STORE_ERROR_MAX];
        snprintf(msg, sizeof msg, "%d of %zu images failed; first: %s", o->failures,
                 job->item_count, o->first_error);
        int changed = 0;
        tsr_store_job_set_state(jobs->store, ctx, e->id, TSR_JOB_FAILED, msg, &changed);
        return changed ? TSR_JOB_FAILED : write_refused(jobs, ctx, e->id);
    }
    int changed = 0;
    tsr_store_job_set_state(jobs->store, ctx, e->id, TSR_JOB_SUCCEEDED, NULL, &changed);
    return changed ? TSR_JOB_SUCCEEDED : write_refused(jobs, ctx, e->id);
}

tsr_job_state tsr_jobs_run_one(tsr_jobs *jobs, job_entry *e) {
    tsr_store_user admin = {.role = TSR_ROLE_ADMIN};
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store_job *job = NULL;
    tsr_pipeline *pipe = NULL;
    tsr_jobs_item_size *sizes = NULL;
    tsr_job_state final = TSR_JOB_FAILED;
    if (!ctx || tsr_store_job_get(jobs->store, ctx, &admin, e->id, &job) || !job)
        goto out;
    if (tsr_job_state_terminal(job->state)) {
        final = job->state;
        goto out;
    }
    if (tsr_pipeline_parse_json(ctx, job->pipeline_json, &pipe)) {
        tsr_store_job_set_state(jobs->store, ctx, e->id, TSR_JOB_FAILED, tsr_ctx_message(ctx),
                                NULL);
        goto out;
    }
    int changed = 0;
    tsr_store_job_set_state(jobs->store, ctx, e->id, TSR_JOB_RUNNING, NULL, &changed);
    if (!changed) { /* cancelled meanwhile, or another coordinator's */
        final = write_refused(jobs, ctx, e->id);
        goto out;
    }
    int64_t total, done;
    if (!(sizes = calloc(job->item_count ? job->item_count : 1, sizeof *sizes)))
        goto out; /* out of memory: stays running, resumed at the next start */
    count_tiles(jobs, job, pipe, sizes, &total, &done);
    double work_total = 0, work_done = 0;
    for (size_t i = 0; i < job->item_count; i++) {
        work_total += tsr_work_cost_total(&sizes[i].cost);
        if (job->items[i].state == TSR_JOB_SUCCEEDED)
            work_done += tsr_work_cost_total(&sizes[i].cost);
    }
    pthread_mutex_lock(&jobs->lock);
    e->live.tiles_total = total;
    e->live.usage = job->usage; /* a resumed job goes on counting */
    e->item_base = done;
    e->work_total = work_total;
    e->work_base = e->work_start = work_done;
    e->cur = NULL;
    tsr_jobs_set_done(e, done, work_done);
    pthread_mutex_unlock(&jobs->lock);
    tsr_jobs_set_state(jobs, e, TSR_JOB_RUNNING);
    tsr_jobs_outcome o = {0};
    if (tsr_jobs_use_image_tasks(jobs, job, sizes))
        tsr_jobs_run_images(jobs, e, job, sizes, &o);
    else
        run_items(jobs, e, job, pipe, sizes, ctx, &o);
    final = finish_job(jobs, e, job, ctx, total, &o);
out:
    free(sizes);
    tsr_pipeline_free(pipe);
    tsr_store_job_free(job);
    tsr_ctx_free(ctx);
    return final;
}

void tsr_jobs_local_pool(tsr_jobs *jobs, tsr_jobs_local *out) {
    out->exec = jobs->exec;
    out->accel = jobs->cfg.accel;
    out->tile = jobs->cfg.tile;
    out->memory_budget = jobs->cfg.memory_budget;
}
