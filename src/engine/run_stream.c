/*
 * Running a plan between a row reader and a row writer. A single-stage plan
 * whose bands of output tiles read monotonically advancing input rows runs
 * band by band over a sliding window of input rows: memory is a window of
 * (tile + halo) input rows plus one band of output rows, whatever the image
 * height. Other plans (GLOBAL ops, rotations whose bands read most of the
 * image, several stages) hold whole images when they fit the run's memory
 * budget, else spill their stage boundaries to temporary files
 * (run_spill.c); the bytes are the same. With an executor, several bands
 * are in flight at once, each with its own buffer of the input rows it
 * reads (the rows it shares with the band before it are copied from that
 * band's buffer, the new ones are decoded straight into it), and each band's
 * thread writes its rows in band order, so that this thread decodes while
 * the pool or the remote workers compute and another thread encodes.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/run_internal.h"
#include "engine/spill.h"
#include "tessera/stream.h"
#include "util/clock.h"

/* Input rows [lo, hi) each output band reads; hi <= lo when it reads none. */
typedef struct band_rows {
    int lo; /* first input row */
    int hi; /* one past the last */
} band_rows;

/* Fills rows[] for every band of stage s; returns the largest window, or -1
 * when the bands do not advance monotonically (then streaming is pointless). */
static int plan_bands(const tsr_plan *plan, const tsr_stage *s, band_rows *rows) {
    int window = 0, prev_lo = 0, prev_hi = 0;
    for (int b = 0; b < s->tiles_y; b++) {
        int lo = s->in_h, hi = 0;
        for (int t = 0; t < s->tiles_x; t++) {
            tsr_rect r = tsr_stage_tile_input(plan, s, b * s->tiles_x + t);
            if (tsr_rect_empty(r))
                continue;
            if (r.y < lo)
                lo = r.y;
            if (r.y + r.h > hi)
                hi = r.y + r.h;
        }
        rows[b].lo = lo;
        rows[b].hi = hi;
        if (hi <= lo)
            continue;
        if (lo < prev_lo || hi < prev_hi)
            return -1;
        prev_lo = lo;
        prev_hi = hi;
        if (hi - lo > window)
            window = hi - lo;
    }
    return window;
}

/* Reports the rows decoded and encoded: a reader that does not stream
 * decoded every row when it was opened, a writer that does not stream
 * encodes at finish (after this run). */
static void io_report(const rows_io *io) {
    if (!io->opts || !io->opts->rows)
        return;
    int h, unused;
    tsr_row_reader_shape(io->reader, &unused, &h, &unused);
    io->opts->rows(io->opts->progress_user, tsr_row_reader_streams(io->reader) ? io->read : h,
                   tsr_row_writer_streams(io->writer) ? io->written : 0);
}

/* Counts n rows read (or written) and reports. */
static void io_count(rows_io *io, int *counter, int n) {
    if (io->lock)
        pthread_mutex_lock(io->lock);
    *counter += n;
    io_report(io);
    if (io->lock)
        pthread_mutex_unlock(io->lock);
}

tsr_status tsr_rows_read(rows_io *io, uint8_t *dst, size_t stride, int n) {
    tsr_status st = tsr_row_reader_read(io->reader, dst, stride, n);
    if (!st)
        io_count(io, &io->read, n);
    return st;
}

tsr_status tsr_rows_write(rows_io *io, const uint8_t *src, size_t stride, int n) {
    if (io->sink) /* a stage boundary: not the run's output rows */
        return tsr_spill_append(io->sink, io->ctx, src, stride, n);
    tsr_status st = tsr_row_writer_write(io->writer, src, stride, n);
    if (!st)
        io_count(io, &io->written, n);
    return st;
}

/* Refuses, before reading a row, a whole-image run one of whose images
 * (the input, a stage output) passes the single-buffer cap. */
