/* The job scheduler: admission, queue, runners, live progress, resume. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "service/jobs.h"
#include "service/jobs_internal.h"
#include "util/clock.h"

const double tsr_jobs_tile_buckets[12] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                          0.1,   0.25,   0.5,   1,    2.5,   1e300};
const double tsr_jobs_job_buckets[12] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1e300};

job_entry *tsr_jobs_find(tsr_jobs *jobs, const char *id) {
    for (job_entry *e = jobs->entries; e; e = e->next)
        if (!strcmp(e->id, id))
            return e;
    return NULL;
}

static void observe(uint64_t *buckets, const double *bounds, double v) {
    for (int i = 0; i < 12; i++)
        if (v <= bounds[i])
            buckets[i]++;
}

/* Publishes the progress of the image running in this process. Under lock. */
static void publish_item(job_entry *e) {
    double work = e->work_base;
    if (e->cur)
        work += tsr_work_cost_done(&e->cur->cost, e->rows_read, e->cur->in_h, e->cur_tiles,
                                   e->cur->tiles, e->rows_written, e->cur->out_h);
    tsr_jobs_set_done(e, e->item_base + e->cur_tiles, work);
}

void tsr_jobs_on_progress(void *user, uint64_t done, uint64_t total) {
    job_entry *e = user;
    tsr_jobs *jobs = e->jobs;
    (void)total;
    pthread_mutex_lock(&jobs->lock);
    e->cur_tiles = (int64_t)done;
    publish_item(e);
    pthread_mutex_unlock(&jobs->lock);
}

void tsr_jobs_on_rows(void *user, int rows_read, int rows_written) {
    job_entry *e = user;
    tsr_jobs *jobs = e->jobs;
    pthread_mutex_lock(&jobs->lock);
    e->rows_read = rows_read;
    e->rows_written = rows_written;
    publish_item(e);
    pthread_mutex_unlock(&jobs->lock);
}

void tsr_jobs_next_item(job_entry *e, const tsr_jobs_item_size *item) {
    if (e->cur) {
        e->work_base += tsr_work_cost_total(&e->cur->cost);
        e->item_base += e->cur_tiles;
    }
    e->cur = item;
    e->rows_read = e->rows_written = 0;
    e->cur_tiles = 0;
    publish_item(e);
}

/* Percent and ETA from the work: the ETA is the remaining units at the
 * rate of this run so far (stable: it averages over the whole run), and
 * unknown until the run is TSR_JOBS_ETA_MIN_PERCENT done or
 * TSR_JOBS_ETA_MIN_SECONDS old, before which the rate is mostly noise. */
void tsr_jobs_set_done(job_entry *e, int64_t tiles_done, double work_done) {
    tsr_jobs *jobs = e->jobs;
    e->live.tiles_done = tiles_done;
    if (e->work_total > 0) {
        double fraction = work_done >= e->work_total ? 1 : work_done / e->work_total;
        if (100.0 * fraction > e->live.percent) /* never backwards */
            e->live.percent = 100.0 * fraction;
        double elapsed = tsr_clock_mono_s() - e->started;
        double run_done = work_done - e->work_start;
        if (run_done > 0 &&
            (e->live.percent >= TSR_JOBS_ETA_MIN_PERCENT || elapsed >= TSR_JOBS_ETA_MIN_SECONDS))
            e->live.eta_seconds = elapsed * (e->work_total - work_done) / run_done;
    }
    e->live.version++;
    e->dirty = 1;
    pthread_cond_broadcast(&jobs->changed);
}

static void usage_add(tsr_job_usage *u, const tsr_job_usage *add) {
    u->cpu_seconds += add->cpu_seconds;
    u->gpu_seconds += add->gpu_seconds;
    u->read_bytes += add->read_bytes;
    u->written_bytes += add->written_bytes;
    u->network_bytes += add->network_bytes;
    if (add->peak_pixels > u->peak_pixels)
        u->peak_pixels = add->peak_pixels;
}

