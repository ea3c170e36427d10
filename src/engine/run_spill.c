/*
 * Spilling: a plan that cannot stream by row windows (rotations, GLOBAL
 * ops, several stages) run in bounded memory on the local pool. Every stage
 * boundary is an uncompressed temporary file (spill.h): the input rows are
 * copied into one as they are decoded (or, when the first stage streams by
 * row windows, its output is), then each stage runs tile by tile, every
 * tile reading only its own input rect from the file before it into a
 * per-thread buffer, and bands of output tiles go in order to the next
 * file or to the row writer. A GLOBAL head reads its input twice: the map
 * tiles into partial summaries, then (after merge and finalize) the apply
 * tiles. The tiles are the plan's own, so the bytes are those of a
 * whole-image run. Memory: per thread a tile's input rect and scratch, two
 * bands of output rows in flight, a GLOBAL op's summary and partials.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/run_internal.h"
#include "engine/spill.h"
#include "util/clock.h"

/* Bytes of input rows copied to the first file at a time (at least a row). */
#define SPILL_COPY_BYTES (16u << 20)

/* Per-worker buffers a tile's input rect is read into, shared by every
 * stage and band of the run: indexed by pool thread, which runs one task
 * at a time whichever batch it belongs to. */
typedef struct tile_inputs {
    uint8_t **buf; /* per worker */
    size_t *size;  /* bytes allocated in each */
} tile_inputs;

/* The whole spilling run. */
typedef struct spill_run {
    tsr_plan *plan;       /* the plan */
    tsr_executor *exec;   /* the local pool, or NULL (this thread) */
    int workers;          /* its threads (1 without) */
    uint64_t budget;      /* the memory budget (bounds a GLOBAL op's partials) */
    run_state top;        /* progress over the whole run; the stages report here */
    tsr_scratch *scratch; /* per worker */
    tile_inputs inputs;   /* per worker */
} spill_run;

/* A batch of tasks that read a stage's input from its file: a band of
 * output tiles, or the map tiles of the stage's GLOBAL head. */
typedef struct file_batch {
    run_state rs;          /* stage, output region, first tile; reports to the run's */
    const tsr_spill *src;  /* the stage input */
    tile_inputs *inputs;   /* where a tile's input rect is read to */
    uint8_t *partials;     /* map: n_partials partial summaries of rs.partial_size */
    int n_partials;        /* at most one per worker */
    pthread_mutex_t *lock; /* map: one per partial when workers share them, else NULL */
} file_batch;

uint64_t tsr_plan_whole_bytes(const tsr_plan *plan) {
    const tsr_stage *s0 = &plan->stages[0];
    uint64_t input = (uint64_t)s0->in_w * (uint64_t)s0->in_h * (uint64_t)s0->in_bands;
    uint64_t peak = 0;
    for (int i = 0; i < plan->n_stages; i++) {
        const tsr_stage *s = &plan->stages[i];
        const tsr_op *head = &plan->ops[s->first];
        uint64_t held = (uint64_t)s->out_w * (uint64_t)s->out_h * (uint64_t)s->out_bands;
        if (i > 0)
            held += (uint64_t)s->in_w * (uint64_t)s->in_h * (uint64_t)s->in_bands;
        if (head->desc->kind == TSR_OP_GLOBAL && head->desc->summary_size)
            held += 2 * (uint64_t)head->desc->summary_size(head);
        if (held > peak)
            peak = held;
    }
    return input + peak;
}

