/* The autoscaling hook: backlog -> wanted workers -> CMD (see autoscale.h). */
#include "service/autoscale.h"
#include "util/clock.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

#define REAP_MS 250 /* how often a running CMD is checked for its exit */

struct tsr_autoscale {
    char *script;              /* "CMD \"$@\"" for /bin/sh -c */
    tsr_autoscale_config cfg;  /* copied; command points into script's source */
    tsr_autoscale_state state; /* decision history */
    pthread_mutex_t lock;      /* guards stop, wanted */
    pthread_cond_t cond;       /* wakes the thread for stop */
    int stop;                  /* set by stop */
    int wanted;                /* count last run; -1 = none */
    pid_t child;               /* running CMD; 0 = none */
    int child_wanted;          /* the count it was run with */
    pthread_t thread;          /* the thread */
    int started_thread;        /* thread was created */
};

int tsr_autoscale_decide(const tsr_autoscale_policy *p, tsr_autoscale_state *s, int64_t backlog,
                         int64_t now_ms) {
    int64_t per = p->tasks_per_worker > 0 ? p->tasks_per_worker : 16;
    int64_t delay = p->down_delay_ms > 0 ? p->down_delay_ms : 30000;
    if (backlog < 0)
        return s->initialized ? s->current : p->min_workers;
    int64_t need = backlog / per + (backlog % per != 0);
    int demand = need < p->min_workers   ? p->min_workers
                 : need > p->max_workers ? p->max_workers
                                         : (int)need;
    if (!s->initialized || demand >= s->current) {
        s->initialized = 1;
        s->current = demand;
        s->low = 0;
        return s->current;
    }
    if (!s->low) {
        s->low = 1;
        s->low_since = now_ms;
        s->low_peak = demand;
    } else if (demand > s->low_peak) {
        s->low_peak = demand;
    }
    if (now_ms - s->low_since >= delay) {
        s->current = s->low_peak;
        s->low = 0;
    }
    return s->current;
}

/* Spawns CMD with `wanted`; returns 0 or an errno. */
static int spawn(tsr_autoscale *as, int wanted, pid_t *pid) {
    char n[16], env_n[48];
    snprintf(n, sizeof n, "%d", wanted);
    snprintf(env_n, sizeof env_n, "TESSERA_WANTED_WORKERS=%d", wanted);
    size_t count = 0;
    while (environ && environ[count])
        count++;
    char **envp = calloc(count + 2, sizeof *envp);
    if (!envp)
        return ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "TESSERA_WANTED_WORKERS=", 23))
            envp[k++] = environ[i];
    envp[k++] = env_n;
    char *argv[] = {"/bin/sh", "-c", as->script, "tessera-autoscale", n, NULL};
    posix_spawnattr_t attr;
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGTERM);
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &deflt);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    int err = posix_spawn(pid, "/bin/sh", NULL, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    free(envp);
    return err;
}

static void log_event(tsr_autoscale *as, const char *event, int wanted, int status) {
    if (as->cfg.log)
        as->cfg.log(as->cfg.user, event, wanted, status);
}

/* Checks whether the running CMD ended; logs its exit status. */
static void reap(tsr_autoscale *as) {
    int status = 0;
    if (!as->child || waitpid(as->child, &status, WNOHANG) != as->child)
        return;
    as->child = 0;
    log_event(as, "exit", as->child_wanted,
              WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* One decision; runs CMD when the wanted count changed and none runs. */
static void step(tsr_autoscale *as) {
    int64_t backlog = as->cfg.backlog(as->cfg.user);
    int wanted = tsr_autoscale_decide(&as->cfg.policy, &as->state, backlog, tsr_clock_mono_ms());
    if (backlog < 0 && !as->state.initialized)
        return; /* nothing known yet: wait for the first backlog */
    pthread_mutex_lock(&as->lock);
    int last = as->wanted;
    pthread_mutex_unlock(&as->lock);
    if (as->child || wanted == last)
        return;
    int err = spawn(as, wanted, &as->child);
    if (err) {
        as->child = 0;
        log_event(as, "error", wanted, err);
        return;
    }
    as->child_wanted = wanted;
    pthread_mutex_lock(&as->lock);
    as->wanted = wanted;
    pthread_mutex_unlock(&as->lock);
    log_event(as, "run", wanted, -1);
}

static void *autoscale_main(void *arg) {
    tsr_autoscale *as = arg;
    int64_t next = 0;
    pthread_mutex_lock(&as->lock);
    while (!as->stop) {
        pthread_mutex_unlock(&as->lock);
        reap(as);
        if (tsr_clock_mono_ms() >= next) {
            step(as);
            next = tsr_clock_mono_ms() + as->cfg.period_ms;
        }
        pthread_mutex_lock(&as->lock);
        struct timespec until = tsr_clock_deadline(CLOCK_MONOTONIC, REAP_MS);
        while (!as->stop && pthread_cond_timedwait(&as->cond, &as->lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&as->lock);
    for (int i = 0; as->child && i < 2000 / 50; i++) {
        reap(as);
        if (as->child)
            tsr_clock_sleep_ms(50);
    }
    return NULL;
}

tsr_status tsr_autoscale_start(tsr_ctx *ctx, const tsr_autoscale_config *config,
                               tsr_autoscale **out) {
    const tsr_autoscale_policy *p = &config->policy;
    *out = NULL;
    if (!config->command || !*config->command)
        return tsr_error(ctx, TSR_ERR_USAGE, "autoscale: --autoscale-cmd is empty");
    if (p->min_workers < 0 || p->max_workers < 1 || p->max_workers < p->min_workers)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "autoscale: want 0 <= --min-workers <= --max-workers and "
                         "--max-workers >= 1 (got %d and %d)",
                         p->min_workers, p->max_workers);
    if (p->tasks_per_worker < 0 || p->down_delay_ms < 0 || config->period_ms < 0 ||
        !config->backlog)
        return tsr_error(ctx, TSR_ERR_USAGE, "autoscale: negative timing or no backlog source");
    tsr_autoscale *as = calloc(1, sizeof *as);
    size_t n = strlen(config->command);
    if (!as || !(as->script = malloc(n + 8))) {
        free(as);
        return tsr_error(ctx, TSR_ERR_NOMEM, "autoscale: out of memory");
    }
    snprintf(as->script, n + 8, "%s \"$@\"", config->command);
    as->cfg = *config;
    as->cfg.command = NULL;
    if (!as->cfg.period_ms)
        as->cfg.period_ms = 5000;
    as->wanted = -1;
    pthread_mutex_init(&as->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&as->cond, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&as->thread, NULL, autoscale_main, as)) {
        tsr_autoscale_stop(as);
        return tsr_error(ctx, TSR_ERR_INTERNAL, "autoscale: cannot start its thread");
    }
    as->started_thread = 1;
    *out = as;
    return TSR_OK;
}

int tsr_autoscale_wanted(tsr_autoscale *as) {
    pthread_mutex_lock(&as->lock);
    int w = as->wanted;
    pthread_mutex_unlock(&as->lock);
    return w;
}

void tsr_autoscale_stop(tsr_autoscale *as) {
    if (!as)
        return;
    if (as->started_thread) {
        pthread_mutex_lock(&as->lock);
        as->stop = 1;
        pthread_cond_signal(&as->cond);
        pthread_mutex_unlock(&as->lock);
        pthread_join(as->thread, NULL);
    }
    pthread_cond_destroy(&as->cond);
    pthread_mutex_destroy(&as->lock);
    free(as->script);
    free(as);
}