void tsr_jobs_add_usage(job_entry *e, const tsr_job_usage *used) {
    pthread_mutex_lock(&e->jobs->lock);
    usage_add(&e->live.usage, used);
    e->dirty = 1;
    pthread_mutex_unlock(&e->jobs->lock);
}

void tsr_jobs_on_image(job_entry *e, uint64_t tiles, const tsr_job_usage *used) {
    tsr_jobs *jobs = e->jobs;
    pthread_mutex_lock(&jobs->lock);
    usage_add(&e->live.usage, used);
    jobs->stats.tiles_processed += tiles;
    jobs->stats.tile_seconds_sum += used->cpu_seconds;
    pthread_mutex_unlock(&jobs->lock);
}

void tsr_jobs_on_device(void *user, double seconds) {
    job_entry *e = user;
    pthread_mutex_lock(&e->jobs->lock);
    e->live.usage.gpu_seconds += seconds;
    pthread_mutex_unlock(&e->jobs->lock);
}

void tsr_jobs_on_moved(void *user, uint64_t bytes) {
    job_entry *e = user;
    pthread_mutex_lock(&e->jobs->lock);
    e->live.usage.network_bytes += (int64_t)bytes;
    pthread_mutex_unlock(&e->jobs->lock);
}

void tsr_jobs_cancel_entry(job_entry *e) {
    tsr_ctx_cancel(e->ctx);
    for (int i = 0; i < e->n_senders; i++)
        tsr_ctx_cancel(e->senders[i]);
}

void tsr_jobs_on_tile(void *user, double cpu_seconds) {
    job_entry *e = user;
    tsr_jobs *jobs = e->jobs;
    pthread_mutex_lock(&jobs->lock);
    e->live.usage.cpu_seconds += cpu_seconds;
    jobs->stats.tiles_processed++;
    jobs->stats.tile_seconds_sum += cpu_seconds;
    observe(jobs->stats.tile_seconds_le, tsr_jobs_tile_buckets, cpu_seconds);
    pthread_mutex_unlock(&jobs->lock);
}

void tsr_jobs_set_state(tsr_jobs *jobs, job_entry *e, tsr_job_state state) {
    pthread_mutex_lock(&jobs->lock);
    e->live.state = state;
    e->live.version++;
    e->dirty = 1;
    pthread_cond_broadcast(&jobs->changed);
    pthread_mutex_unlock(&jobs->lock);
}

tsr_store_progress tsr_jobs_progress_of(const job_entry *e) {
    return (tsr_store_progress){.tiles_done = e->live.tiles_done,
                                .tiles_total = e->live.tiles_total,
                                .percent = e->live.percent,
                                .eta_seconds = e->live.eta_seconds,
                                .usage = e->live.usage};
}

/* Writes dirty progress to the store a few times a second. */
static void *flusher_main(void *arg) {
    tsr_jobs *jobs = arg;
    tsr_ctx *ctx = tsr_ctx_new();
    pthread_mutex_lock(&jobs->lock);
    while (!jobs->stopping) {
        struct timespec until = tsr_clock_deadline(CLOCK_REALTIME, 300);
        pthread_cond_timedwait(&jobs->flush_wake, &jobs->lock, &until);
        for (job_entry *e = jobs->entries; e; e = e->next) {
            if (!e->dirty || !e->running)
                continue;
            e->dirty = 0;
            char id[TSR_STORE_ID_LEN + 1];
            memcpy(id, e->id, sizeof id);
            tsr_store_progress p = tsr_jobs_progress_of(e);
            e->refs++;
            pthread_mutex_unlock(&jobs->lock);
            tsr_ctx_reset(ctx);
            tsr_store_job_progress(jobs->store, ctx, id, &p);
            pthread_mutex_lock(&jobs->lock);
            e->refs--;
            pthread_cond_broadcast(&jobs->changed);
        }
    }
    pthread_mutex_unlock(&jobs->lock);
    tsr_ctx_free(ctx);
    return NULL;
}

