/* Logging for library code: a record (level, message, key=value detail)
 * goes to one process-wide sink that the embedding program chooses, like
 * sqlite3_config(SQLITE_CONFIG_LOG). The default sink writes one JSON line
 * on stderr, the format of `tessera serve`'s log:
 *   {"ts":"2026-11-26T23:35:03.396Z","level":"info","msg":"request","status":200}
 * Thread-safe. Library code logs here, never with fprintf(stderr)
 * (docs/internals/util.md). */
#ifndef TESSERA_UTIL_LOG_H
#define TESSERA_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tsr_log_level {
    TSR_LOG_DEBUG, /* detail for whoever debugs; off by default */
    TSR_LOG_INFO,  /* what happened: requests, jobs, start and stop */
    TSR_LOG_WARN,  /* something failed and was handled, or looks wrong */
    TSR_LOG_ERROR  /* something failed that the operator must look at */
} tsr_log_level;

/* The type of a detail value, and so its JSON form. */
typedef enum tsr_log_kind {
    TSR_LOG_STRING, /* .string, a JSON string (NULL writes null) */
    TSR_LOG_INT,    /* .integer */
    TSR_LOG_REAL,   /* .real (not finite writes null) */
    TSR_LOG_BOOL,   /* .integer, 0 false, else true */
    TSR_LOG_NULL,   /* null */
    TSR_LOG_RAW     /* .string is JSON text written as is (an object, an array) */
} tsr_log_kind;

/* One key=value detail of a record. Strings are borrowed for the call. */
typedef struct tsr_log_field {
    const char *key;    /* the JSON member name */
    tsr_log_kind kind;  /* which value member holds the value */
    const char *string; /* TSR_LOG_STRING, TSR_LOG_RAW */
    int64_t integer;    /* TSR_LOG_INT, TSR_LOG_BOOL */
    double real;        /* TSR_LOG_REAL */
} tsr_log_field;

#define TSR_LOG_FIELD_STRING(k, v)                                                                 \
    ((tsr_log_field){.key = (k), .kind = TSR_LOG_STRING, .string = (v)})
#define TSR_LOG_FIELD_INT(k, v)  ((tsr_log_field){.key = (k), .kind = TSR_LOG_INT, .integer = (v)})
#define TSR_LOG_FIELD_REAL(k, v) ((tsr_log_field){.key = (k), .kind = TSR_LOG_REAL, .real = (v)})

/* What a sink receives; everything is borrowed for the call. */
typedef struct tsr_log_record {
    int64_t wall_ms;             /* when, in ms since the epoch */
    tsr_log_level level;         /* how bad */
    const char *msg;             /* what happened, one short line */
    const tsr_log_field *fields; /* detail, in order */
    size_t nfields;              /* entries in fields */
} tsr_log_record;

/* A sink: called for each record at or above the minimum level, one
 * record at a time (under the log's lock, so lines never interleave and it
 * must not block for long). A record logged from inside a sink goes to the
 * default sink instead of recursing. `user` is tsr_log_set_sink's. */
typedef void (*tsr_log_sink)(void *user, const tsr_log_record *record);

/* Sends every later record to `sink` (NULL: the default stderr sink) with
 * `user` (borrowed until the sink is replaced). Once it returns, the old
 * sink is never called again. */
void tsr_log_set_sink(tsr_log_sink sink, void *user);

/* Records below `level` are dropped before any formatting. Default: info. */
void tsr_log_set_level(tsr_log_level level);
tsr_log_level tsr_log_get_level(void);

/* Whether a record at `level` would reach the sink. */
bool tsr_log_enabled(tsr_log_level level);

/* Logs `msg` with `nfields` details (`fields` may be NULL when 0). */
void tsr_log(tsr_log_level level, const char *msg, const tsr_log_field *fields, size_t nfields);

/* "debug", "info", "warn", "error". */
const char *tsr_log_level_name(tsr_log_level level);

/* Reads a level name as tsr_log_level_name writes it into *out; 0 when
 * `name` is none of them (*out unchanged). */
int tsr_log_level_parse(const char *name, tsr_log_level *out);

/* Writes the record as one compact JSON object (no newline) into `buf`
 * like snprintf: at most size - 1 characters and a NUL. Returns the length
 * of the whole line, so a result >= size means it was cut short. Invalid
 * UTF-8 in strings becomes U+FFFD. For sinks that want the default form. */
size_t tsr_log_format(const tsr_log_record *record, char *buf, size_t size);

/* The default sink: tsr_log_format's line and a newline on stderr, in one
 * write. `user` is ignored. */
void tsr_log_default_sink(void *user, const tsr_log_record *record);

#endif
