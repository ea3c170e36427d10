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

/* Reads exactly `n` decimal digits at *p into *out and moves *p past them. */
static bool digits(const char **p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

/* Days from 1970-01-01 to year-month-day (proleptic Gregorian). */
static int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Whether y-m-d is a real date. */
static bool valid_date(int y, int m, int d) {
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m >= 1 && m <= 12 && d >= 1 && d <= len[m - 1] + (m == 2 && leap);
}

/* Reads "Z" or "+HH:MM" / "-HH:MM" at p (the whole rest) as the offset
 * east of UTC in minutes. */
static bool zone(const char *p, int *minutes) {
    int hh, mm;
    if ((p[0] == 'Z' || p[0] == 'z') && !p[1]) {
        *minutes = 0;
        return true;
    }
    if (p[0] != '+' && p[0] != '-')
        return false;
    const char *q = p + 1;
    if (!digits(&q, 2, &hh) || *q++ != ':' || !digits(&q, 2, &mm) || *q || hh > 23 || mm > 59)
        return false;
    *minutes = (p[0] == '-' ? -1 : 1) * (hh * 60 + mm);
    return true;
}

/* Reads "HH:MM:SS[.fraction]" at *p: seconds of the day into *secs, the
 * fraction cut to milliseconds into *ms; moves *p past it. */
static bool time_of_day(const char **p, int *secs, int *ms) {
    int h, m, s, n = 0;
    if (!digits(p, 2, &h) || *(*p)++ != ':' || !digits(p, 2, &m) || *(*p)++ != ':' ||
        !digits(p, 2, &s) || h > 23 || m > 59 || s > 59)
        return false;
    *secs = h * 3600 + m * 60 + s;
    *ms = 0;
    if (**p != '.')
        return true;
    for ((*p)++; **p >= '0' && **p <= '9'; (*p)++, n++)
        if (n < 3)
            *ms = *ms * 10 + (**p - '0');
    for (int i = n; i > 0 && i < 3; i++)
        *ms *= 10;
    return n > 0;
}

bool tsr_clock_parse_iso(const char *text, int64_t *wall_ms, bool *date_only) {
    int y, mo, d, secs = 0, ms = 0, off = 0;
    const char *p = text;
    if (!p || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d) || y < 1970 || !valid_date(y, mo, d))
        return false;
    bool only = *p == '\0';
    if (!only) {
        if (*p != 'T' && *p != 't')
            return false;
        p++;
        if (!time_of_day(&p, &secs, &ms) || !zone(p, &off))
            return false;
    }
    int64_t total = days_from_civil(y, mo, d) * 86400 + secs - (int64_t)off * 60;
    if (total < 0)
        return false;
    *wall_ms = total * 1000 + ms;
    if (date_only)
        *date_only = only;
    return true;
}