static void entry_free(job_entry *e) {
    if (!e)
        return;
    tsr_ctx_free(e->ctx);
    free(e);
}

/* Takes e out of the held list and releases its admission. Under lock. */
static void retire(tsr_jobs *jobs, job_entry *e) {
    while (e->refs > 0)
        pthread_cond_wait(&jobs->changed, &jobs->lock);
    for (job_entry **p = &jobs->entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    jobs->pixels_active -= e->pixels;
    jobs->active_count--;
    pthread_cond_broadcast(&jobs->changed);
}

static void *runner_main(void *arg) {
    tsr_jobs *jobs = arg;
    pthread_mutex_lock(&jobs->lock);
    for (;;) {
        job_entry *e = NULL;
        while (!jobs->stopping && !(e = jobs->queue_head))
            pthread_cond_wait(&jobs->queue_ready, &jobs->lock);
        if (jobs->stopping)
            break;
        jobs->queue_head = e->queue_next;
        if (!jobs->queue_head)
            jobs->queue_tail = NULL;
        e->running = 1;
        jobs->running_count++;
        e->started = tsr_clock_mono_s();
        pthread_mutex_unlock(&jobs->lock);

        if (jobs->cfg.on_event)
            jobs->cfg.on_event(jobs->cfg.event_user, e->id, "started", TSR_JOB_RUNNING, 0);
        tsr_job_state final = tsr_jobs_run_one(jobs, e);
        if (jobs->cfg.on_event && final != TSR_JOB_RUNNING)
            jobs->cfg.on_event(jobs->cfg.event_user, e->id, "finished", final,
                               tsr_clock_mono_s() - e->started);

        pthread_mutex_lock(&jobs->lock);
        jobs->running_count--;
        e->running = 0;
        if (final == TSR_JOB_RUNNING) { /* interrupted by stop: resumes next start */
            retire(jobs, e);
            entry_free(e);
            continue;
        }
        double seconds = tsr_clock_mono_s() - e->started;
        jobs->stats.jobs_finished++;
        if ((unsigned) final < TSR_JOB_STATE_COUNT)
            jobs->stats.jobs_ended[final]++;
        jobs->stats.job_seconds_sum += seconds;
        observe(jobs->stats.job_seconds_le, tsr_jobs_job_buckets, seconds);
        e->live.state = final;
        e->live.version++;
        retire(jobs, e);
        entry_free(e);
    }
    pthread_mutex_unlock(&jobs->lock);
    return NULL;
}

tsr_status tsr_jobs_enqueue(tsr_jobs *jobs, tsr_ctx *ctx, const char *id, int64_t owner,
                            uint64_t pixels, bool reserved) {
    job_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->ctx = tsr_ctx_new())) {
        free(e);
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    }
    tsr_ctx_set_limits(e->ctx, &jobs->cfg.limits);
    snprintf(e->id, sizeof e->id, "%s", id);
    e->owner = owner;
    e->pixels = pixels;
    e->jobs = jobs;
    e->live.state = TSR_JOB_QUEUED;
    e->live.eta_seconds = -1;
    e->live.version = 1;
    pthread_mutex_lock(&jobs->lock);
    if (!reserved) {
        jobs->pixels_active += pixels;
        jobs->active_count++;
    }
    e->next = jobs->entries;
    jobs->entries = e;
    if (jobs->queue_tail)
        jobs->queue_tail->queue_next = e;
    else
        jobs->queue_head = e;
    jobs->queue_tail = e;
    pthread_cond_signal(&jobs->queue_ready);
    pthread_mutex_unlock(&jobs->lock);
    return TSR_OK;
}

