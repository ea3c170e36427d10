/*
 * The job scheduler of `tessera serve`: admission against a pixel budget,
 * a queue of jobs run by a few runner threads that share one tile executor
 * round-robin (so a small job behind a huge one is not starved), live
 * progress (percent, tiles, ETA) with waiters for Server-Sent Events,
 * cancellation, and resumption of unfinished jobs after a restart. Results
 * are written by streaming encoders into the store's temp folder and moved
 * into the blob store, so a result is either wholly there or not there.
 * Design notes: docs/internals/jobs.md.
 */
#ifndef TESSERA_SERVICE_JOBS_H
#define TESSERA_SERVICE_JOBS_H

#include "service/store.h"
#include "tessera/tessera.h"

typedef struct tsr_jobs tsr_jobs;

/* Called by runner threads when a job starts ("started") or reaches a
 * terminal state ("finished", with its wall seconds and error). */
typedef void (*tsr_jobs_event_fn)(void *user, const char *job_id, const char *event,
                                  tsr_job_state state, double seconds);

/* How a job's images go to a Redis fleet (tsr_jobs_config.task_kind). */
typedef enum tsr_task_kind {
    TSR_TASKS_AUTO = 0, /* the planner's rule (docs/internals/jobs.md) */
    TSR_TASKS_IMAGE,    /* every image as one image task */
    TSR_TASKS_TILE      /* every image split into tile tasks */
} tsr_task_kind;

typedef struct tsr_jobs_config {
    int threads;                      /* tile executor threads; 0 = one per core */
    int runners;                      /* jobs processed at once; 0 = 4 */
    int tile;                         /* tile side; 0 = TSR_DEFAULT_TILE */
    uint64_t pixel_budget;            /* admission: pixels of all active jobs' images; 0 =
                                         TSR_JOBS_PIXEL_BUDGET */
    int max_active;                   /* admission: queued + running jobs; 0 = 1000 */
    tsr_jobs_event_fn on_event;       /* may be NULL: job started / finished (logging) */
    tsr_executor *executor;           /* may be NULL: runs tiles instead of the local pool
                                         (e.g. the Redis executor); borrowed */
    void *event_user;                 /* passed to on_event */
    tsr_limits limits;                /* caps while processing (pixels, width, height, frames,
                                         buffer bytes); zero fields take the library defaults */
    tsr_task_kind task_kind;          /* with a Redis executor: image or tile tasks */
    double tile_task_seconds;         /* AUTO: one image whose estimated compute is at least
                                         this many single-thread seconds, and at least 0.1 s a
                                         megapixel, goes as tile tasks; 0 = 1 s */
    int image_tasks_in_flight;        /* image tasks one job keeps on the fleet; 0 = 64 */
    int (*image_workers)(void *user); /* AUTO: how many workers take image tasks now (< 0:
                                         unknown); NULL = assume some do */
    void *image_workers_user;         /* passed to image_workers */
    const struct tsr_accel *accel;    /* may be NULL: the device local tiles run on
                                         (the OpenCL backend); borrowed */
    uint64_t memory_budget;           /* per image run on the local pool (tsr_run_options);
                                         0 = the engine's default */
} tsr_jobs_config;

/* The default admission budget: two 40000 x 40000 images at once, or
 * thousands of photos. What a job holds in memory is bounded per run by
 * the memory budget and the single-buffer cap, not by this. */
#define TSR_JOBS_PIXEL_BUDGET 4000000000ull

/* How many coordinators share this one's database now, by their last beats
 * (jobs_lease.c): 1 without leases. Thread-safe. */
int tsr_jobs_coordinators(tsr_jobs *jobs);

/* Live progress of a job, as the API shows it. */
typedef struct tsr_job_live {
    tsr_job_state state; /* current state */
    int64_t tiles_done;  /* tiles finished over all images */
    int64_t tiles_total; /* tiles of all images (0 while planning) */
    double percent;      /* 0..100 */
    double eta_seconds;  /* estimated time left; -1 when unknown */
    tsr_job_usage usage; /* what it used so far (CPU time, bytes...) */
    uint64_t version;    /* bumped on every change; for waiters */
} tsr_job_live;

/* Scheduler counters for /metrics. */
typedef struct tsr_jobs_stats {
    uint64_t tiles_processed;     /* since start */
    uint64_t queued;              /* jobs waiting for a runner */
    uint64_t running;             /* jobs being processed */
    uint64_t pixels_active;       /* admitted pixels not yet released */
    uint64_t tile_seconds_le[12]; /* tile CPU-time histogram, cumulative buckets */
    double tile_seconds_sum;      /* sum of tile CPU seconds */
    uint64_t job_seconds_le[12];  /* job wall-time histogram, cumulative buckets */
    double job_seconds_sum;       /* sum of job wall seconds */
    uint64_t jobs_finished;       /* jobs that reached a terminal state */
    /* Of those, how many ended in each state (only the terminal ones count). */
    uint64_t jobs_ended[TSR_JOB_STATE_COUNT];
} tsr_jobs_stats;

