/* Logging (src/util/log.h): the sink gets level, message and detail; the
 * minimum level filters; the default sink writes one JSON line on stderr
 * in the server's format; tsr_error(NULL, ...) reaches the log. */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "tessera/status.h"
#include "util/log.h"

/* What the test sink saw last. */
typedef struct seen {
    int count;              /* records received */
    tsr_log_level level;    /* of the last one */
    char msg[256];          /* its message */
    size_t nfields;         /* its detail count */
    char first_key[64];     /* its first detail's key */
    char first_string[256]; /* its first detail's string value */
    char line[1024];        /* tsr_log_format of it */
} seen;

static void test_sink(void *user, const tsr_log_record *rec) {
    seen *s = user;
    s->count++;
    s->level = rec->level;
    snprintf(s->msg, sizeof s->msg, "%s", rec->msg);
    s->nfields = rec->nfields;
    s->first_key[0] = s->first_string[0] = '\0';
    if (rec->nfields) {
        snprintf(s->first_key, sizeof s->first_key, "%s", rec->fields[0].key);
        if (rec->fields[0].string)
            snprintf(s->first_string, sizeof s->first_string, "%s", rec->fields[0].string);
    }
    tsr_log_format(rec, s->line, sizeof s->line);
}

/* Runs `fn` with stderr sent to a memory file; returns what it wrote
 * (owned by the caller). */
