/* A job's images as image tasks on the Redis fleet: the planner's rule, and
 * the senders that keep several images of a job on the fleet at once, each
 * waiting for its worker's completion (see service/image_task.h). The
 * coordinator decodes and encodes nothing here: workers read the inputs
 * from the blob store and write the results there. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/executor_redis.h"
#include "service/image_task.h"
#include "service/jobs_internal.h"
#include "util/clock.h"

/* One image goes as tile tasks only when spreading its compute pays for
 * moving its pixels through the coordinator and Redis: measured with
 * bench/task_kind_crossover.py (docs/scaling.md), tile tasks lost at every
 * size for a light pipeline (0.01 s of compute a megapixel: 1.35x slower at
 * 2 MP, 3.8x at 48 MP) and won at every size for a heavy one (0.45 s a
 * megapixel: 0.78-0.87x the time) on 2 workers. */
#define DEFAULT_TILE_TASK_SECONDS 1.0 /* least compute worth spreading */
#define TILE_TASK_S_PER_MPX       0.1 /* least compute a megapixel that pays for moving it */
#define DEFAULT_IN_FLIGHT         64

bool tsr_jobs_use_image_tasks(tsr_jobs *jobs, const tsr_store_job *job,
                              const tsr_jobs_item_size *sizes) {
    const tsr_jobs_config *c = &jobs->cfg;
    if (!tsr_executor_is_redis(c->executor) || c->task_kind == TSR_TASKS_TILE)
        return false;
    if (c->task_kind == TSR_TASKS_IMAGE)
        return true;
    if (c->image_workers && c->image_workers(c->image_workers_user) == 0)
        return false; /* no worker has a store: tile tasks, which every worker takes */
    size_t left = 0, last = 0;
    for (size_t i = 0; i < job->item_count; i++)
        if (!tsr_job_state_terminal(job->items[i].state)) {
            left++;
            last = i;
        }
    if (left != 1)
        return true;
    /* one image: spread its tiles when it is heavy enough to pay for it */
    double least = c->tile_task_seconds > 0 ? c->tile_task_seconds : DEFAULT_TILE_TASK_SECONDS;
    double compute = sizes[last].cost.compute, mpx = (double)sizes[last].pixels / 1e6;
    return !(compute >= least && mpx > 0 && compute / mpx >= TILE_TASK_S_PER_MPX);
}

/* The state the senders of one job share. */
typedef struct image_batch {
    tsr_jobs *jobs;                  /* the scheduler */
    job_entry *e;                    /* the job's entry */
    const tsr_store_job *job;        /* the job */
    const tsr_jobs_item_size *sizes; /* tiles of each image */
    tsr_jobs_outcome *o;             /* failures */
    int64_t *live;                   /* per image: tiles done of a running image task */
    int64_t base;                    /* tiles of the images finished, this run's included */
    double work_base;                /* work units of the images finished */
    size_t next;                     /* next item to take (jobs->lock) */
} image_batch;

/* Publishes the job's tiles done: finished images plus the live counts.
 * jobs->lock held. */
static void publish(image_batch *b) {
    int64_t done = b->base;
    double work = b->work_base; /* a running image: its units in proportion to its tiles */
    for (size_t i = 0; i < b->job->item_count; i++) {
        done += b->live[i];
        if (b->sizes[i].tiles > 0)
            work += tsr_work_cost_total(&b->sizes[i].cost) * (double)b->live[i] /
                    (double)b->sizes[i].tiles;
    }
    tsr_jobs_set_done(b->e, done, work);
}

/* One image task's progress callback (on the executor's reader thread). */
typedef struct item_progress {
    image_batch *b; /* the job */
    size_t item;    /* the image */
} item_progress;

