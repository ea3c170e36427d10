/* Running a plan: stage by stage, GLOBAL reductions first, then fused tiles. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "engine/run_internal.h"
#include "util/clock.h"

void tsr_run_report(run_state *rs, double cpu_seconds) {
    while (rs->parent)
        rs = rs->parent;
    if (!rs->opts || (!rs->opts->progress && !rs->opts->tile_done)) {
        atomic_fetch_add(&rs->done, 1);
        return;
    }
    /* Count under the lock so callbacks see done values in increasing order. */
    pthread_mutex_lock(&rs->progress_lock);
    uint64_t done = atomic_fetch_add(&rs->done, 1) + 1;
    if (rs->opts->tile_done)
        rs->opts->tile_done(rs->opts->progress_user, cpu_seconds);
    if (rs->opts->progress)
        rs->opts->progress(rs->opts->progress_user, done, rs->plan->tasks);
    pthread_mutex_unlock(&rs->progress_lock);
}

tsr_status tsr_run_apply_task(void *arg, size_t task, int worker) {
    run_state *rs = arg;
    return tsr_run_tile(rs, &rs->in_region, task, worker, tsr_clock_thread_cpu_s());
}

tsr_status tsr_run_tile(run_state *rs, const tsr_region *in, size_t task, int worker, double t0) {
    double w0 = tsr_clock_mono_s();
    tsr_status st = tsr_stage_run_tile(rs->plan, rs->stage, in, &rs->out_region,
                                       rs->task_base + (int)task, &rs->scratch[worker], rs->ctx);
    if (st == TSR_ERR_CANCELLED)
        return st; /* the run says "cancelled" once */
    if (!st && rs->scratch[worker].on_device)
        tsr_run_device_time(rs, tsr_clock_mono_s() - w0);
    if (st) {
        const tsr_op *op = &rs->plan->ops[rs->stage->first];
        tsr_rect r = tsr_stage_tile_rect(rs->plan, rs->stage, rs->task_base + (int)task);
        return tsr_error(rs->ctx, st, "stage starting with %s failed on tile %zu (%d,%d %dx%d): %s",
                         op->desc->name, task, r.x, r.y, r.w, r.h, tsr_status_name(st));
    }
    tsr_run_report(rs, tsr_clock_thread_cpu_s() - t0);
    return TSR_OK;
}

void tsr_run_device_time(run_state *rs, double seconds) {
    while (rs->parent)
        rs = rs->parent;
    if (rs->opts && rs->opts->device_done)
        rs->opts->device_done(rs->opts->progress_user, seconds);
}

int tsr_run_map_tile(const tsr_accel *accel, const tsr_op *op, const tsr_region *in,
                     void *partial) {
    if (accel && accel->vt->supports_map && accel->vt->supports_map(accel, op)) {
        tsr_status st = accel->vt->map(accel, op, in, partial);
        if (!st)
            return 1;
        accel->vt->fell_back(accel, op->desc->name, st);
    }
    op->desc->map(op, in, partial);
    return 0;
}

void tsr_run_scratch_accel(tsr_scratch *scratch, int n, const tsr_run_options *opts) {
    for (int i = 0; opts && i < n; i++)
        scratch[i].accel = opts->accel;
}

static tsr_status map_task(void *arg, size_t task, int worker) {
    run_state *rs = arg;
    double t0 = tsr_clock_thread_cpu_s(), w0 = tsr_clock_mono_s();
    const tsr_op *op = &rs->plan->ops[rs->stage->first];
    tsr_rect r = tsr_stage_map_rect(rs->plan, rs->stage, (int)task);
    tsr_region reg = tsr_image_region(rs->in, r);
    if (tsr_run_map_tile(rs->scratch[worker].accel, op, &reg,
                         rs->partials + (size_t)worker * rs->partial_size))
        tsr_run_device_time(rs, tsr_clock_mono_s() - w0);
    tsr_run_report(rs, tsr_clock_thread_cpu_s() - t0);
    return TSR_OK;
}

/* Runs fn over n tasks on exec, or inline on this thread when exec is NULL. */
tsr_status tsr_executor_run_inline(tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg) {
    for (size_t t = 0; t < n; t++) {
        if (tsr_ctx_cancelled(ctx))
            return TSR_ERR_CANCELLED;
        tsr_status st = fn(arg, t, 0);
        if (st)
            return st;
    }
    return TSR_OK;
}

