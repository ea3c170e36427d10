/* Saved pipelines in the store (issue 14): names per account, append-only
 * versions (update and rollback add one), the newest as the default, lists
 * and deletion, ownership; and what a job records of its versions. */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "test_db_env.h"
#include "service/store_saved.h"

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static tsr_store *open_store(tsr_ctx *ctx, char *dir, size_t size) {
    tsr_store *s = NULL;
    snprintf(dir, size, "/tmp/tsr_saved_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
    CHECK_EQ_INT(test_store_open(ctx, dir, &s), TSR_OK);
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

static tsr_saved_spec spec_of(const char *text) {
    tsr_saved_spec spec = {.pipeline_json = "[]", .pipeline_text = text};
    return spec;
}

static void test_names(void) {
    CHECK(tsr_saved_name_valid("thumbs_v2-final"));
    CHECK(!tsr_saved_name_valid(""));
    CHECK(!tsr_saved_name_valid(NULL));
    CHECK(!tsr_saved_name_valid("a b"));
    CHECK(!tsr_saved_name_valid("../x"));
    CHECK(!tsr_saved_name_valid("x.y"));
    char longest[TSR_SAVED_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest - 1);
    longest[TSR_SAVED_NAME_MAX] = '\0';
    CHECK(tsr_saved_name_valid(longest));
    longest[TSR_SAVED_NAME_MAX] = 'a';
    longest[TSR_SAVED_NAME_MAX + 1] = '\0';
    CHECK(!tsr_saved_name_valid(longest));
}

static void test_versions_and_rollback(void) {
    char dir[64];
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store *s = open_store(ctx, dir, sizeof dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_ADMIN);
    tsr_saved_spec v1 = spec_of("invert@1"), v2 = spec_of("grayscale@1");
    v2.output_format = "jpeg";
    v2.quality = 70;
    v2.tile = 64;
    v2.frame_set = true; /* frame 0: a chosen frame, not "none" */
    v2.speed = 7;
    int version = -1, found = 0;
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "p", &v1, true, &version), TSR_OK);
    CHECK_EQ_INT(version, 1);
    /* create again: nothing done, the name exists */
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "p", &v2, true, &version), TSR_OK);
    CHECK_EQ_INT(version, 0);
    /* update a name that does not exist: nothing done */
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "q", &v2, false, &version), TSR_OK);
    CHECK_EQ_INT(version, 0);
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "p", &v2, false, &version), TSR_OK);
    CHECK_EQ_INT(version, 2);
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "bad name", &v1, true, &version),
                 TSR_ERR_USAGE);
    tsr_saved_spec fast = spec_of("invert@1"), negative = spec_of("invert@1");
    fast.speed = 10;
    negative.frame_set = true, negative.frame = -1;
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "p", &fast, false, &version), TSR_ERR_USAGE);
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "p", &negative, false, &version),
                 TSR_ERR_USAGE);
    tsr_saved_version got;
    CHECK_EQ_INT(tsr_store_saved_get(s, ctx, &alice, "p", 0, &got, &found), TSR_OK);
    CHECK(found && got.version == 2 && got.latest == 2 &&
          !strcmp(got.pipeline_text, "grayscale@1"));
    CHECK(!strcmp(got.output_format, "jpeg") && got.quality == 70 && got.tile == 64);
    CHECK(got.frame_set && got.frame == 0 && got.speed == 7);
    CHECK(got.rollback_of == 0 && got.created >= got.first_created && got.first_created > 0);
    tsr_saved_version_clear(&got);
    CHECK_EQ_INT(tsr_store_saved_get(s, ctx, &alice, "p", 1, &got, &found), TSR_OK);
    CHECK(found && got.version == 1 && got.latest == 2 && !strcmp(got.pipeline_text, "invert@1"));
    CHECK(got.output_format[0] == '\0' && got.quality == 0 && got.tile == 0);
    CHECK(!got.frame_set && got.speed == 0);
    /* a rollback is a new version equal to the old one */
    tsr_saved_spec back = {
        .pipeline_json = got.pipeline_json, .pipeline_text = got.pipeline_text, .rollback_of = 1};
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "p", &back, false, &version), TSR_OK);
    CHECK_EQ_INT(version, 3);
    tsr_saved_version_clear(&got);
    CHECK_EQ_INT(tsr_store_saved_get(s, ctx, &alice, "p", 0, &got, &found), TSR_OK);
    CHECK(found && got.version == 3 && got.rollback_of == 1 &&
          !strcmp(got.pipeline_text, "invert@1"));
    tsr_saved_version_clear(&got);
    CHECK_EQ_INT(tsr_store_saved_get(s, ctx, &alice, "p", 4, &got, &found), TSR_OK);
    CHECK(!found);
    /* ownership: another account (an admin too) neither sees nor changes it */
    CHECK_EQ_INT(tsr_store_saved_get(s, ctx, &bob, "p", 0, &got, &found), TSR_OK);
    CHECK(!found);
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &bob, "p", &v1, false, &version), TSR_OK);
    CHECK_EQ_INT(version, 0);
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &bob, "p", &v2, true, &version), TSR_OK);
    CHECK_EQ_INT(version, 1); /* bob's own "p" */
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "a-first", &v1, true, &version), TSR_OK);
    /* lists: the newest version of each of the caller's names, by name */
    tsr_saved_version *list = NULL;
    size_t n = 0;
    int64_t total = 0;
    CHECK_EQ_INT(tsr_store_saved_list(s, ctx, &alice, 0, 0, &list, &n, &total), TSR_OK);
    CHECK(n == 2 && total == 2 && !strcmp(list[0].name, "a-first") && list[1].version == 3);
    tsr_saved_versions_free(list, n);
    CHECK_EQ_INT(tsr_store_saved_list(s, ctx, &alice, 1, 1, &list, &n, &total), TSR_OK);
    CHECK(n == 1 && total == 2 && !strcmp(list[0].name, "p"));
    tsr_saved_versions_free(list, n);
    CHECK_EQ_INT(tsr_store_saved_versions(s, ctx, &alice, "p", &list, &n), TSR_OK);
    CHECK(n == 3 && list[0].version == 1 && list[2].version == 3 && list[2].latest == 3);
    tsr_saved_versions_free(list, n);
    /* delete takes every version; bob's "p" stays */
    CHECK_EQ_INT(tsr_store_saved_delete(s, ctx, &alice, "p", &found), TSR_OK);
    CHECK(found);
    CHECK_EQ_INT(tsr_store_saved_delete(s, ctx, &alice, "p", &found), TSR_OK);
    CHECK(!found);
    CHECK_EQ_INT(tsr_store_saved_versions(s, ctx, &alice, "p", &list, &n), TSR_OK);
    CHECK(n == 0);
    CHECK_EQ_INT(tsr_store_saved_get(s, ctx, &bob, "p", 0, &got, &found), TSR_OK);
    CHECK(found && got.version == 1);
    tsr_saved_version_clear(&got);
    /* a deleted name starts again at version 1 */
    CHECK_EQ_INT(tsr_store_saved_add(s, ctx, &alice, "p", &v1, true, &version), TSR_OK);
    CHECK_EQ_INT(version, 1);
    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_names);
    RUN(test_versions_and_rollback);
    return check_finish();
}
