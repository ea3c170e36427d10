/* Clocks and timespec arithmetic (util/clock.h). */
#include <stdio.h>

#include "util/clock.h"

static struct timespec now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts;
}

static int64_t to_ms(struct timespec ts) {
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / TSR_NS_PER_MS;
}

static double to_s(struct timespec ts) {
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t tsr_clock_mono_ms(void) {
    return to_ms(now(CLOCK_MONOTONIC));
}

double tsr_clock_mono_s(void) {
    return to_s(now(CLOCK_MONOTONIC));
}

int64_t tsr_clock_wall_ms(void) {
    return to_ms(now(CLOCK_REALTIME));
}

double tsr_clock_wall_s(void) {
    return to_s(now(CLOCK_REALTIME));
}

double tsr_clock_thread_cpu_s(void) {
    return to_s(now(CLOCK_THREAD_CPUTIME_ID));
}

struct timespec tsr_timespec_add_ms(struct timespec t, int64_t ms) {
    int64_t nsec = (int64_t)t.tv_nsec + (ms % 1000) * TSR_NS_PER_MS;
    int64_t sec = (int64_t)t.tv_sec + ms / 1000 + nsec / TSR_NS_PER_S;
    nsec %= TSR_NS_PER_S;
    if (nsec < 0) {
        nsec += TSR_NS_PER_S;
        sec--;
    }
    return (struct timespec){.tv_sec = (time_t)sec, .tv_nsec = (long)nsec};
}

int64_t tsr_timespec_diff_ms(struct timespec a, struct timespec b) {
    int64_t ns = ((int64_t)a.tv_sec - (int64_t)b.tv_sec) * TSR_NS_PER_S +
                 ((int64_t)a.tv_nsec - (int64_t)b.tv_nsec);
    return ns / TSR_NS_PER_MS;
}

struct timespec tsr_clock_deadline(clockid_t clock, int64_t ms) {
    return tsr_timespec_add_ms(now(clock), ms);
}

void tsr_clock_sleep_ms(int64_t ms) {
    if (ms <= 0)
        return;
    struct timespec ts = tsr_timespec_add_ms((struct timespec){0}, ms);
    nanosleep(&ts, NULL);
}

void tsr_clock_format_iso(int64_t wall_ms, char out[TSR_CLOCK_ISO_SIZE]) {
    int64_t ms = wall_ms % 1000, secs = wall_ms / 1000;
    if (ms < 0) { /* before the epoch: floor, so the milliseconds count up */
        ms += 1000;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    size_t n = 0;
    if (gmtime_r(&t, &tm))
        n = strftime(out, TSR_CLOCK_ISO_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, TSR_CLOCK_ISO_SIZE - n, ".%03dZ", (int)ms);
}
