/* What transforms used, summed in memory per account and minute and
 * written to the store (store_usage.h) by a thread of its own once a
 * second and at shutdown: one transaction a second whatever the request
 * rate, instead of a synchronous commit (an fsync) on every answer's path.
 * A write that fails is logged and its sums kept for the next try; a row
 * the store refuses (its account is gone) is dropped alone. */
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"
#include "util/clock.h"

#define TALLY_SECONDS  1.0   /* between writes */
#define TALLY_ROWS_MAX 65536 /* sums held while the store fails; past it new ones are dropped */

struct transform_tally {
    tsr_store *store;          /* borrowed */
    pthread_mutex_t lock;      /* guards everything below */
    pthread_cond_t wake;       /* shutdown began */
    pthread_t writer;          /* writes the sums */
    int shutdown;              /* the writer writes what is left and exits */
    tsr_transform_usage *rows; /* sums not yet written */
    size_t n, cap;             /* rows used, allocated */
    uint64_t dropped;          /* transforms not counted (store failing too long) */
};

/* Adds `add` to the row of its account and minute, making it when new.
 * Under lock. Returns 0 when it cannot be held. */
static int merge(transform_tally *t, const tsr_transform_usage *add) {
    tsr_transform_usage *row = NULL;
    for (size_t i = t->n; i-- > 0 && !row;)
        if (t->rows[i].owner == add->owner && t->rows[i].minute == add->minute)
            row = &t->rows[i];
    if (!row) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            tsr_transform_usage *grown =
                cap <= TALLY_ROWS_MAX ? realloc(t->rows, cap * sizeof *grown) : NULL;
            if (!grown)
                return 0;
            t->rows = grown;
            t->cap = cap;
        }
        row = &t->rows[t->n++];
        *row = (tsr_transform_usage){.owner = add->owner, .minute = add->minute};
    }
    row->transforms += add->transforms;
    row->usage.cpu_seconds += add->usage.cpu_seconds;
    row->usage.gpu_seconds += add->usage.gpu_seconds;
    row->usage.read_bytes += add->usage.read_bytes;
    row->usage.written_bytes += add->usage.written_bytes;
    if (add->usage.peak_pixels > row->usage.peak_pixels)
        row->usage.peak_pixels = add->usage.peak_pixels;
    row->wall_seconds += add->wall_seconds;
    return 1;
}

/* Writes `rows` one by one after their batch was refused (TSR_ERR_USAGE: a
 * row whose account is gone), dropping only the refused ones, which are
 * logged. Returns TSR_OK, or the first other failure (nothing dropped then:
 * the rows written are zeroed, so a retry adds nothing twice). */
static tsr_status write_each(transform_tally *t, tsr_ctx *ctx, tsr_transform_usage *rows,
                             size_t n) {
    for (size_t i = 0; i < n; i++) {
        tsr_ctx_reset(ctx);
        tsr_status st = tsr_store_transform_usage_add(t->store, ctx, &rows[i], 1);
        if (st && st != TSR_ERR_USAGE)
            return st;
        if (st)
            tsr_server_log("warn", "transform usage dropped", "detail",
                           json_string(tsr_ctx_message(ctx)), "owner", json_integer(rows[i].owner),
                           NULL);
        memset(&rows[i].usage, 0, sizeof rows[i].usage);
        rows[i].transforms = 0;
        rows[i].wall_seconds = 0;
    }
    return TSR_OK;
}

/* Writes the sums held now; on failure puts them back. Takes and returns
 * with the lock held. */
static void flush(transform_tally *t, tsr_ctx *ctx) {
    tsr_transform_usage *rows = t->rows;
    size_t n = t->n;
    if (!n)
        return;
    t->rows = NULL;
    t->n = t->cap = 0;
    pthread_mutex_unlock(&t->lock);
    tsr_ctx_reset(ctx);
    tsr_status st = tsr_store_transform_usage_add(t->store, ctx, rows, n);
    if (st == TSR_ERR_USAGE)
        st = write_each(t, ctx, rows, n);
    if (st)
        tsr_server_log("warn", "transform usage not written yet", "detail",
                       json_string(tsr_ctx_message(ctx)), "rows", json_integer((json_int_t)n),
                       NULL);
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; st && i < n; i++)
        if (rows[i].transforms && !merge(t, &rows[i]))
            t->dropped += (uint64_t)rows[i].transforms;
    free(rows);
}

static void *writer_main(void *p) {
    transform_tally *t = p;
    tsr_ctx *ctx = tsr_ctx_new();
    pthread_mutex_lock(&t->lock);
    while (!t->shutdown) {
        struct timespec until = tsr_clock_deadline(CLOCK_MONOTONIC, (int64_t)(TALLY_SECONDS * 1e3));
        pthread_cond_timedwait(&t->wake, &t->lock, &until);
        if (ctx)
            flush(t, ctx);
    }
    if (ctx)
        flush(t, ctx);
    pthread_mutex_unlock(&t->lock);
    tsr_ctx_free(ctx);
    return NULL;
}

transform_tally *tally_new(tsr_store *store) {
    transform_tally *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->store = store;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&t->lock, NULL);
    if (pthread_create(&t->writer, NULL, writer_main, t) != 0) {
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
    }
    return t;
}

void tally_free(transform_tally *t) {
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->shutdown = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->lock);
    pthread_join(t->writer, NULL);
    if (t->n || t->dropped)
        tsr_server_log("error", "transform usage lost at shutdown", "transforms",
                       json_integer((json_int_t)t->dropped), "rows", json_integer((json_int_t)t->n),
                       NULL);
    free(t->rows);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void tally_add(transform_tally *t, int64_t owner, const tsr_job_usage *used, double wall) {
    int64_t now = tsr_clock_wall_ms();
    tsr_transform_usage add = {.owner = owner,
                               .minute = now - now % 60000,
                               .transforms = 1,
                               .usage = *used,
                               .wall_seconds = wall};
    pthread_mutex_lock(&t->lock);
    if (!merge(t, &add))
        t->dropped++;
    pthread_mutex_unlock(&t->lock);
}
