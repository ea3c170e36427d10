/* GET /api/v1/feedback?format=csv: every feedback row matching the
 * filters, oldest first, as CSV (RFC 4180: a header row, CRLF line ends,
 * fields with a comma, quote or line break quoted, quotes doubled). The
 * rows are read from the store a page at a time while the response is
 * sent (export order is the row id, which a replaced rating keeps, so a
 * rating given during the export is neither lost nor repeated). Text that
 * users typed (comment, job name, account name) and that a spreadsheet
 * would read as a formula (first character = + - @, tab or CR) gets a
 * leading apostrophe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define CSV_PAGE 200 /* rows read from the store per page */

#define CSV_HEADER                                                                                 \
    "updated,created,job,job_name,job_state,user_id,user,rating,comment,pipeline,output_format,"   \
    "output_quality,op_versions\r\n"

/* One CSV download in progress. */
typedef struct csv_stream {
    tsr_server *srv;                       /* the server */
    tsr_store_feedback_query query;        /* the filters; op points at `op` */
    char op[TSR_FEEDBACK_OP_NAME_MAX + 1]; /* the op filter, copied */
    tsr_buffer out;                        /* formatted bytes not yet sent (owned) */
    size_t sent;                           /* bytes of `out` already sent */
    int done;                              /* the last page was read */
} csv_stream;

/* Appends `s` as one field: quoted when it holds a comma, a quote or a
 * line break (quotes doubled); `user_text` fields that a spreadsheet would
 * run as a formula get a leading apostrophe. */
static tsr_status field(tsr_buffer *b, const char *s, int user_text) {
    tsr_status st = TSR_OK;
    int quote = strpbrk(s, ",\"\r\n") != NULL;
    int formula = user_text && s[0] && strchr("=+-@\t\r", s[0]);
    if (quote)
        st = tsr_buffer_append(b, "\"", 1);
    if (!st && formula)
        st = tsr_buffer_append(b, "'", 1);
    for (const char *p = s; !st && *p; p++) {
        size_t run = strcspn(p, "\"");
        if (run && (st = tsr_buffer_append(b, p, run)))
            break;
        p += run;
        if (!*p)
            break;
        st = tsr_buffer_append(b, "\"\"", 2);
    }
    if (!st && quote)
        st = tsr_buffer_append(b, "\"", 1);
    return st;
}

/* "grayscale@1 canny@1" from the op_versions object; "" when empty. */
static char *versions_text(const char *op_versions) {
    json_t *v = feedback_op_versions(op_versions), *value;
    const char *key;
    tsr_buffer b = {0};
    json_object_foreach(v, key, value) {
        char item[128];
        if (json_is_integer(value))
            snprintf(item, sizeof item, "%s%.63s@%lld", b.len ? " " : "", key,
                     (long long)json_integer_value(value));
        else
            snprintf(item, sizeof item, "%s%.63s", b.len ? " " : "", key);
        tsr_buffer_append(&b, item, strlen(item));
    }
    json_decref(v);
    if (tsr_buffer_append(&b, "", 1)) {
        tsr_buffer_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

/* Appends one row for `fb`. */
static tsr_status row(tsr_buffer *b, const tsr_store_feedback *fb) {
    char updated[TSR_CLOCK_ISO_SIZE], created[TSR_CLOCK_ISO_SIZE], user_id[24], rating[8],
        quality[16];
    char *versions = versions_text(fb->op_versions);
    if (!versions)
        return TSR_ERR_NOMEM;
    tsr_clock_format_iso(fb->updated, updated);
    tsr_clock_format_iso(fb->created, created);
    snprintf(user_id, sizeof user_id, "%lld", (long long)fb->user);
    snprintf(rating, sizeof rating, "%d", fb->rating);
    snprintf(quality, sizeof quality, "%d", fb->quality);
    const char *cells[] = {
        updated,           created,       fb->job, fb->job_name, tsr_job_state_name(fb->job_state),
        user_id,           fb->user_name, rating,  fb->comment,  fb->pipeline_text,
        fb->output_format, quality,       versions};
    const int user_text[] = {0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0};
    tsr_status st = TSR_OK;
    for (size_t i = 0; !st && i < sizeof cells / sizeof *cells; i++) {
        if (i && (st = tsr_buffer_append(b, ",", 1)))
            break;
        st = field(b, cells[i] ? cells[i] : "", user_text[i]);
    }
    if (!st)
        st = tsr_buffer_append(b, "\r\n", 2);
    free(versions);
    return st;
}

/* Reads the next page of rows into s->out; sets s->done after the last. */
static tsr_status next_page(csv_stream *s) {
    tsr_store_feedback *list = NULL;
    size_t count = 0;
    int64_t total;
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return TSR_ERR_NOMEM;
    s->query.limit = CSV_PAGE;
    tsr_status st = tsr_store_feedback_search(s->srv->store, ctx, &s->query, &list, &count, &total);
    if (st)
        tsr_server_log("error", "feedback export failed", "error",
                       json_string(tsr_ctx_message(ctx)), NULL);
    for (size_t i = 0; !st && i < count; i++) {
        st = row(&s->out, &list[i]);
        s->query.after_id = list[i].id;
    }
    s->done = !st && count < CSV_PAGE;
    tsr_store_feedback_list_free(list, count);
    tsr_ctx_free(ctx);
    return st;
}

static ssize_t csv_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    csv_stream *s = cls;
    while (s->sent >= s->out.len) {
        if (s->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        s->out.len = 0;
        s->sent = 0;
        if (next_page(s))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = s->out.len - s->sent < max ? s->out.len - s->sent : max;
    memcpy(buf, s->out.data + s->sent, n);
    s->sent += n;
    return (ssize_t)n;
}

static void csv_free(void *cls) {
    csv_stream *s = cls;
    tsr_buffer_free(&s->out);
    free(s);
}

enum MHD_Result feedback_csv_reply(request *r, const tsr_store_feedback_query *q) {
    csv_stream *s = calloc(1, sizeof *s);
    if (!s)
        return reply_error(r, 503, "unavailable", "out of memory");
    s->srv = r->srv;
    s->query = *q;
    s->query.by_id = true;
    s->query.after_id = 0;
    if (q->op) {
        snprintf(s->op, sizeof s->op, "%s", q->op);
        s->query.op = s->op;
    }
    s->out.max = 64u << 20; /* one page: 200 rows of a few kB, far below */
    if (tsr_buffer_append(&s->out, CSV_HEADER, strlen(CSV_HEADER))) {
        csv_free(s);
        return reply_error(r, 503, "unavailable", "out of memory");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, csv_read, s, csv_free);
    if (!resp) {
        csv_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/csv; charset=utf-8; header=present");
    MHD_add_response_header(resp, "Content-Disposition",
                            "attachment; filename=\"tessera-feedback.csv\"");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return reply(r, 200, resp);
}