tsr_status tsr_run_tasks(tsr_executor *exec, tsr_ctx *ctx, size_t n, tsr_task_fn fn, void *arg) {
    return exec ? exec->vt->run(exec, ctx, n, fn, arg) : tsr_executor_run_inline(ctx, n, fn, arg);
}

static void batch_done(void *user, double cpu_seconds) {
    tsr_run_report(user, cpu_seconds);
}

static void batch_moved(void *user, uint64_t bytes) {
    run_state *rs = user;
    while (rs->parent)
        rs = rs->parent;
    if (rs->opts && rs->opts->moved)
        rs->opts->moved(rs->opts->progress_user, bytes);
}

static void batch_device(void *user, double seconds) {
    tsr_run_device_time(user, seconds);
}

tsr_tile_batch tsr_run_make_batch(run_state *rs, tsr_tile_kind kind, int first, int count) {
    tsr_tile_batch b = {rs->ctx,
                        rs->plan,
                        (int)(rs->stage - rs->plan->stages),
                        kind,
                        first,
                        count,
                        &rs->in_region,
                        &rs->out_region,
                        NULL,
                        batch_done,
                        rs,
                        batch_moved,
                        rs->opts ? rs->opts->label : NULL,
                        batch_device};
    return b;
}

tsr_status tsr_run_apply_tiles(run_state *rs, tsr_executor *exec, int first, int count) {
    if (exec && exec->vt->run_tiles) {
        tsr_tile_batch b = tsr_run_make_batch(rs, TSR_TILE_APPLY, first, count);
        return exec->vt->run_tiles(exec, &b);
    }
    rs->task_base = first;
    return tsr_run_tasks(exec, rs->ctx, (size_t)count, tsr_run_apply_task, rs);
}

/* Map, merge and finalize the GLOBAL op at the head of stage s. */
static tsr_status reduce(run_state *rs, tsr_executor *exec, int workers, tsr_op *op) {
    size_t size = op->desc->summary_size ? op->desc->summary_size(op) : 0;
    op->summary = calloc(1, size ? size : 1);
    if (!op->summary)
        return tsr_error(rs->ctx, TSR_ERR_NOMEM, "%s: out of memory for its summary",
                         op->desc->name);
    size_t n = (size_t)rs->stage->map_tiles_x * (size_t)rs->stage->map_tiles_y;
    if (op->desc->map && exec && exec->vt->run_tiles) {
        /* Remote: every tile's partial comes back and is merged into the summary. */
        rs->in_region =
            tsr_image_region(rs->in, tsr_rect_make(0, 0, rs->in->width, rs->in->height));
        tsr_tile_batch b = tsr_run_make_batch(rs, TSR_TILE_MAP, 0, (int)n);
        b.acc = op->summary;
        tsr_status st = exec->vt->run_tiles(exec, &b);
        if (st)
            return st;
    } else if (op->desc->map) {
        rs->partial_size = size;
        rs->partials = calloc((size_t)workers, size ? size : 1);
        if (!rs->partials)
            return tsr_error(rs->ctx, TSR_ERR_NOMEM, "%s: out of memory for partial summaries",
                             op->desc->name);
        tsr_status st = tsr_run_tasks(exec, rs->ctx, n, map_task, rs);
        if (!st)
            for (int w = 0; w < workers; w++)
                op->desc->merge(op, op->summary, rs->partials + (size_t)w * size);
        free(rs->partials);
        rs->partials = NULL;
        if (st)
            return st;
    }
    if (op->desc->finalize)
        return op->desc->finalize(rs->ctx, op, rs->in);
    return TSR_OK;
}

void tsr_run_stage_done(tsr_op *head) {
    /* The summary and finalize state are only needed by this stage. */
    if (head->desc->kind == TSR_OP_GLOBAL && !head->desc->describe) {
        if (head->desc->release && head->state)
            head->desc->release(head);
        head->state = NULL;
        free(head->summary);
        head->summary = NULL;
    }
}