static void on_progress(void *user, uint64_t done, uint64_t total) {
    item_progress *p = user;
    image_batch *b = p->b;
    int64_t cap = b->sizes[p->item].tiles;
    (void)total;
    pthread_mutex_lock(&b->jobs->lock);
    b->live[p->item] = (int64_t)done < cap ? (int64_t)done : cap;
    publish(b);
    pthread_mutex_unlock(&b->jobs->lock);
}

/* Sends image `i` as an image task and waits for its completion into `c`. */
static tsr_status send_image(image_batch *b, tsr_ctx *ctx, size_t i, const char *result,
                             tsr_buffer *payload, tsr_buffer *done, tsr_image_completion *c,
                             uint64_t *in_bytes) {
    tsr_jobs *jobs = b->jobs;
    const tsr_store_job *job = b->job;
    tsr_store_image img;
    tsr_status st = tsr_jobs_image_record(jobs, ctx, job->items[i].image, &img);
    if (st)
        return st;
    *in_bytes = img.bytes;
    char label[96];
    snprintf(label, sizeof label, "image %s", job->items[i].image);
    tsr_image_task_spec spec = {.input = img.blob,
                                .result = result,
                                .pipeline_json = job->pipeline_json,
                                .format = job->output_format,
                                .quality = job->quality,
                                .frame = job->frame,
                                .speed = job->speed,
                                .tile = tsr_jobs_tile_of(jobs, job),
                                .limits = &jobs->cfg.limits,
                                .label = label};
    if ((st = tsr_image_task_encode(ctx, &spec, payload)))
        return st;
    item_progress p = {b, i};
    tsr_image_task task = {.ctx = ctx,
                           .label = label,
                           .payload = payload->data,
                           .len = payload->len,
                           .progress = on_progress,
                           .progress_user = &p};
    if ((st = tsr_executor_redis_run_image(jobs->cfg.executor, &task, done)) ||
        (st = tsr_image_completion_decode(ctx, done->data, done->len, c)))
        return st;
    if (strcmp(c->blob, result))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "%s: the worker wrote another blob", label);
    return TSR_OK;
}

/* Runs image `i` on the fleet and records its result or failure. Returns
 * false when the job was cancelled or stopped meanwhile. */
static bool run_image(image_batch *b, tsr_ctx *ctx, size_t i) {
    tsr_jobs *jobs = b->jobs;
    const tsr_store_job *job = b->job;
    double t0 = tsr_clock_mono_s();
    char result[TSR_STORE_ID_LEN + 1];
    tsr_image_result_id(job->id, (int)i, result);
    tsr_store_job_item_set_state(jobs->store, ctx, job->id, (int)i, TSR_JOB_RUNNING, NULL, NULL);
    tsr_buffer payload = {0}, done = {0};
    tsr_image_completion c;
    uint64_t in_bytes = 0;
    tsr_status st = send_image(b, ctx, i, result, &payload, &done, &c, &in_bytes);
    size_t sent = payload.len, got = done.len; /* task and completion through Redis */
    tsr_buffer_free(&payload);
    tsr_buffer_free(&done);
    if (st == TSR_ERR_CANCELLED || tsr_ctx_cancelled(ctx))
        return false;
    if (!st) {
        tsr_store_item_result res = {c.blob,
                                     c.bytes,
                                     job->output_format,
                                     (uint32_t)c.width,
                                     (uint32_t)c.height,
                                     tsr_clock_mono_s() - t0};
        int changed = 0; /* unchanged: recorded before, under the same id */
        st = tsr_store_job_item_result(jobs->store, ctx, job->id, (int)i, &res, &changed);
    }
    if (st) {
        tsr_jobs_item_failed(jobs, b->e, job, (int)i, tsr_ctx_message(ctx), b->o);
    } else {
        tsr_job_usage used = {.cpu_seconds = c.cpu_seconds,
                              .gpu_seconds = c.gpu_seconds,
                              .read_bytes = (int64_t)in_bytes,
                              .written_bytes = (int64_t)c.bytes,
                              .network_bytes = (int64_t)(sent + got),
                              .peak_pixels =
                                  (int64_t)b->sizes[i].pixels + (int64_t)c.width * c.height};
        tsr_jobs_on_image(b->e, c.tiles, &used);
    }
    pthread_mutex_lock(&jobs->lock);
    b->live[i] = 0;
    b->base += b->sizes[i].tiles;
    b->work_base += tsr_work_cost_total(&b->sizes[i].cost);
    publish(b);
    pthread_mutex_unlock(&jobs->lock);
    return true;
}

