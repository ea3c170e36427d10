/* The store's user feedback (schema version 4): only the owner of a
 * succeeded or failed job rates it, a second rating replaces the first and
 * keeps its row (and counts again only when its value changed), the job's pipeline, versions and
 * output are copied in and outlive the job, bounds, the search filters, paging and export pages,
 * and the per-op counts that only grow. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_db_env.h"
#include "service/store_feedback.h"
#include "util/clock.h"

static void make_data_dir(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/tsr_feedback_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static tsr_store *open_store(tsr_ctx *ctx, const char *dir) {
    tsr_store *s = NULL;
    tsr_status rc = test_store_open(ctx, dir, &s);
    if (rc)
        fprintf(stderr, "open: %s\n", tsr_ctx_message(ctx));
    CHECK_EQ_INT(rc, TSR_OK);
    return s;
}

static tsr_store_user make_user(tsr_store *s, tsr_ctx *ctx, const char *name, tsr_role role) {
    tsr_store_user u = {0};
    int64_t id = 0;
    int found = 0;
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, name, role, &id), TSR_OK);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, id, &u, &found), TSR_OK);
    return u;
}

/* A job of `owner` over one fresh image, moved to `state`. */
static void make_job(tsr_store *s, tsr_ctx *ctx, const tsr_store_user *owner, const char *text,
                     const char *versions, tsr_job_state state, char id[TSR_STORE_ID_LEN + 1]) {
    tsr_store_image im = {0};
    tsr_blob_writer *w = NULL;
    static int n;
    char bytes[32];
    snprintf(bytes, sizeof bytes, "image %d", n++);
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, bytes, strlen(bytes)), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, im.blob, im.sha256), TSR_OK);
    tsr_blob_writer_free(w);
    im.owner = owner->id;
    snprintf(im.format, sizeof im.format, "png");
    im.width = im.height = 4;
    im.bands = 3;
    im.frames = 1;
    im.bytes = strlen(bytes);
    CHECK_EQ_INT(tsr_store_image_insert(s, ctx, &im), TSR_OK);
    const char *ids[] = {im.id};
    tsr_store_job_spec spec = {.pipeline_json = "[]",
                               .pipeline_text = text,
                               .op_versions = versions,
                               .output_format = "webp",
                               .quality = 70,
                               .image_ids = ids,
                               .image_count = 1};
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, owner, &spec, id), TSR_OK);
    if (state != TSR_JOB_QUEUED)
        CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, id, state, NULL, NULL), TSR_OK);
}

/* The count of (op, rating), 0 when absent. */
static uint64_t count_of(tsr_store *s, tsr_ctx *ctx, const char *op, int rating) {
    tsr_store_feedback_count *c = NULL;
    size_t n = 0;
    uint64_t v = 0;
    CHECK_EQ_INT(tsr_store_feedback_counts(s, ctx, &c, &n), TSR_OK);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(c[i].op, op) && c[i].rating == rating)
            v = c[i].count;
    free(c);
    return v;
}

