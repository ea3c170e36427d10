/* Private to the job scheduler (jobs.c: queue and state; jobs_run.c: running one job). */
#ifndef TESSERA_SERVICE_JOBS_INTERNAL_H
#define TESSERA_SERVICE_JOBS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "service/jobs.h"
#include "service/work_cost.h"

#define TSR_JOBS_SENDERS_MAX     256 /* image tasks one job keeps in flight, at most */
#define TSR_JOBS_ETA_MIN_PERCENT 5.0 /* no ETA before the job is this far done ... */
#define TSR_JOBS_ETA_MIN_SECONDS 2.0 /* ... or has run this long */

/* A job the scheduler holds while it is queued or running. */
typedef struct job_entry {
    char id[TSR_STORE_ID_LEN + 1];          /* job id */
    int64_t owner;                          /* owning user */
    uint64_t pixels;                        /* admitted pixels, released when it leaves */
    tsr_ctx *ctx;                           /* cancelled to stop its tiles */
    struct tsr_jobs *jobs;                  /* back pointer for progress callbacks */
    tsr_job_live live;                      /* progress shown to the API */
    int64_t item_base;                      /* tiles of the images done before the current one */
    double work_total;                      /* work units of all images (work_cost.h) */
    double work_base;                       /* units of the images done before the current one */
    double work_start;                      /* units already done when this run began (resumed) */
    const struct tsr_jobs_item_size *cur;   /* the image running in this process, or NULL */
    int rows_read, rows_written;            /* its rows decoded and encoded so far */
    int64_t cur_tiles;                      /* its tiles done so far */
    double started;                         /* monotonic seconds when a runner took it */
    int dirty;                              /* progress not yet written to the store */
    int running;                            /* a runner holds it */
    int cancelled;                          /* the user cancelled it */
    int stopped;                            /* the server is stopping: leave it resumable */
    int refs;                               /* the flusher is using it outside the lock */
    tsr_ctx *senders[TSR_JOBS_SENDERS_MAX]; /* contexts of its image task senders, cancelled
                                               with ctx (jobs_images.c) */
    int n_senders;                          /* entries in senders */
    struct job_entry *next;                 /* all held entries */
    struct job_entry *queue_next;           /* FIFO of entries waiting for a runner */
} job_entry;

struct tsr_jobs {
    tsr_store *store;           /* borrowed */
    tsr_jobs_config cfg;        /* defaulted configuration */
    tsr_executor *exec;         /* the shared tile pool */
    pthread_mutex_t lock;       /* guards everything below and entries' fields */
    pthread_cond_t queue_ready; /* a job was queued or stopping began */
    pthread_cond_t changed;     /* some job's live progress changed */
    pthread_cond_t flush_wake;  /* wakes the progress writer early */
    job_entry *entries;         /* every held job */
    job_entry *queue_head;      /* next job for a runner */
    job_entry *queue_tail;      /* last queued job */
    pthread_t *runners;         /* runner threads */
    int n_runners;              /* started runners */
    pthread_t flusher;          /* progress writer */
    int has_flusher;            /* it was started */
    int stopping;               /* tsr_jobs_stop began */
    int active_count;           /* admitted jobs not yet finished */
    int running_count;          /* jobs a runner holds */
    uint64_t pixels_active;     /* admitted pixels */
    tsr_jobs_stats stats;       /* counters for /metrics */
    pthread_t keeper;           /* lease keeper (jobs_lease.c) */
    int has_keeper;             /* it was started */
    atomic_int coordinators;    /* coordinators alive on the database, by the last beat */
};

/* What count_tiles learns of one image of a job. */
typedef struct tsr_jobs_item_size {
    int64_t tiles;      /* tile tasks of its run; 0 when it does not plan */
    uint64_t pixels;    /* decoded pixels (after shrink-on-load) */
    int in_h, out_h;    /* decoded input and output heights (rows) */
    tsr_work_cost cost; /* its work units: decode, compute, encode */
} tsr_jobs_item_size;

/* Outcome of a job's items: how many failed and the first failure. */
typedef struct tsr_jobs_outcome {
    int failures;          /* items that failed (jobs->lock) */
    char first_error[512]; /* "image <id>: <message>" of the first, "" when none */
} tsr_jobs_outcome;

