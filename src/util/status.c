/* Error context: first error wins, limits, cancellation. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/status.h"
#include "util/log.h"
#include "util/units.h"

struct tsr_ctx {
    pthread_mutex_t lock; /* guards status and message */
    tsr_status status;    /* first recorded error, TSR_OK when none */
    char message[1024];   /* its message */
    tsr_limits limits;    /* caps in force, defaulted */
    atomic_int cancelled; /* set by tsr_ctx_cancel */
};

static void limits_default(tsr_limits *l) {
    if (!l->max_file_bytes)
        l->max_file_bytes = TSR_DEFAULT_MAX_FILE_BYTES;
    if (!l->max_width)
        l->max_width = TSR_DEFAULT_MAX_DIMENSION;
    if (!l->max_height)
        l->max_height = TSR_DEFAULT_MAX_DIMENSION;
    if (!l->max_pixels)
        l->max_pixels = TSR_DEFAULT_MAX_PIXELS;
    if (!l->max_frames)
        l->max_frames = TSR_DEFAULT_MAX_FRAMES;
    if (!l->max_alloc)
        l->max_alloc = TSR_DEFAULT_MAX_ALLOC;
    if (!l->max_total_pixels)
        l->max_total_pixels = TSR_DEFAULT_MAX_TOTAL_PIXELS;
}

tsr_ctx *tsr_ctx_new(void) {
    tsr_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    pthread_mutex_init(&ctx->lock, NULL);
    limits_default(&ctx->limits);
    return ctx;
}

