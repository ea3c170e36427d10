/* The service store: migrations, CRUD of every table, ownership, token
 * verification, quota overrides, blob atomicity and crash leftovers, resume, concurrency. */
#include <dirent.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "test_db_env.h"
#include "service/store.h"

/* The schema version this build migrates to (14: saved frame and speed). */
#define SCHEMA_LATEST 14

/* A fresh data directory under /tmp for one test. */
static void make_data_dir(char *dir, size_t size) {
    snprintf(dir, size, "/tmp/tsr_store_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(2);
    }
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) {
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static tsr_store *open_store(tsr_ctx *ctx, const char *dir) {
    tsr_store *s = NULL;
    tsr_status rc = test_store_open(ctx, dir, &s);
    if (rc)
        fprintf(stderr, "open: %s\n", tsr_ctx_message(ctx));
    CHECK_EQ_INT(rc, TSR_OK);
    return s;
}

/* Counts the entries of `dir` other than . and .. (-1 if unreadable). */
static int count_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static tsr_store_user make_user(tsr_store *s, tsr_ctx *ctx, const char *name, tsr_role role) {
    tsr_store_user u = {0};
    int64_t id = 0;
    int found = 0;
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, name, role, &id), TSR_OK);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, id, &u, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    return u;
}

/* Stores `len` bytes as a blob and records them as an image of `owner`. */
static tsr_store_image add_image(tsr_store *s, tsr_ctx *ctx, int64_t owner, const void *bytes,
                                 size_t len) {
    tsr_store_image im = {0};
    tsr_blob_writer *w = NULL;
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, bytes, len), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, im.blob, im.sha256), TSR_OK);
    tsr_blob_writer_free(w);
    im.owner = owner;
    snprintf(im.format, sizeof im.format, "png");
    im.width = 4;
    im.height = 3;
    im.bands = 3;
    im.frames = 1;
    im.bytes = len;
    snprintf(im.name, sizeof im.name, "photo.png");
    CHECK_EQ_INT(tsr_store_image_insert(s, ctx, &im), TSR_OK);
    return im;
}

static tsr_store_job_spec job_spec(const char *const *ids, size_t n) {
    tsr_store_job_spec spec = {
        .pipeline_json = "[{\"op\":\"grayscale\"}]",
        .pipeline_text = "grayscale",
        .op_versions = "{\"grayscale\":1}",
        .output_format = "png",
        .quality = 90,
        .speed = 7,
        .tiles_total = 10,
        .image_ids = ids,
        .image_count = n,
    };
    return spec;
}

static void test_open_migrations_idempotent(void) {
    char dir[64], path[PATH_MAX];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    CHECK_EQ_INT(tsr_store_schema_version(s), SCHEMA_LATEST);
    make_user(s, ctx, "alice", TSR_ROLE_USER);
    /* A second open of the same directory is refused while the first holds it. */
    tsr_store *second = NULL;
    CHECK_EQ_INT(tsr_store_open(ctx, dir, &second), TSR_ERR_IO);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "in use");
    CHECK(second == NULL);
    tsr_ctx_reset(ctx);
    tsr_store_close(s);
    for (int i = 0; i < 2; i++) {
        int64_t n = 0;
        s = open_store(ctx, dir);
        CHECK_EQ_INT(tsr_store_schema_version(s), SCHEMA_LATEST);
        CHECK_EQ_INT(tsr_store_user_count(s, ctx, &n), TSR_OK);
        CHECK_EQ_INT(n, 1);
        tsr_store_close(s);
    }
    snprintf(path, sizeof path, "%s/tessera.db", dir);
    struct stat sb;
    char url[PATH_MAX + 16];
    CHECK(test_db_url(ctx, dir, url, sizeof url) ||
          (stat(path, &sb) == 0 && (sb.st_mode & 0077) == 0));
    CHECK(stat(dir, &sb) == 0 && (sb.st_mode & 0777) == 0700);
    tsr_store_close(NULL);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

static void test_users(void) {
    char dir[64];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    int64_t id = 0, n = 0;
    int found = 1;
    tsr_store_user u;
    tsr_store_user admin = make_user(s, ctx, "admin", TSR_ROLE_ADMIN);
    tsr_store_user bob = make_user(s, ctx, "bob.b-1_x", TSR_ROLE_VIEWER);
    CHECK_EQ_INT(admin.role, TSR_ROLE_ADMIN);
    CHECK_EQ_INT(bob.role, TSR_ROLE_VIEWER);
    CHECK(strcmp(bob.name, "bob.b-1_x") == 0 && bob.created > 0);
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, "bob.b-1_x", TSR_ROLE_USER, &id), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "already exists");
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, "../etc", TSR_ROLE_USER, &id), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, "", TSR_ROLE_USER, &id), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, "x", (tsr_role)7, &id), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, 999, &u, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(tsr_store_user_count(s, ctx, &n), TSR_OK);
    CHECK_EQ_INT(n, 2);
    tsr_store_user *list = NULL;
    size_t count = 0;
    CHECK_EQ_INT(tsr_store_user_list(s, ctx, &list, &count), TSR_OK);
    CHECK_EQ_INT(count, 2);
    CHECK(count == 2 && list[0].id == admin.id && list[1].id == bob.id);
    free(list);
    tsr_role r;
    CHECK(tsr_role_parse("viewer", &r) && r == TSR_ROLE_VIEWER);
    CHECK(!tsr_role_parse("root", &r));
    CHECK(strcmp(tsr_role_name(TSR_ROLE_USER), "user") == 0);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