static tsr_status check_whole(tsr_ctx *ctx, const tsr_plan *plan, const tsr_executor *exec) {
    for (int i = 0; i < plan->n_stages; i++) {
        const tsr_stage *s = &plan->stages[i];
        for (int k = 0; k < 2; k++) {
            int w = k ? s->out_w : s->in_w, h = k ? s->out_h : s->in_h;
            int b = k ? s->out_bands : s->in_bands;
            if ((uint64_t)w * (uint64_t)h * (uint64_t)b <= tsr_ctx_limits(ctx)->max_alloc)
                continue;
            char what[256];
            snprintf(what, sizeof what,
                     "this plan cannot stream by rows and runs on whole images (%s), the "
                     "%dx%dx%d %s",
                     exec && exec->vt->run_tiles ? "remote workers take tiles of whole images"
                     : plan->tile == -1          ? "one tile per image"
                                                 : "the memory budget holds them",
                     w, h, b, k ? "stage output" : "stage input");
            return tsr_limits_check_alloc(ctx, what, (uint64_t)w * (uint64_t)h * (uint64_t)b);
        }
    }
    return TSR_OK;
}

/* Whole-image fallback: read everything, run, write everything. */
static tsr_status run_whole(tsr_ctx *ctx, tsr_plan *plan, rows_io *io, tsr_executor *exec,
                            const tsr_run_options *opts) {
    const tsr_stage *s0 = &plan->stages[0];
    tsr_image *in = NULL, *out = NULL;
    tsr_status st = check_whole(ctx, plan, exec);
    if (!st)
        st = tsr_image_new(ctx, s0->in_w, s0->in_h, s0->in_bands, &in);
    for (int y = 0; !st && y < s0->in_h; y += WHOLE_ROWS_STEP) {
        int n = s0->in_h - y < WHOLE_ROWS_STEP ? s0->in_h - y : WHOLE_ROWS_STEP;
        if ((st = tsr_rows_read(io, in->data + (size_t)y * in->stride, in->stride, n)))
            st = tsr_error(ctx, st, "reading the input failed");
    }
    if (!st)
        st = tsr_plan_run(ctx, plan, in, exec, opts, &out);
    tsr_image_free(in);
    for (int y = 0; !st && y < out->height; y += WHOLE_ROWS_STEP) {
        int n = out->height - y < WHOLE_ROWS_STEP ? out->height - y : WHOLE_ROWS_STEP;
        if ((st = tsr_rows_write(io, out->data + (size_t)y * out->stride, out->stride, n)))
            st = tsr_error(ctx, st, "writing the output failed");
    }
    tsr_image_free(out);
    return st;
}

/* Moves the window so it holds input rows [lo, hi): drops rows above lo,
 * reads (and, past a gap, skips) rows up to hi. */
static tsr_status slide_window(tsr_ctx *ctx, rows_io *io, uint8_t *win, size_t stride, int capacity,
                               int *win_lo, int *win_hi, int lo, int hi) {
    tsr_status st = TSR_OK;
    if (lo >= *win_hi) {
        /* Skip rows nobody reads, a window-full at a time. */
        while (*win_hi < lo && !st) {
            int n = lo - *win_hi < capacity ? lo - *win_hi : capacity;
            st = tsr_rows_read(io, win, stride, n);
            *win_hi += n;
        }
        *win_lo = *win_hi;
    } else if (lo > *win_lo) {
        memmove(win, win + (size_t)(lo - *win_lo) * stride, (size_t)(*win_hi - lo) * stride);
        *win_lo = lo;
    }
    if (!st && hi > *win_hi) {
        st = tsr_rows_read(io, win + (size_t)(*win_hi - *win_lo) * stride, stride, hi - *win_hi);
        *win_hi = hi;
    }
    if (st)
        return tsr_error(ctx, st, "reading the input failed");
    return TSR_OK;
}

/* Bands in flight: enough that the workers always have the next band while
 * this thread writes one and reads another. Remote workers wait on round
 * trips, so they get one more. */
#define BANDS_LOCAL  2
#define BANDS_REMOTE 3
#define BANDS_MAX    3

/* The order bands write in: each band's thread writes its rows itself,
 * after the band before it, so that encoding (on that thread) overlaps
 * decoding the next band (on the run's thread). */
typedef struct band_order {
    pthread_mutex_t lock; /* also rows_io.lock: the counters and the progress report */
    pthread_cond_t turn;  /* signalled when `next` moves */
    int next;             /* the band whose rows go out next */
    tsr_status failed;    /* the first error: later bands write nothing */
} band_order;