/* Upper bounds (seconds) of the histogram buckets above; the last is +Inf. */
extern const double tsr_jobs_tile_buckets[12];
extern const double tsr_jobs_job_buckets[12];

/* Starts the scheduler on `store` (borrowed; must outlive it) and resumes
 * every job left queued or running by a previous process. The caller stops
 * it with tsr_jobs_stop. */
tsr_status tsr_jobs_start(tsr_ctx *ctx, tsr_store *store, const tsr_jobs_config *config,
                          tsr_jobs **out);
/* Stops the runners. Jobs being processed stay "running" in the store and
 * resume at the next start; nothing is lost. Accepts NULL. */
void tsr_jobs_stop(tsr_jobs *jobs);

/* Validates and queues a job for `caller`: the images must be the caller's
 * (TSR_ERR_USAGE naming the first that is not), their pixels must fit the
 * budget and the active-job cap (else TSR_ERR_LIMIT with *retry_after set to
 * a suggested wait in seconds). On success `id` holds the new job's id. */
tsr_status tsr_jobs_submit(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                           const char *const *image_ids, size_t image_count,
                           const tsr_pipeline *pipeline, tsr_format format, int quality,
                           char id[TSR_STORE_ID_LEN + 1], int *retry_after);

/* What a job writes and where its pipeline came from, recorded with it (the
 * tessera version and the pinned pipeline too) so that a rerun repeats it
 * exactly (issue 14). Strings borrowed. */
typedef struct tsr_job_settings {
    tsr_format format;          /* output format (DZI: the tiles') */
    int quality;                /* 1..100; 0 = the format's default */
    tsr_layout layout;          /* SINGLE, PYRAMID (TIFF) or DZI; recorded in the format's
                                   name (tsr_output_name: "tiff-pyramid", "dzi") */
    int speed;                  /* AVIF/HEIC encoder speed 1..9; 0 = the format's default */
    int tile;                   /* tile side; 0 = the server's (recorded as the side used) */
    const char *saved_pipeline; /* name of the saved pipeline it came from; NULL = none */
    int saved_version;          /* that saved pipeline's version */
    bool frame_set;             /* a frame of animated inputs was chosen (output.frame) */
    int frame;                  /* that frame, 0 = the first, when frame_set */
} tsr_job_settings;

/* tsr_jobs_submit with all of a job's settings. */
tsr_status tsr_jobs_submit_with(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                                const char *const *image_ids, size_t image_count,
                                const tsr_pipeline *pipeline, const tsr_job_settings *settings,
                                char id[TSR_STORE_ID_LEN + 1], int *retry_after);
/* The tile side job `job` runs with: its recorded one, else the server's. */
int tsr_jobs_tile_of(const tsr_jobs *jobs, const tsr_store_job *job);

/* Cancels job `id` (the caller's, or any for an admin): a queued job never
 * starts, a running one stops its remaining tiles promptly. *found = 0 when
 * the caller has no such job; cancelling a finished job changes nothing. */
tsr_status tsr_jobs_cancel(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                           const char *id, int *found);

/* Live progress of an active job; returns false when the scheduler does not
 * hold it (finished or unknown: read the store instead). */
bool tsr_jobs_live(tsr_jobs *jobs, const char *id, tsr_job_live *out);

/* Waits until job `id`'s live version differs from `version`, the job leaves
 * the scheduler, or `timeout_ms` passes. For event streams. */
void tsr_jobs_wait(tsr_jobs *jobs, const char *id, uint64_t version, int timeout_ms);

/* What a run in this process outside any job uses (POST /api/v1/transform):
 * the scheduler's local tile pool (never the Redis executor), the device
 * its tiles run on, the server's tile side and memory budget. Borrowed:
 * valid until tsr_jobs_stop. */
typedef struct tsr_jobs_local {
    tsr_executor *exec;            /* the local pool, shared with local jobs' tiles */
    const struct tsr_accel *accel; /* may be NULL: the CPU */
    int tile;                      /* --tile; 0 = TSR_DEFAULT_TILE */
    uint64_t memory_budget;        /* --memory-budget per run; 0 = the engine's default */
} tsr_jobs_local;
void tsr_jobs_local_pool(tsr_jobs *jobs, tsr_jobs_local *out);

/* A snapshot of the counters. */
void tsr_jobs_get_stats(tsr_jobs *jobs, tsr_jobs_stats *out);

#endif
