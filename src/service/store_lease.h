/*
 * Job leases (issue 17): several coordinators share one PostgreSQL
 * database, and each queued or running job is run by one of them at a time,
 * the one holding its lease. A coordinator names itself with
 * tsr_store_set_lease; from then on the jobs it creates are leased to it,
 * and the scheduler's writes of a job's state (running, succeeded, failed;
 * not a user's cancel) go through only while it holds the lease, so a job
 * taken over by another coordinator is never finished twice. The scheduler
 * (jobs_lease.c) renews what it holds, claims what nobody holds (a dead
 * coordinator's jobs once their lease ran out, a stopped one's at once:
 * it releases them) and gives up what it lost.
 *
 * Lease times are wall-clock milliseconds of the coordinator writing them:
 * coordinators' clocks must agree to well within a lease (NTP does). A
 * store with no lease owner (the default: SQLite, one coordinator) writes
 * no leases and ignores them.
 */
#ifndef TESSERA_SERVICE_STORE_LEASE_H
#define TESSERA_SERVICE_STORE_LEASE_H

#include "service/store.h"

/* Default time a lease lasts after each renewal: a dead coordinator's jobs
 * are taken over within about this plus one scan (jobs_lease.c). */
#define TSR_STORE_LEASE_MS_DEFAULT 10000

/* Makes `owner` (at most 127 bytes; NULL or "" = no leases) the coordinator
 * this store leases jobs to, for `lease_ms` at a time. Call before the
 * scheduler starts. */
void tsr_store_set_lease(tsr_store *store, const char *owner, int64_t lease_ms);
/* The lease owner, or NULL when the store leases nothing. */
const char *tsr_store_lease_owner(const tsr_store *store);
/* How long a lease lasts after each renewal, in ms. */
int64_t tsr_store_lease_ms(const tsr_store *store);

/* Takes the lease of active job `id` when nobody holds it, this store's
 * owner does, or its holder's lease ran out; *claimed says whether it did. */
tsr_status tsr_store_job_claim(tsr_store *store, tsr_ctx *ctx, const char *id, int *claimed);
/* Extends the lease this owner holds on job `id`. *held = 0 when it holds
 * none any more: another coordinator took the job over, or it ended (a
 * user cancelled it through another coordinator). */
tsr_status tsr_store_job_renew(tsr_store *store, tsr_ctx *ctx, const char *id, int *held);
/* Gives up every lease this owner holds (a graceful stop): other
 * coordinators may claim those jobs at once. */
tsr_status tsr_store_job_leases_release(tsr_store *store, tsr_ctx *ctx);
/* Records that this owner is alive now (a row per coordinator) and counts
 * the coordinators seen within the last `alive_ms` into *alive (this one
 * included): what shares of the request rate limits each takes. */
tsr_status tsr_store_coordinator_beat(tsr_store *store, tsr_ctx *ctx, int64_t alive_ms, int *alive);
/* Removes this owner's row (a graceful stop): the others' shares grow at
 * their next beat. */
tsr_status tsr_store_coordinator_leave(tsr_store *store, tsr_ctx *ctx);
/* Up to `max` ids of active jobs this owner may claim now (unleased, its
 * own, or lapsed), oldest first, into ids; their number in *count. */
tsr_status tsr_store_job_claimable(tsr_store *store, tsr_ctx *ctx,
                                   char (*ids)[TSR_STORE_ID_LEN + 1], size_t max, size_t *count);

#endif