/* One band handed to the executor. */
typedef struct band_slot {
    uint8_t *in;        /* its own copy of the input rows it reads */
    uint8_t *out;       /* its output rows */
    run_state rs;       /* its regions and first tile; progress goes to the run's */
    tsr_executor *exec; /* the executor */
    int first;          /* first tile of the band */
    int count;          /* tiles in the band */
    pthread_t thread;   /* runs the band when threaded */
    int busy;           /* launched and not finished */
    int threaded;       /* thread must be joined */
    int rows_out;       /* output rows of the band */
    int index;          /* its band number: its turn to write */
    band_order *order;  /* the run's write order */
    rows_io *io;        /* where its rows go */
    tsr_status status;  /* the band's result */
    int write_failed;   /* status is the writer's */
    int on_caller;      /* runs on the caller's thread (no thread to spare) */
} band_slot;

/* Marks the run failed (bands not yet written skip their rows). */
static void band_order_fail(band_order *order, tsr_status st) {
    pthread_mutex_lock(&order->lock);
    if (!order->failed)
        order->failed = st;
    pthread_mutex_unlock(&order->lock);
}

/* Waits for the band's turn, writes its rows unless this or an earlier
 * band failed, and passes the turn on. */
static void band_write_in_turn(band_slot *slot) {
    band_order *order = slot->order;
    pthread_mutex_lock(&order->lock);
    while (order->next != slot->index)
        pthread_cond_wait(&order->turn, &order->lock);
    int go = !order->failed && !slot->status;
    pthread_mutex_unlock(&order->lock);
    double cpu0 = tsr_clock_thread_cpu_s();
    if (go && (slot->status =
                   tsr_rows_write(slot->io, slot->out, slot->rs.out_region.stride, slot->rows_out)))
        slot->write_failed = 1;
    double *cpu = slot->rs.opts ? slot->rs.opts->write_cpu_seconds : NULL;
    pthread_mutex_lock(&order->lock);
    if (cpu && !slot->on_caller) /* the caller's thread counts its own */
        *cpu += tsr_clock_thread_cpu_s() - cpu0;
    if (slot->status && !order->failed)
        order->failed = slot->status;
    order->next++;
    pthread_cond_broadcast(&order->turn);
    pthread_mutex_unlock(&order->lock);
}

static void *band_main(void *arg) {
    band_slot *slot = arg;
    slot->status = tsr_run_apply_tiles(&slot->rs, slot->exec, slot->first, slot->count);
    band_write_in_turn(slot);
    return NULL;
}

/* Waits for the band in `slot` (computed and written). Returns the first
 * error of `st` and the band's. */
static tsr_status band_finish(tsr_ctx *ctx, band_slot *slot, tsr_status st) {
    if (!slot->busy)
        return st;
    if (slot->threaded)
        pthread_join(slot->thread, NULL);
    slot->busy = slot->threaded = 0;
    if (!st && slot->status)
        st = slot->write_failed ? tsr_error(ctx, slot->status, "writing the output failed")
                                : slot->status;
    return st;
}

/* Fills `dst` with input rows [lo, hi) of a band: the rows it shares with
 * the last band that read rows (`prev`, rows [prev_lo, prev_hi); its buffer
 * is only read, so it may still be computing) are copied from there, the
 * rest are read from `reader`, skipping rows nobody reads. *next_row is the
 * reader's position. */
static tsr_status fill_band(tsr_ctx *ctx, rows_io *io, size_t stride, uint8_t *dst, int capacity,
                            int lo, int hi, const uint8_t *prev, int prev_lo, int prev_hi,
                            int *next_row) {
    tsr_status st = TSR_OK;
    int have = lo; /* rows [lo, have) are in dst */
    if (prev && lo >= prev_lo && lo < prev_hi) {
        have = prev_hi < hi ? prev_hi : hi;
        memmove(dst, prev + (size_t)(lo - prev_lo) * stride, (size_t)(have - lo) * stride);
    }
    if (have < hi) {
        /* Rows nobody reads: through dst's free part, a buffer-full at a time. */
        uint8_t *free_rows = dst + (size_t)(have - lo) * stride;
        int room = capacity - (have - lo);
        while (!st && *next_row < have) {
            int n = have - *next_row < room ? have - *next_row : room;
            st = tsr_rows_read(io, free_rows, stride, n);
            *next_row += n;
        }
        if (!st && *next_row != have)
            return tsr_error(ctx, TSR_ERR_INTERNAL, "bands read rows %d.. after row %d", have,
                             *next_row);
        if (!st)
            st = tsr_rows_read(io, free_rows, stride, hi - have);
        *next_row = hi;
    }
    if (st)
        return tsr_error(ctx, st, "reading the input failed");
    return TSR_OK;
}

