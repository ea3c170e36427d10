/* Sizes for messages (src/util/units.h): decimal units, and a value and
 * its limit never read the same when they differ. */
#include <string.h>

#include "check.h"
#include "util/units.h"

#define CHECK_STR_EQ(a, b) CHECK(!strcmp((a), (b)))

static void test_pair_in_megapixels(void) {
    char v[TSR_UNITS_TEXT], l[TSR_UNITS_TEXT];
    tsr_units_pair(TSR_UNIT_PIXELS, 289000000, 268435456, v, l);
    CHECK_STR_EQ(v, "289 MP");
    CHECK_STR_EQ(l, "268 MP");
}

static void test_pair_close_values_differ(void) {
    char v[TSR_UNITS_TEXT], l[TSR_UNITS_TEXT];
    tsr_units_pair(TSR_UNIT_PIXELS, 268435457, 268435456, v, l);
    CHECK_STR_EQ(v, "268.435457 MP");
    CHECK_STR_EQ(l, "268.435456 MP");
    tsr_units_pair(TSR_UNIT_BYTES, 536900000, 536870912, v, l);
    CHECK_STR_EQ(v, "536.90 MB");
    CHECK_STR_EQ(l, "536.87 MB");
}

static void test_small_counts_stay_whole(void) {
    char v[TSR_UNITS_TEXT], l[TSR_UNITS_TEXT];
    tsr_units_pair(TSR_UNIT_BYTES, 900, 120000, v, l);
    CHECK_STR_EQ(v, "900 bytes");
    CHECK_STR_EQ(l, "120000 bytes");
}

static void test_format_alone(void) {
    char t[TSR_UNITS_TEXT];
    tsr_units_format(TSR_UNIT_BYTES, 536870912, t);
    CHECK_STR_EQ(t, "537 MB");
    tsr_units_format(TSR_UNIT_BYTES, 4294967296ull, t);
    CHECK_STR_EQ(t, "4.3 GB");
    tsr_units_format(TSR_UNIT_PIXELS, 0, t);
    CHECK_STR_EQ(t, "0 pixels");
    tsr_units_format(TSR_UNIT_PIXELS, 250000, t);
    CHECK_STR_EQ(t, "250000 pixels");
    tsr_units_format(TSR_UNIT_PIXELS, 1200000, t);
    CHECK_STR_EQ(t, "1.2 MP");
    tsr_units_format(TSR_UNIT_BYTES, UINT64_MAX, t);
    CHECK(strlen(t) > 0 && strstr(t, "TB"));
}

int main(void) {
    RUN(test_pair_in_megapixels);
    RUN(test_pair_close_values_differ);
    RUN(test_small_counts_stay_whole);
    RUN(test_format_alone);
    return check_finish();
}