/* Reads rect r of the stage input into the worker's buffer; *reg views it. */
static tsr_status load_rect(file_batch *fb, int worker, tsr_rect r, tsr_region *reg) {
    const tsr_spill *src = fb->src;
    size_t stride = (size_t)(r.w > 0 ? r.w : 0) * (size_t)src->bands;
    *reg = (tsr_region){r, src->bands, stride, NULL, src->image_w, src->image_h};
    if (tsr_rect_empty(r))
        return TSR_OK;
    uint64_t bytes = (uint64_t)stride * (uint64_t)r.h;
    tile_inputs *in = fb->inputs;
    if (in->size[worker] < bytes) {
        tsr_status st = tsr_limits_check_alloc(fb->rs.ctx, "a tile's input rect", bytes);
        if (st)
            return st;
        free(in->buf[worker]);
        in->buf[worker] = malloc((size_t)bytes);
        in->size[worker] = in->buf[worker] ? (size_t)bytes : 0;
        if (!in->buf[worker])
            return tsr_error(fb->rs.ctx, TSR_ERR_NOMEM, "out of memory for a tile's input");
    }
    reg->data = in->buf[worker];
    return tsr_spill_read(src, fb->rs.ctx, r, reg->data, stride);
}

/* Task body of a band: output tile task_base + task, its input from the file. */
static tsr_status apply_task(void *arg, size_t task, int worker) {
    file_batch *fb = arg;
    double t0 = tsr_clock_thread_cpu_s();
    tsr_region in;
    int index = fb->rs.task_base + (int)task;
    tsr_status st =
        load_rect(fb, worker, tsr_stage_tile_input(fb->rs.plan, fb->rs.stage, index), &in);
    return st ? st : tsr_run_tile(&fb->rs, &in, task, worker, t0);
}

/* Task body of the map pass: map tile `task` of the GLOBAL head into the
 * worker's partial (shared, under its lock, when partials are fewer). */
static tsr_status map_task(void *arg, size_t task, int worker) {
    file_batch *fb = arg;
    run_state *rs = &fb->rs;
    double t0 = tsr_clock_thread_cpu_s(), w0 = tsr_clock_mono_s();
    const tsr_op *op = &rs->plan->ops[rs->stage->first];
    tsr_region reg;
    tsr_status st = load_rect(fb, worker, tsr_stage_map_rect(rs->plan, rs->stage, (int)task), &reg);
    if (st)
        return st;
    int slot = worker % fb->n_partials;
    if (fb->lock)
        pthread_mutex_lock(&fb->lock[slot]);
    int on_device = tsr_run_map_tile(rs->scratch[worker].accel, op, &reg,
                                     fb->partials + (size_t)slot * rs->partial_size);
    if (fb->lock)
        pthread_mutex_unlock(&fb->lock[slot]);
    if (on_device)
        tsr_run_device_time(rs, tsr_clock_mono_s() - w0);
    tsr_run_report(rs, tsr_clock_thread_cpu_s() - t0);
    return TSR_OK;
}

/* Map tiles into the partials, then merges them into op->summary. As many
 * partials as workers, fewer when they would pass the memory budget (a
 * canny summary of a gigapixel image is hundreds of MB): workers then
 * share them under a lock. */
static tsr_status map_pass(spill_run *run, file_batch *fb, tsr_op *op, size_t size) {
    const tsr_stage *s = fb->rs.stage;
    size_t part = size ? size : 1;
    uint64_t fit = run->budget / part;
    fb->n_partials = fit < 1 ? 1 : fit < (uint64_t)run->workers ? (int)fit : run->workers;
    fb->rs.partial_size = part;
    fb->partials = calloc((size_t)fb->n_partials, part);
    if (fb->n_partials < run->workers)
        fb->lock = calloc((size_t)fb->n_partials, sizeof *fb->lock);
    tsr_status st = TSR_OK;
    if (!fb->partials || (fb->n_partials < run->workers && !fb->lock))
        st = tsr_error(fb->rs.ctx, TSR_ERR_NOMEM, "%s: out of memory for partial summaries",
                       op->desc->name);
    for (int i = 0; fb->lock && i < fb->n_partials; i++)
        pthread_mutex_init(&fb->lock[i], NULL);
    size_t n = (size_t)s->map_tiles_x * (size_t)s->map_tiles_y;
    if (!st)
        st = tsr_run_tasks(run->exec, fb->rs.ctx, n, map_task, fb);
    for (int w = 0; !st && w < fb->n_partials; w++)
        op->desc->merge(op, op->summary, fb->partials + (size_t)w * part);
    for (int i = 0; fb->lock && i < fb->n_partials; i++)
        pthread_mutex_destroy(&fb->lock[i]);
    free(fb->lock);
    free(fb->partials);
    fb->lock = NULL;
    fb->partials = NULL;
    return st;
}