/* Runs `sql` on the database of `dir` with a connection of its own (the
 * store must be closed): to take a store back to an older schema. */
static void raw_exec(const char *dir, const char *sql) {
    char url[PATH_MAX + 16];
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_db *db = NULL;
    if (!test_db_url(ctx, dir, url, sizeof url))
        snprintf(url, sizeof url, "sqlite:%s/tessera.db", dir);
    CHECK_EQ_INT(tsr_db_open(ctx, url, 0, &db), TSR_OK);
    tsr_db_error_kind rc = db ? tsr_db_exec(db, sql) : TSR_DB_INTERNAL;
    if (rc != TSR_DB_OK)
        fprintf(stderr, "raw_exec: %s\n", db ? tsr_db_message(db) : tsr_ctx_message(ctx));
    CHECK_EQ_INT(rc, TSR_DB_OK);
    tsr_db_close(db);
    tsr_ctx_free(ctx);
}

/* Per-account quota overrides: none on a new user, set, 0, cleared, one
 * changed with the other kept, range checks, unknown users, reads through
 * get, list and token verification, and a version-1 store migrated. */
static void test_quota_overrides(void) {
    char dir[64], token[TSR_STORE_TOKEN_LEN + 1];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER), u;
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_USER);
    int found = 0;
    CHECK(!alice.quota_bytes.set && !alice.quota_jobs.set);
    CHECK_EQ_INT(tsr_store_user_set_quota(s, ctx, alice.id, true, 5000000, true, 0, &found),
                 TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, alice.id, &u, &found), TSR_OK);
    CHECK(u.quota_bytes.set && u.quota_bytes.value == 5000000);
    CHECK(u.quota_jobs.set && u.quota_jobs.value == 0); /* 0 = unlimited, not "default" */
    /* token verification (what the server's requests carry) reads them too */
    CHECK_EQ_INT(tsr_store_token_create(s, ctx, alice.id, token, NULL), TSR_OK);
    CHECK_EQ_INT(tsr_store_token_verify(s, ctx, token, &u, &found), TSR_OK);
    CHECK(found && u.quota_bytes.set && u.quota_bytes.value == 5000000 && u.quota_jobs.set);
    /* keep bytes, clear jobs; bob is untouched */
    CHECK_EQ_INT(
        tsr_store_user_set_quota(s, ctx, alice.id, true, u.quota_bytes.value, false, 0, NULL),
        TSR_OK);
    tsr_store_user *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(tsr_store_user_list(s, ctx, &list, &n), TSR_OK);
    CHECK(n == 2 && list[0].id == alice.id && list[0].quota_bytes.set &&
          list[0].quota_bytes.value == 5000000 && !list[0].quota_jobs.set);
    CHECK(n == 2 && !list[1].quota_bytes.set && !list[1].quota_jobs.set);
    free(list);
    /* range checks leave the account as it was */
    CHECK_EQ_INT(
        tsr_store_user_set_quota(s, ctx, alice.id, true, (uint64_t)INT64_MAX + 1, false, 0, &found),
        TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "quota_bytes");
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_user_set_quota(s, ctx, alice.id, false, 0, true,
                                          TSR_STORE_QUOTA_JOBS_MAX + 1, &found),
                 TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "quota_jobs");
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, alice.id, &u, &found), TSR_OK);
    CHECK(u.quota_bytes.set && u.quota_bytes.value == 5000000);
    /* an unknown user is not found, not an error */
    found = 1;
    CHECK_EQ_INT(tsr_store_user_set_quota(s, ctx, 999, true, 1, true, 1, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    /* clearing both goes back to the default; the largest values fit */
    CHECK_EQ_INT(tsr_store_user_set_quota(s, ctx, bob.id, true, (uint64_t)INT64_MAX, true,
                                          TSR_STORE_QUOTA_JOBS_MAX, &found),
                 TSR_OK);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, bob.id, &u, &found), TSR_OK);
    CHECK(u.quota_bytes.value == (uint64_t)INT64_MAX && u.quota_jobs.value == 1000000);
    CHECK_EQ_INT(tsr_store_user_set_quota(s, ctx, bob.id, false, 0, false, 0, &found), TSR_OK);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, bob.id, &u, &found), TSR_OK);
    CHECK(!u.quota_bytes.set && !u.quota_jobs.set);
    tsr_store_close(s);
    /* a store of schema version 1 (no quota columns, no version-3 columns, no
     * feedback tables, no usage columns, no version columns or saved
     * pipelines, no speed, no transform usage, no leases, no stored percent)
     * is migrated at open */
    raw_exec(dir,
             "DROP INDEX images_owner_sha; DROP INDEX images_thumb;"
             "ALTER TABLE images DROP COLUMN thumb_blob; ALTER TABLE jobs DROP COLUMN name;"
             "ALTER TABLE users DROP COLUMN quota_bytes;"
             "ALTER TABLE users DROP COLUMN quota_jobs;"
             "DROP TABLE feedback; DROP TABLE feedback_counts;"
             "DROP INDEX jobs_finished; ALTER TABLE jobs DROP COLUMN gpu_seconds;"
             "ALTER TABLE jobs DROP COLUMN read_bytes; ALTER TABLE jobs DROP COLUMN written_bytes;"
             "ALTER TABLE jobs DROP COLUMN network_bytes; ALTER TABLE jobs DROP COLUMN peak_pixels;"
             "DROP TABLE saved_pipeline_versions; DROP TABLE saved_pipelines;"
             "ALTER TABLE jobs DROP COLUMN tessera_version; ALTER TABLE jobs DROP COLUMN tile;"
             "ALTER TABLE jobs DROP COLUMN saved_pipeline;"
             "ALTER TABLE jobs DROP COLUMN saved_version;"
             "ALTER TABLE jobs DROP COLUMN frame; ALTER TABLE jobs DROP COLUMN speed;"
             "DROP TABLE transform_usage;"
             "ALTER TABLE jobs DROP COLUMN lease_owner; ALTER TABLE jobs DROP COLUMN lease_until;"
             "DROP TABLE idempotency_keys; DROP TABLE coordinators;"
             "ALTER TABLE jobs DROP COLUMN percent; ALTER TABLE jobs DROP COLUMN eta_seconds;"
             "ALTER TABLE jobs DROP COLUMN progress_at;"
             "UPDATE schema_version SET version = 1;");
    s = open_store(ctx, dir);
    CHECK_EQ_INT(tsr_store_schema_version(s), SCHEMA_LATEST);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, alice.id, &u, &found), TSR_OK);
    CHECK(found && !strcmp(u.name, "alice") && !u.quota_bytes.set && !u.quota_jobs.set);
    CHECK_EQ_INT(tsr_store_user_set_quota(s, ctx, alice.id, true, 7, false, 0, &found), TSR_OK);
    CHECK_EQ_INT(tsr_store_user_get(s, ctx, alice.id, &u, &found), TSR_OK);
    CHECK(u.quota_bytes.set && u.quota_bytes.value == 7);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