/* Starts band b (its input rows [lo, hi) are in slot->in) on its own
 * thread, or on this one when no thread can be made. */
static void band_launch(band_slot *slot, run_state *rs, tsr_executor *exec, int b, int lo, int hi) {
    const tsr_stage *s = rs->stage;
    int band_h = s->tile_h, y0 = b * band_h;
    band_order *order = slot->order;
    slot->rows_out = s->out_h - y0 < band_h ? s->out_h - y0 : band_h;
    slot->rs = (run_state){0};
    slot->rs.ctx = rs->ctx;
    slot->rs.plan = rs->plan;
    slot->rs.stage = s;
    slot->rs.opts = rs->opts;
    slot->rs.scratch = rs->scratch; /* by pool thread: one task at a time each */
    slot->rs.parent = rs;
    slot->rs.in_region = (tsr_region){tsr_rect_make(0, lo, s->in_w, hi - lo),
                                      s->in_bands,
                                      (size_t)s->in_w * (size_t)s->in_bands,
                                      slot->in,
                                      s->in_w,
                                      s->in_h};
    slot->rs.out_region = (tsr_region){tsr_rect_make(0, y0, s->out_w, slot->rows_out),
                                       s->out_bands,
                                       (size_t)s->out_w * (size_t)s->out_bands,
                                       slot->out,
                                       s->out_w,
                                       s->out_h};
    slot->exec = exec;
    slot->first = b * s->tiles_x;
    slot->count = s->tiles_x;
    slot->index = b;
    slot->order = order;
    slot->write_failed = 0;
    slot->busy = 1;
    slot->on_caller = 0;
    slot->threaded = pthread_create(&slot->thread, NULL, band_main, slot) == 0;
    if (!slot->threaded) {
        slot->on_caller = 1;
        band_main(slot); /* no thread to spare: run it here */
    }
}

/* The band loop: up to `depth` bands run at once on `exec`, finished and
 * written in order. rs holds the run's progress and scratch. */
static tsr_status run_bands(run_state *rs, tsr_executor *exec, int depth, rows_io *io,
                            const band_rows *rows, int window) {
    const tsr_stage *s = rs->stage;
    int band_h = rs->stage->tile_h;
    size_t in_stride = (size_t)s->in_w * (size_t)s->in_bands;
    size_t out_stride = (size_t)s->out_w * (size_t)s->out_bands;
    band_slot slots[BANDS_MAX];
    memset(slots, 0, sizeof slots);
    band_order order = {.next = 0};
    pthread_mutex_init(&order.lock, NULL);
    pthread_cond_init(&order.turn, NULL);
    io->lock = &order.lock;
    tsr_status st = TSR_OK;
    for (int i = 0; i < depth && !st; i++) {
        slots[i].order = &order;
        slots[i].io = io;
        slots[i].in = malloc(in_stride * (size_t)(window > 0 ? window : 1));
        slots[i].out = malloc(out_stride * (size_t)band_h);
        if (!slots[i].in || !slots[i].out)
            st = tsr_error(rs->ctx, TSR_ERR_NOMEM, "out of memory for bands in flight");
    }
    const uint8_t *prev = NULL; /* input rows of the last band that read any */
    int prev_lo = 0, prev_hi = 0, next_row = 0;
    for (int b = 0; b < s->tiles_y && !st; b++) {
        band_slot *slot = &slots[b % depth];
        if ((st = band_finish(rs->ctx, slot, st)))
            break;
        int lo = rows[b].lo, hi = rows[b].hi;
        if (hi > lo) {
            if ((st = fill_band(rs->ctx, io, in_stride, slot->in, window, lo, hi, prev, prev_lo,
                                prev_hi, &next_row)))
                break;
            prev = slot->in, prev_lo = lo, prev_hi = hi;
        } else {
            lo = hi = 0; /* its tiles read no input */
        }
        band_launch(slot, rs, exec, b, lo, hi);
    }
    if (st) /* the bands still out write nothing */
        band_order_fail(&order, st);
    /* The bands still out, oldest first. */
    for (int k = 0; k < depth; k++)
        st = band_finish(rs->ctx, &slots[(s->tiles_y + k) % depth], st);
    io->lock = NULL;
    pthread_mutex_destroy(&order.lock);
    pthread_cond_destroy(&order.turn);
    for (int i = 0; i < depth; i++) {
        free(slots[i].in);
        free(slots[i].out);
    }
    return st;
}

