/*
 * Self-contained tile tasks: what an executor ships to a worker in another
 * process or on another machine, and the worker's answer.
 *
 * A task carries the normalized pipeline, the plan's input size, bands and
 * tile size (so the worker re-plans exactly as the coordinator did), the
 * stage and tile index, the merged summary of the stage's GLOBAL op when it
 * applies one, and the pixels of the tile's input rect. The result carries
 * the output tile's pixels (apply) or the tile's partial summary (map), and
 * the CPU seconds spent. Both are plain little-endian binary; every field is
 * checked on decode, since the bytes cross a broker. Output bytes are the
 * same as a local run: the worker calls the same tsr_stage_run_tile.
 */
#ifndef TESSERA_ENGINE_TASK_H
#define TESSERA_ENGINE_TASK_H

#include "engine/executor.h"

/* Encodes tile `tile` of `batch` into `out` (appended). */
tsr_status tsr_task_encode(const tsr_tile_batch *batch, int tile, tsr_buffer *out);

/* The same task in two parts, for senders that gather rather than copy:
 * `head` receives (appended) every byte before the pixels, and the pixels
 * are the rows of `*rect` in batch->in, *row_len bytes each
 * (TSR_REGION_AT(batch->in, rect->x, y) for y in rect; none when *row_len
 * is 0). head followed by those rows is tsr_task_encode's output. */
tsr_status tsr_task_encode_head(const tsr_tile_batch *batch, int tile, tsr_buffer *head,
                                tsr_rect *rect, size_t *row_len);

/* Coordinator side: checks a result against `batch`, then copies its pixels
 * into batch->out (apply) or merges its partial into batch->acc (map).
 * *tile receives the tile index, *cpu_seconds the worker's CPU time and
 * *device_seconds its time on an accelerator (0 on the CPU). Bytes
 * that do not fit the batch fail with TSR_ERR_CORRUPT and change nothing. */
tsr_status tsr_task_apply_result(const tsr_tile_batch *batch, const uint8_t *bytes, size_t len,
                                 int *tile, double *cpu_seconds, double *device_seconds);

/* Reads the tile index of an encoded task or result without decoding the
 * rest; -1 when the bytes are not one. */
int tsr_task_tile_of(const uint8_t *bytes, size_t len);

/* Worker side: runs encoded tasks, keeping a few recent plans so tiles of
 * the same image do not re-plan. One per thread. */
typedef struct tsr_task_worker tsr_task_worker;

tsr_status tsr_task_worker_new(tsr_ctx *ctx, tsr_task_worker **out);
void tsr_task_worker_free(tsr_task_worker *worker);
/* Runs the worker's tiles on `accel` where it takes them (NULL: the CPU). */
void tsr_task_worker_set_accel(tsr_task_worker *worker, const struct tsr_accel *accel);
/* Decodes and runs one task, appending the encoded result to `result`.
 * Malformed tasks fail with TSR_ERR_CORRUPT, tasks over the ctx's limits
 * with TSR_ERR_LIMIT. */
tsr_status tsr_task_execute(tsr_task_worker *worker, tsr_ctx *ctx, const uint8_t *task, size_t len,
                            tsr_buffer *result);

#endif
