/*
 * One image through a pipeline, from its input blob to a result blob: what
 * a job runs for each of its images, in the coordinator's process
 * (jobs_run.c, tiles on the local pool or the Redis fleet) or on a fleet
 * worker as an image task (image_task.c). Both call the same code, so the
 * result's bytes cannot depend on where it ran: the input is decoded with
 * the same shrink-on-load, the plan is the same, the encoder streams rows
 * into a scratch file that becomes the blob whole or not at all. An
 * animated GIF or WebP into an animated format runs every frame through
 * the pipeline on the same executor (tsr_pipeline_run_frames), whole
 * frames rather than rows, into the same kind of scratch file.
 */
#ifndef TESSERA_SERVICE_IMAGE_RUN_H
#define TESSERA_SERVICE_IMAGE_RUN_H

#include "service/store.h"
#include "tessera/tessera.h"

/* What to run. Strings are borrowed. */
typedef struct tsr_image_run {
    const char *input;        /* the input's blob id */
    const tsr_pipeline *pipe; /* the pipeline */
    tsr_format format;        /* output format */
    int quality;              /* encoder quality (JPEG, WebP, AVIF) */
    int speed;                /* encoder speed (AVIF); 0 = default */
    tsr_layout layout;        /* SINGLE, PYRAMID or DZI (a stored zip) */
    int frame;          /* the frame of an animated input to take (0 = the first); -1 = none chosen:
                           every frame into an animated format, refused for a one-frame format */
    int tile;           /* tile side of the plan */
    tsr_executor *exec; /* runs the tiles */
    const struct tsr_accel *accel; /* may be NULL: the device tiles run on (OpenCL) */
    const char *result_id;         /* commit the result as this blob id; NULL = a new random id */
    tsr_progress_fn progress;      /* may be NULL: tiles done of the image */
    tsr_tile_fn tile_done;         /* may be NULL: CPU seconds of each tile */
    tsr_rows_fn rows;              /* may be NULL: input rows read, output rows written */
    tsr_tile_fn device_done;       /* may be NULL: wall seconds of tiles on the device */
    void (*moved)(void *user, uint64_t bytes); /* may be NULL: bytes to remote workers */
    void *progress_user;                       /* passed to progress, tile_done and rows */
    const char *label;                         /* names the run in messages ("image 3f2a...") */
    uint64_t memory_budget; /* tsr_run_options.memory_budget; 0 = the engine's default */
} tsr_image_run;

/* The step of a run that failed (tsr_image_run_file), for the answer a
 * caller gives: a bad input, or a pipeline that cannot run on it. */
typedef enum tsr_image_stage {
    TSR_IMAGE_OPEN = 0, /* reading the input's header: its format, size and limits */
    TSR_IMAGE_PLAN,     /* planning the pipeline for the input's size */
    TSR_IMAGE_RUN       /* decoding, computing and encoding */
} tsr_image_stage;

/* What came out: the committed result blob (or the file's result). */
typedef struct tsr_image_output {
    char blob[TSR_STORE_ID_LEN + 1]; /* its id; "" for tsr_image_run_file */
    uint64_t bytes;                  /* its size (plaintext) */
    int width, height;               /* the output image's size */
    double codec_cpu_seconds;        /* CPU time of decoding, encoding and the store: the
                                        calling thread's, plus the band threads' encoding
                                        (tiles run on the executor's threads) */
    tsr_format format;               /* the format written */
    tsr_format in_format;            /* tsr_image_run_file: the input's format */
    int in_width, in_height;         /* tsr_image_run_file: the decoded input's size */
    tsr_image_stage failed;          /* tsr_image_run_file, on failure: the step that failed */
} tsr_image_output;

/* Decodes `run->input`, runs the pipeline and commits the encoded result.
 * Nothing is left behind on failure. */
tsr_status tsr_image_run_blob(tsr_store *store, tsr_ctx *ctx, const tsr_image_run *run,
                              tsr_image_output *out);

/* Runs `run` (its `input` and `result_id` unused) on the image file at
 * `path` and encodes the result into `fd` (a file the caller owns and
 * keeps open; written from its current offset), with the same
 * shrink-on-load, plan and encoder as tsr_image_run_blob and `tessera
 * process`, so the bytes are theirs. run->format TSR_FORMAT_UNKNOWN writes
 * the input's format when it can be written, else PNG (`tessera
 * process`'s rule). out->failed names the step of a failure. */
tsr_status tsr_image_run_file(tsr_ctx *ctx, const char *path, const tsr_image_run *run, int fd,
                              tsr_image_output *out);

/* Plans `pipe` for blob `input` as tsr_image_run_blob would (opening and
 * reading its header), for counting tiles. The caller frees *plan. */
tsr_status tsr_image_plan_blob(tsr_store *store, tsr_ctx *ctx, const char *input,
                               const tsr_pipeline *pipe, int tile, tsr_plan **plan);

/* The size of the image the row reader gives for a stored image of
 * `width` x `height` in `format` under `pipe` (the JPEG shrink-on-load
 * tsr_image_run_blob picks, rounding up as libjpeg does). */
void tsr_image_decoded_size(const tsr_pipeline *pipe, const char *format, int *width, int *height);

#endif
