/* Planning and running a pipeline on an image with an executor. */
#ifndef TESSERA_ENGINE_H
#define TESSERA_ENGINE_H

#include "tessera/anim.h"
#include "tessera/pipeline.h"
#include "tessera/stream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs tiles. The local executor is a thread pool in this process; other
 * executors (remote workers) plug in behind the same interface. */
typedef struct tsr_executor tsr_executor;

/* A thread pool with `threads` workers (0 = one per core). Caller frees. */
tsr_status tsr_executor_local_new(tsr_ctx *ctx, int threads, tsr_executor **out);
void tsr_executor_free(tsr_executor *exec);
int tsr_executor_threads(const tsr_executor *exec);

/* Called from worker threads as tiles finish (serialised by the engine).
 * `tile_cpu_seconds` is the CPU time the finished tile took. */
typedef void (*tsr_progress_fn)(void *user, uint64_t done, uint64_t total);
typedef void (*tsr_tile_fn)(void *user, double tile_cpu_seconds);
/* Called by tsr_plan_run_rows (one call at a time, from the caller's thread
 * or the thread that writes a band) after it read input rows or wrote
 * output rows: the rows decoded so far (of the input height; all of
 * them for a reader that does not stream, which decoded at open) and
 * encoded so far (of the output height; none for a writer that does not
 * stream, which encodes at tsr_row_writer_finish), for progress that counts
 * decoding and encoding. */
typedef void (*tsr_rows_fn)(void *user, int rows_read, int rows_written);

typedef struct tsr_run_options {
    int tile_size;            /* tile side, TSR_TILE_MIN..MAX; 0 = TSR_DEFAULT_TILE */
    tsr_progress_fn progress; /* may be NULL */
    void *progress_user;      /* passed to progress and tile_done */
    tsr_tile_fn tile_done;    /* may be NULL: CPU time of each tile (metrics, cost) */
    const char *label;        /* may be NULL: names the run in messages ("image 3f2a...") */
    tsr_rows_fn rows;         /* may be NULL: rows read and written (tsr_plan_run_rows) */
    /* may be NULL (the CPU): a device fused stages run on where it takes
     * them (engine/accel.h; the OpenCL backend). Output bytes are the same. */
    const struct tsr_accel *accel;
    /* may be NULL: wall seconds of each tile the device (accel) computed
     * (cost accounting: device time; tile_done still gets the host's CPU) */
    tsr_tile_fn device_done;
    /* may be NULL: bytes a remote executor moved for this run (tasks sent
     * to workers and results read back), called from its threads */
    void (*moved)(void *user, uint64_t bytes);
    /* tsr_plan_run_rows: memory a plan that cannot stream by row windows
     * (rotations, GLOBAL ops, several stages) may hold as whole images. When
     * its images (input, stage outputs) need more, it runs through
     * uncompressed temporary files in $TMPDIR instead ("spilling", on the
     * local pool: memory is per-thread tiles plus a band of output rows).
     * 0 = TSR_DEFAULT_MEMORY_BUDGET; 1 spills every such plan (tests). */
    uint64_t memory_budget;
    /* may be NULL: tsr_plan_run_rows adds here the CPU seconds it spent
     * encoding on threads other than the caller's (a streamed run writes
     * each band on the band's own thread), for a caller that counts its own
     * thread's CPU time as codec time (cost accounting) */
    double *write_cpu_seconds;
} tsr_run_options;

#define TSR_DEFAULT_MEMORY_BUDGET (512ull << 20) /* 537 MB */

#define TSR_DEFAULT_TILE 256
#define TSR_TILE_MIN     16    /* smallest tile side */
#define TSR_TILE_MAX     65536 /* largest tile side */

/* A pipeline prepared for one input size: stages cut at GLOBAL ops, fused. */
typedef struct tsr_plan tsr_plan;

/* Prepares `pipeline` for an input of w x h x bands. The caller frees *out. */
tsr_status tsr_plan_new(tsr_ctx *ctx, const tsr_pipeline *pipeline, int w, int h, int bands,
                        int tile_size, tsr_plan **out);
void tsr_plan_free(tsr_plan *plan);
/* Checks `pipeline` for an input of w x h x bands without running it: it
 * fails exactly when tsr_plan_new would (a crop outside the image, a resize
 * to 0 px, an output over the context's limits), with the same message;
 * with the parse-time checks, a pipeline that passes fails at run time for
 * no parameter reason. The output size goes to *out_w, *out_h, *out_bands
 * (each may be NULL). */
