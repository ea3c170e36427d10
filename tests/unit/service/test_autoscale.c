/* The autoscaling decision as a pure function of the backlog history, and
 * the hook running a real command with the wanted count. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "service/autoscale.h"

static const tsr_autoscale_policy policy = {
    .min_workers = 1, .max_workers = 10, .tasks_per_worker = 8, .down_delay_ms = 30000};

static void test_first_decision_clamps(void) {
    tsr_autoscale_state s = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 0), 1);
    tsr_autoscale_state s2 = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s2, 1000, 0), 10);
    tsr_autoscale_state s3 = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s3, 17, 0), 3); /* ceil(17 / 8) */
    tsr_autoscale_state s4 = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s4, -1, 0), 1); /* unknown: the minimum */
    CHECK_EQ_INT(s4.initialized, 0);
}

static void test_scale_up_at_once(void) {
    tsr_autoscale_state s = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 8, 0), 1);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 40, 100), 5);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 41, 200), 6);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 10000, 300), 10);
}

static void test_scale_down_after_delay(void) {
    tsr_autoscale_state s = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 80, 0), 10);
    /* Backlog drops: nothing changes for 30 s. */
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 1000), 10);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 16, 15000), 10);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 30999), 10);
    /* After 30 s: the highest demand seen in the window (16 tasks = 2). */
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 31000), 2);
    /* And later to the minimum, again only after 30 s more. */
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 32000), 2);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 61999), 2);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 62000), 1);
}

static void test_bursts_reset_the_window(void) {
    tsr_autoscale_state s = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 40, 0), 5);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 1000), 5);
    /* A burst back to the current level restarts the low window. */
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 40, 20000), 5);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 40000), 5);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 69999), 5);
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 0, 70000), 1);
    /* Oscillating backlog never flaps below its peaks. */
    tsr_autoscale_state o = {0};
    int changes = 0, last = tsr_autoscale_decide(&policy, &o, 40, 0);
    for (int t = 1; t < 200; t++) {
        int w = tsr_autoscale_decide(&policy, &o, t % 2 ? 0 : 40, (int64_t)t * 1000);
        changes += w != last;
        last = w;
    }
    CHECK_EQ_INT(changes, 0);
}

static void test_unknown_backlog_keeps_count(void) {
    tsr_autoscale_state s = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, 40, 0), 5);
    for (int t = 1; t < 100; t++)
        CHECK_EQ_INT(tsr_autoscale_decide(&policy, &s, -1, (int64_t)t * 1000), 5);
}

static void test_defaults_and_zero_min(void) {
    tsr_autoscale_policy p = {.min_workers = 0, .max_workers = 4};
    tsr_autoscale_state s = {0};
    CHECK_EQ_INT(tsr_autoscale_decide(&p, &s, 0, 0), 0);
    CHECK_EQ_INT(tsr_autoscale_decide(&p, &s, 1, 10), 1);  /* 16 tasks per worker */
    CHECK_EQ_INT(tsr_autoscale_decide(&p, &s, 33, 20), 3); /* ceil(33 / 16) */
    CHECK_EQ_INT(tsr_autoscale_decide(&p, &s, 0, 29000), 3);
    CHECK_EQ_INT(tsr_autoscale_decide(&p, &s, 0, 58999), 3);
    CHECK_EQ_INT(tsr_autoscale_decide(&p, &s, 0, 59000), 0); /* 30 s default delay */
}

/* Backlog source and log of the hook test. */
typedef struct hook_state {
    atomic_llong backlog; /* what the source reports */
    atomic_int runs;      /* "run" events */
    atomic_int exits;     /* "exit" events with status 0 */
    atomic_int last;      /* wanted count of the last exit */
} hook_state;

static int64_t hook_backlog(void *user) {
    return atomic_load(&((hook_state *)user)->backlog);
}

static void hook_log(void *user, const char *event, int wanted, int status) {
    hook_state *h = user;
    if (!strcmp(event, "run"))
        atomic_fetch_add(&h->runs, 1);
    if (!strcmp(event, "exit") && status == 0) {
        atomic_fetch_add(&h->exits, 1);
        atomic_store(&h->last, wanted);
    }
}

static void wait_for(atomic_int *v, int want, int ms) {
    for (int i = 0; i < ms / 20 && atomic_load(v) < want; i++)
        nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
}

/* Reads the file CMD wrote: "ARG ENV" lines. */
static void read_out(const char *path, char *buf, size_t size) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void test_hook_runs_command(void) {
    char dir[] = "/tmp/tessera-autoscale-XXXXXX", out[128], cmd[512], buf[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(out, sizeof out, "%s/calls", dir);
    snprintf(cmd, sizeof cmd, "sh -c 'echo \"$1 $TESSERA_WANTED_WORKERS\" >> %s' -", out);
    hook_state h = {0};
    tsr_autoscale_config cfg = {.command = cmd,
                                .policy = {.min_workers = 1,
                                           .max_workers = 6,
                                           .tasks_per_worker = 10,
                                           .down_delay_ms = 300},
                                .period_ms = 50,
                                .backlog = hook_backlog,
                                .log = hook_log,
                                .user = &h};
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_autoscale *as = NULL;
    atomic_store(&h.backlog, 25);
    CHECK_EQ_INT(tsr_autoscale_start(ctx, &cfg, &as), TSR_OK);
    wait_for(&h.exits, 1, 5000);
    CHECK_EQ_INT(tsr_autoscale_wanted(as), 3);
    atomic_store(&h.backlog, 1000);
    wait_for(&h.exits, 2, 5000);
    CHECK_EQ_INT(atomic_load(&h.last), 6);
    atomic_store(&h.backlog, 0);
    wait_for(&h.exits, 3, 5000);
    CHECK_EQ_INT(atomic_load(&h.last), 1);
    tsr_autoscale_stop(as);
    CHECK_EQ_INT(atomic_load(&h.runs), 3);
    read_out(out, buf, sizeof buf);
    CHECK_STR_CONTAINS(buf, "3 3\n6 6\n1 1\n");
    unlink(out);
    rmdir(dir);
    /* Bad flags are usage errors naming them. */
    cfg.policy.min_workers = 5;
    cfg.policy.max_workers = 2;
    CHECK_EQ_INT(tsr_autoscale_start(ctx, &cfg, &as), TSR_ERR_USAGE);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "--min-workers");
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_first_decision_clamps);
    RUN(test_scale_up_at_once);
    RUN(test_scale_down_after_delay);
    RUN(test_bursts_reset_the_window);
    RUN(test_unknown_backlog_keeps_count);
    RUN(test_defaults_and_zero_min);
    RUN(test_hook_runs_command);
    return check_finish();
}