static void test_tokens(void) {
    char dir[64], token[TSR_STORE_TOKEN_LEN + 1], token2[TSR_STORE_TOKEN_LEN + 1];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_USER);
    tsr_store_user admin = make_user(s, ctx, "root", TSR_ROLE_ADMIN);
    tsr_store_user who;
    int64_t tid = 0, tid2 = 0;
    int found = 0;
    CHECK_EQ_INT(tsr_store_token_create(s, ctx, alice.id, token, &tid), TSR_OK);
    CHECK_EQ_INT(tsr_store_token_create(s, ctx, bob.id, token2, &tid2), TSR_OK);
    CHECK_EQ_INT(strlen(token), TSR_STORE_TOKEN_LEN);
    CHECK(strcmp(token, token2) != 0 && tid > 0 && tid2 > tid);
    CHECK_EQ_INT(tsr_store_token_create(s, ctx, 12345, token2, NULL), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);

    CHECK_EQ_INT(tsr_store_token_verify(s, ctx, token, &who, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK(found && who.id == alice.id && strcmp(who.name, "alice") == 0);
    char wrong[TSR_STORE_TOKEN_LEN + 1];
    memcpy(wrong, token, sizeof wrong);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    const char *bad[] = {wrong, "", "abc", "zz", NULL};
    for (int i = 0; i < 5; i++) {
        found = 1;
        CHECK_EQ_INT(tsr_store_token_verify(s, ctx, bad[i], &who, &found), TSR_OK);
        CHECK_EQ_INT(found, 0);
    }
    char longer[2 * TSR_STORE_TOKEN_LEN + 1];
    snprintf(longer, sizeof longer, "%s%s", token, token);
    CHECK_EQ_INT(tsr_store_token_verify(s, ctx, longer, &who, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);

    /* Bob cannot revoke Alice's token; Alice can; twice is harmless. */
    CHECK_EQ_INT(tsr_store_token_revoke(s, ctx, &bob, tid, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(tsr_store_token_verify(s, ctx, token, &who, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_INT(tsr_store_token_revoke(s, ctx, &alice, tid, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_INT(tsr_store_token_revoke(s, ctx, &alice, tid, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_INT(tsr_store_token_verify(s, ctx, token, &who, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(tsr_store_token_revoke(s, ctx, &admin, tid2, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);

    tsr_store_token *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(tsr_store_token_list(s, ctx, &alice, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, 1);
    CHECK(n == 1 && list[0].id == tid && list[0].user == alice.id && list[0].revoked > 0);
    free(list);
    CHECK_EQ_INT(tsr_store_token_list(s, ctx, &admin, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, 2);
    free(list);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

/* Reads a whole test photo. The caller frees the result. */
static unsigned char *read_photo(const char *name, size_t *len) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", check_data_dir(), name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_images(void) {
    char dir[64], path[PATH_MAX], hex[TSR_STORE_SHA256_LEN + 1];
    unsigned char digest[crypto_hash_sha256_BYTES];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_USER);
    tsr_store_user admin = make_user(s, ctx, "root", TSR_ROLE_ADMIN);
    size_t len = 0;
    unsigned char *photo = read_photo("coffee.png", &len);
    CHECK(photo != NULL);
    if (!photo)
        goto out;

    /* Stream the photo in odd-sized chunks, as an upload arrives. */
    tsr_store_image im = {0};
    tsr_blob_writer *w = NULL;
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK(file_exists(tsr_blob_writer_temp_path(w)));
    for (size_t off = 0; off < len; off += 4099) {
        size_t n = len - off < 4099 ? len - off : 4099;
        CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, photo + off, n), TSR_OK);
    }
    CHECK_EQ_INT(tsr_blob_writer_bytes(w), len);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, im.blob, im.sha256), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, im.blob, im.sha256), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    tsr_blob_writer_free(w);
    crypto_hash_sha256(digest, photo, len);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    CHECK(strcmp(hex, im.sha256) == 0);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    CHECK_EQ_INT(count_entries(tmp), 0); /* the temp file became the blob */

    im.owner = alice.id;
    snprintf(im.format, sizeof im.format, "png");
    im.width = 451;
    im.height = 300;
    im.bands = 3;
    im.frames = 1;
    im.bytes = len;
    snprintf(im.name, sizeof im.name, "caf\xc3\xa9\n.png");
    CHECK_EQ_INT(tsr_store_image_insert(s, ctx, &im), TSR_OK);
    CHECK_EQ_INT(strlen(im.id), TSR_STORE_ID_LEN);
    CHECK(strcmp(im.name, "caf\xc3\xa9_.png") == 0);

    tsr_store_image got;
    int found = 0;
    CHECK_EQ_INT(tsr_store_image_get(s, ctx, &alice, im.id, &got, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK(found && memcmp(&got, &im, sizeof im) == 0);
    CHECK_EQ_INT(tsr_store_image_get(s, ctx, &bob, im.id, &got, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(tsr_store_image_get(s, ctx, &admin, im.id, &got, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK_EQ_INT(tsr_store_image_get(s, ctx, &alice, "../../etc/passwd", &got, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);

    /* The blob holds exactly the uploaded bytes. */
    CHECK_EQ_INT(tsr_blob_path(s, ctx, im.blob, path), TSR_OK);
    size_t blen = 0;
    FILE *f = fopen(path, "rb");
    unsigned char *back = malloc(len + 1);
    if (f && back)
        blen = fread(back, 1, len + 1, f);
    CHECK(f && back && blen == len && memcmp(back, photo, len) == 0);
    if (f)
        fclose(f);
    free(back);

    /* Listing: own images only, newest first. */
    tsr_store_image second = add_image(s, ctx, alice.id, "abc", 3);
    add_image(s, ctx, bob.id, "xyz", 3);
    tsr_store_image *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(tsr_store_image_list(s, ctx, &alice, 0, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(n == 2 && strcmp(list[0].id, second.id) == 0 && strcmp(list[1].id, im.id) == 0);
    free(list);
    CHECK_EQ_INT(tsr_store_image_list(s, ctx, &alice, 1, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, 1);
    free(list);

    /* Bad inserts. */
    tsr_store_image bad = im;
    bad.bands = 9;
    CHECK_EQ_INT(tsr_store_image_insert(s, ctx, &bad), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    bad = im;
    CHECK_EQ_INT(tsr_store_image_insert(s, ctx, &bad), TSR_ERR_USAGE); /* blob already used */
    tsr_ctx_reset(ctx);

    /* Delete: Bob cannot, Alice can, and the blob goes with the row. */
    CHECK_EQ_INT(tsr_store_image_delete(s, ctx, &bob, im.id, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    CHECK(file_exists(path));
    CHECK_EQ_INT(tsr_store_image_delete(s, ctx, &alice, im.id, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK(!file_exists(path));
    CHECK_EQ_INT(tsr_store_image_get(s, ctx, &alice, im.id, &got, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(tsr_store_image_delete(s, ctx, &alice, im.id, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
out:
    free(photo);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

static void test_blob_atomicity(void) {
    char dir[64], tmp[128], path[PATH_MAX], orphan[PATH_MAX], kept[PATH_MAX];
    char id[TSR_STORE_ID_LEN + 1];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    char blobs[PATH_MAX];
    snprintf(blobs, sizeof blobs, "%s/blobs", dir);

    /* Freed without commit: nothing is left anywhere. */
    tsr_blob_writer *w = NULL;
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, "partial", 7), TSR_OK);
    CHECK_EQ_INT(count_entries(tmp), 1);
    tsr_blob_writer_free(w);
    CHECK_EQ_INT(count_entries(tmp), 0);
    CHECK_EQ_INT(count_entries(blobs), 0);
    tsr_blob_writer_free(NULL);

    /* Over the cap: TSR_ERR_LIMIT, and no commit afterwards. */
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 10, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, "0123456789", 10), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, "x", 1), TSR_ERR_LIMIT);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, id, NULL), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    tsr_blob_writer_free(w);
    CHECK_EQ_INT(count_entries(tmp), 0);
    CHECK_EQ_INT(count_entries(blobs), 0);

    /* put_file: a file an encoder wrote under tmp/ moves into the store. */
    uint64_t bytes = 0;
    CHECK_EQ_INT(tsr_blob_temp_path(s, ctx, path), TSR_OK);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("result bytes", f);
        fclose(f);
    }
    CHECK_EQ_INT(tsr_blob_put_file(s, ctx, path, id, &bytes), TSR_OK);
    CHECK_EQ_INT(bytes, 12);
    CHECK(!file_exists(path));
    CHECK_EQ_INT(tsr_blob_path(s, ctx, id, path), TSR_OK);
    CHECK(file_exists(path));
    CHECK_EQ_INT(tsr_blob_put_file(s, ctx, "/etc/passwd", id, NULL), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    snprintf(orphan, sizeof orphan, "%s/../lock", tmp);
    CHECK_EQ_INT(tsr_blob_put_file(s, ctx, orphan, id, NULL), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_blob_path(s, ctx, "../../etc/passwd", path), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_blob_path(s, ctx, "0123456789ABCDEF0123456789abcdef", path), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_blob_delete(s, ctx, id), TSR_OK);
    CHECK_EQ_INT(tsr_blob_delete(s, ctx, id), TSR_OK); /* already gone: fine */

    /* A crash leaves a half-written temp file and a committed blob that no
     * row refers to; the next open removes both and keeps referenced blobs. */
    tsr_store_image im = add_image(s, ctx, alice.id, "keep me", 7);
    CHECK_EQ_INT(tsr_blob_path(s, ctx, im.blob, kept), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, "orphan", 6), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, id, NULL), TSR_OK);
    tsr_blob_writer_free(w);
    CHECK_EQ_INT(tsr_blob_path(s, ctx, id, orphan), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, "half", 4), TSR_OK);
    char stale[PATH_MAX];
    snprintf(stale, sizeof stale, "%s", tsr_blob_writer_temp_path(w));
    tsr_store_close(s); /* "crash": the writer is never freed or committed */
    CHECK(file_exists(stale) && file_exists(orphan) && file_exists(kept));
    s = open_store(ctx, dir);
    CHECK(!file_exists(stale));
    CHECK(!file_exists(orphan));
    CHECK(file_exists(kept));
    CHECK_EQ_INT(count_entries(tmp), 0);
    tsr_store_close(s);
    free(w); /* the writer's fd was closed neither; release its memory only */
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

static void test_jobs(void) {
    char dir[64], id[TSR_STORE_ID_LEN + 1], res[TSR_STORE_ID_LEN + 1], path[PATH_MAX];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_user bob = make_user(s, ctx, "bob", TSR_ROLE_USER);
    tsr_store_user admin = make_user(s, ctx, "root", TSR_ROLE_ADMIN);
    tsr_store_image a = add_image(s, ctx, alice.id, "aaa", 3);
    tsr_store_image b = add_image(s, ctx, alice.id, "bbb", 3);
    tsr_store_image c = add_image(s, ctx, bob.id, "ccc", 3);
    const char *ids[] = {b.id, a.id};
    tsr_store_job_spec spec = job_spec(ids, 2);
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &spec, id), TSR_OK);
    CHECK_EQ_INT(strlen(id), TSR_STORE_ID_LEN);

    tsr_store_job *job = NULL;
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &alice, id, &job), TSR_OK);
    CHECK(job != NULL);
    if (job) {
        CHECK_EQ_INT(job->state, TSR_JOB_QUEUED);
        CHECK_EQ_INT(job->owner, alice.id);
        CHECK(strcmp(job->pipeline_text, "grayscale") == 0);
        CHECK(strcmp(job->op_versions, "{\"grayscale\":1}") == 0);
        CHECK(strcmp(job->output_format, "png") == 0 && job->quality == 90 && job->speed == 7);
        CHECK_EQ_INT(job->tiles_total, 10);
        CHECK_EQ_INT(job->item_count, 2);
        CHECK(job->items && strcmp(job->items[0].image, b.id) == 0 &&
              strcmp(job->items[1].image, a.id) == 0 && job->items[1].position == 1);
        CHECK(job->created > 0 && job->started == 0 && job->finished == 0 && !job->error);
    }
    tsr_store_job_free(job);
    tsr_store_job_free(NULL);
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &bob, id, &job), TSR_OK);
    CHECK(job == NULL);
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &admin, id, &job), TSR_OK);
    CHECK(job != NULL);
    tsr_store_job_free(job);

    /* Someone else's image, or a missing one: refused, and no job is left. */
    const char *foreign[] = {a.id, c.id};
    tsr_store_job_spec bad = job_spec(foreign, 2);
    char other[TSR_STORE_ID_LEN + 1];
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &bad, other), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "not found");
    CHECK(other[0] == '\0');
    tsr_ctx_reset(ctx);
    bad.image_count = 0;
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &bad, other), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    bad = job_spec(ids, 2);
    bad.quality = 101;
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &bad, other), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    bad = job_spec(ids, 2);
    bad.speed = 10;
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &bad, other), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "speed 10 is outside 0..9");
    tsr_ctx_reset(ctx);
    int64_t counts[TSR_JOB_STATE_COUNT];
    CHECK_EQ_INT(tsr_store_job_count_by_state(s, ctx, counts), TSR_OK);
    CHECK_EQ_INT(counts[TSR_JOB_QUEUED], 1);

    /* A newer job lists first. */
    const char *one[] = {a.id};
    tsr_store_job_spec spec1 = job_spec(one, 1);
    char newer[TSR_STORE_ID_LEN + 1];
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &spec1, newer), TSR_OK);
    tsr_store_job *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(tsr_store_job_list(s, ctx, &alice, 10, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, 2);
    CHECK(n == 2 && strcmp(list[0].id, newer) == 0 && strcmp(list[1].id, id) == 0);
    CHECK(n == 2 && list[1].item_count == 2 && list[1].items == NULL);
    tsr_store_jobs_free(list, n);
    CHECK_EQ_INT(tsr_store_job_list(s, ctx, &bob, 10, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, 0);
    tsr_store_jobs_free(list, n);

    /* The scheduler runs it. */
    int changed = 0;
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, id, TSR_JOB_RUNNING, NULL, &changed), TSR_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(tsr_store_job_progress(
                     s, ctx, id,
                     &(tsr_store_progress){
                         .tiles_done = 3, .tiles_total = 12, .percent = 40, .eta_seconds = 7.5}),
                 TSR_OK);
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &alice, id, &job), TSR_OK);
    CHECK(job && job->percent == 40 && job->eta_seconds == 7.5 && job->progress_at > 0);
    tsr_store_job_free(job);
    /* a resumed run counts from less: the stored percent stays; no ETA yet */
    CHECK_EQ_INT(tsr_store_job_progress(s, ctx, id,
                                        &(tsr_store_progress){.tiles_done = 4,
                                                              .tiles_total = 12,
                                                              .percent = 30,
                                                              .eta_seconds = -1,
                                                              .usage = {.cpu_seconds = 1.5}}),
                 TSR_OK);
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &alice, id, &job), TSR_OK);
    CHECK(job && job->percent == 40 && job->eta_seconds == -1 && job->tiles_done == 4);
    tsr_store_job_free(job);
    CHECK_EQ_INT(tsr_store_job_progress(s, ctx, id, &(tsr_store_progress){.percent = 101}),
                 TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_job_item_set_state(s, ctx, id, 0, TSR_JOB_RUNNING, NULL, &changed),
                 TSR_OK);
    CHECK_EQ_INT(changed, 1);
    tsr_blob_writer *w = NULL;
    CHECK_EQ_INT(tsr_blob_writer_new(s, ctx, 0, &w), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_write(w, ctx, "result", 6), TSR_OK);
    CHECK_EQ_INT(tsr_blob_writer_commit(w, ctx, res, NULL), TSR_OK);
    tsr_blob_writer_free(w);
    tsr_store_item_result r = {res, 6, "png", 4, 3, 0.25};
    CHECK_EQ_INT(tsr_store_job_item_result(s, ctx, id, 0, &r, &changed), TSR_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(tsr_store_job_item_result(s, ctx, id, 0, &r, &changed), TSR_OK);
    CHECK_EQ_INT(changed, 0); /* the first result stays */
    CHECK_EQ_INT(
        tsr_store_job_item_set_state(s, ctx, id, 1, TSR_JOB_FAILED, "image 2: corrupt", &changed),
        TSR_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(tsr_store_job_item_set_state(s, ctx, id, 7, TSR_JOB_FAILED, NULL, &changed),
                 TSR_OK);
    CHECK_EQ_INT(changed, 0);

    /* A running job cannot be deleted. */
    int found = 0;
    CHECK_EQ_INT(tsr_store_job_delete(s, ctx, &alice, id, &found), TSR_ERR_USAGE);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_job_progress(s, ctx, id,
                                        &(tsr_store_progress){.tiles_done = 12,
                                                              .tiles_total = 12,
                                                              .eta_seconds = -1,
                                                              .usage = {.cpu_seconds = 3.0}}),
                 TSR_OK);
    CHECK_EQ_INT(
        tsr_store_job_set_state(s, ctx, id, TSR_JOB_FAILED, "1 of 2 images failed", &changed),
        TSR_OK);
    CHECK_EQ_INT(changed, 1);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, id, TSR_JOB_RUNNING, NULL, &changed), TSR_OK);
    CHECK_EQ_INT(changed, 0); /* terminal is final */
    CHECK_EQ_INT(tsr_store_job_progress(s, ctx, id,
                                        &(tsr_store_progress){.tiles_done = 1,
                                                              .tiles_total = 12,
                                                              .eta_seconds = -1,
                                                              .usage = {.cpu_seconds = 9.0}}),
                 TSR_OK); /* ignored */

    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &alice, id, &job), TSR_OK);
    CHECK(job != NULL);
    if (job) {
        CHECK_EQ_INT(job->state, TSR_JOB_FAILED);
        CHECK(job->error && strcmp(job->error, "1 of 2 images failed") == 0);
        CHECK_EQ_INT(job->tiles_done, 12);
        CHECK(job->usage.cpu_seconds == 3.0);
        CHECK(job->started > 0 && job->finished >= job->started);
        tsr_store_job_item *i0 = &job->items[0], *i1 = &job->items[1];
        CHECK_EQ_INT(i0->state, TSR_JOB_SUCCEEDED);
        CHECK(strcmp(i0->result_blob, res) == 0 && i0->result_bytes == 6);
        CHECK(strcmp(i0->result_format, "png") == 0 && i0->width == 4 && i0->height == 3);
        CHECK(i0->seconds == 0.25 && i0->started > 0 && i0->finished > 0 && !i0->error);
        CHECK_EQ_INT(i1->state, TSR_JOB_FAILED);
        CHECK(i1->error && strcmp(i1->error, "image 2: corrupt") == 0);
        CHECK(i1->result_blob[0] == '\0');
    }
    tsr_store_job_free(job);

    /* Delete: not Bob; Alice, with the result blob. */
    CHECK_EQ_INT(tsr_blob_path(s, ctx, res, path), TSR_OK);
    CHECK(file_exists(path));
    CHECK_EQ_INT(tsr_store_job_delete(s, ctx, &bob, id, &found), TSR_OK);
    CHECK_EQ_INT(found, 0);
    CHECK_EQ_INT(tsr_store_job_delete(s, ctx, &alice, id, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    CHECK(!file_exists(path));
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &alice, id, &job), TSR_OK);
    CHECK(job == NULL);
    CHECK_EQ_INT(tsr_store_job_count_by_state(s, ctx, counts), TSR_OK);
    CHECK_EQ_INT(counts[TSR_JOB_QUEUED], 1);
    CHECK_EQ_INT(counts[TSR_JOB_FAILED], 0);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

static void test_image_in_use(void) {
    char dir[64], id[TSR_STORE_ID_LEN + 1];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_image a = add_image(s, ctx, alice.id, "aaa", 3);
    const char *ids[] = {a.id};
    tsr_store_job_spec spec = job_spec(ids, 1);
    CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &spec, id), TSR_OK);
    int found = 0;
    CHECK_EQ_INT(tsr_store_image_delete(s, ctx, &alice, a.id, &found), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), id);
    tsr_ctx_reset(ctx);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, id, TSR_JOB_CANCELLED, NULL, NULL), TSR_OK);
    CHECK_EQ_INT(tsr_store_image_delete(s, ctx, &alice, a.id, &found), TSR_OK);
    CHECK_EQ_INT(found, 1);
    tsr_store_job *job = NULL;
    CHECK_EQ_INT(tsr_store_job_get(s, ctx, &alice, id, &job), TSR_OK);
    CHECK(job && job->item_count == 1 && job->items[0].image[0] == '\0');
    tsr_store_job_free(job);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