/* Rows of output tiles, serially on this thread: one window of input rows
 * and one band of output rows. */
static tsr_status run_serial(run_state *rs, rows_io *io, const band_rows *rows, int window) {
    const tsr_stage *s = rs->stage;
    int band_h = rs->stage->tile_h;
    size_t in_stride = (size_t)s->in_w * (size_t)s->in_bands;
    size_t out_stride = (size_t)s->out_w * (size_t)s->out_bands;
    uint8_t *win = malloc(in_stride * (size_t)(window > 0 ? window : 1));
    uint8_t *band = malloc(out_stride * (size_t)band_h);
    tsr_status st = TSR_OK;
    if (!win || !band)
        st = tsr_error(rs->ctx, TSR_ERR_NOMEM, "out of memory for the row window");
    int win_lo = 0, win_hi = 0;
    for (int b = 0; b < s->tiles_y && !st; b++) {
        if (rows[b].hi > rows[b].lo &&
            (st = slide_window(rs->ctx, io, win, in_stride, window, &win_lo, &win_hi, rows[b].lo,
                               rows[b].hi)))
            break;
        int y0 = b * band_h;
        int rows_out = s->out_h - y0 < band_h ? s->out_h - y0 : band_h;
        rs->in_region = (tsr_region){tsr_rect_make(0, win_lo, s->in_w, win_hi - win_lo),
                                     s->in_bands,
                                     in_stride,
                                     win,
                                     s->in_w,
                                     s->in_h};
        rs->out_region = (tsr_region){tsr_rect_make(0, y0, s->out_w, rows_out),
                                      s->out_bands,
                                      out_stride,
                                      band,
                                      s->out_w,
                                      s->out_h};
        st = tsr_run_apply_tiles(rs, NULL, b * s->tiles_x, s->tiles_x);
        if (!st && (st = tsr_rows_write(io, band, out_stride, rows_out)))
            st = tsr_error(rs->ctx, st, "writing the output failed");
    }
    free(win);
    free(band);
    return st;
}

/* Bands in flight on `exec`: one serially, more on a pool. */
static int bands_in_flight(const tsr_executor *exec) {
    return !exec ? 1 : exec->vt->run_tiles ? BANDS_REMOTE : BANDS_LOCAL;
}

/* The memory budget of a run on `exec`: a remote executor cannot spill, so
 * none binds it (a window still beats the whole image). */
uint64_t tsr_run_budget(const tsr_executor *exec, const tsr_run_options *opts) {
    if (exec && exec->vt->run_tiles)
        return UINT64_MAX;
    return opts && opts->memory_budget ? opts->memory_budget : TSR_DEFAULT_MEMORY_BUDGET;
}

/* The bands' input rows of stage s into a new array (caller frees) and
 * the largest window; NULL when the stage does not stream by rows: a
 * GLOBAL head, bands that go back up, a window not much smaller than the
 * image, or windows and bands in flight over the budget (a rotation of a
 * wide image reads half its rows per band). */
static band_rows *stream_bands(const tsr_plan *plan, const tsr_stage *s, const tsr_executor *exec,
                               uint64_t budget, int *window) {
    if (plan->tile == -1 || plan->ops[s->first].desc->kind == TSR_OP_GLOBAL)
        return NULL;
    band_rows *rows = calloc((size_t)s->tiles_y, sizeof *rows);
    if (!rows)
        return NULL;
    *window = plan_bands(plan, s, rows);
    uint64_t held = (uint64_t)(*window > 0 ? *window : 0) * (uint64_t)s->in_w * s->in_bands +
                    (uint64_t)s->tile_h * (uint64_t)s->out_w * s->out_bands;
    if (*window < 0 || (size_t)*window * 2 > (size_t)s->in_h + 1024 ||
        held > budget / (uint64_t)bands_in_flight(exec)) {
        free(rows);
        return NULL;
    }
    return rows;
}