/* Registers `ctx` with the job's entry so cancelling the job cancels it
 * too; returns false when the job is cancelled or stopping already. */
static bool join(image_batch *b, tsr_ctx *ctx) {
    tsr_jobs *jobs = b->jobs;
    job_entry *e = b->e;
    pthread_mutex_lock(&jobs->lock);
    bool ok = !e->cancelled && !e->stopped && e->n_senders < TSR_JOBS_SENDERS_MAX;
    if (ok)
        e->senders[e->n_senders++] = ctx;
    pthread_mutex_unlock(&jobs->lock);
    return ok;
}

static void leave(image_batch *b, tsr_ctx *ctx) {
    job_entry *e = b->e;
    pthread_mutex_lock(&b->jobs->lock);
    for (int i = 0; i < e->n_senders; i++)
        if (e->senders[i] == ctx)
            e->senders[i] = e->senders[--e->n_senders];
    pthread_mutex_unlock(&b->jobs->lock);
}

/* A sender: takes the job's next unfinished image until none is left. */
static void *sender_main(void *arg) {
    image_batch *b = arg;
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx || !join(b, ctx)) {
        tsr_ctx_free(ctx);
        return NULL;
    }
    tsr_ctx_set_limits(ctx, &b->jobs->cfg.limits);
    for (;;) {
        pthread_mutex_lock(&b->jobs->lock);
        while (b->next < b->job->item_count && tsr_job_state_terminal(b->job->items[b->next].state))
            b->next++;
        size_t i = b->next < b->job->item_count ? b->next++ : SIZE_MAX;
        pthread_mutex_unlock(&b->jobs->lock);
        tsr_ctx_reset(ctx);
        if (i == SIZE_MAX || tsr_ctx_cancelled(b->e->ctx) || !run_image(b, ctx, i))
            break;
    }
    leave(b, ctx);
    tsr_ctx_free(ctx);
    return NULL;
}

void tsr_jobs_run_images(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job,
                         const tsr_jobs_item_size *sizes, tsr_jobs_outcome *o) {
    image_batch b = {.jobs = jobs, .e = e, .job = job, .sizes = sizes, .o = o};
    size_t left = 0;
    for (size_t i = 0; i < job->item_count; i++) {
        if (job->items[i].state == TSR_JOB_SUCCEEDED) {
            b.base += sizes[i].tiles;
            b.work_base += tsr_work_cost_total(&sizes[i].cost);
        }
        left += !tsr_job_state_terminal(job->items[i].state);
    }
    int want =
        jobs->cfg.image_tasks_in_flight > 0 ? jobs->cfg.image_tasks_in_flight : DEFAULT_IN_FLIGHT;
    if (want > TSR_JOBS_SENDERS_MAX)
        want = TSR_JOBS_SENDERS_MAX;
    size_t n = left < (size_t)want ? left : (size_t)want;
    pthread_t *th = calloc(n ? n : 1, sizeof *th);
    if (!(b.live = calloc(job->item_count ? job->item_count : 1, sizeof *b.live)) || !th) {
        free(b.live);
        free(th);
        tsr_jobs_item_failed(jobs, e, job, 0, "out of memory starting image tasks", o);
        return;
    }
    size_t started = 0;
    for (; started < n; started++)
        if (pthread_create(&th[started], NULL, sender_main, &b))
            break;
    if (n && !started) /* no thread at all: run them on this one */
        sender_main(&b);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    free(b.live);
}
