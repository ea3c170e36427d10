/* Job leases in the scheduler (store_lease.h): with several coordinators
 * on one database, the keeper thread renews the leases of the jobs this
 * scheduler holds, gives up the ones it lost (another coordinator took them
 * over, or a user cancelled them there) and claims the active jobs nobody
 * holds: a dead coordinator's once their lease ran out, a stopped one's at
 * once. Without leases (one coordinator) a start resumes every active job. */
#include <stdlib.h>
#include <string.h>

#include "service/jobs_internal.h"
#include "service/store_lease.h"
#include "util/clock.h"

#define SCAN_MS 1000 /* between two looks for jobs to claim */

/* Pixels of the job's images (0 for ones deleted since). */
static uint64_t job_pixels(tsr_jobs *jobs, tsr_ctx *ctx, const tsr_store_job *job) {
    tsr_store_user admin = {.role = TSR_ROLE_ADMIN};
    uint64_t pixels = 0;
    for (size_t i = 0; i < job->item_count; i++) {
        tsr_store_image img;
        int found = 0;
        if (!tsr_store_image_get(jobs->store, ctx, &admin, job->items[i].image, &img, &found) &&
            found)
            pixels += (uint64_t)img.width * img.height;
    }
    return pixels;
}

tsr_status tsr_jobs_resume(tsr_jobs *jobs, tsr_ctx *ctx) {
    if (tsr_store_lease_owner(jobs->store))
        return TSR_OK; /* the keeper's first scan claims them */
    tsr_store_job *active = NULL;
    size_t n = 0;
    tsr_status st = tsr_store_job_list_active(jobs->store, ctx, &active, &n);
    for (size_t i = 0; !st && i < n; i++)
        st = tsr_jobs_enqueue(jobs, ctx, active[i].id, active[i].owner,
                              job_pixels(jobs, ctx, &active[i]), false);
    tsr_store_jobs_free(active, n);
    return st;
}

/* Ids of the held jobs (a copy, freed by the caller), their number in *n.
 * jobs->lock held. */
static char (*held_ids(tsr_jobs *jobs, size_t *n))[TSR_STORE_ID_LEN + 1] {
    size_t count = 0;
    for (job_entry *e = jobs->entries; e; e = e->next)
        count++;
    char(*ids)[TSR_STORE_ID_LEN + 1] = calloc(count ? count : 1, sizeof *ids);
    *n = 0;
    for (job_entry *e = jobs->entries; ids && e; e = e->next)
        memcpy(ids[(*n)++], e->id, sizeof *ids);
    return ids;
}

/* Job `id` is no longer ours: a user cancelled it elsewhere (it ends here
 * as cancelled), or another coordinator took it over (it stops here
 * without a word to the store). */
static void lost(tsr_jobs *jobs, tsr_ctx *ctx, const char *id) {
    tsr_store_user admin = {.role = TSR_ROLE_ADMIN};
    tsr_store_job *job = NULL;
    if (tsr_store_job_get(jobs->store, ctx, &admin, id, &job))
        return; /* the store is unreachable: try again at the next renewal */
    int cancelled = !job || job->state == TSR_JOB_CANCELLED;
    tsr_store_job_free(job);
    pthread_mutex_lock(&jobs->lock);
    job_entry *e = tsr_jobs_find(jobs, id);
    if (e) {
        if (cancelled)
            e->cancelled = 1;
        else
            e->stopped = 1;
        tsr_jobs_cancel_entry(e);
        pthread_cond_broadcast(&jobs->changed);
    }
    pthread_mutex_unlock(&jobs->lock);
}

static void renew_all(tsr_jobs *jobs, tsr_ctx *ctx) {
    size_t n = 0;
    pthread_mutex_lock(&jobs->lock);
    char(*ids)[TSR_STORE_ID_LEN + 1] = held_ids(jobs, &n);
    pthread_mutex_unlock(&jobs->lock);
    for (size_t i = 0; ids && i < n; i++) {
        int held = 1;
        tsr_ctx_reset(ctx);
        if (!tsr_store_job_renew(jobs->store, ctx, ids[i], &held) && !held)
            lost(jobs, ctx, ids[i]);
    }
    free(ids);
}

