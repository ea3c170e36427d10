/* The caps on input images as command-line options, one spelling and one
 * parser for `tessera process` and `tessera serve` (docs/cli.md,
 * docs/serve.md, docs/formats.md "Limits on untrusted input"). */
#ifndef TESSERA_CLI_LIMITS_H
#define TESSERA_CLI_LIMITS_H

#include <stdint.h>

#include "tessera/tessera.h"

/* Which caps a command takes as options. */
enum {
    CLI_LIMITS_SHAPE = 1,      /* --max-pixels, --max-width, --max-height, --max-frames */
    CLI_LIMITS_FILE_BYTES = 2, /* --max-file-bytes (serve spells its cap --max-upload-bytes) */
    CLI_LIMITS_BUFFER = 4      /* --max-buffer-bytes: the single-buffer cap (max_alloc) */
};

/* The synopsis of the options of CLI_LIMITS_SHAPE | FILE_BYTES | BUFFER. */
extern const char cli_limits_usage[];

/* Parses an option value that counts something: a whole number (decimal,
 * or with an exponent: 4e9) in [lo, hi]; 0 when malformed or outside. */
int cli_parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* Whether `opt` is one of the caps in `which`. */
int cli_is_limit_option(int which, const char *opt);

/* Takes `opt val` when `opt` is one of the caps in `which` (CLI_LIMITS_*),
 * setting its field of *limits: 1 = taken, 0 = not one of them, -1 = a bad
 * value (a message naming `command` is printed). */
int cli_limit_option(const char *command, int which, const char *opt, const char *val,
                     tsr_limits *limits);

#endif
