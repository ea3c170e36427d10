/* The store's image library and job history (schema version 3): search and
 * paging with totals, finding an account's image by content, thumbnails
 * recorded once and removed with their image (and kept by the garbage
 * collection at open), job names, the state filter and paging of jobs. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_db_env.h"
#include "service/store.h"

static void make_data_dir(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/tsr_library_XXXXXX");
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

/* Commits `text` as a blob into `id`. */
static void put_blob(tsr_store *s, tsr_ctx *ctx, const char *text, char id[TSR_STORE_ID_LEN + 1],
                     char sha[TSR_STORE_SHA256_LEN + 1]) {
    tsr_blob_writer *w = NULL;
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, text, strlen(text)), TSR_OK);
    if (sha) { /* the hash so far equals the hash at commit */
        char early[TSR_STORE_SHA256_LEN + 1];
        tsr_blob_writer_sha256(w, early);
        CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, id, sha), TSR_OK);
        CHECK(strcmp(early, sha) == 0);
    } else {
        CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, id, NULL), TSR_OK);
    }
    tsr_blob_writer_free(w);
}

static tsr_store_image add_image(tsr_store *s, tsr_ctx *ctx, int64_t owner, const char *bytes,
                                 const char *name) {
    tsr_store_image im = {0};
    put_blob(s, ctx, bytes, im.blob, im.sha256);
    im.owner = owner;
    snprintf(im.format, sizeof im.format, "png");
    im.width = 4;
    im.height = 3;
    im.bands = 3;
    im.frames = 1;
    im.bytes = strlen(bytes);
    snprintf(im.name, sizeof im.name, "%s", name);
    CHECK_EQ_INT(tsr_store_image_insert(s, ctx, &im), TSR_OK);
    return im;
}

static bool blob_exists(tsr_store *s, tsr_ctx *ctx, const char *id) {
    char path[4096];
    struct stat sb;
    return tsr_blob_path(s, ctx, id, path) == TSR_OK && stat(path, &sb) == 0;
}

static void test_search_and_sha(void) {
    char dir[64];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_USER);
    tsr_store_image cat = add_image(s, ctx, alice.id, "cat", "Cat.png");
    add_image(s, ctx, alice.id, "dog", "dog.jpg");
    add_image(s, ctx, alice.id, "cow", "cow.png");
    add_image(s, ctx, bob.id, "bob's cat", "cat.png");

    tsr_store_image *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    tsr_store_image_query q = {.name = "CAT"};
    CHECK_EQ_INT(tsr_store_image_search(s, ctx, &alice, &q, &list, &n, &total), TSR_OK);
    CHECK(n == 1 && total == 1 && strcmp(list[0].id, cat.id) == 0);
    free(list);
    q = (tsr_store_image_query){.name = ".png", .limit = 1, .offset = 1};
    CHECK_EQ_INT(tsr_store_image_search(s, ctx, &alice, &q, &list, &n, &total), TSR_OK);
    CHECK(n == 1 && total == 2 && strcmp(list[0].id, cat.id) == 0); /* newest first */
    free(list);
    q = (tsr_store_image_query){.name = "%", .limit = 10}; /* no LIKE wildcards */
    CHECK_EQ_INT(tsr_store_image_search(s, ctx, &alice, &q, &list, &n, &total), TSR_OK);
    CHECK(n == 0 && total == 0);
    free(list);

    tsr_store_image found;
    int hit = 0;
    CHECK_EQ_INT(tsr_store_image_find_sha(s, ctx, &alice, cat.sha256, &found, &hit), TSR_OK);
    CHECK(hit && strcmp(found.id, cat.id) == 0);
    tsr_store_image other = add_image(s, ctx, bob.id, "cat", "mine.png");
    CHECK_EQ_INT(tsr_store_image_find_sha(s, ctx, &bob, cat.sha256, &found, &hit), TSR_OK);
    CHECK(hit && strcmp(found.id, other.id) == 0); /* bob's own, never alice's */
    CHECK_EQ_INT(tsr_store_image_find_sha(s, ctx, &alice, "nothex", &found, &hit), TSR_OK);
    CHECK(!hit);
    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