/* Map, merge and finalize the GLOBAL op at the head of fb's stage, reading
 * its input from the file. finalize gets no whole image (as on remote
 * workers): the summary is all it may use. */
static tsr_status reduce(spill_run *run, file_batch *fb, tsr_op *op) {
    size_t size = op->desc->summary_size ? op->desc->summary_size(op) : 0;
    op->summary = calloc(1, size ? size : 1);
    if (!op->summary)
        return tsr_error(fb->rs.ctx, TSR_ERR_NOMEM, "%s: out of memory for its summary",
                         op->desc->name);
    tsr_status st = op->desc->map ? map_pass(run, fb, op, size) : TSR_OK;
    if (!st && op->desc->finalize)
        st = op->desc->finalize(fb->rs.ctx, op, NULL);
    return st;
}

/* One band of output tiles handed to the pool. */
typedef struct band_job {
    file_batch fb;      /* its batch: first tile, output region */
    uint8_t *out;       /* its output rows */
    tsr_executor *exec; /* the pool */
    int count;          /* tiles in the band */
    int rows_out;       /* output rows of the band */
    pthread_t thread;   /* waits for the band when threaded */
    int busy;           /* launched and not written */
    int threaded;       /* thread must be joined */
    tsr_status status;  /* the band's result */
} band_job;

static void *band_main(void *arg) {
    band_job *j = arg;
    j->status = tsr_run_tasks(j->exec, j->fb.rs.ctx, (size_t)j->count, apply_task, &j->fb);
    return NULL;
}

/* Waits for band j and writes its rows unless `st` is already an error.
 * Returns the first error. */
static tsr_status band_written(band_job *j, rows_io *io, tsr_status st) {
    if (!j->busy)
        return st;
    if (j->threaded)
        pthread_join(j->thread, NULL);
    j->busy = j->threaded = 0;
    if (!st)
        st = j->status;
    if (!st && (st = tsr_rows_write(io, j->out, j->fb.rs.out_region.stride, j->rows_out)))
        st = tsr_error(io->ctx, st, "writing the output failed");
    return st;
}

/* The apply pass of a stage: bands of output tiles, two in flight on the
 * pool (this thread writes one while the other computes), written in order. */
static tsr_status apply_bands(spill_run *run, const file_batch *proto, rows_io *io) {
    const tsr_stage *s = proto->rs.stage;
    int depth = run->exec ? 2 : 1, band_h = s->tile_h;
    size_t stride = (size_t)s->out_w * (size_t)s->out_bands;
    band_job jobs[2];
    memset(jobs, 0, sizeof jobs);
    tsr_status st = TSR_OK;
    for (int i = 0; i < depth && !st; i++)
        if (!(jobs[i].out = malloc(stride * (size_t)band_h)))
            st = tsr_error(io->ctx, TSR_ERR_NOMEM, "out of memory for a band of output rows");
    for (int b = 0; b < s->tiles_y && !st; b++) {
        band_job *j = &jobs[b % depth];
        if ((st = band_written(j, io, st)))
            break;
        int y0 = b * band_h;
        j->rows_out = s->out_h - y0 < band_h ? s->out_h - y0 : band_h;
        j->fb = *proto;
        j->fb.rs.task_base = b * s->tiles_x;
        j->fb.rs.out_region = (tsr_region){tsr_rect_make(0, y0, s->out_w, j->rows_out),
                                           s->out_bands,
                                           stride,
                                           j->out,
                                           s->out_w,
                                           s->out_h};
        j->exec = run->exec;
        j->count = s->tiles_x;
        j->busy = 1;
        j->threaded = depth > 1 && pthread_create(&j->thread, NULL, band_main, j) == 0;
        if (!j->threaded)
            band_main(j); /* no pool, or no thread to spare: here */
    }
    for (int k = 0; k < depth; k++) /* the bands still out, oldest first */
        st = band_written(&jobs[(s->tiles_y + k) % depth], io, st);
    for (int i = 0; i < depth; i++)
        free(jobs[i].out);
    return st;
}

