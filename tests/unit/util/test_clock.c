/* Clocks (src/util/clock.h): monotonic readings never go back, the units
 * agree, and timespec arithmetic carries nanoseconds both ways. */
#include <time.h>

#include "check.h"
#include "util/clock.h"

static void test_monotonic_never_goes_back(void) {
    int64_t last_ms = tsr_clock_mono_ms();
    double last_s = tsr_clock_mono_s();
    for (int i = 0; i < 10000; i++) {
        int64_t ms = tsr_clock_mono_ms();
        double s = tsr_clock_mono_s();
        CHECK(ms >= last_ms);
        CHECK(s >= last_s);
        last_ms = ms;
        last_s = s;
    }
}

static void test_sleep_advances_monotonic(void) {
    int64_t t0 = tsr_clock_mono_ms();
    double s0 = tsr_clock_mono_s();
    tsr_clock_sleep_ms(20);
    CHECK(tsr_clock_mono_ms() - t0 >= 20);
    CHECK(tsr_clock_mono_s() - s0 >= 0.019);
    tsr_clock_sleep_ms(0); /* no sleep, no error */
    tsr_clock_sleep_ms(-5);
}

static void test_wall_units_agree(void) {
    int64_t ms = tsr_clock_wall_ms();
    double s = tsr_clock_wall_s();
    CHECK(ms > 1700000000000LL); /* after 2023 */
    CHECK(s * 1000.0 - (double)ms > -1000.0 && s * 1000.0 - (double)ms < 1000.0);
}

static void test_thread_cpu_grows_with_work(void) {
    double t0 = tsr_clock_thread_cpu_s();
    volatile double x = 0;
    for (int i = 0; i < 20000000 && tsr_clock_thread_cpu_s() - t0 < 0.01; i++)
        x += i;
    CHECK(tsr_clock_thread_cpu_s() > t0);
    CHECK(t0 >= 0);
}

static void test_add_ms_carries_nanoseconds(void) {
    struct timespec t = {.tv_sec = 10, .tv_nsec = 999999999};
    struct timespec u = tsr_timespec_add_ms(t, 1);
    CHECK_EQ_INT(u.tv_sec, 11);
    CHECK_EQ_INT(u.tv_nsec, 999999);
    u = tsr_timespec_add_ms((struct timespec){.tv_sec = 10, .tv_nsec = 500000000}, 500);
    CHECK_EQ_INT(u.tv_sec, 11);
    CHECK_EQ_INT(u.tv_nsec, 0);
    u = tsr_timespec_add_ms((struct timespec){.tv_sec = 10, .tv_nsec = 999000000}, 2001);
    CHECK_EQ_INT(u.tv_sec, 13);
    CHECK_EQ_INT(u.tv_nsec, 0);
    u = tsr_timespec_add_ms((struct timespec){.tv_sec = 10, .tv_nsec = 0}, 0);
    CHECK_EQ_INT(u.tv_sec, 10);
    CHECK_EQ_INT(u.tv_nsec, 0);
}

static void test_add_negative_ms_borrows(void) {
    struct timespec u = tsr_timespec_add_ms((struct timespec){.tv_sec = 10, .tv_nsec = 0}, -1);
    CHECK_EQ_INT(u.tv_sec, 9);
    CHECK_EQ_INT(u.tv_nsec, 999000000);
    u = tsr_timespec_add_ms((struct timespec){.tv_sec = 10, .tv_nsec = 1000000}, -2500);
    CHECK_EQ_INT(u.tv_sec, 7);
    CHECK_EQ_INT(u.tv_nsec, 501000000);
    u = tsr_timespec_add_ms((struct timespec){.tv_sec = 10, .tv_nsec = 5}, -1000);
    CHECK_EQ_INT(u.tv_sec, 9);
    CHECK_EQ_INT(u.tv_nsec, 5);
}

static void test_diff_ms_truncates_toward_zero(void) {
    struct timespec a = {.tv_sec = 11, .tv_nsec = 1000000},
                    b = {.tv_sec = 10, .tv_nsec = 999999999};
    CHECK_EQ_INT(tsr_timespec_diff_ms(a, b), 1); /* 1.000001 ms */
    CHECK_EQ_INT(tsr_timespec_diff_ms(b, a), -1);
    CHECK_EQ_INT(tsr_timespec_diff_ms(a, a), 0);
    struct timespec c = {.tv_sec = 10, .tv_nsec = 999999}; /* 0.999999 ms after 10 s */
    CHECK_EQ_INT(tsr_timespec_diff_ms(c, (struct timespec){.tv_sec = 10}), 0);
    struct timespec d = tsr_timespec_add_ms(b, 123456);
    CHECK_EQ_INT(tsr_timespec_diff_ms(d, b), 123456);
    CHECK_EQ_INT(tsr_timespec_diff_ms(b, d), -123456);
}