tsr_status tsr_pipeline_check_size(tsr_ctx *ctx, const tsr_pipeline *pipeline, int w, int h,
                                   int bands, int *out_w, int *out_h, int *out_bands);
/* Rewrites, in place, the parameters of `pipeline` that count pixels of
 * the image, for running it on a small copy (small_w x small_h) of a
 * full_w x full_h image: crop x, y, width, height; resize width, height (a
 * resize given one side gets both); hough-lines threshold. Each is
 * multiplied by the copy's size over the image's at that op's input (per
 * side), rounded, kept in range and inside the copy, so a pipeline that
 * plans on the image plans on the copy. Filter sizes (blur sigma and ksize,
 * median and box-blur ksize, hough rho) and a thumbnail's box (it never
 * enlarges) are not scaled. Errors: those of planning the pipeline on the
 * image. */
tsr_status tsr_pipeline_scale(tsr_ctx *ctx, tsr_pipeline *pipeline, int full_w, int full_h,
                              int small_w, int small_h, int bands);
/* Output size and bands. */
void tsr_plan_output(const tsr_plan *plan, int *w, int *h, int *bands);
/* Input size the plan was made for. */
void tsr_plan_input(const tsr_plan *plan, int *w, int *h);
/* Number of stages and the total tile tasks (map + apply) of a run. */
int tsr_plan_stage_count(const tsr_plan *plan);
uint64_t tsr_plan_task_count(const tsr_plan *plan);

/* Runs the plan on `in` (which must match the plan's input). The caller
 * frees *out. Stops early with TSR_ERR_CANCELLED when ctx is cancelled. */
tsr_status tsr_plan_run(tsr_ctx *ctx, tsr_plan *plan, const tsr_image *in, tsr_executor *exec,
                        const tsr_run_options *opts, tsr_image **out);

/* Runs the plan from a row reader to a row writer (which the caller then
 * finishes). Single-stage plans whose tile bands advance down the input
 * stream through a window of rows (memory: tile + halo rows, not the image).
 * The rest (rotations, GLOBAL ops, several stages) hold whole images when
 * they fit opts->memory_budget, else (on the local pool) go through
 * temporary files, one per stage boundary, tile by tile; a remote executor
 * (one with run_tiles) always holds whole images, under the context's
 * single-buffer cap. Output bytes are the same either way. */
tsr_status tsr_plan_run_rows(tsr_ctx *ctx, tsr_plan *plan, tsr_row_reader *reader,
                             tsr_row_writer *writer, tsr_executor *exec,
                             const tsr_run_options *opts);

/* Runs `pipeline` on every frame of a freshly opened `reader`, in order, writing each
 * result to `writer` with the frame's delay (the caller opened the writer
 * for the output shape tsr_pipeline_check_size gives for the canvas, and
 * finishes it). Each frame is planned and run on its own, like a still
 * image: GLOBAL ops (equalize, otsu, canny) reduce over that frame only,
 * and its output bytes are those of the frame run alone. Progress counts
 * the tasks of all frames; `rows` reports frames decoded and written as
 * the share of the rows. Stops with TSR_ERR_CANCELLED when ctx is
 * cancelled. */
tsr_status tsr_pipeline_run_frames(tsr_ctx *ctx, const tsr_pipeline *pipeline,
                                   tsr_frame_reader *reader, tsr_frame_writer *writer,
                                   tsr_executor *exec, const tsr_run_options *opts);

/* After a run: {"ops":[{"op":"hough-lines","result":{...}},...]} with what
 * each op with a describe() found. Caller frees (free()). */
char *tsr_plan_results_json(const tsr_plan *plan);

/* Plan + run in one call. */
tsr_status tsr_pipeline_run(tsr_ctx *ctx, const tsr_pipeline *pipeline, const tsr_image *in,
                            tsr_executor *exec, const tsr_run_options *opts, tsr_image **out);

/* Runs the pipeline on `in` as one single tile, op by op, on the calling
 * thread: the reference the tiled runs are tested against. */
tsr_status tsr_pipeline_run_reference(tsr_ctx *ctx, const tsr_pipeline *pipeline,
                                      const tsr_image *in, tsr_image **out);

#ifdef __cplusplus
}
#endif
#endif
