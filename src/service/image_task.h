/*
 * Image tasks, the service's side. The Redis fleet carries them blind
 * (fleet/executor_redis.h sends, fleet/worker.h runs a registered runner):
 * the coordinator encodes what a worker needs to run one image of a job
 * (tsr_image_task_encode), the worker runs it from the blob store to the
 * blob store with the same code as a local run (tsr_image_runner_run, over
 * service/image_run.h), and posts a small completion (result blob, size,
 * output size, CPU seconds) that the coordinator decodes
 * (tsr_image_completion_decode). The pixels never pass through Redis or the
 * coordinator. Both messages are JSON, checked field by field on decode.
 *
 * The result's blob id is chosen by the coordinator, derived from the job
 * and the image's position (tsr_image_result_id): a task run twice (a
 * worker stalled past its lease, a coordinator restarted) writes the same
 * bytes under the same id, each write whole or not at all, so no retry
 * leaves a half-written or a second result.
 */
#ifndef TESSERA_SERVICE_IMAGE_TASK_H
#define TESSERA_SERVICE_IMAGE_TASK_H

#include "fleet/worker.h"
#include "service/store.h"
#include "tessera/tessera.h"

#define TSR_IMAGE_TASK_MAX (1u << 20) /* largest encoded task or completion accepted */

/* What a worker needs. Strings are borrowed. */
typedef struct tsr_image_task_spec {
    const char *input;         /* the input's blob id */
    const char *result;        /* the blob id the result is written as */
    const char *pipeline_json; /* the job's pipeline */
    const char *format;        /* output format name */
    int quality;               /* encoder quality */
    int frame;                 /* frame of animated inputs; -1 = none chosen (image_run.h) */
    int speed;                 /* encoder speed (AVIF, HEIC); 0 = default; sent only when set */
    int tile;                  /* tile side of the plan */
    const tsr_limits *limits;  /* caps while processing; NULL = library defaults */
    const char *label;         /* names the run in the coordinator's messages; not sent */
} tsr_image_task_spec;

/* What the worker reports back. */
typedef struct tsr_image_completion {
    char blob[TSR_STORE_ID_LEN + 1]; /* the result blob (the spec's `result`) */
    uint64_t bytes;                  /* its size */
    int width, height;               /* the output image's size */
    uint64_t tiles;                  /* tile tasks run */
    double cpu_seconds;              /* CPU time of the tiles, decoding and encoding */
    double gpu_seconds;              /* wall time of tiles on an OpenCL device */
    double seconds;                  /* wall time on the worker */
} tsr_image_completion;

/* The result blob id of image `position` of job `job_id`: 32 hex digits of
 * SHA-256("tessera-result:<job>:<position>"). */
void tsr_image_result_id(const char *job_id, int position, char id[TSR_STORE_ID_LEN + 1]);

/* Encodes `spec` (appended to `out`). */
tsr_status tsr_image_task_encode(tsr_ctx *ctx, const tsr_image_task_spec *spec, tsr_buffer *out);

/* Decodes a worker's completion; TSR_ERR_CORRUPT for bytes that are not
 * one. */
tsr_status tsr_image_completion_decode(tsr_ctx *ctx, const uint8_t *bytes, size_t len,
                                       tsr_image_completion *out);

/* A worker's image runner: the blob store (opened with
 * tsr_store_open_blobs, or a server's own) and the pool that runs the
 * tiles. Borrowed by the runner. */
typedef struct tsr_image_runner {
    tsr_store *store;              /* where inputs and results live */
    tsr_executor *exec;            /* runs the tiles of every image this worker takes */
    const struct tsr_accel *accel; /* may be NULL: the device those tiles run on */
} tsr_image_runner;

/* The fleet's tsr_image_runner_fn: `user` is a tsr_image_runner. Decodes
 * the task (TSR_ERR_CORRUPT when malformed), runs it under its limits and
 * appends the encoded completion to `result`. */
tsr_status tsr_image_runner_run(void *user, tsr_ctx *ctx, const uint8_t *task, size_t len,
                                tsr_image_progress_fn progress, void *progress_user,
                                tsr_buffer *result);

#endif
