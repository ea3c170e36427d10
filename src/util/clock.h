/* Clocks: monotonic and wall time in milliseconds or seconds, the calling
 * thread's CPU time, deadlines for pthread_cond_timedwait, timespec
 * arithmetic and the ISO 8601 form of a wall time. The one place that
 * calls clock_gettime (docs/internals/util.md). */
#ifndef TESSERA_UTIL_CLOCK_H
#define TESSERA_UTIL_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define TSR_NS_PER_S       1000000000L
#define TSR_NS_PER_MS      1000000L
#define TSR_CLOCK_ISO_SIZE 32 /* bytes for "2026-11-26T23:35:03.396Z" and its NUL */

/* Milliseconds / seconds on CLOCK_MONOTONIC: for intervals and timeouts;
 * the origin is arbitrary and never jumps. */
int64_t tsr_clock_mono_ms(void);
double tsr_clock_mono_s(void);

/* Milliseconds / seconds since the Unix epoch (CLOCK_REALTIME): for
 * timestamps that are stored or shown; may jump when the clock is set. */
int64_t tsr_clock_wall_ms(void);
double tsr_clock_wall_s(void);

/* CPU seconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID). */
double tsr_clock_thread_cpu_s(void);

/* `t` moved by `ms` milliseconds (negative moves back), with tv_nsec
 * normalised to 0..999999999. */
struct timespec tsr_timespec_add_ms(struct timespec t, int64_t ms);

/* `a - b` in whole milliseconds, truncated toward zero. */
int64_t tsr_timespec_diff_ms(struct timespec a, struct timespec b);

/* `ms` milliseconds from now on `clock`: the absolute deadline that
 * pthread_cond_timedwait wants (CLOCK_REALTIME for a default condition
 * variable, the clock given to pthread_condattr_setclock otherwise). */
struct timespec tsr_clock_deadline(clockid_t clock, int64_t ms);

/* Sleeps `ms` milliseconds (nothing when ms <= 0). Returns early when a
 * signal arrives, so a signal handler's flag is seen at once. */
void tsr_clock_sleep_ms(int64_t ms);

/* Writes `wall_ms` (milliseconds since the epoch) as UTC ISO 8601 with
 * milliseconds, "2026-11-26T23:35:03.396Z", into `out`. */
void tsr_clock_format_iso(int64_t wall_ms, char out[TSR_CLOCK_ISO_SIZE]);

/* Parses a time as RFC 3339 ("2026-11-26T23:35:03.396Z", "...T23:35:03Z",
 * "...T23:35:03+01:00"; any fraction is cut to milliseconds) or a UTC date
 * ("2026-11-26", midnight) into *wall_ms. *date_only (may be NULL) says
 * which it was. Returns false, leaving *wall_ms alone, for anything else,
 * including fields out of range (month 13, 24:00) and years before 1970 or
 * after 9999. */
bool tsr_clock_parse_iso(const char *text, int64_t *wall_ms, bool *date_only);

#endif
