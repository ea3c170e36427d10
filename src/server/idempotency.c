/* The Idempotency-Key header of POST /api/v1/jobs (store_idempotency.h):
 * a retried submission, to this coordinator or another, answers with the
 * job its first try made (201, the same id) instead of making a second. */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"
#include "service/store_idempotency.h"

/* Whether `key` is 1..TSR_IDEM_KEY_MAX visible ASCII characters. */
static int key_valid(const char *key) {
    size_t n = strlen(key);
    if (n == 0 || n > TSR_IDEM_KEY_MAX)
        return 0;
    for (const char *p = key; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

idem_step idempotency_begin(request *r, char job[TSR_STORE_ID_LEN + 1], enum MHD_Result *res) {
    const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
    r->idem_key[0] = '\0';
    if (!key)
        return IDEM_GO;
    if (!key_valid(key)) {
        *res = reply_error(r, 400, "bad_request",
                           "Idempotency-Key must be 1 to %d visible ASCII characters",
                           TSR_IDEM_KEY_MAX);
        return IDEM_ANSWERED;
    }
    unsigned char hash[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256(hash, r->body.data ? r->body.data : (const unsigned char *)"", r->body.len);
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    tsr_idem_outcome out = TSR_IDEM_IN_PROGRESS;
    tsr_status st = tsr_store_idem_begin(r->srv->store, r->ctx, r->user.id, key, hex, &out, job);
    if (st) {
        *res = reply_status(r, st);
        return IDEM_ANSWERED;
    }
    switch (out) {
    case TSR_IDEM_NEW:
        snprintf(r->idem_key, sizeof r->idem_key, "%s", key);
        return IDEM_GO;
    case TSR_IDEM_DONE:
        return IDEM_REPLAY;
    case TSR_IDEM_MISMATCH:
        *res = reply_error(r, 422, "idempotency_key_reused",
                           "this Idempotency-Key was used with another request body; "
                           "use a new key for a new request");
        return IDEM_ANSWERED;
    default:
        r->retry_after = 1;
        *res = reply_error(r, 409, "idempotency_in_progress",
                           "a request with this Idempotency-Key is still running; retry soon");
        return IDEM_ANSWERED;
    }
}

void idempotency_end(request *r) {
    if (!r->idem_key[0])
        return;
    tsr_ctx *ctx = tsr_ctx_new(); /* r->ctx may hold the request's error */
    if (!ctx)
        return;
    if (r->job_id[0])
        tsr_store_idem_finish(r->srv->store, ctx, r->user.id, r->idem_key, r->job_id);
    else
        tsr_store_idem_abandon(r->srv->store, ctx, r->user.id, r->idem_key);
    tsr_ctx_free(ctx);
    r->idem_key[0] = '\0';
}