static void test_put_rules(void) {
    char dir[64], ok[33], running[33], cancelled[33], failed[33];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user admin = make_user(s, ctx, "root", TSR_ROLE_ADMIN);
    make_job(s, ctx, &alice, "grayscale|canny:low=100,high=200", "{\"grayscale\":1,\"canny\":2}",
             TSR_JOB_SUCCEEDED, ok);
    make_job(s, ctx, &alice, "invert", "{\"invert\":1}", TSR_JOB_RUNNING, running);
    make_job(s, ctx, &alice, "invert", "{\"invert\":1}", TSR_JOB_CANCELLED, cancelled);
    make_job(s, ctx, &alice, "invert", "{\"invert\":1}", TSR_JOB_FAILED, failed);
    tsr_store_feedback fb;
    int found = 0, replaced = 0;
    /* the owner rates a succeeded job: the job's settings are copied in */
    CHECK_EQ_INT(
        tsr_store_feedback_put(s, ctx, alice.id, ok, 4, "nice edges", &found, &replaced, &fb),
        TSR_OK);
    CHECK(found && !replaced && fb.rating == 4 && !strcmp(fb.comment, "nice edges"));
    CHECK(!strcmp(fb.pipeline_text, "grayscale|canny:low=100,high=200"));
    CHECK(!strcmp(fb.op_versions, "{\"grayscale\":1,\"canny\":2}"));
    CHECK(!strcmp(fb.output_format, "webp") && fb.quality == 70);
    CHECK(fb.job_state == TSR_JOB_SUCCEEDED && !strcmp(fb.user_name, "alice"));
    CHECK(fb.created > 0 && fb.updated == fb.created);
    int64_t first_id = fb.id;
    tsr_store_feedback_clear(&fb);
    /* again: replaced, same row, counted again */
    CHECK_EQ_INT(tsr_store_feedback_put(s, ctx, alice.id, ok, 2, NULL, &found, &replaced, &fb),
                 TSR_OK);
    CHECK(found && replaced && fb.rating == 2 && !strcmp(fb.comment, "") && fb.id == first_id);
    tsr_store_feedback_clear(&fb);
    CHECK_EQ_INT(count_of(s, ctx, "canny", 4), 1);
    CHECK_EQ_INT(count_of(s, ctx, "canny", 2), 1);
    CHECK_EQ_INT(count_of(s, ctx, "grayscale", 2), 1);
    /* the same rating with another comment: replaced, not counted again */
    CHECK_EQ_INT(tsr_store_feedback_put(s, ctx, alice.id, ok, 2, "on second thought", &found,
                                        &replaced, NULL),
                 TSR_OK);
    CHECK(found && replaced);
    CHECK_EQ_INT(count_of(s, ctx, "canny", 2), 1);
    /* not finished, cancelled, another user (an admin too), unknown: nothing */
    const char *refused[][2] = {{running, "alice"},
                                {cancelled, "alice"},
                                {ok, "root"},
                                {"0123456789abcdef0123456789abcdef", "alice"},
                                {"nope", "alice"}};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        int64_t who = !strcmp(refused[i][1], "root") ? admin.id : alice.id;
        found = 1;
        CHECK_EQ_INT(
            tsr_store_feedback_put(s, ctx, who, refused[i][0], 5, "x", &found, &replaced, NULL),
            TSR_OK);
        CHECK_EQ_INT(found, 0);
    }
    CHECK_EQ_INT(count_of(s, ctx, "invert", 5), 0);
    CHECK_EQ_INT(count_of(s, ctx, "canny", 5), 0);
    /* a failed job takes feedback */
    CHECK_EQ_INT(
        tsr_store_feedback_put(s, ctx, alice.id, failed, 1, "broke", &found, &replaced, NULL),
        TSR_OK);
    CHECK(found);
    /* bounds: rating 0 and 6, a comment of 2001 characters (2000 of
     * two-byte characters pass) */
    CHECK_EQ_INT(tsr_store_feedback_put(s, ctx, alice.id, ok, 0, "", &found, &replaced, NULL),
                 TSR_ERR_USAGE);
    CHECK_EQ_INT(tsr_store_feedback_put(s, ctx, alice.id, ok, 6, "", &found, &replaced, NULL),
                 TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "rating must be an integer from 1 to 5 (got 0)");
    tsr_ctx_reset(ctx); /* the first error stays on a context: clear it */
    char *long_text = malloc(2 * 2001 + 1);
    for (int i = 0; i < 2000; i++)
        memcpy(long_text + 2 * i, "\xc3\xa9", 2); /* é */
    long_text[4000] = '\0';
    CHECK_EQ_INT(
        tsr_store_feedback_put(s, ctx, alice.id, ok, 3, long_text, &found, &replaced, NULL),
        TSR_OK);
    strcat(long_text, "x");
    CHECK_EQ_INT(
        tsr_store_feedback_put(s, ctx, alice.id, ok, 3, long_text, &found, &replaced, NULL),
        TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "2000 characters (got 2001)");
    tsr_ctx_reset(ctx);
    free(long_text);
    /* the job's deletion leaves its feedback, which still reads */
    CHECK_EQ_INT(tsr_store_job_delete(s, ctx, &alice, ok, &found), TSR_OK);
    CHECK(found);
    CHECK_EQ_INT(tsr_store_feedback_get(s, ctx, alice.id, ok, &fb, &found), TSR_OK);
    CHECK(found && fb.rating == 3 && !strcmp(fb.pipeline_text, "grayscale|canny:low=100,high=200"));
    tsr_store_feedback_clear(&fb);
    CHECK_EQ_INT(tsr_store_feedback_get(s, ctx, admin.id, ok, &fb, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    tsr_store_close(s);
    /* counts survive a reopen */
    s = open_store(ctx, dir);
    CHECK_EQ_INT(count_of(s, ctx, "canny", 4), 1);
    CHECK_EQ_INT(count_of(s, ctx, "invert", 1), 1);
    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

/* Runs a search and checks the ratings it returns, in order. */
static void expect(tsr_store *s, tsr_ctx *ctx, const tsr_store_feedback_query *q,
                   const char *ratings, int64_t total) {
    tsr_store_feedback *list = NULL;
    size_t n = 0;
    int64_t t = 0;
    char got[64] = "";
    CHECK_EQ_INT(tsr_store_feedback_search(s, ctx, q, &list, &n, &t), TSR_OK);
    for (size_t i = 0; i < n && i < sizeof got - 1; i++)
        got[i] = (char)('0' + list[i].rating);
    if (strcmp(got, ratings))
        fprintf(stderr, "search gave \"%s\", expected \"%s\"\n", got, ratings);
    CHECK(!strcmp(got, ratings));
    CHECK_EQ_INT(t, total);
    tsr_store_feedback_list_free(list, n);
}

static void test_search(void) {
    char dir[64], id[6][33];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_USER);
    const int ratings[6] = {1, 2, 3, 4, 5, 5};
    int64_t times[6];
    for (int i = 0; i < 6; i++) {
        int found = 0, replaced = 0;
        const tsr_store_user *u = i % 2 ? &bob : &alice;
        make_job(s, ctx, u, i < 3 ? "canny" : "invert", i < 3 ? "{\"canny\":1}" : "{\"invert\":1}",
                 TSR_JOB_SUCCEEDED, id[i]);
        CHECK_EQ_INT(
            tsr_store_feedback_put(s, ctx, u->id, id[i], ratings[i], "", &found, &replaced, NULL),
            TSR_OK);
        times[i] = tsr_clock_wall_ms();
        tsr_clock_sleep_ms(3);
    }
    tsr_store_feedback_query q = {0};
    expect(s, ctx, &q, "554321", 6); /* newest first */
    q.limit = 2;
    q.offset = 1;
    expect(s, ctx, &q, "54", 6);
    q = (tsr_store_feedback_query){.rating = 5};
    expect(s, ctx, &q, "55", 2);
    q = (tsr_store_feedback_query){.op = "canny"};
    expect(s, ctx, &q, "321", 3);
    q = (tsr_store_feedback_query){.op = "canny", .rating = 2};
    expect(s, ctx, &q, "2", 1);
    q = (tsr_store_feedback_query){.from = times[1] + 1, .to = times[3]};
    expect(s, ctx, &q, "43", 2);
    q = (tsr_store_feedback_query){.op = "sobel"};
    expect(s, ctx, &q, "", 0);
    /* export pages: oldest first after an id, no total */
    q = (tsr_store_feedback_query){.by_id = true, .limit = 4};
    expect(s, ctx, &q, "1234", -1);
    tsr_store_feedback *list = NULL;
    size_t n = 0;
    int64_t total;
    CHECK_EQ_INT(tsr_store_feedback_search(s, ctx, &q, &list, &n, &total), TSR_OK);
    q.after_id = n == 4 ? list[3].id : 0;
    tsr_store_feedback_list_free(list, n);
    expect(s, ctx, &q, "55", -1);
    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_put_rules);
    RUN(test_search);
    return check_finish();
}