static void test_deadline_is_ahead_on_its_clock(void) {
    struct timespec before;
    clock_gettime(CLOCK_MONOTONIC, &before);
    struct timespec until = tsr_clock_deadline(CLOCK_MONOTONIC, 250);
    int64_t ahead = tsr_timespec_diff_ms(until, before);
    CHECK(ahead >= 250 && ahead < 1250);
    CHECK(until.tv_nsec >= 0 && until.tv_nsec < TSR_NS_PER_S);
    clock_gettime(CLOCK_REALTIME, &before);
    until = tsr_clock_deadline(CLOCK_REALTIME, 1500);
    ahead = tsr_timespec_diff_ms(until, before);
    CHECK(ahead >= 1500 && ahead < 2500);
}

static void test_format_iso(void) {
    char text[TSR_CLOCK_ISO_SIZE];
    tsr_clock_format_iso(1795736103396LL, text);
    CHECK(!strcmp(text, "2026-11-26T23:35:03.396Z"));
    tsr_clock_format_iso(0, text);
    CHECK(!strcmp(text, "1970-01-01T00:00:00.000Z"));
    tsr_clock_format_iso(-1, text);
    CHECK(!strcmp(text, "1969-12-31T23:59:59.999Z"));
    tsr_clock_format_iso(1000005, text);
    CHECK(!strcmp(text, "1970-01-01T00:16:40.005Z"));
}

static void test_parse_iso(void) {
    int64_t ms = 0;
    bool date = true;
    CHECK(tsr_clock_parse_iso("2026-11-26T23:35:03.396Z", &ms, &date));
    CHECK(ms == 1795736103396LL && !date);
    CHECK(tsr_clock_parse_iso("2026-11-26T23:35:03.3967891z", &ms, NULL));
    CHECK(ms == 1795736103396LL);
    CHECK(tsr_clock_parse_iso("2026-11-27T00:35:03.396+01:00", &ms, NULL));
    CHECK(ms == 1795736103396LL);
    CHECK(tsr_clock_parse_iso("2026-11-26T20:05:03.396-03:30", &ms, NULL));
    CHECK(ms == 1795736103396LL);
    CHECK(tsr_clock_parse_iso("2026-11-26", &ms, &date));
    CHECK(ms == 1795651200000LL && date);
    CHECK(tsr_clock_parse_iso("1970-01-01T00:00:00Z", &ms, NULL) && ms == 0);
    CHECK(tsr_clock_parse_iso("2024-02-29", &ms, NULL));
    const char *bad[] = {"",
                         "2026",
                         "2026-11-26T",
                         "2026-11-26 23:35:03Z",
                         "2026-13-01",
                         "2026-02-29",
                         "2026-11-31",
                         "2026-11-26T24:00:00Z",
                         "2026-11-26T23:35:03",
                         "2026-11-26T23:35:03.Z",
                         "2026-11-26T23:35Z",
                         "2026-11-26T23:35:03+0100",
                         "1969-12-31",
                         "2026-11-26x",
                         "2026-11-26T23:35:03Zjunk",
                         "+2026-11-26",
                         NULL};
    for (int i = 0; bad[i]; i++) {
        ms = 42;
        CHECK(!tsr_clock_parse_iso(bad[i], &ms, NULL));
        CHECK(ms == 42);
    }
    CHECK(!tsr_clock_parse_iso(NULL, &ms, NULL));
}

int main(void) {
    RUN(test_monotonic_never_goes_back);
    RUN(test_sleep_advances_monotonic);
    RUN(test_wall_units_agree);
    RUN(test_thread_cpu_grows_with_work);
    RUN(test_add_ms_carries_nanoseconds);
    RUN(test_add_negative_ms_borrows);
    RUN(test_diff_ms_truncates_toward_zero);
    RUN(test_deadline_is_ahead_on_its_clock);
    RUN(test_format_iso);
    RUN(test_parse_iso);
    return check_finish();
}