/* Runs stage s from its input file `src` to io (the next file or the
 * writer): the GLOBAL head's reduction first, then the bands. */
static tsr_status run_stage(spill_run *run, const tsr_stage *s, const tsr_spill *src, rows_io *io) {
    file_batch proto;
    memset(&proto, 0, sizeof proto);
    proto.rs.ctx = io->ctx;
    proto.rs.plan = run->plan;
    proto.rs.stage = s;
    proto.rs.opts = run->top.opts;
    proto.rs.scratch = run->scratch;
    proto.rs.parent = &run->top;
    proto.src = src;
    proto.inputs = &run->inputs;
    tsr_op *head = &run->plan->ops[s->first];
    tsr_status st = TSR_OK;
    if (head->desc->kind == TSR_OP_GLOBAL)
        st = reduce(run, &proto, head);
    if (!st)
        st = apply_bands(run, &proto, io);
    return st;
}

/* The part of stage s's input that its tiles read: all of it for a
 * GLOBAL head (its map tiles cover the image), else the union of the
 * tiles' input rects (a crop before a rotation reads a part). */
static tsr_rect stage_reads(const tsr_plan *plan, const tsr_stage *s) {
    if (plan->ops[s->first].desc->kind == TSR_OP_GLOBAL)
        return tsr_rect_make(0, 0, s->in_w, s->in_h);
    int x0 = s->in_w, y0 = s->in_h, x1 = 0, y1 = 0;
    for (int t = 0; t < s->tiles_x * s->tiles_y; t++) {
        tsr_rect r = tsr_stage_tile_input(plan, s, t);
        if (tsr_rect_empty(r))
            continue;
        x0 = r.x < x0 ? r.x : x0;
        y0 = r.y < y0 ? r.y : y0;
        x1 = r.x + r.w > x1 ? r.x + r.w : x1;
        y1 = r.y + r.h > y1 ? r.y + r.h : y1;
    }
    return x1 > x0 && y1 > y0 ? tsr_rect_make(x0, y0, x1 - x0, y1 - y0) : tsr_rect_make(0, 0, 0, 0);
}

/* Copies the part of the input rows the first stage reads into a new
 * file, a few MB at a time: rows above it are decoded and dropped, rows
 * below it are not decoded. */
static tsr_status spill_input(tsr_ctx *ctx, rows_io *io, const tsr_plan *plan, tsr_spill **out) {
    const tsr_stage *s = &plan->stages[0];
    tsr_rect part = stage_reads(plan, s);
    tsr_status st = tsr_spill_new(ctx, part, s->in_w, s->in_h, s->in_bands, out);
    size_t stride = (size_t)s->in_w * (size_t)s->in_bands;
    size_t fit = SPILL_COPY_BYTES / stride;
    int step = fit < 1 ? 1 : fit < WHOLE_ROWS_STEP ? (int)fit : WHOLE_ROWS_STEP;
    uint8_t *rows = st ? NULL : malloc(stride * (size_t)step);
    if (!st && !rows)
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory for input rows");
    int end = part.y + part.h;
    for (int y = 0, n; !st && y < end; y += n) {
        int skip = y < part.y; /* rows above the part: decoded, dropped */
        int until = skip ? part.y : end;
        n = until - y < step ? until - y : step;
        if (tsr_ctx_cancelled(ctx))
            st = TSR_ERR_CANCELLED;
        else if ((st = tsr_rows_read(io, rows, stride, n)))
            st = tsr_error(ctx, st, "reading the input failed");
        else if (!skip)
            st =
                tsr_spill_append(*out, ctx, rows + (size_t)part.x * (size_t)s->in_bands, stride, n);
    }
    free(rows);
    return st;
}

