/* Running one job: plan every image for the tile total, then process each
 * image from its blob through the engine into a result blob. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service/jobs_internal.h"
#include "util/clock.h"

/* Everything one image needs. */
typedef struct item_run {
    tsr_row_reader *reader; /* the input's rows */
    tsr_plan *plan;         /* the pipeline for its size */
    tsr_blob_reader *blob;  /* the input's verified plaintext, which `reader` reads */
} item_run;

static void item_run_free(item_run *r) {
    tsr_row_reader_free(r->reader);
    tsr_plan_free(r->plan);
    tsr_blob_reader_free(r->blob);
    memset(r, 0, sizeof *r);
}

/* The store's record of image `image_id`, whoever owns it. */
static tsr_status image_record(tsr_jobs *jobs, tsr_ctx *ctx, const char *image_id,
                               tsr_store_image *img) {
    tsr_store_user admin = {0};
    admin.role = TSR_ROLE_ADMIN;
    int found = 0;
    tsr_status st = tsr_store_image_get(jobs->store, ctx, &admin, image_id, img, &found);
    if (!st && !found)
        st = tsr_error(ctx, TSR_ERR_USAGE, "the image was deleted");
    return st;
}

/* Opens image `image_id` and plans the pipeline for it. */
static tsr_status item_open(tsr_jobs *jobs, tsr_ctx *ctx, const char *image_id,
                            const tsr_pipeline *pipe, item_run *r) {
    tsr_store_image img;
    tsr_status st = image_record(jobs, ctx, image_id, &img);
    if (st)
        return st;
    if ((st = tsr_blob_open_read(jobs->store, ctx, img.blob, &r->blob)))
        return st;
    const char *path = tsr_blob_reader_path(r->blob);
    tsr_image_info info;
    if ((st = tsr_row_reader_open(ctx, path, NULL, &r->reader, &info)))
        return st;
    if (info.format == TSR_FORMAT_JPEG) {
        int w = info.orientation >= 5 ? info.height : info.width;
        int h = info.orientation >= 5 ? info.width : info.height;
        tsr_decode_options d = {0};
        d.shrink = tsr_pipeline_shrink_hint(pipe, w, h);
        if (d.shrink > 1) {
            tsr_row_reader_free(r->reader);
            r->reader = NULL;
            if ((st = tsr_row_reader_open(ctx, path, &d, &r->reader, &info)))
                return st;
        }
    }
    int w, h, bands;
    tsr_row_reader_shape(r->reader, &w, &h, &bands);
    return tsr_plan_new(ctx, pipe, w, h, bands, jobs->cfg.tile, &r->plan);
}

/* Processes one image into a committed result blob and records it. */
static tsr_status item_process(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job, int position,
                               const tsr_pipeline *pipe) {
    tsr_ctx *ctx = e->ctx;
    item_run r = {0};
    tsr_row_writer *writer = NULL;
    tsr_blob_file *out = NULL;
    double t0 = tsr_clock_mono_s();
    tsr_status st = item_open(jobs, ctx, job->items[position].image, pipe, &r);
    if (st)
        goto out;
    int w, h, bands;
    tsr_plan_output(r.plan, &w, &h, &bands);
    tsr_format fmt = tsr_format_from_name(job->output_format);
    tsr_encode_options eopts = {.quality = job->quality, .compression = -1};
    if ((st = tsr_blob_file_new(jobs->store, ctx, &out)))
        goto out;
    if ((st = tsr_row_writer_open_fd(ctx, tsr_blob_file_fd(out), "result", fmt, w, h, bands, &eopts,
                                     &writer)))
        goto out;
    char label[96];
    snprintf(label, sizeof label, "image %s", job->items[position].image);
    tsr_run_options ropts = {.tile_size = jobs->cfg.tile,
                             .progress = tsr_jobs_on_progress,
                             .progress_user = e,
                             .tile_done = tsr_jobs_on_tile,
                             .label = label};
    if ((st = tsr_plan_run_rows(ctx, r.plan, r.reader, writer,
                                jobs->cfg.executor ? jobs->cfg.executor : jobs->exec, &ropts)))
        goto out;
    if ((st = tsr_row_writer_finish(writer)))
        goto out;
    char blob[TSR_STORE_ID_LEN + 1];
    uint64_t bytes = 0;
    if ((st = tsr_blob_file_commit(out, ctx, blob, &bytes)))
        goto out;
    tsr_store_item_result res = {blob,        bytes,       tsr_format_name(fmt),
                                 (uint32_t)w, (uint32_t)h, tsr_clock_mono_s() - t0};
    int changed = 0;
    st = tsr_store_job_item_result(jobs->store, ctx, job->id, position, &res, &changed);
    if (!st && !changed) /* a result was already recorded: keep the first */
        tsr_blob_delete(jobs->store, ctx, blob);
out:
    tsr_row_writer_free(writer);
    tsr_blob_file_free(out);
    item_run_free(&r);
    return st;
}

/* Plans the pipeline from what the store recorded of an image at upload
 * (upright size, bands, format) without opening its blob, which for an
 * encrypted store would decrypt it once more: the size the row reader will
 * give is the recorded one, divided (rounding up, as libjpeg does) by the
 * JPEG shrink-on-load item_open picks. */