static void test_resume_after_restart(void) {
    char dir[64], ids[4][TSR_STORE_ID_LEN + 1];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_image a = add_image(s, ctx, alice.id, "aaa", 3);
    const char *imgs[] = {a.id, a.id};
    tsr_store_job_spec spec = job_spec(imgs, 2);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(tsr_store_job_create(s, ctx, &alice, &spec, ids[i]), TSR_OK);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, ids[0], TSR_JOB_SUCCEEDED, NULL, NULL), TSR_OK);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, ids[1], TSR_JOB_RUNNING, NULL, NULL), TSR_OK);
    CHECK_EQ_INT(tsr_store_job_item_set_state(s, ctx, ids[1], 1, TSR_JOB_RUNNING, NULL, NULL),
                 TSR_OK);
    CHECK_EQ_INT(tsr_store_job_progress(s, ctx, ids[1],
                                        &(tsr_store_progress){.tiles_done = 3,
                                                              .tiles_total = 10,
                                                              .eta_seconds = -1,
                                                              .usage = {.cpu_seconds = 0.5}}),
                 TSR_OK);
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, ids[2], TSR_JOB_CANCELLED, NULL, NULL), TSR_OK);
    tsr_store_close(s); /* as after a crash: nothing finished the running job */

    s = open_store(ctx, dir);
    tsr_store_job *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(tsr_store_job_list_active(s, ctx, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, 2);
    if (n == 2) {
        CHECK(strcmp(list[0].id, ids[1]) == 0 && strcmp(list[1].id, ids[3]) == 0);
        CHECK_EQ_INT(list[0].state, TSR_JOB_RUNNING);
        CHECK_EQ_INT(list[0].tiles_done, 3);
        CHECK_EQ_INT(list[0].item_count, 2);
        CHECK(list[0].items && list[0].items[1].state == TSR_JOB_RUNNING &&
              list[0].items[0].state == TSR_JOB_QUEUED);
        CHECK_EQ_INT(list[1].state, TSR_JOB_QUEUED);
        CHECK(list[1].items != NULL);
    }
    tsr_store_jobs_free(list, n);
    /* The scheduler may put a running job back in the queue on resume. */
    int changed = 0;
    CHECK_EQ_INT(tsr_store_job_set_state(s, ctx, ids[1], TSR_JOB_QUEUED, NULL, &changed), TSR_OK);
    CHECK_EQ_INT(changed, 1);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

/* Child of test_kill9: creates jobs with result blobs forever, reporting each
 * job id on `fd` once its transaction and blob are committed. */
static void kill9_child(const char *dir, int fd) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store *s = NULL;
    if (test_store_open(ctx, dir, &s))
        _exit(3);
    tsr_store_user u;
    int found = 0;
    if (tsr_store_user_get(s, ctx, 1, &u, &found) || !found)
        _exit(4);
    tsr_store_image im = add_image(s, ctx, u.id, "input", 5);
    const char *ids[] = {im.id};
    tsr_store_job_spec spec = job_spec(ids, 1);
    for (;;) {
        char id[TSR_STORE_ID_LEN + 1], blob[TSR_STORE_ID_LEN + 1];
        tsr_blob_writer *w = NULL;
        if (tsr_store_job_create(s, ctx, &u, &spec, id) || tsr_blob_writer_new(s, ctx, 0, &w))
            _exit(5);
        for (int i = 0; i < 64; i++)
            tsr_blob_writer_write(w, ctx, "0123456789abcdef", 16);
        if (tsr_blob_writer_commit(w, ctx, blob, NULL))
            _exit(6);
        tsr_blob_writer_free(w);
        tsr_store_item_result r = {blob, 1024, "png", 1, 1, 0.0};
        if (tsr_store_job_item_result(s, ctx, id, 0, &r, NULL))
            _exit(7);
        /* An upload in flight when the kill comes. */
        tsr_blob_writer_new(s, ctx, 0, &w);
        tsr_blob_writer_write(w, ctx, "half", 4);
        if (write(fd, id, TSR_STORE_ID_LEN) != TSR_STORE_ID_LEN)
            _exit(8);
        tsr_blob_writer_free(w);
    }
}