tsr_status tsr_plan_run(tsr_ctx *ctx, tsr_plan *plan, const tsr_image *in, tsr_executor *exec,
                        const tsr_run_options *opts, tsr_image **out) {
    *out = NULL;
    const tsr_stage *s0 = &plan->stages[0];
    if (in->width != s0->in_w || in->height != s0->in_h || in->bands != s0->in_bands)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "plan made for %dx%dx%d run on %dx%dx%d", s0->in_w,
                         s0->in_h, s0->in_bands, in->width, in->height, in->bands);
    int workers = exec ? exec->threads : 1;
    run_state rs = {0};
    rs.ctx = ctx;
    rs.plan = plan;
    rs.opts = opts;
    pthread_mutex_init(&rs.progress_lock, NULL);
    rs.scratch = calloc((size_t)workers, sizeof *rs.scratch);
    tsr_status st = TSR_OK;
    const tsr_image *cur = in;
    tsr_image *next = NULL;
    if (!rs.scratch) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    tsr_run_scratch_accel(rs.scratch, workers, opts);
    for (int i = 0; i < plan->n_stages; i++) {
        const tsr_stage *s = &plan->stages[i];
        rs.stage = s;
        rs.in = cur;
        tsr_op *head = &plan->ops[s->first];
        if (head->desc->kind == TSR_OP_GLOBAL && (st = reduce(&rs, exec, workers, head)))
            goto out;
        /* every pixel is written by one of the stage's tiles */
        if ((st = tsr_image_new_overwritten(ctx, s->out_w, s->out_h, s->out_bands, &next)))
            goto out;
        rs.out = next;
        rs.in_region = tsr_image_region(cur, tsr_rect_make(0, 0, cur->width, cur->height));
        rs.out_region = tsr_image_region(next, tsr_rect_make(0, 0, next->width, next->height));
        st = tsr_run_apply_tiles(&rs, exec, 0, s->tiles_x * s->tiles_y);
        if (st)
            goto out;
        if (cur != in)
            tsr_image_free((tsr_image *)cur);
        cur = next;
        next = NULL;
        tsr_run_stage_done(head);
    }
    *out = (tsr_image *)cur;
    cur = in;
out:
    if (st == TSR_ERR_CANCELLED || tsr_ctx_cancelled(ctx))
        st = tsr_error(ctx, TSR_ERR_CANCELLED, "cancelled");
    if (cur != in)
        tsr_image_free((tsr_image *)cur);
    tsr_image_free(next);
    for (int w = 0; rs.scratch && w < workers; w++)
        tsr_scratch_release(&rs.scratch[w]);
    free(rs.scratch);
    pthread_mutex_destroy(&rs.progress_lock);
    return st;
}

tsr_status tsr_pipeline_run(tsr_ctx *ctx, const tsr_pipeline *pipeline, const tsr_image *in,
                            tsr_executor *exec, const tsr_run_options *opts, tsr_image **out) {
    *out = NULL;
    tsr_plan *plan = NULL;
    tsr_status st = tsr_plan_new(ctx, pipeline, in->width, in->height, in->bands,
                                 opts ? opts->tile_size : 0, &plan);
    if (!st)
        st = tsr_plan_run(ctx, plan, in, exec, opts, out);
    tsr_plan_free(plan);
    return st;
}

tsr_status tsr_pipeline_run_reference(tsr_ctx *ctx, const tsr_pipeline *pipeline,
                                      const tsr_image *in, tsr_image **out) {
    *out = NULL;
    tsr_plan *plan = NULL;
    tsr_status st = tsr_plan_new(ctx, pipeline, in->width, in->height, in->bands, -1, &plan);
    if (!st)
        st = tsr_plan_run(ctx, plan, in, NULL, NULL, out);
    tsr_plan_free(plan);
    return st;
}

char *tsr_plan_results_json(const tsr_plan *plan) {
    json_t *ops = json_array();
    for (int i = 0; i < plan->n_ops; i++) {
        const tsr_op *op = &plan->ops[i];
        json_t *entry = json_object();
        json_object_set_new(entry, "op", json_string(op->desc->name));
        if (op->desc->describe) {
            char *text = op->desc->describe(op);
            json_t *result = text ? json_loads(text, 0, NULL) : NULL;
            free(text);
            json_object_set_new(entry, "result", result ? result : json_null());
        }
        json_array_append_new(ops, entry);
    }
    json_t *root = json_object();
    json_object_set_new(root, "ops", ops);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}