static tsr_status plan_from_record(tsr_jobs *jobs, tsr_ctx *ctx, const char *image_id,
                                   const tsr_pipeline *pipe, tsr_plan **plan) {
    tsr_store_image img;
    tsr_status st = image_record(jobs, ctx, image_id, &img);
    if (st)
        return st;
    if (!img.width || !img.height || img.bands < 1)
        return tsr_error(ctx, TSR_ERR_USAGE, "no usable record of image %s", image_id);
    int w = (int)img.width, h = (int)img.height;
    if (!strcmp(img.format, tsr_format_name(TSR_FORMAT_JPEG))) {
        int shrink = tsr_pipeline_shrink_hint(pipe, w, h);
        if (shrink > 1) {
            w = (w + shrink - 1) / shrink;
            h = (h + shrink - 1) / shrink;
        }
    }
    return tsr_plan_new(ctx, pipe, w, h, img.bands, jobs->cfg.tile, plan);
}

/* Tile total of the images not finished yet, and of those already done.
 * Planned from the store's records; an image whose record does not plan is
 * opened instead. */
static void count_tiles(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job,
                        const tsr_pipeline *pipe, int64_t *total, int64_t *done) {
    tsr_ctx *ctx = tsr_ctx_new();
    *total = *done = 0;
    for (size_t i = 0; ctx && i < job->item_count; i++) {
        item_run r = {0};
        tsr_ctx_reset(ctx);
        if (plan_from_record(jobs, ctx, job->items[i].image, pipe, &r.plan)) {
            tsr_ctx_reset(ctx);
            item_open(jobs, ctx, job->items[i].image, pipe, &r);
        }
        if (r.plan) {
            int64_t n = (int64_t)tsr_plan_task_count(r.plan);
            *total += n;
            if (job->items[i].state == TSR_JOB_SUCCEEDED)
                *done += n;
        }
        item_run_free(&r);
    }
    tsr_ctx_free(ctx);
    (void)e;
}

/* Outcome of a job's items: how many failed and the first failure. */
typedef struct items_outcome {
    int failures;          /* items that failed */
    char first_error[512]; /* "image <id>: <message>" of the first, "" when none */
} items_outcome;

/* Runs the job's items that are not finished yet, one after the other,
 * until all ran or the job was cancelled or stopped. */
static void run_items(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job,
                      const tsr_pipeline *pipe, tsr_ctx *ctx, items_outcome *o) {
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
        pthread_mutex_unlock(&jobs->lock);
        tsr_status st = item_process(jobs, e, job, (int)i, pipe);
        if (st == TSR_ERR_CANCELLED || tsr_ctx_cancelled(e->ctx))
            break;
        if (st) {
            o->failures++;
            char msg[TSR_STORE_ERROR_MAX];
            snprintf(msg, sizeof msg, "%s", tsr_ctx_message(e->ctx));
            if (!o->first_error[0])
                snprintf(o->first_error, sizeof o->first_error, "image %s: %.400s", item->image,
                         msg);
            tsr_store_job_item_set_state(jobs->store, ctx, e->id, (int)i, TSR_JOB_FAILED, msg,
                                         NULL);
        }
        /* The next image's tiles count from here. */
        pthread_mutex_lock(&jobs->lock);
        e->item_base = e->live.tiles_done;
        pthread_mutex_unlock(&jobs->lock);
    }
}

/* Records the job's end in the store (progress, then the final state) and
 * returns that state; a job stopped by shutdown stays running for the next
 * start. */
static tsr_job_state finish_job(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job,
                                tsr_ctx *ctx, int64_t total, const items_outcome *o) {
    pthread_mutex_lock(&jobs->lock);
    int stopped = e->stopped, cancelled = e->cancelled;
    int64_t tiles_done = e->live.tiles_done;
    double cpu = e->live.cpu_seconds;
    pthread_mutex_unlock(&jobs->lock);
    if (stopped && !cancelled)
        return TSR_JOB_RUNNING; /* left for the next start */
    tsr_store_job_progress(jobs->store, ctx, e->id, tiles_done, total, cpu);
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
        tsr_store_job_set_state(jobs->store, ctx, e->id, TSR_JOB_FAILED, msg, NULL);
        return TSR_JOB_FAILED;
    }
    tsr_store_job_set_state(jobs->store, ctx, e->id, TSR_JOB_SUCCEEDED, NULL, NULL);
    return TSR_JOB_SUCCEEDED;
}

tsr_job_state tsr_jobs_run_one(tsr_jobs *jobs, job_entry *e) {
    tsr_store_user admin = {.role = TSR_ROLE_ADMIN};
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store_job *job = NULL;
    tsr_pipeline *pipe = NULL;
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
    if (!changed) { /* cancelled meanwhile */
        final = TSR_JOB_CANCELLED;
        goto out;
    }
    int64_t total, done;
    count_tiles(jobs, e, job, pipe, &total, &done);
    pthread_mutex_lock(&jobs->lock);
    e->live.tiles_total = total;
    e->item_base = done;
    e->live.tiles_done = done;
    pthread_mutex_unlock(&jobs->lock);
    tsr_jobs_set_state(jobs, e, TSR_JOB_RUNNING);
    items_outcome o = {0};
    run_items(jobs, e, job, pipe, ctx, &o);
    final = finish_job(jobs, e, job, ctx, total, &o);
out:
    tsr_pipeline_free(pipe);
    tsr_store_job_free(job);
    tsr_ctx_free(ctx);
    return final;
}
