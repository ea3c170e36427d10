/* Job leases in the store (store_lease.h), on SQLite and, through
 * store_pg, PostgreSQL: new jobs leased to their coordinator, claims only of
 * unleased, own or lapsed jobs, renewals that see a takeover or a cancel,
 * outcome writes refused without the lease (a user's cancel is not), and a
 * release that frees every lease at once. One store plays both
 * coordinators by switching its owner: the rules are in the SQL. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "service/store_lease.h"
#include "test_db_env.h"

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static char *new_job(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *u, char id[33]) {
    tsr_store_image im = {0};
    tsr_blob_writer *w = NULL;
    char bytes[32];
    snprintf(bytes, sizeof bytes, "image bytes %s", id);
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, bytes, strlen(bytes)), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, im.blob, im.sha256), TSR_OK);
    tsr_blob_writer_free(w);
    im.owner = u->id;
    snprintf(im.format, sizeof im.format, "png");
    im.width = im.height = 4;
    im.bands = 3;
    im.frames = 1;
    im.bytes = strlen(bytes);
    snprintf(im.name, sizeof im.name, "a.png");
    CHECK_EQ_INT(tsr_store_image_insert(s, ctx, &im), TSR_OK);
    const char *ids[1] = {im.id};
    tsr_store_job_spec spec = {.pipeline_json = "[{\"op\":\"invert\"}]",
                               .pipeline_text = "invert",
                               .op_versions = "{\"invert\":1}",
                               .output_format = "png",
                               .quality = 90,
                               .image_ids = ids,
                               .image_count = 1};
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, u, &spec, id), TSR_OK);
    return id;
}

static int listed(tsr_store *s, tsr_ctx *ctx, const char *id) {
    char ids[8][TSR_STORE_ID_LEN + 1];
    size_t n = 0;
    CHECK_EQ_INT(tsr_store_job_claimable(s, ctx, ids, 8, &n), TSR_OK);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ids[i], id))
            return 1;
    return 0;
}

static tsr_job_state state_of(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *u, const char *id) {
    tsr_store_job *job = NULL;
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, u, id, &job), TSR_OK);
    tsr_job_state st = job ? job->state : TSR_JOB_STATE_COUNT;
    tsr_store_job_free(job);
    return st;
}

static void test_takeover(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    char dir[] = "/tmp/tsr_lease_XXXXXX", a[33] = "", b[33] = "";
    CHECK(mkdtemp(dir) != NULL);
    tsr_store *s = NULL;
    CHECK_EQ_INT(test_store_open(ctx, dir, &s), TSR_OK);
    int64_t uid = 0;
    int found = 0, ok = 0;
    tsr_store_user u = {0};
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, "ann", TSR_ROLE_USER, &uid), TSR_OK);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, uid, &u, &found), TSR_OK);

    CHECK(tsr_store_lease_owner(s) == NULL); /* off by default */
    tsr_store_set_lease(s, "coord-a", 300);
    CHECK(!strcmp(tsr_store_lease_owner(s), "coord-a"));
    new_job(s, ctx, &u, a);
    new_job(s, ctx, &u, b);
    CHECK(listed(s, ctx, a)); /* its own */
    tsr_store_set_lease(s, "coord-b", 300);
    CHECK(!listed(s, ctx, a)); /* a's lease is fresh */
    CHECK_EQ_INT(tsr_store_job_claim(s, ctx, a, &ok), TSR_OK);
    CHECK(!ok);
    CHECK_EQ_INT(tsr_store_job_renew(s, ctx, a, &ok), TSR_OK);
    CHECK(!ok); /* not b's to renew */

    /* a keeps job a alive; job b's lease runs out and b takes it. */
    usleep(200 * 1000);
    tsr_store_set_lease(s, "coord-a", 300);
    CHECK_EQ_INT(tsr_store_job_renew(s, ctx, a, &ok), TSR_OK);
    CHECK(ok);
    usleep(200 * 1000);
    tsr_store_set_lease(s, "coord-b", 300);
    CHECK(!listed(s, ctx, a));
    CHECK(listed(s, ctx, b));
    CHECK_EQ_INT(tsr_store_job_claim(s, ctx, b, &ok), TSR_OK);
    CHECK(ok);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, b, TSR_JOB_RUNNING, NULL, &ok), TSR_OK);
    CHECK(ok);

    /* a lost b: its renewal says so and its outcome is refused. */
    tsr_store_set_lease(s, "coord-a", 300);
    CHECK_EQ_INT(tsr_store_job_renew(s, ctx, b, &ok), TSR_OK);
    CHECK(!ok);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, b, TSR_JOB_SUCCEEDED, NULL, &ok), TSR_OK);
    CHECK(!ok);
    CHECK_EQ_INT(state_of(s, ctx, &u, b), TSR_JOB_RUNNING);
    /* A user's cancel goes through whoever holds the job. */
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, b, TSR_JOB_CANCELLED, "cancelled", &ok), TSR_OK);
    CHECK(ok);
    tsr_store_set_lease(s, "coord-b", 300);
    CHECK_EQ_INT(tsr_store_job_renew(s, ctx, b, &ok), TSR_OK);
    CHECK(!ok); /* ended: b gives it up */
    CHECK(!listed(s, ctx, b));

    /* a stops gracefully: its job is b's at once. */
    tsr_store_set_lease(s, "coord-a", 60000);
    CHECK_EQ_INT(tsr_store_job_renew(s, ctx, a, &ok), TSR_OK);
    CHECK(ok);
    CHECK_EQ_INT(tsr_store_job_leases_release(s, ctx), TSR_OK);
    tsr_store_set_lease(s, "coord-b", 60000);
    CHECK(listed(s, ctx, a));
    CHECK_EQ_INT(tsr_store_job_claim(s, ctx, a, &ok), TSR_OK);
    CHECK(ok);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, a, TSR_JOB_SUCCEEDED, NULL, &ok), TSR_OK);
    CHECK(ok);
    CHECK(!listed(s, ctx, a)); /* finished: nobody's to claim */

    /* Beats: each coordinator counts the live ones; one that left is gone. */
    int alive = 0;
    tsr_store_set_lease(s, "coord-a", 60000);
    CHECK_EQ_INT(tsr_store_coordinator_beat(s, ctx, 60000, &alive), TSR_OK);
    CHECK_EQ_INT(alive, 1);
    tsr_store_set_lease(s, "coord-b", 60000);
    CHECK_EQ_INT(tsr_store_coordinator_beat(s, ctx, 60000, &alive), TSR_OK);
    CHECK_EQ_INT(alive, 2);
    usleep(100 * 1000);
    CHECK_EQ_INT(tsr_store_coordinator_beat(s, ctx, 50, &alive), TSR_OK);
    CHECK_EQ_INT(alive, 1); /* a's beat is older than 50 ms */
    CHECK_EQ_INT(tsr_store_coordinator_leave(s, ctx), TSR_OK);
    tsr_store_set_lease(s, "coord-a", 60000);
    CHECK_EQ_INT(tsr_store_coordinator_beat(s, ctx, 60000, &alive), TSR_OK);
    CHECK_EQ_INT(alive, 1); /* b left */

    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_takeover);
    return check_finish();
}
