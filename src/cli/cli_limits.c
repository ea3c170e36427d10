/* The caps on input images as command-line options (cli_limits.h). */
#include "cli/cli_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cli_limits_usage[] = "[--max-pixels N] [--max-width N] [--max-height N] "
                                "[--max-frames N] [--max-file-bytes N] [--max-buffer-bytes N]";

int cli_parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
    char *end;
    if (!s || !*s || *s == '-')
        return 0;
    double d = strtod(s, &end);
    if (*end || !(d >= 0) || d > 1e19)
        return 0;
    uint64_t v = d >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)d;
    if ((double)v != d || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

/* One cap: its option, which set it belongs to, its range. */
typedef struct limit_flag {
    const char *name; /* "--max-pixels" */
    int which;        /* CLI_LIMITS_* */
    uint64_t lo, hi;  /* allowed values */
} limit_flag;

static const limit_flag flags[] = {
    {"--max-pixels", CLI_LIMITS_SHAPE, 1, UINT64_MAX},
    {"--max-width", CLI_LIMITS_SHAPE, 1, 0x7fffffff},
    {"--max-height", CLI_LIMITS_SHAPE, 1, 0x7fffffff},
    {"--max-frames", CLI_LIMITS_SHAPE, 1, 0x7fffffff},
    {"--max-file-bytes", CLI_LIMITS_FILE_BYTES, 1, UINT64_MAX},
    {"--max-buffer-bytes", CLI_LIMITS_BUFFER, 1, UINT64_MAX},
};

/* Index of `opt` in flags[] when it is in `which`, else -1. */
static int find_flag(int which, const char *opt) {
    for (int i = 0; i < (int)(sizeof flags / sizeof flags[0]); i++)
        if ((flags[i].which & which) && !strcmp(opt, flags[i].name))
            return i;
    return -1;
}

int cli_is_limit_option(int which, const char *opt) {
    return find_flag(which, opt) >= 0;
}

int cli_limit_option(const char *command, int which, const char *opt, const char *val,
                     tsr_limits *limits) {
    int k = find_flag(which, opt);
    if (k < 0)
        return 0;
    uint64_t v = 0;
    if (!cli_parse_count(val, flags[k].lo, flags[k].hi, &v)) {
        fprintf(stderr, "tessera %s: %s wants a whole number from %llu to %llu (got '%s')\n",
                command, opt, (unsigned long long)flags[k].lo, (unsigned long long)flags[k].hi,
                val ? val : "");
        return -1;
    }
    switch (k) {
    case 0:
        limits->max_pixels = v;
        break;
    case 1:
        limits->max_width = (uint32_t)v;
        break;
    case 2:
        limits->max_height = (uint32_t)v;
        break;
    case 3:
        limits->max_frames = (uint32_t)v;
        break;
    case 4:
        limits->max_file_bytes = v;
        break;
    default:
        limits->max_alloc = v;
    }
    return 1;
}
