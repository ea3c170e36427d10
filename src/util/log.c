/* Logging (util/log.h): the sink, the level filter and the JSON line. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

#define LINE_STACK 2048 /* bytes formatted on the stack; longer lines are allocated */

static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER; /* guards sink, sink_user */
static tsr_log_sink sink;                                     /* NULL: the default sink */
static void *sink_user;                                       /* passed to sink */
static atomic_int min_level = TSR_LOG_INFO;                   /* records below are dropped */
static _Thread_local int in_sink; /* this thread is inside a sink call */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *tsr_log_level_name(tsr_log_level level) {
    return level >= TSR_LOG_DEBUG && level <= TSR_LOG_ERROR ? level_names[level] : "info";
}

int tsr_log_level_parse(const char *name, tsr_log_level *out) {
    for (int i = TSR_LOG_DEBUG; name && i <= TSR_LOG_ERROR; i++)
        if (!strcmp(name, level_names[i])) {
            *out = (tsr_log_level)i;
            return 1;
        }
    return 0;
}

void tsr_log_set_level(tsr_log_level level) {
    atomic_store(&min_level, (int)level);
}

tsr_log_level tsr_log_get_level(void) {
    return (tsr_log_level)atomic_load(&min_level);
}

bool tsr_log_enabled(tsr_log_level level) {
    return (int)level >= atomic_load(&min_level);
}

void tsr_log_set_sink(tsr_log_sink fn, void *user) {
    pthread_mutex_lock(&sink_lock);
    sink = fn;
    sink_user = user;
    pthread_mutex_unlock(&sink_lock);
}

void tsr_log(tsr_log_level level, const char *msg, const tsr_log_field *fields, size_t nfields) {
    if (!tsr_log_enabled(level))
        return;
    tsr_log_record rec = {.wall_ms = tsr_clock_wall_ms(),
                          .level = level,
                          .msg = msg ? msg : "",
                          .fields = fields,
                          .nfields = fields ? nfields : 0};
    if (in_sink) { /* a sink that logs: no second lock, no recursion */
        tsr_log_default_sink(NULL, &rec);
        return;
    }
    pthread_mutex_lock(&sink_lock);
    in_sink = 1;
    (sink ? sink : tsr_log_default_sink)(sink_user, &rec);
    in_sink = 0;
    pthread_mutex_unlock(&sink_lock);
}

/* A snprintf-like output: writes what fits, counts everything. */
typedef struct out {
    char *buf;   /* destination (NULL when size is 0) */
    size_t size; /* its capacity, NUL included */
    size_t len;  /* characters produced so far, written or not */
} out;

static void put(out *o, const char *s, size_t n) {
    if (o->len < o->size) {
        size_t room = o->size - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void put_str(out *o, const char *s) {
    put(o, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at `s` (1..4), or 0 when invalid. */
static size_t utf8_length(const unsigned char *s) {
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef)
        n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4)
        n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

/* The two-character escape of `c`, or NULL when it has none. */
static const char *short_escape(unsigned char c) {
    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\b':
        return "\\b";
    case '\f':
        return "\\f";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    }
    return NULL;
}

/* `s` as a JSON string, escaped as jansson does: the short escapes, other
 * control characters as \u00XX, everything else as is. */
static void put_json_string(out *o, const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    put(o, "\"", 1);
    while (*p) {
        size_t n = utf8_length(p);
        const char *esc = short_escape(*p);
        char code[8];
        if (n == 0) {
            put_str(o, "\\ufffd");
            n = 1;
        } else if (esc) {
            put_str(o, esc);
        } else if (*p < 0x20) {
            snprintf(code, sizeof code, "\\u%04X", *p); /* jansson's case */
            put_str(o, code);
        } else {
            put(o, (const char *)p, n);
        }
        p += n;
    }
    put(o, "\"", 1);
}

/* `v` in the fewest digits that read back as the same double, with ".0"
 * when it would look like an integer (so it parses back as a real). */
static void put_real(out *o, double v) {
    char text[40];
    if (!isfinite(v)) {
        put_str(o, "null");
        return;
    }
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof text, "%.*g", digits, v);
        if (strtod(text, NULL) == v)
            break;
    }
    for (char *c = text; *c; c++)
        if (*c == ',') /* a locale's decimal comma */
            *c = '.';
    put_str(o, text);
    if (!strpbrk(text, ".e"))
        put_str(o, ".0");
}

static void put_field(out *o, const tsr_log_field *f) {
    char num[24];
    put(o, ",", 1);
    put_json_string(o, f->key ? f->key : "");
    put(o, ":", 1);
    switch (f->kind) {
    case TSR_LOG_STRING:
        if (f->string)
            put_json_string(o, f->string);
        else
            put_str(o, "null");
        break;
    case TSR_LOG_INT:
        snprintf(num, sizeof num, "%lld", (long long)f->integer);
        put_str(o, num);
        break;
    case TSR_LOG_REAL:
        put_real(o, f->real);
        break;
    case TSR_LOG_BOOL:
        put_str(o, f->integer ? "true" : "false");
        break;
    case TSR_LOG_RAW:
        put_str(o, f->string && f->string[0] ? f->string : "null");
        break;
    case TSR_LOG_NULL:
    default:
        put_str(o, "null");
        break;
    }
}

size_t tsr_log_format(const tsr_log_record *rec, char *buf, size_t size) {
    out o = {.buf = buf, .size = size};
    char ts[TSR_CLOCK_ISO_SIZE];
    tsr_clock_format_iso(rec->wall_ms, ts);
    put_str(&o, "{\"ts\":\"");
    put_str(&o, ts);
    put_str(&o, "\",\"level\":\"");
    put_str(&o, tsr_log_level_name(rec->level));
    put_str(&o, "\",\"msg\":");
    put_json_string(&o, rec->msg ? rec->msg : "");
    for (size_t i = 0; i < rec->nfields; i++)
        put_field(&o, &rec->fields[i]);
    put(&o, "}", 1);
    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return o.len;
}

/* Writes all `n` bytes to stderr, going on after signals and short writes. */
static void write_stderr(const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere left to say it */
        p += w;
        n -= (size_t)w;
    }
}

void tsr_log_default_sink(void *user, const tsr_log_record *rec) {
    (void)user;
    char stack[LINE_STACK];
    char *line = stack;
    size_t len = tsr_log_format(rec, stack, sizeof stack - 1);
    if (len >= sizeof stack - 1) {
        line = malloc(len + 2);
        if (line)
            tsr_log_format(rec, line, len + 1);
        else
            line = stack, len = sizeof stack - 2; /* out of memory: the line cut short */
    }
    line[len] = '\n';
    write_stderr(line, len + 1);
    if (line != stack)
        free(line);
}