tsr_status tsr_jobs_start(tsr_ctx *ctx, tsr_store *store, const tsr_jobs_config *config,
                          tsr_jobs **out) {
    *out = NULL;
    tsr_jobs *jobs = calloc(1, sizeof *jobs);
    if (!jobs)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    jobs->store = store;
    if (config)
        jobs->cfg = *config;
    if (jobs->cfg.runners <= 0)
        jobs->cfg.runners = 4;
    if (!jobs->cfg.pixel_budget)
        jobs->cfg.pixel_budget = TSR_JOBS_PIXEL_BUDGET;
    if (jobs->cfg.max_active <= 0)
        jobs->cfg.max_active = 1000;
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_cond_init(&jobs->queue_ready, NULL);
    pthread_cond_init(&jobs->changed, NULL);
    pthread_cond_init(&jobs->flush_wake, NULL);
    tsr_status st = tsr_executor_local_new(ctx, jobs->cfg.threads, &jobs->exec);
    if (st) {
        free(jobs);
        return st;
    }
    st = tsr_jobs_resume(jobs, ctx);
    jobs->runners = calloc((size_t)jobs->cfg.runners, sizeof *jobs->runners);
    if (!st && !jobs->runners)
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    for (int i = 0; !st && i < jobs->cfg.runners; i++) {
        if (pthread_create(&jobs->runners[i], NULL, runner_main, jobs) != 0)
            st = tsr_error(ctx, TSR_ERR_INTERNAL, "could not start job runner %d", i);
        else
            jobs->n_runners++;
    }
    if (!st) {
        if (pthread_create(&jobs->flusher, NULL, flusher_main, jobs) != 0)
            st = tsr_error(ctx, TSR_ERR_INTERNAL, "could not start the progress writer");
        else
            jobs->has_flusher = 1;
    }
    if (!st)
        st = tsr_jobs_lease_start(jobs, ctx);
    if (st) {
        tsr_jobs_stop(jobs);
        return st;
    }
    *out = jobs;
    return TSR_OK;
}

void tsr_jobs_stop(tsr_jobs *jobs) {
    if (!jobs)
        return;
    pthread_mutex_lock(&jobs->lock);
    jobs->stopping = 1;
    for (job_entry *e = jobs->entries; e; e = e->next) {
        e->stopped = 1;
        tsr_jobs_cancel_entry(e);
    }
    pthread_cond_broadcast(&jobs->queue_ready);
    pthread_cond_broadcast(&jobs->flush_wake);
    pthread_cond_broadcast(&jobs->changed);
    pthread_mutex_unlock(&jobs->lock);
    for (int i = 0; i < jobs->n_runners; i++)
        pthread_join(jobs->runners[i], NULL);
    if (jobs->has_flusher)
        pthread_join(jobs->flusher, NULL);
    tsr_jobs_lease_stop(jobs); /* hands the jobs it held over at once */
    while (jobs->entries) {
        job_entry *e = jobs->entries;
        jobs->entries = e->next;
        entry_free(e);
    }
    tsr_executor_free(jobs->exec);
    free(jobs->runners);
    pthread_mutex_destroy(&jobs->lock);
    pthread_cond_destroy(&jobs->queue_ready);
    pthread_cond_destroy(&jobs->changed);
    pthread_cond_destroy(&jobs->flush_wake);
    free(jobs);
}

/* Reserves admission for `pixels`; TSR_ERR_LIMIT with a retry hint when full. */
static tsr_status admit(tsr_jobs *jobs, tsr_ctx *ctx, uint64_t pixels, int *retry_after) {
    tsr_status st = TSR_OK;
    pthread_mutex_lock(&jobs->lock);
    if (pixels > jobs->cfg.pixel_budget) {
        *retry_after = 0;
        st = tsr_error(ctx, TSR_ERR_LIMIT,
                       "the job's images hold %llu pixels, more than this server's budget of "
                       "%llu",
                       (unsigned long long)pixels, (unsigned long long)jobs->cfg.pixel_budget);
    } else if (jobs->active_count >= jobs->cfg.max_active ||
               jobs->pixels_active + pixels > jobs->cfg.pixel_budget) {
        /* Suggest waiting until the first running job should be done. */
        double soonest = -1;
        for (job_entry *e = jobs->entries; e; e = e->next)
            if (e->running && e->live.eta_seconds >= 0 &&
                (soonest < 0 || e->live.eta_seconds < soonest))
                soonest = e->live.eta_seconds;
        *retry_after = soonest < 0 ? 2 : 1 + (int)(soonest > 300 ? 300 : soonest);
        st = tsr_error(ctx, TSR_ERR_LIMIT,
                       "the server is busy (%d active jobs, %llu of %llu pixels in use); "
                       "retry later",
                       jobs->active_count, (unsigned long long)jobs->pixels_active,
                       (unsigned long long)jobs->cfg.pixel_budget);
    } else {
        jobs->pixels_active += pixels;
        jobs->active_count++;
    }
    pthread_mutex_unlock(&jobs->lock);
    return st;
}