int tsr_stage_streams(const tsr_plan *plan, const tsr_stage *s, const tsr_executor *exec,
                      uint64_t budget) {
    int window;
    band_rows *rows = stream_bands(plan, s, exec, budget, &window);
    free(rows);
    return rows != NULL;
}

tsr_status tsr_run_stream_stage(tsr_ctx *ctx, tsr_plan *plan, const tsr_stage *s, rows_io *io,
                                tsr_executor *exec, const tsr_run_options *opts,
                                run_state *parent) {
    int window = 0;
    band_rows *rows = stream_bands(plan, s, exec, tsr_run_budget(exec, opts), &window);
    if (!rows)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "a stage that cannot stream run by rows");
    int workers = exec ? exec->threads : 1;
    run_state rs = {0};
    rs.ctx = ctx;
    rs.plan = plan;
    rs.stage = s;
    rs.opts = opts;
    rs.parent = parent;
    pthread_mutex_init(&rs.progress_lock, NULL);
    rs.scratch = calloc((size_t)workers, sizeof *rs.scratch);
    tsr_status st = TSR_OK;
    if (!rs.scratch) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory for the row window");
    } else {
        tsr_run_scratch_accel(rs.scratch, workers, opts);
        if (exec)
            st = run_bands(&rs, exec, exec->vt->run_tiles ? BANDS_REMOTE : BANDS_LOCAL, io, rows,
                           window);
        else
            st = run_serial(&rs, io, rows, window);
    }
    if (st == TSR_ERR_CANCELLED || tsr_ctx_cancelled(ctx))
        st = tsr_error(ctx, TSR_ERR_CANCELLED, "cancelled");
    for (int i = 0; rs.scratch && i < workers; i++)
        tsr_scratch_release(&rs.scratch[i]);
    free(rs.scratch);
    pthread_mutex_destroy(&rs.progress_lock);
    free(rows);
    return st;
}

/* Whether a plan that cannot stream should spill: on the local pool (or
 * none), tiled, when holding its images whole would pass the budget or one
 * of them the single-buffer cap (a budget raised past it still spills). */
static int spill_wanted(tsr_ctx *ctx, const tsr_plan *plan, const tsr_executor *exec,
                        const tsr_run_options *opts) {
    if (plan->tile == -1 || (exec && exec->vt->run_tiles))
        return 0;
    for (int i = 0; i < plan->n_stages; i++) {
        const tsr_stage *s = &plan->stages[i];
        uint64_t in = (uint64_t)s->in_w * (uint64_t)s->in_h * (uint64_t)s->in_bands;
        uint64_t out = (uint64_t)s->out_w * (uint64_t)s->out_h * (uint64_t)s->out_bands;
        if (in > tsr_ctx_limits(ctx)->max_alloc || out > tsr_ctx_limits(ctx)->max_alloc)
            return 1;
    }
    return tsr_plan_whole_bytes(plan) > tsr_run_budget(exec, opts);
}

tsr_status tsr_plan_run_rows(tsr_ctx *ctx, tsr_plan *plan, tsr_row_reader *reader,
                             tsr_row_writer *writer, tsr_executor *exec,
                             const tsr_run_options *opts) {
    const tsr_stage *s = &plan->stages[0];
    int w, h, bands;
    tsr_row_reader_shape(reader, &w, &h, &bands);
    rows_io io = {.ctx = ctx, .reader = reader, .writer = writer, .opts = opts};
    if (w != s->in_w || h != s->in_h || bands != s->in_bands)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "plan made for %dx%dx%d run on rows of %dx%dx%d",
                         s->in_w, s->in_h, s->in_bands, w, h, bands);
    if (plan->n_stages == 1 && tsr_stage_streams(plan, s, exec, tsr_run_budget(exec, opts)))
        return tsr_run_stream_stage(ctx, plan, s, &io, exec, opts, NULL);
    if (spill_wanted(ctx, plan, exec, opts))
        return tsr_run_spill(ctx, plan, &io, exec, opts);
    return run_whole(ctx, plan, &io, exec, opts);
}
