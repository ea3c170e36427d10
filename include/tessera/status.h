/* Status codes, error context and limits shared by every tessera module. */
#ifndef TESSERA_STATUS_H
#define TESSERA_STATUS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One status enum returned everywhere; 0 means success. */
typedef enum tsr_status {
    TSR_OK = 0,
    TSR_ERR_USAGE,     /* bad argument, bad pipeline or parameter out of range */
    TSR_ERR_NOMEM,     /* allocation failed */
    TSR_ERR_LIMIT,     /* input over a configured cap (bytes, pixels, dimensions, frames) */
    TSR_ERR_FORMAT,    /* unsupported or unrecognised file format */
    TSR_ERR_CORRUPT,   /* truncated or corrupt input data */
    TSR_ERR_IO,        /* file system error */
    TSR_ERR_CANCELLED, /* the work was cancelled */
    TSR_ERR_INTERNAL   /* a bug or an unexpected library failure */
} tsr_status;

/* Caps on untrusted input; zero fields mean "use the default". */
typedef struct tsr_limits {
    uint64_t max_file_bytes;   /* largest encoded input accepted */
    uint32_t max_width;        /* widest image accepted */
    uint32_t max_height;       /* tallest image accepted */
    uint64_t max_pixels;       /* largest width*height accepted */
    uint32_t max_frames;       /* most frames an animated input may declare */
    uint64_t max_alloc;        /* largest single buffer the library allocates: a whole
                                  decoded image, a file read whole */
    uint64_t max_total_pixels; /* largest width*height*frames of an animation (all its frames) */
} tsr_limits;

/* The library's defaults, which `tessera process` and `info` use: local
 * files, streamed. Files are read a few rows at a time, so the byte and
 * pixel caps bound work, not memory; what must be held whole (a format that
 * cannot stream, a run on whole images) is bounded by max_alloc.
 * `tessera serve` sets lower caps for uploads (docs/serve.md). */
#define TSR_DEFAULT_MAX_FILE_BYTES   (64ull << 30) /* 68.7 GB */
#define TSR_DEFAULT_MAX_DIMENSION    65500u        /* each side */
#define TSR_DEFAULT_MAX_PIXELS       4000000000ull /* 4 GP: e.g. 63245 x 63245 */
#define TSR_DEFAULT_MAX_FRAMES       10000u
#define TSR_DEFAULT_MAX_ALLOC        (4ull << 30) /* 4.3 GB */
#define TSR_DEFAULT_MAX_TOTAL_PIXELS (4ull << 30)

/*
 * An error context: holds the first error message of a piece of work (a
 * job, a CLI invocation, a test) and the limits that apply to it. Safe to
 * share between the threads of one job: the first error wins.
 */
typedef struct tsr_ctx tsr_ctx;

/* Creates a context with default limits. Returns NULL when out of memory. */
tsr_ctx *tsr_ctx_new(void);
void tsr_ctx_free(tsr_ctx *ctx);

/* Records `status` with a printf-style message unless an error is already
 * recorded, and returns `status` so callers can `return tsr_error(...)`.
 * With a NULL `ctx` the message goes to the log as a warning (src/util/log.h)
 * instead of being dropped. */
tsr_status tsr_error(tsr_ctx *ctx, tsr_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
tsr_status tsr_error_v(tsr_ctx *ctx, tsr_status status, const char *fmt, va_list ap);

/* The recorded message, or "" when none. Borrowed; valid until reset/free. */
const char *tsr_ctx_message(const tsr_ctx *ctx);
/* The recorded status, TSR_OK when none. */
tsr_status tsr_ctx_status(const tsr_ctx *ctx);
/* Forgets the recorded error. */
void tsr_ctx_reset(tsr_ctx *ctx);

/* The limits in force (never NULL); fields are already defaulted. */
const tsr_limits *tsr_ctx_limits(const tsr_ctx *ctx);
/* Replaces the limits; zero fields take their defaults. */
void tsr_ctx_set_limits(tsr_ctx *ctx, const tsr_limits *limits);

/* Cancellation: any thread may request it; long loops poll it. */
void tsr_ctx_cancel(tsr_ctx *ctx);
int tsr_ctx_cancelled(const tsr_ctx *ctx);

/* A short English name of a status ("corrupt input"). */
const char *tsr_status_name(tsr_status status);

/* Checks declared image dimensions against the context's limits (sides,
 * pixels) before any pixel buffer is allocated. `what` names the input in
 * the message. The single-buffer cap (max_alloc) is not checked here: a
 * streamed image is never held whole; tsr_limits_check_alloc and
 * tsr_image_new check it where a whole image is allocated. */
tsr_status tsr_limits_check(tsr_ctx *ctx, const char *what, uint64_t width, uint64_t height,
                            int bands);
/* Checks `frames` frames of width x height (an animation's canvas) against
 * max_frames and against max_total_pixels (every frame is decoded to the
 * whole canvas, so a small file of many frames on a large canvas is a
 * bomb), before any frame is decoded. */
tsr_status tsr_limits_check_frames(tsr_ctx *ctx, const char *what, uint64_t width, uint64_t height,
                                   uint64_t frames);
/* Checks that one buffer of `bytes` (a whole image of `what`, or a file read
 * whole) fits the single-buffer cap: TSR_ERR_LIMIT with a message naming
 * `what`, the size and the cap otherwise. */
tsr_status tsr_limits_check_alloc(tsr_ctx *ctx, const char *what, uint64_t bytes);

#ifdef __cplusplus
}
#endif
#endif