/* Claims and queues job `id` unless this scheduler holds it already. */
static void claim_one(tsr_jobs *jobs, tsr_ctx *ctx, const char *id) {
    pthread_mutex_lock(&jobs->lock);
    int skip = jobs->stopping || tsr_jobs_find(jobs, id);
    pthread_mutex_unlock(&jobs->lock);
    int claimed = 0;
    tsr_ctx_reset(ctx);
    if (skip || tsr_store_job_claim(jobs->store, ctx, id, &claimed) || !claimed)
        return;
    tsr_store_user admin = {.role = TSR_ROLE_ADMIN};
    tsr_store_job *job = NULL;
    if (!tsr_store_job_get(jobs->store, ctx, &admin, id, &job) && job)
        tsr_jobs_enqueue(jobs, ctx, id, job->owner, job_pixels(jobs, ctx, job), false);
    tsr_store_job_free(job);
}

/* Claims active jobs nobody holds while fewer than `runners` are held here,
 * so coordinators share a dead one's jobs instead of one taking them all. */
static void claim_free(tsr_jobs *jobs, tsr_ctx *ctx) {
    pthread_mutex_lock(&jobs->lock);
    int room = jobs->cfg.runners - jobs->active_count;
    size_t n_held = 0;
    char(*held)[TSR_STORE_ID_LEN + 1] = room > 0 ? held_ids(jobs, &n_held) : NULL;
    pthread_mutex_unlock(&jobs->lock);
    if (room <= 0)
        return;
    size_t max = (size_t)room + n_held, n = 0; /* its own held ones are listed too */
    char(*ids)[TSR_STORE_ID_LEN + 1] = calloc(max, sizeof *ids);
    tsr_ctx_reset(ctx);
    if (ids && !tsr_store_job_claimable(jobs->store, ctx, ids, max, &n))
        for (size_t i = 0; i < n && room > 0; i++) {
            int mine = 0;
            for (size_t j = 0; j < n_held && !mine; j++)
                mine = !strcmp(held[j], ids[i]);
            if (!mine) {
                claim_one(jobs, ctx, ids[i]);
                room--;
            }
        }
    free(ids);
    free(held);
}

int tsr_jobs_coordinators(tsr_jobs *jobs) {
    int n = jobs ? atomic_load(&jobs->coordinators) : 1;
    return n > 1 ? n : 1;
}

/* Says this coordinator is alive and learns how many are (store_lease.h). */
static void beat(tsr_jobs *jobs, tsr_ctx *ctx) {
    int alive = 1;
    tsr_ctx_reset(ctx);
    if (!tsr_store_coordinator_beat(jobs->store, ctx, tsr_store_lease_ms(jobs->store), &alive))
        atomic_store(&jobs->coordinators, alive);
}

static void *keeper_main(void *arg) {
    tsr_jobs *jobs = arg;
    tsr_ctx *ctx = tsr_ctx_new();
    double renew_every = (double)tsr_store_lease_ms(jobs->store) / 4000.0, next_renew = 0,
           next_scan = 0;
    pthread_mutex_lock(&jobs->lock);
    while (ctx && !jobs->stopping) {
        double now = tsr_clock_mono_s();
        pthread_mutex_unlock(&jobs->lock);
        if (now >= next_renew) {
            beat(jobs, ctx);
            renew_all(jobs, ctx);
            next_renew = now + renew_every;
        }
        if (now >= next_scan) {
            claim_free(jobs, ctx);
            next_scan = now + SCAN_MS / 1000.0;
        }
        pthread_mutex_lock(&jobs->lock);
        if (jobs->stopping)
            break;
        struct timespec until = tsr_clock_deadline(CLOCK_REALTIME, 250);
        pthread_cond_timedwait(&jobs->flush_wake, &jobs->lock, &until);
    }
    pthread_mutex_unlock(&jobs->lock);
    tsr_ctx_free(ctx);
    return NULL;
}

tsr_status tsr_jobs_lease_start(tsr_jobs *jobs, tsr_ctx *ctx) {
    if (!tsr_store_lease_owner(jobs->store))
        return TSR_OK;
    if (pthread_create(&jobs->keeper, NULL, keeper_main, jobs) != 0)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "could not start the job lease keeper");
    jobs->has_keeper = 1;
    return TSR_OK;
}

void tsr_jobs_lease_stop(tsr_jobs *jobs) {
    if (!jobs->has_keeper)
        return;
    pthread_join(jobs->keeper, NULL);
    jobs->has_keeper = 0;
    tsr_ctx *ctx = tsr_ctx_new();
    if (ctx && !tsr_store_job_leases_release(jobs->store, ctx))
        tsr_store_coordinator_leave(jobs->store, ctx);
    tsr_ctx_free(ctx);
}