static char *capture_stderr(void (*fn)(void)) {
    fflush(stderr);
    int saved = dup(STDERR_FILENO), fd = memfd_create("stderr", 0);
    dup2(fd, STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    off_t len = lseek(fd, 0, SEEK_END);
    char *text = calloc(1, (size_t)len + 1);
    pread(fd, text, (size_t)len, 0);
    close(fd);
    return text;
}

static void log_after_reset(void) {
    tsr_log(TSR_LOG_ERROR, "after the reset", NULL, 0);
}

static void test_sink_receives_level_message_and_detail(void) {
    seen s = {0};
    tsr_log_set_sink(test_sink, &s);
    tsr_log_field f[] = {TSR_LOG_FIELD_STRING("job_id", "abc"), TSR_LOG_FIELD_INT("tiles", 12)};
    tsr_log(TSR_LOG_WARN, "job slow", f, 2);
    tsr_log_set_sink(NULL, NULL);
    CHECK_EQ_INT(s.count, 1);
    CHECK_EQ_INT(s.level, TSR_LOG_WARN);
    CHECK(!strcmp(s.msg, "job slow"));
    CHECK_EQ_INT(s.nfields, 2);
    CHECK(!strcmp(s.first_key, "job_id"));
    CHECK(!strcmp(s.first_string, "abc"));
    CHECK_STR_CONTAINS(s.line,
                       "\"level\":\"warn\",\"msg\":\"job slow\",\"job_id\":\"abc\",\"tiles\":12}");
    char *text = capture_stderr(log_after_reset); /* to stderr: the sink is gone */
    CHECK_EQ_INT(s.count, 1);
    CHECK_STR_CONTAINS(text, "\"msg\":\"after the reset\"}\n");
    free(text);
}

static void test_min_level_filters(void) {
    seen s = {0};
    tsr_log_set_sink(test_sink, &s);
    CHECK_EQ_INT(tsr_log_get_level(), TSR_LOG_INFO); /* the default */
    tsr_log(TSR_LOG_DEBUG, "hidden", NULL, 0);
    CHECK_EQ_INT(s.count, 0);
    CHECK(!tsr_log_enabled(TSR_LOG_DEBUG));
    tsr_log(TSR_LOG_INFO, "shown", NULL, 0);
    CHECK_EQ_INT(s.count, 1);
    tsr_log_set_level(TSR_LOG_ERROR);
    tsr_log(TSR_LOG_WARN, "hidden", NULL, 0);
    CHECK_EQ_INT(s.count, 1);
    tsr_log(TSR_LOG_ERROR, "shown", NULL, 0);
    CHECK_EQ_INT(s.count, 2);
    tsr_log_set_level(TSR_LOG_DEBUG);
    tsr_log(TSR_LOG_DEBUG, "shown", NULL, 0);
    CHECK_EQ_INT(s.count, 3);
    CHECK_EQ_INT(s.level, TSR_LOG_DEBUG);
    tsr_log_set_level(TSR_LOG_INFO);
    tsr_log_set_sink(NULL, NULL);
}

static void test_level_names(void) {
    tsr_log_level l = TSR_LOG_ERROR;
    CHECK(tsr_log_level_parse("debug", &l) && l == TSR_LOG_DEBUG);
    CHECK(tsr_log_level_parse("warn", &l) && l == TSR_LOG_WARN);
    CHECK(!tsr_log_level_parse("warning", &l) && l == TSR_LOG_WARN);
    CHECK(!tsr_log_level_parse(NULL, &l));
    CHECK(!strcmp(tsr_log_level_name(TSR_LOG_INFO), "info"));
    CHECK(!strcmp(tsr_log_level_name(TSR_LOG_ERROR), "error"));
}

static void log_request_line(void) {
    tsr_log_field f[] = {
        TSR_LOG_FIELD_STRING("request_id", "a1-2"),
        TSR_LOG_FIELD_INT("status", 200),
        TSR_LOG_FIELD_REAL("ms", 1.5),
        TSR_LOG_FIELD_REAL("whole", 3),
        {.key = "tls", .kind = TSR_LOG_BOOL, .integer = 1},
        {.key = "account", .kind = TSR_LOG_NULL},
        {.key = "old", .kind = TSR_LOG_RAW, .string = "{\"a\":[1,2]}"},
        TSR_LOG_FIELD_STRING("none", NULL),
    };
    tsr_log(TSR_LOG_INFO, "request", f, sizeof f / sizeof f[0]);
}

static void test_default_line_shape(void) {
    char *text = capture_stderr(log_request_line);
    /* {"ts":"YYYY-MM-DDTHH:MM:SS.mmmZ","level":"info","msg":"request",...}\n */
    CHECK(!strncmp(text, "{\"ts\":\"", 7));
    CHECK(strlen(text) > 33 && text[11] == '-' && text[17] == 'T' && text[26] == '.' &&
          !strncmp(text + 30, "Z\",", 3));
    CHECK_STR_CONTAINS(text, "Z\",\"level\":\"info\",\"msg\":\"request\",\"request_id\":\"a1-2\","
                             "\"status\":200,\"ms\":1.5,\"whole\":3.0,\"tls\":true,"
                             "\"account\":null,\"old\":{\"a\":[1,2]},\"none\":null}\n");
    CHECK_EQ_INT(strchr(text, '\n') - text + 1, strlen(text)); /* exactly one line */
    free(text);
}

static void log_hostile_strings(void) {
    tsr_log_field f[] = {TSR_LOG_FIELD_STRING("k\"ey", "a\\b\n\t\x01\x7f"),
                         TSR_LOG_FIELD_STRING("utf8", "gr\xc3\xbc\xc3\x9f \xe2\x82\xac"),
                         TSR_LOG_FIELD_STRING("bad", "x\xff\xc3y\xed\xa0\x80"),
                         TSR_LOG_FIELD_REAL("nan", 0.0 / 0.0),
                         TSR_LOG_FIELD_REAL("tenth", 0.1),
                         TSR_LOG_FIELD_INT("min", INT64_MIN)};
    tsr_log(TSR_LOG_ERROR, "say \"hi\"", f, sizeof f / sizeof f[0]);
}

static void test_default_line_escapes(void) {
    char *text = capture_stderr(log_hostile_strings);
    CHECK_STR_CONTAINS(text, "\"level\":\"error\",\"msg\":\"say \\\"hi\\\"\"");
    CHECK_STR_CONTAINS(text, "\"k\\\"ey\":\"a\\\\b\\n\\t\\u0001\x7f\"");
    CHECK_STR_CONTAINS(text, "\"utf8\":\"gr\xc3\xbc\xc3\x9f \xe2\x82\xac\"");
    CHECK_STR_CONTAINS(text, "\"bad\":\"x\\ufffd\\ufffdy\\ufffd\\ufffd\\ufffd\"");
    CHECK_STR_CONTAINS(text, "\"nan\":null,\"tenth\":0.1,\"min\":-9223372036854775808}\n");
    free(text);
}

static void test_format_cuts_like_snprintf(void) {
    tsr_log_record rec = {.wall_ms = 0, .level = TSR_LOG_INFO, .msg = "hello"};
    char full[128], small[16];
    size_t len = tsr_log_format(&rec, full, sizeof full);
    CHECK(!strcmp(full,
                  "{\"ts\":\"1970-01-01T00:00:00.000Z\",\"level\":\"info\",\"msg\":\"hello\"}"));
    CHECK_EQ_INT(len, strlen(full));
    CHECK_EQ_INT(tsr_log_format(&rec, small, sizeof small), len);
    CHECK_EQ_INT(strlen(small), sizeof small - 1);
    CHECK(!strncmp(small, full, sizeof small - 1));
    CHECK_EQ_INT(tsr_log_format(&rec, NULL, 0), len);
}

static void log_long_line(void) {
    char *big = malloc(10000);
    memset(big, 'z', 9999);
    big[9999] = '\0';
    tsr_log_field f = TSR_LOG_FIELD_STRING("big", big);
    tsr_log(TSR_LOG_INFO, "long", &f, 1);
    free(big);
}

static void test_default_long_line_whole(void) {
    char *text = capture_stderr(log_long_line);
    CHECK(strlen(text) > 10000);
    CHECK_STR_CONTAINS(text, "zzz\"}\n");
    free(text);
}

static void test_error_without_context_is_logged(void) {
    seen s = {0};
    tsr_log_set_sink(test_sink, &s);
    CHECK_EQ_INT(tsr_error(NULL, TSR_ERR_IO, "cannot open %s: %s", "x.png", "gone"), TSR_ERR_IO);
    CHECK_EQ_INT(s.count, 1);
    CHECK_EQ_INT(s.level, TSR_LOG_WARN);
    CHECK(!strcmp(s.msg, "cannot open x.png: gone"));
    CHECK(!strcmp(s.first_key, "status"));
    CHECK(!strcmp(s.first_string, "i/o error"));
    CHECK_EQ_INT(tsr_error(NULL, TSR_OK, "not an error"), TSR_OK);
    CHECK_EQ_INT(s.count, 1);
    tsr_ctx *ctx = tsr_ctx_new(); /* with a context: kept there, not logged */
    tsr_error(ctx, TSR_ERR_USAGE, "bad tile");
    CHECK_EQ_INT(s.count, 1);
    CHECK(!strcmp(tsr_ctx_message(ctx), "bad tile"));
    tsr_ctx_free(ctx);
    tsr_log_set_sink(NULL, NULL);
}

static void logging_sink(void *user, const tsr_log_record *rec) {
    int *calls = user;
    (*calls)++;
    tsr_log(TSR_LOG_WARN, "from inside the sink", NULL, 0); /* no deadlock, no recursion */
    (void)rec;
}

static void log_through_logging_sink(void) {
    int calls = 0;
    tsr_log_set_sink(logging_sink, &calls);
    tsr_log(TSR_LOG_INFO, "outer", NULL, 0);
    tsr_log_set_sink(NULL, NULL);
    CHECK_EQ_INT(calls, 1);
}

static void test_sink_that_logs(void) {
    char *text = capture_stderr(log_through_logging_sink);
    CHECK_STR_CONTAINS(text, "\"msg\":\"from inside the sink\"}\n");
    free(text);
}

#define THREADS 8
#define LINES   500

static void *log_lines(void *arg) {
    tsr_log_field f = TSR_LOG_FIELD_INT("thread", (int64_t)(intptr_t)arg);
    for (int i = 0; i < LINES; i++)
        tsr_log(TSR_LOG_INFO, "a line long enough to show interleaving if there were any", &f, 1);
    return NULL;
}

static void log_from_threads(void) {
    pthread_t t[THREADS];
    for (intptr_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, log_lines, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
}

static void test_threads_write_whole_lines(void) {
    char *text = capture_stderr(log_from_threads);
    int lines = 0, whole = 0;
    for (char *line = text, *end; (end = strchr(line, '\n')); line = end + 1) {
        lines++;
        whole += !strncmp(line, "{\"ts\":", 6) && end[-1] == '}';
    }
    CHECK_EQ_INT(lines, THREADS * LINES);
    CHECK_EQ_INT(whole, THREADS * LINES);
    free(text);
}

int main(void) {
    RUN(test_sink_receives_level_message_and_detail);
    RUN(test_min_level_filters);
    RUN(test_level_names);
    RUN(test_default_line_shape);
    RUN(test_default_line_escapes);
    RUN(test_format_cuts_like_snprintf);
    RUN(test_default_long_line_whole);
    RUN(test_error_without_context_is_logged);
    RUN(test_sink_that_logs);
    RUN(test_threads_write_whole_lines);
    return check_finish();
}