/* The first stage: streamed by row windows into a file when it can, else
 * the input rows copied into one. *src receives the next stage's input
 * and *next its index. */
static tsr_status first_stage(spill_run *run, rows_io *io, tsr_spill **src, int *next) {
    tsr_ctx *ctx = io->ctx;
    const tsr_stage *s0 = &run->plan->stages[0];
    *next = 0;
    if (!tsr_stage_streams(run->plan, s0, run->exec, run->budget))
        return spill_input(ctx, io, run->plan, src);
    tsr_status st = tsr_spill_new(ctx, tsr_rect_make(0, 0, s0->out_w, s0->out_h), s0->out_w,
                                  s0->out_h, s0->out_bands, src);
    io->sink = *src;
    if (!st)
        st = tsr_run_stream_stage(ctx, run->plan, s0, io, run->exec, run->top.opts, &run->top);
    io->sink = NULL;
    *next = 1;
    return st;
}

/* The run's per-worker state; false when out of memory. */
static int run_init(spill_run *run, const tsr_run_options *opts) {
    run->scratch = calloc((size_t)run->workers, sizeof *run->scratch);
    run->inputs.buf = calloc((size_t)run->workers, sizeof *run->inputs.buf);
    run->inputs.size = calloc((size_t)run->workers, sizeof *run->inputs.size);
    if (run->scratch)
        tsr_run_scratch_accel(run->scratch, run->workers, opts);
    return run->scratch && run->inputs.buf && run->inputs.size;
}

static void run_release(spill_run *run) {
    for (int i = 0; i < run->workers; i++) {
        if (run->scratch)
            tsr_scratch_release(&run->scratch[i]);
        if (run->inputs.buf)
            free(run->inputs.buf[i]);
    }
    free(run->scratch);
    free(run->inputs.buf);
    free(run->inputs.size);
}

tsr_status tsr_run_spill(tsr_ctx *ctx, tsr_plan *plan, rows_io *io, tsr_executor *exec,
                         const tsr_run_options *opts) {
    spill_run run;
    memset(&run, 0, sizeof run);
    run.plan = plan;
    run.exec = exec;
    run.workers = exec ? exec->threads : 1;
    run.budget = tsr_run_budget(exec, opts);
    run.top.ctx = ctx;
    run.top.plan = plan;
    run.top.opts = opts;
    pthread_mutex_init(&run.top.progress_lock, NULL);
    tsr_spill *src = NULL, *sink = NULL;
    int i = 0;
    tsr_status st = run_init(&run, opts) ? TSR_OK : tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    if (!st)
        st = first_stage(&run, io, &src, &i);
    for (; !st && i < plan->n_stages; i++) {
        const tsr_stage *s = &plan->stages[i];
        if (i + 1 < plan->n_stages &&
            (st = tsr_spill_new(ctx, tsr_rect_make(0, 0, s->out_w, s->out_h), s->out_w, s->out_h,
                                s->out_bands, &sink)))
            break;
        io->sink = sink;
        st = run_stage(&run, s, src, io);
        io->sink = NULL;
        tsr_spill_free(src);
        src = sink;
        sink = NULL;
        tsr_run_stage_done(&plan->ops[s->first]);
    }
    if (st == TSR_ERR_CANCELLED || tsr_ctx_cancelled(ctx))
        st = tsr_error(ctx, TSR_ERR_CANCELLED, "cancelled");
    tsr_spill_free(src);
    tsr_spill_free(sink);
    run_release(&run);
    pthread_mutex_destroy(&run.top.progress_lock);
    return st;
}
