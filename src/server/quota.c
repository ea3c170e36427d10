/* Per-account quotas: the effective limits of an account (its own override
 * when an admin set one, else the server's --quota-bytes / --quota-jobs) and
 * the quota/usage fields of a user object. */
#include <stdio.h>

#include "server/server_internal.h"

uint64_t quota_bytes_of(const tsr_server *srv, const tsr_store_user *u) {
    return u->quota_bytes.set ? u->quota_bytes.value : srv->config.quota_bytes;
}

uint64_t quota_jobs_of(const tsr_server *srv, const tsr_store_user *u) {
    return u->quota_jobs.set ? u->quota_jobs.value : srv->config.quota_jobs;
}

const char *quota_source(const tsr_store_quota *q) {
    return q->set ? "this account's own quota" : "the server's default";
}

/* An override as JSON: its value, or null when the default applies. */
static json_t *override_json(const tsr_store_quota *q) {
    return q->set ? json_integer((json_int_t)q->value) : json_null();
}

tsr_status user_quota_add(request *r, const tsr_store_user *u, json_t *obj) {
    tsr_store_usage use;
    tsr_status st = tsr_store_user_usage(r->srv->store, r->ctx, u->id, &use);
    if (st)
        return st;
    json_object_set_new(obj, "quota_bytes", json_integer((json_int_t)quota_bytes_of(r->srv, u)));
    json_object_set_new(obj, "quota_jobs", json_integer((json_int_t)quota_jobs_of(r->srv, u)));
    json_object_set_new(obj, "quota_bytes_override", override_json(&u->quota_bytes));
    json_object_set_new(obj, "quota_jobs_override", override_json(&u->quota_jobs));
    json_object_set_new(obj, "stored_bytes",
                        json_integer((json_int_t)(use.image_bytes + use.result_bytes)));
    json_object_set_new(obj, "active_jobs", json_integer((json_int_t)use.active_jobs));
    return TSR_OK;
}
