/* Sizes in decimal units for messages (units.h). */
#include "util/units.h"

#include <stdio.h>
#include <string.h>

static const char *const pixel_units[] = {"pixels", "", "MP", "GP", "TP"}; /* no kilo */
static const char *const byte_units[] = {"bytes", "kB", "MB", "GB", "TB"};

/* The power of 1000 used for `value`: the largest whose unit is at most it
 * (pixels skip kilo: "2500 pixels", then "1.2 MP"). */
static int scale_of(tsr_unit unit, uint64_t value) {
    int scale = 0;
    for (uint64_t v = value; v >= 1000 && scale < 4; v /= 1000)
        scale++;
    return unit == TSR_UNIT_PIXELS && scale == 1 ? 0 : scale;
}

/* Writes `value` / 1000^scale with `decimals` decimals (none when scale is
 * 0) and the unit's name. */
static void write_scaled(tsr_unit unit, uint64_t value, int scale, int decimals, char *text) {
    const char *name = (unit == TSR_UNIT_PIXELS ? pixel_units : byte_units)[scale];
    double divisor = 1;
    for (int i = 0; i < scale; i++)
        divisor *= 1000;
    if (scale == 0)
        snprintf(text, TSR_UNITS_TEXT, "%llu %s", (unsigned long long)value, name);
    else
        snprintf(text, TSR_UNITS_TEXT, "%.*f %s", decimals, (double)value / divisor, name);
}

void tsr_units_pair(tsr_unit unit, uint64_t value, uint64_t limit, char *value_text,
                    char *limit_text) {
    int scale = scale_of(unit, limit < value ? limit : value);
    for (int decimals = 0; decimals <= 6; decimals++) {
        write_scaled(unit, value, scale, decimals, value_text);
        write_scaled(unit, limit, scale, decimals, limit_text);
        if (value == limit || strcmp(value_text, limit_text))
            return;
    }
}

void tsr_units_format(tsr_unit unit, uint64_t value, char *text) {
    int scale = scale_of(unit, value);
    double divisor = 1;
    for (int i = 0; i < scale; i++)
        divisor *= 1000;
    write_scaled(unit, value, scale, (double)value / divisor < 10 ? 1 : 0, text);
}
