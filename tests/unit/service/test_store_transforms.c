/* Transform usage in the store (issue 16 point 5): sums per account and
 * minute (adding to a minute adds, the peak is the largest), written all or
 * nothing, and counted with the jobs by the usage report: per account, per
 * day, inside the window only. On SQLite, and on PostgreSQL as `store_pg`
 * (test_db_env.h). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "test_db_env.h"
#include "service/store_usage.h"

#define MINUTE 60000LL
#define DAY    86400000LL

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int64_t make_user(tsr_store *s, tsr_ctx *ctx, const char *name) {
    int64_t id = 0;
    CHECK_EQ_INT(tsr_store_user_create(s, ctx, name, TSR_ROLE_USER, &id), TSR_OK);
    return id;
}

/* One transform's row: 0.5 CPU s, 1000 bytes in, 100 out, `pixels` peak. */
static tsr_transform_usage one(int64_t owner, int64_t minute, int64_t pixels) {
    return (tsr_transform_usage){.owner = owner,
                                 .minute = minute,
                                 .transforms = 1,
                                 .usage = {.cpu_seconds = 0.5,
                                           .read_bytes = 1000,
                                           .written_bytes = 100,
                                           .peak_pixels = pixels},
                                 .wall_seconds = 0.25};
}

typedef struct collected {
    tsr_usage_row rows[8];
    int n;
} collected;

static void collect(void *user, const tsr_usage_row *row) {
    collected *c = user;
    if (c->n < 8)
        c->rows[c->n++] = *row;
}

static collected report(tsr_store *s, tsr_ctx *ctx, int64_t from, int64_t to, int by_day) {
    collected c = {.n = 0};
    tsr_usage_query q = {.from_ms = from, .to_ms = to, .by_account = 1, .by_day = by_day};
    CHECK_EQ_INT(tsr_store_usage_report(s, ctx, &q, collect, &c), TSR_OK);
    return c;
}

static void test_sums_and_report(void) {
    char dir[64];
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_store *s = NULL;
    snprintf(dir, sizeof dir, "/tmp/tsr_transforms_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ_INT(test_store_open(ctx, dir, &s), TSR_OK);
    int64_t alice = make_user(s, ctx, "alice"), bob = make_user(s, ctx, "bob");
    int64_t day = 20000 * DAY; /* 2024-10-04, a UTC midnight */
    tsr_transform_usage rows[] = {one(alice, day, 10), one(alice, day, 30),
                                  one(alice, day + MINUTE, 20), one(bob, day + DAY, 5)};
    CHECK_EQ_INT(tsr_store_transform_usage_add(s, ctx, rows, 3), TSR_OK);
    CHECK_EQ_INT(tsr_store_transform_usage_add(s, ctx, rows + 3, 1), TSR_OK);
    collected c = report(s, ctx, 0, day + 2 * DAY, 0);
    CHECK_EQ_INT(c.n, 2);
    CHECK(!strcmp(c.rows[0].account, "alice") && c.rows[0].transforms == 3 && c.rows[0].jobs == 0);
    CHECK(c.rows[0].usage.cpu_seconds == 1.5 && c.rows[0].usage.read_bytes == 3000);
    CHECK(c.rows[0].usage.written_bytes == 300 && c.rows[0].usage.peak_pixels == 30);
    CHECK(c.rows[0].usage.network_bytes == 0 && c.rows[0].wall_seconds == 0.75);
    CHECK(!strcmp(c.rows[1].account, "bob") && c.rows[1].transforms == 1);
    /* by day, and a window that holds only the second of alice's minutes */
    c = report(s, ctx, 0, day + 2 * DAY, 1);
    CHECK_EQ_INT(c.n, 2);
    CHECK(!strcmp(c.rows[0].day, "2024-10-04") && !strcmp(c.rows[1].day, "2024-10-05"));
    c = report(s, ctx, day + 1, day + DAY, 0);
    CHECK_EQ_INT(c.n, 1);
    CHECK(c.rows[0].transforms == 1 && c.rows[0].usage.peak_pixels == 20);
    /* all or nothing: a row of an account that does not exist spoils the batch */
    tsr_transform_usage bad[] = {one(alice, day, 1), one(999, day, 1)};
    CHECK(tsr_store_transform_usage_add(s, ctx, bad, 2) != TSR_OK);
    tsr_ctx_reset(ctx);
    c = report(s, ctx, 0, day + 2 * DAY, 0);
    CHECK(c.rows[0].transforms == 3);
    tsr_store_close(s);
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_sums_and_report);
    return check_finish();
}