/* kill -9 in the middle of writes: every job reported committed is there with
 * its result after reopening, the database is intact, tmp/ is empty. */
static void test_kill9(void) {
    char dir[64], tmp[128];
    int fds[2];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", dir);
    tsr_store *s = open_store(ctx, dir);
    tsr_store_user alice = make_user(s, ctx, "alice", TSR_ROLE_USER);
    tsr_store_close(s);
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        kill9_child(dir, fds[1]);
    }
    close(fds[1]);
    static char seen[40][TSR_STORE_ID_LEN + 1];
    int n = 0;
    while (n < 40 && read(fds[0], seen[n], TSR_STORE_ID_LEN) == TSR_STORE_ID_LEN)
        seen[n++][TSR_STORE_ID_LEN] = '\0';
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK_EQ_INT(n, 40);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    s = open_store(ctx, dir);
    CHECK_EQ_INT(count_entries(tmp), 0);
    for (int i = 0; s && i < n; i++) {
        tsr_store_job *job = NULL;
        char path[PATH_MAX];
        CHECK_EQ_INT(tsr_store_job_get(s, ctx, &alice, seen[i], &job), TSR_OK);
        CHECK(job && job->item_count == 1 && job->items[0].state == TSR_JOB_SUCCEEDED);
        if (job && job->item_count == 1) {
            CHECK_EQ_INT(tsr_blob_path(s, ctx, job->items[0].result_blob, path), TSR_OK);
            struct stat sb;
            CHECK(stat(path, &sb) == 0 && sb.st_size == 1024);
        }
        tsr_store_job_free(job);
    }
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