static void test_thumbnails(void) {
    char dir[64], thumb[TSR_STORE_ID_LEN + 1], late[TSR_STORE_ID_LEN + 1];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_image im = add_image(s, ctx, alice.id, "pixels", "a.png");
    put_blob(s, ctx, "small", thumb, NULL);
    put_blob(s, ctx, "small too", late, NULL);
    int changed = 0, found = 0;
    CHECK_EQ_INT(tsr_store_image_set_thumb(s, ctx, im.id, thumb, &changed), TSR_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(tsr_store_image_set_thumb(s, ctx, im.id, late, &changed), TSR_OK);
    CHECK_EQ_INT(changed, 0); /* the first one stays */
    tsr_store_image got;
    CHECK_EQ_INT(tsr_store_image_get(s, ctx, &alice, im.id, &got, &found), TSR_OK);
    CHECK(found && strcmp(got.thumb, thumb) == 0);
    /* reopening collects the unrecorded blob, keeps the recorded thumbnail */
    tsr_store_close(s);
    s = open_store(ctx, dir);
    CHECK(blob_exists(s, ctx, thumb));
    CHECK(!blob_exists(s, ctx, late));
    CHECK_EQ_INT(tsr_store_image_delete(s, ctx, &alice, im.id, &found), TSR_OK);
    CHECK(found && !blob_exists(s, ctx, thumb) && !blob_exists(s, ctx, im.blob));
    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

static void test_job_history(void) {
    char dir[64], ids[3][TSR_STORE_ID_LEN + 1];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_USER);
    tsr_store_image im = add_image(s, ctx, alice.id, "img", "a.png");
    const char *images[] = {im.id};
    tsr_store_job_spec spec = {.pipeline_json = "[{\"op\":\"grayscale\"}]",
                               .pipeline_text = "grayscale",
                               .output_format = "png",
                               .image_ids = images,
                               .image_count = 1};
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &spec, ids[i]), TSR_OK);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, ids[0], TSR_JOB_SUCCEEDED, NULL, NULL), TSR_OK);
    int found = 0;
    CHECK_EQ_INT(tsr_store_job_set_name(s, ctx, &alice, ids[0], "first\nrun", &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_INT(tsr_store_job_set_name(s, ctx, &bob, ids[1], "mine", &found), TSR_OK);
    CHECK_EQ_INT(found, 0);

    tsr_store_job *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    tsr_store_job_query q = {.state = TSR_JOB_SUCCEEDED};
    CHECK_EQ_INT(tsr_store_job_search(s, ctx, &alice, &q, &list, &n, &total), TSR_OK);
    CHECK(n == 1 && total == 1 && strcmp(list[0].id, ids[0]) == 0);
    CHECK(n == 1 && strcmp(list[0].name, "first_run") == 0);
    tsr_store_jobs_free(list, n);
    q = (tsr_store_job_query){.state = -1, .limit = 1, .offset = 1};
    CHECK_EQ_INT(tsr_store_job_search(s, ctx, &alice, &q, &list, &n, &total), TSR_OK);
    CHECK(n == 1 && total == 3 && strcmp(list[0].id, ids[1]) == 0 && list[0].name[0] == '\0');
    tsr_store_jobs_free(list, n);
    q = (tsr_store_job_query){.state = -1};
    CHECK_EQ_INT(tsr_store_job_search(s, ctx, &bob, &q, &list, &n, &total), TSR_OK);
    CHECK(n == 0 && total == 0);
    tsr_store_jobs_free(list, n);
    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_search_and_sha);
    RUN(test_thumbnails);
    RUN(test_job_history);
    return check_finish();
}