static void unadmit(tsr_jobs *jobs, uint64_t pixels) {
    pthread_mutex_lock(&jobs->lock);
    jobs->pixels_active -= pixels;
    jobs->active_count--;
    pthread_mutex_unlock(&jobs->lock);
}

/* {"grayscale":1,"canny":1,...} for the pipeline's ops (the first version
 * of a name the pipeline uses; its pinned JSON form has every step's).
 * Caller frees. */
static char *op_versions_json(const tsr_pipeline *p) {
    tsr_buffer buf = {0};
    tsr_buffer_append(&buf, "{", 1);
    for (int i = 0; i < p->n_ops; i++) {
        char item[128];
        int dup = 0;
        for (int j = 0; j < i; j++)
            dup |= !strcmp(p->ops[j].desc->name, p->ops[i].desc->name);
        if (dup)
            continue;
        snprintf(item, sizeof item, "%s\"%s\":%d", buf.len > 1 ? "," : "", p->ops[i].desc->name,
                 p->ops[i].desc->version);
        tsr_buffer_append(&buf, item, strlen(item));
    }
    if (tsr_buffer_append(&buf, "}", 2)) {
        tsr_buffer_free(&buf);
        return NULL;
    }
    return (char *)buf.data;
}

int tsr_jobs_tile_of(const tsr_jobs *jobs, const tsr_store_job *job) {
    if (job && job->tile > 0)
        return job->tile;
    return jobs->cfg.tile > 0 ? jobs->cfg.tile : TSR_DEFAULT_TILE;
}

tsr_status tsr_jobs_submit(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                           const char *const *image_ids, size_t image_count,
                           const tsr_pipeline *pipeline, tsr_format format, int quality,
                           char id[TSR_STORE_ID_LEN + 1], int *retry_after) {
    tsr_job_settings settings = {.format = format, .quality = quality};
    return tsr_jobs_submit_with(jobs, ctx, caller, image_ids, image_count, pipeline, &settings, id,
                                retry_after);
}