#define THREADS         4
#define JOBS_PER_THREAD 25

typedef struct worker_arg {
    tsr_store *store;                    /* shared */
    tsr_store_user user;                 /* this thread's user */
    char image[TSR_STORE_ID_LEN + 1];    /* this thread's image */
    char token[TSR_STORE_TOKEN_LEN + 1]; /* this thread's token */
    int failures;                        /* calls that did not answer TSR_OK */
} worker_arg;

static void *worker(void *p) {
    worker_arg *arg = p;
    tsr_ctx *ctx = tsr_ctx_new();
    const char *ids[] = {arg->image};
    tsr_store_job_spec spec = job_spec(ids, 1);
    for (int i = 0; i < JOBS_PER_THREAD; i++) {
        char id[TSR_STORE_ID_LEN + 1];
        tsr_store_user who;
        int found = 0, changed = 0;
        tsr_store_job *job = NULL;
        arg->failures += tsr_store_job_create(arg->store, ctx, &arg->user, &spec, id) != TSR_OK;
        arg->failures +=
            tsr_store_job_set_state(arg->store, ctx, id, TSR_JOB_RUNNING, NULL, &changed) != TSR_OK;
        arg->failures += !changed;
        for (int t = 1; t <= 5; t++)
            arg->failures +=
                tsr_store_job_progress(arg->store, ctx, id,
                                       &(tsr_store_progress){.tiles_done = t,
                                                             .tiles_total = 5,
                                                             .eta_seconds = -1,
                                                             .usage = {.cpu_seconds = t * 0.1}}) !=
                TSR_OK;
        arg->failures += tsr_store_job_item_set_state(arg->store, ctx, id, 0, TSR_JOB_SUCCEEDED,
                                                      NULL, NULL) != TSR_OK;
        arg->failures +=
            tsr_store_job_set_state(arg->store, ctx, id, i % 2 ? TSR_JOB_SUCCEEDED : TSR_JOB_FAILED,
                                    NULL, NULL) != TSR_OK;
        arg->failures +=
            tsr_store_token_verify(arg->store, ctx, arg->token, &who, &found) != TSR_OK;
        arg->failures += !found || who.id != arg->user.id;
        arg->failures += tsr_store_job_get(arg->store, ctx, &arg->user, id, &job) != TSR_OK;
        arg->failures += !job || job->tiles_done != 5;
        tsr_store_job_free(job);
    }
    if (tsr_ctx_status(ctx))
        fprintf(stderr, "worker: %s\n", tsr_ctx_message(ctx));
    tsr_ctx_free(ctx);
    return NULL;
}

