/*
 * Idempotency keys (issue 17): a client that sends `Idempotency-Key: K` with
 * a job submission may send it again after a timeout, a reset connection or
 * a coordinator restart, to any coordinator, and gets the job the first
 * request made instead of a second one. A key is the account's own, kept 24
 * hours, and bound to the request it came with (a SHA-256 of the body): the
 * same key with another body is refused. While the first request runs, a
 * second one with its key is told to retry; a first request whose
 * coordinator died before it finished gives its key up after a minute.
 */
#ifndef TESSERA_SERVICE_STORE_IDEMPOTENCY_H
#define TESSERA_SERVICE_STORE_IDEMPOTENCY_H

#include "service/store.h"

#define TSR_IDEM_KEY_MAX  255      /* bytes in a key */
#define TSR_IDEM_KEEP_MS  86400000 /* a key is remembered this long */
#define TSR_IDEM_STALE_MS 60000    /* an unfinished first request is given up after this */

/* What tsr_store_idem_begin found. */
typedef enum tsr_idem_outcome {
    TSR_IDEM_NEW = 0,     /* the key is this request's: make the job, then finish or abandon */
    TSR_IDEM_DONE,        /* a request with this key made job `job`: answer with it */
    TSR_IDEM_IN_PROGRESS, /* a request with this key is still running: retry soon */
    TSR_IDEM_MISMATCH     /* the key came with another request body */
} tsr_idem_outcome;

/* Takes key `key` of account `owner` for a request whose body hashes to
 * `request_sha` (64 hex digits), or reports what an earlier request with it
 * did; `job` receives the job id for TSR_IDEM_DONE. Forgets the account's
 * keys older than TSR_IDEM_KEEP_MS on the way. */
tsr_status tsr_store_idem_begin(tsr_store *store, tsr_ctx *ctx, int64_t owner, const char *key,
                                const char *request_sha, tsr_idem_outcome *out,
                                char job[TSR_STORE_ID_LEN + 1]);
/* Records that the request holding `key` made job `job`. */
tsr_status tsr_store_idem_finish(tsr_store *store, tsr_ctx *ctx, int64_t owner, const char *key,
                                 const char *job);
/* Gives `key` up after its request failed (nothing was made): a retry
 * with it starts afresh. */
tsr_status tsr_store_idem_abandon(tsr_store *store, tsr_ctx *ctx, int64_t owner, const char *key);

#endif
