/* A tiny unit-test harness: CHECK records failures and keeps going;
 * each test file's main() calls RUN(test_fn) and returns check_finish(). */
#ifndef TESSERA_TEST_CHECK_H
#define TESSERA_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures;
static int check_tests;
static int check_tests_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                            \
        if (check_a_ != check_b_) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__,  \
                    #a, #b, check_a_, check_b_);                                                   \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
    do {                                                                                           \
        const char *check_h_ = (hay);                                                              \
        if (!check_h_ || !strstr(check_h_, (needle))) {                                            \
            fprintf(stderr, "%s:%d: CHECK failed: \"%s\" contains \"%s\"\n", __FILE__, __LINE__,   \
                    check_h_ ? check_h_ : "(null)", (needle));                                     \
            check_failures++;                                                                      \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        int check_before_ = check_failures;                                                        \
        fn();                                                                                      \
        check_tests++;                                                                             \
        if (check_failures != check_before_) {                                                     \
            check_tests_failed++;                                                                  \
            fprintf(stderr, "FAIL %s\n", #fn);                                                     \
        } else {                                                                                   \
            printf("ok   %s\n", #fn);                                                              \
        }                                                                                          \
    } while (0)

static inline int check_finish(void) {
    printf("%d tests, %d failed\n", check_tests, check_tests_failed);
    return check_tests_failed ? 1 : 0;
}

/* Directory of test data (tests/data), passed by meson as TSR_TEST_DATA. */
static inline const char *check_data_dir(void) {
    const char *d = getenv("TSR_TEST_DATA");
    return d ? d : "tests/data";
}

#endif