static void test_concurrency(void) {
    char dir[64];
    tsr_ctx *ctx = tsr_ctx_new();
    make_data_dir(dir, sizeof dir);
    tsr_store *s = open_store(ctx, dir);
    worker_arg args[THREADS];
    pthread_t threads[THREADS];
    for (int i = 0; i < THREADS; i++) {
        char name[16];
        snprintf(name, sizeof name, "user%d", i);
        memset(&args[i], 0, sizeof args[i]);
        args[i].store = s;
        args[i].user = make_user(s, ctx, name, TSR_ROLE_USER);
        tsr_store_image im = add_image(s, ctx, args[i].user.id, name, strlen(name));
        memcpy(args[i].image, im.id, sizeof im.id);
        CHECK_EQ_INT(tsr_store_token_create(s, ctx, args[i].user.id, args[i].token, NULL), TSR_OK);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_create(&threads[i], NULL, worker, &args[i]);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK_EQ_INT(args[i].failures, 0);
    }
    int64_t counts[TSR_JOB_STATE_COUNT];
    CHECK_EQ_INT(tsr_store_job_count_by_state(s, ctx, counts), TSR_OK);
    CHECK_EQ_INT(counts[TSR_JOB_SUCCEEDED] + counts[TSR_JOB_FAILED], THREADS * JOBS_PER_THREAD);
    CHECK_EQ_INT(counts[TSR_JOB_QUEUED] + counts[TSR_JOB_RUNNING], 0);
    tsr_store_job *list = NULL;
    size_t n = 0;
    CHECK_EQ_INT(tsr_store_job_list(s, ctx, &args[0].user, 0, &list, &n), TSR_OK);
    CHECK_EQ_INT(n, JOBS_PER_THREAD);
    tsr_store_jobs_free(list, n);
    tsr_store_close(s);
    remove_tree(dir);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_open_migrations_idempotent);
    RUN(test_users);
    RUN(test_quota_overrides);
    RUN(test_tokens);
    RUN(test_images);
    RUN(test_blob_atomicity);
    RUN(test_jobs);
    RUN(test_image_in_use);
    RUN(test_resume_after_restart);
    RUN(test_kill9);
    RUN(test_concurrency);
    return check_finish();
}