tsr_status tsr_jobs_submit_with(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                                const char *const *image_ids, size_t image_count,
                                const tsr_pipeline *pipeline, const tsr_job_settings *settings,
                                char id[TSR_STORE_ID_LEN + 1], int *retry_after) {
    tsr_format format = settings->format;
    *retry_after = 0;
    if (image_count == 0 || image_count > TSR_STORE_JOB_ITEMS_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "a job takes 1 to %d images (got %zu)",
                         TSR_STORE_JOB_ITEMS_MAX, image_count);
    if (!tsr_format_can_encode(format))
        return tsr_error(ctx, TSR_ERR_USAGE, "cannot write format '%s'", tsr_format_name(format));
    uint64_t pixels = 0;
    for (size_t i = 0; i < image_count; i++) {
        tsr_store_image img;
        int found = 0;
        tsr_status st = tsr_store_image_get(jobs->store, ctx, caller, image_ids[i], &img, &found);
        if (st)
            return st;
        if (!found)
            return tsr_error(ctx, TSR_ERR_USAGE, "image %.40s not found", image_ids[i]);
        pixels += (uint64_t)img.width * img.height;
    }
    tsr_status st = admit(jobs, ctx, pixels, retry_after);
    if (st)
        return st;
    char *text = tsr_pipeline_to_text(pipeline);
    char *json = tsr_pipeline_to_json(pipeline);
    char *versions = op_versions_json(pipeline);
    if (!text || !json || !versions) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (settings->tile && (settings->tile < TSR_TILE_MIN || settings->tile > TSR_TILE_MAX)) {
        st = tsr_error(ctx, TSR_ERR_USAGE, "tile size must be %d..%d (got %d)", TSR_TILE_MIN,
                       TSR_TILE_MAX, settings->tile);
        goto out;
    }
    tsr_store_job_spec spec = {.pipeline_json = json,
                               .pipeline_text = text,
                               .op_versions = versions,
                               .output_format = tsr_output_name(format, settings->layout),
                               .quality = settings->quality,
                               .speed = settings->speed,
                               .image_ids = image_ids,
                               .image_count = image_count,
                               .tessera_version = TESSERA_VERSION,
                               .tile =
                                   settings->tile ? settings->tile : tsr_jobs_tile_of(jobs, NULL),
                               .saved_pipeline = settings->saved_pipeline,
                               .saved_version = settings->saved_version,
                               .frame_pick = settings->frame_set ? settings->frame + 1 : 0};
    if ((st = tsr_jobs_check_frames(jobs, ctx, caller, image_ids, image_count, settings)) ||
        (st = tsr_store_job_create(jobs->store, ctx, caller, &spec, id)))
        goto out;
    st = tsr_jobs_enqueue(jobs, ctx, id, caller->id, pixels, true);
out:
    if (st && !id[0])
        unadmit(jobs, pixels);
    free(text);
    free(json);
    free(versions);
    return st;
}

tsr_status tsr_jobs_cancel(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                           const char *id, int *found) {
    *found = 0;
    tsr_store_job *job = NULL;
    tsr_status st = tsr_store_job_get(jobs->store, ctx, caller, id, &job);
    if (st || !job)
        return st;
    *found = 1;
    tsr_store_job_free(job);
    if ((st = tsr_store_job_set_state(jobs->store, ctx, id, TSR_JOB_CANCELLED, "cancelled", NULL)))
        return st;
    pthread_mutex_lock(&jobs->lock);
    job_entry *e = tsr_jobs_find(jobs, id);
    if (e) {
        e->cancelled = 1;
        tsr_jobs_cancel_entry(e);
        e->live.state = TSR_JOB_CANCELLED;
        e->live.version++;
        pthread_cond_broadcast(&jobs->changed);
    }
    pthread_mutex_unlock(&jobs->lock);
    return TSR_OK;
}

bool tsr_jobs_live(tsr_jobs *jobs, const char *id, tsr_job_live *out) {
    pthread_mutex_lock(&jobs->lock);
    job_entry *e = tsr_jobs_find(jobs, id);
    if (e)
        *out = e->live;
    pthread_mutex_unlock(&jobs->lock);
    return e != NULL;
}

void tsr_jobs_wait(tsr_jobs *jobs, const char *id, uint64_t version, int timeout_ms) {
    struct timespec until = tsr_clock_deadline(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&jobs->lock);
    for (;;) {
        job_entry *e = tsr_jobs_find(jobs, id);
        if (!e || e->live.version != version || jobs->stopping)
            break;
        if (pthread_cond_timedwait(&jobs->changed, &jobs->lock, &until) != 0)
            break;
    }
    pthread_mutex_unlock(&jobs->lock);
}

void tsr_jobs_get_stats(tsr_jobs *jobs, tsr_jobs_stats *out) {
    pthread_mutex_lock(&jobs->lock);
    *out = jobs->stats;
    out->running = (uint64_t)jobs->running_count;
    out->queued = 0;
    for (job_entry *e = jobs->queue_head; e; e = e->queue_next)
        out->queued++;
    out->pixels_active = jobs->pixels_active;
    pthread_mutex_unlock(&jobs->lock);
}