void tsr_ctx_free(tsr_ctx *ctx) {
    if (!ctx)
        return;
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

/* An error with no context to hold it: a warning in the log, so that no
 * message is lost because a caller passed NULL. */
static void log_orphan(tsr_status status, const char *fmt, va_list ap) {
    char message[sizeof((tsr_ctx *)0)->message];
    vsnprintf(message, sizeof message, fmt, ap);
    tsr_log_field status_field = TSR_LOG_FIELD_STRING("status", tsr_status_name(status));
    tsr_log(TSR_LOG_WARN, message, &status_field, 1);
}

tsr_status tsr_error_v(tsr_ctx *ctx, tsr_status status, const char *fmt, va_list ap) {
    if (status == TSR_OK)
        return status;
    if (!ctx) {
        if (tsr_log_enabled(TSR_LOG_WARN))
            log_orphan(status, fmt, ap);
        return status;
    }
    pthread_mutex_lock(&ctx->lock);
    if (ctx->status == TSR_OK) {
        ctx->status = status;
        vsnprintf(ctx->message, sizeof ctx->message, fmt, ap);
    }
    pthread_mutex_unlock(&ctx->lock);
    return status;
}

tsr_status tsr_error(tsr_ctx *ctx, tsr_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    tsr_error_v(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

const char *tsr_ctx_message(const tsr_ctx *ctx) {
    return ctx ? ctx->message : "";
}

tsr_status tsr_ctx_status(const tsr_ctx *ctx) {
    return ctx ? ctx->status : TSR_OK;
}

void tsr_ctx_reset(tsr_ctx *ctx) {
    pthread_mutex_lock(&ctx->lock);
    ctx->status = TSR_OK;
    ctx->message[0] = '\0';
    pthread_mutex_unlock(&ctx->lock);
    atomic_store(&ctx->cancelled, 0);
}

const tsr_limits *tsr_ctx_limits(const tsr_ctx *ctx) {
    return &ctx->limits;
}

void tsr_ctx_set_limits(tsr_ctx *ctx, const tsr_limits *limits) {
    ctx->limits = *limits;
    limits_default(&ctx->limits);
}

void tsr_ctx_cancel(tsr_ctx *ctx) {
    atomic_store(&ctx->cancelled, 1);
}

int tsr_ctx_cancelled(const tsr_ctx *ctx) {
    return ctx ? atomic_load(&((tsr_ctx *)ctx)->cancelled) : 0;
}

const char *tsr_status_name(tsr_status status) {
    switch (status) {
    case TSR_OK:
        return "ok";
    case TSR_ERR_USAGE:
        return "bad usage";
    case TSR_ERR_NOMEM:
        return "out of memory";
    case TSR_ERR_LIMIT:
        return "over a limit";
    case TSR_ERR_FORMAT:
        return "unsupported format";
    case TSR_ERR_CORRUPT:
        return "corrupt input";
    case TSR_ERR_IO:
        return "i/o error";
    case TSR_ERR_CANCELLED:
        return "cancelled";
    case TSR_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown status";
}

/* A LIMIT error for `pixels` over `limit`, both in MP. */
static tsr_status over_pixels(tsr_ctx *ctx, const char *what, uint64_t pixels, uint64_t limit) {
    char size[TSR_UNITS_TEXT], cap[TSR_UNITS_TEXT];
    tsr_units_pair(TSR_UNIT_PIXELS, pixels, limit, size, cap);
    return tsr_error(ctx, TSR_ERR_LIMIT, "%s: %s is more than the limit of %s", what, size, cap);
}

tsr_status tsr_limits_check(tsr_ctx *ctx, const char *what, uint64_t width, uint64_t height,
                            int bands) {
    (void)bands; /* the buffer a whole image needs: tsr_limits_check_alloc */
    const tsr_limits *l = tsr_ctx_limits(ctx);
    if (width == 0 || height == 0)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "%s: declares an empty image (%llux%llu)", what,
                         (unsigned long long)width, (unsigned long long)height);
    if (width > l->max_width || height > l->max_height)
        return tsr_error(
            ctx, TSR_ERR_LIMIT, "%s: %llux%llu is larger than the limit of %ux%u pixels", what,
            (unsigned long long)width, (unsigned long long)height, l->max_width, l->max_height);
    if (width * height > l->max_pixels)
        return over_pixels(ctx, what, width * height, l->max_pixels);
    return TSR_OK;
}

tsr_status tsr_limits_check_frames(tsr_ctx *ctx, const char *what, uint64_t width, uint64_t height,
                                   uint64_t frames) {
    const tsr_limits *l = tsr_ctx_limits(ctx);
    if (frames > l->max_frames)
        return tsr_error(ctx, TSR_ERR_LIMIT, "%s: %llu frames is more than the limit of %u frames",
                         what, (unsigned long long)frames, l->max_frames);
    uint64_t total;
    if (__builtin_mul_overflow(width, height, &total) ||
        __builtin_mul_overflow(total, frames, &total))
        total = UINT64_MAX;
    if (total > l->max_total_pixels) {
        char size[TSR_UNITS_TEXT], cap[TSR_UNITS_TEXT];
        tsr_units_pair(TSR_UNIT_PIXELS, total, l->max_total_pixels, size, cap);
        return tsr_error(ctx, TSR_ERR_LIMIT,
                         "%s: %llu frames of %llux%llu are %s in all, more than the limit of %s "
                         "for all frames",
                         what, (unsigned long long)frames, (unsigned long long)width,
                         (unsigned long long)height, size, cap);
    }
    return TSR_OK;
}

tsr_status tsr_limits_check_alloc(tsr_ctx *ctx, const char *what, uint64_t bytes) {
    uint64_t cap = tsr_ctx_limits(ctx)->max_alloc;
    if (bytes <= cap)
        return TSR_OK;
    char size[TSR_UNITS_TEXT], limit[TSR_UNITS_TEXT];
    tsr_units_format(TSR_UNIT_BYTES, bytes, size); /* "4.8 GB", "4.3 GB" */
    tsr_units_format(TSR_UNIT_BYTES, cap, limit);
    if (!strcmp(size, limit))
        tsr_units_pair(TSR_UNIT_BYTES, bytes, cap, size, limit);
    return tsr_error(ctx, TSR_ERR_LIMIT,
                     "%s: %s in one buffer is more than the single-buffer limit of %s", what, size,
                     limit);
}