/* The store's record of image `image_id`, whoever owns it (jobs_run.c). */
tsr_status tsr_jobs_image_record(tsr_jobs *jobs, tsr_ctx *ctx, const char *image_id,
                                 tsr_store_image *img);
/* Checks each image against the settings' output format and frame choice
 * (tsr_frame_choice_check): an animated image to a one-frame format needs
 * output.frame, a chosen frame must exist. TSR_ERR_USAGE naming the image
 * (jobs_run.c). */
tsr_status tsr_jobs_check_frames(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_user *caller,
                                 const char *const *image_ids, size_t image_count,
                                 const tsr_job_settings *settings);
/* Records item `position` as failed with `message` and counts it in `o`.
 * Thread-safe (jobs_run.c). */
void tsr_jobs_item_failed(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job, int position,
                          const char *message, tsr_jobs_outcome *o);
/* Whether the job's unfinished images go to the fleet as image tasks: the
 * planner's rule (jobs_images.c; docs/internals/jobs.md). */
bool tsr_jobs_use_image_tasks(tsr_jobs *jobs, const tsr_store_job *job,
                              const tsr_jobs_item_size *sizes);
/* Runs the job's unfinished images as image tasks, several at once, until
 * all ran or the job was cancelled or stopped (jobs_images.c). */
void tsr_jobs_run_images(tsr_jobs *jobs, job_entry *e, const tsr_store_job *job,
                         const tsr_jobs_item_size *sizes, tsr_jobs_outcome *o);
/* Sets e's tiles done and work units done (all images) and the percent
 * and ETA from the work. jobs->lock held. */
void tsr_jobs_set_done(job_entry *e, int64_t tiles_done, double work_done);
/* e's live progress, as the store records it. jobs->lock held. */
tsr_store_progress tsr_jobs_progress_of(const job_entry *e);
/* Starts counting image `item` (NULL: none) in this process; the units of
 * the one before are counted whole. jobs->lock held. */
void tsr_jobs_next_item(job_entry *e, const tsr_jobs_item_size *item);
/* Counts a finished image task's tiles (jobs.c) and what it used. */
void tsr_jobs_on_image(job_entry *e, uint64_t tiles, const tsr_job_usage *used);
/* Adds what an image used to the job's usage: sums, and the largest peak. */
void tsr_jobs_add_usage(job_entry *e, const tsr_job_usage *used);
/* Cancels e's contexts: its own and its senders'. jobs->lock held. */
void tsr_jobs_cancel_entry(job_entry *e);

/* The entry of job `id`, or NULL. jobs->lock held. */
job_entry *tsr_jobs_find(tsr_jobs *jobs, const char *id);
/* Creates a held entry for job `id` and appends it to the queue; `reserved`:
 * its admission was already counted (jobs.c). */
tsr_status tsr_jobs_enqueue(tsr_jobs *jobs, tsr_ctx *ctx, const char *id, int64_t owner,
                            uint64_t pixels, bool reserved);
/* At start: with no leases, queues every job a previous process left queued
 * or running, oldest first; with leases the keeper claims them (jobs_lease.c). */
tsr_status tsr_jobs_resume(tsr_jobs *jobs, tsr_ctx *ctx);
/* Starts the lease keeper when the store leases jobs (store_lease.h); a
 * no-op otherwise (jobs_lease.c). */
tsr_status tsr_jobs_lease_start(tsr_jobs *jobs, tsr_ctx *ctx);
/* Joins the keeper and releases every lease this scheduler holds, once the
 * runners stopped (jobs_lease.c). */
void tsr_jobs_lease_stop(tsr_jobs *jobs);

/* Runs every unfinished image of e's job; returns the job's final state, or
 * TSR_JOB_RUNNING when the server is stopping (the job resumes later). */
tsr_job_state tsr_jobs_run_one(tsr_jobs *jobs, job_entry *e);
/* Progress callbacks handed to the engine; user is the job_entry. */
void tsr_jobs_on_progress(void *user, uint64_t done, uint64_t total);
void tsr_jobs_on_tile(void *user, double cpu_seconds);
void tsr_jobs_on_device(void *user, double seconds);
void tsr_jobs_on_moved(void *user, uint64_t bytes);
void tsr_jobs_on_rows(void *user, int rows_read, int rows_written);
/* Sets e's live state and wakes waiters. */
void tsr_jobs_set_state(tsr_jobs *jobs, job_entry *e, tsr_job_state state);

#endif
