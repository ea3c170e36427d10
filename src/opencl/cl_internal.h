/* What the backend's files share (private to src/opencl). */
#ifndef TESSERA_OPENCL_CL_INTERNAL_H
#define TESSERA_OPENCL_CL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "opencl/cl_backend.h"
#include "opencl/cl_kernels.h"

/* A device found by enumeration. */
typedef struct cl_found_device {
    cl_platform_id platform;
    cl_device_id device;
    cl_device_type type;
} cl_found_device;

/* Every device of every platform in listing order (at most `max`); the
 * count, 0 when there is no runtime (`why` then says so). */
int tsr_cl_enumerate(cl_found_device *out, int max, char *why, size_t why_size);
/* A string property of a device or platform into buf. */
void tsr_cl_device_string(cl_device_id d, cl_device_info what, char *buf, size_t size);
void tsr_cl_platform_string(cl_platform_id p, cl_platform_info what, char *buf, size_t size);

/* Builds the program for `device`, from the on-disk cache when it holds a
 * binary for this device, driver and source (keyed by their hash), and
 * stores the binary there after a build. Errors carry the build log. */
tsr_status tsr_cl_program_build(tsr_ctx *ctx, cl_context context, cl_device_id device,
                                cl_program *out, int *from_cache);
/* The cache directory: $TESSERA_CL_CACHE, else $XDG_CACHE_HOME/tessera/opencl,
 * else ~/.cache/tessera/opencl; "" when none can be found. */
void tsr_cl_cache_dir(char *buf, size_t size);

struct tsr_cl_backend {
    tsr_accel accel;       /* first: the engine's view */
    cl_context context;    /* one device */
    cl_device_id device;   /* the device */
    cl_program program;    /* built once */
    size_t max_alloc;      /* largest buffer the device allows */
    char description[300]; /* name (platform, version) */
    pthread_key_t key;     /* this thread's tsr_cl_queue */
    pthread_mutex_t lock;  /* guards queues */
    tsr_cl_queue *queues;  /* every thread's, to free at close */
    atomic_uint_fast64_t tiles, maps, fallbacks;
    atomic_int warned; /* fallbacks logged so far (capped) */
    int profile;       /* queues record events (tsr_cl_backend_set_profiling) */
    int fail_every;    /* TEST ONLY ($TESSERA_TEST_CL_FAIL_EVERY): every Nth tile fails */
    atomic_uint_fast64_t attempts;               /* tiles and maps tried, for fail_every */
    atomic_uint_fast64_t kernel_ns, transfer_ns; /* profiled device time */
};

/* This thread's queue for backend b, made on first use; NULL on failure. */
tsr_cl_queue *tsr_cl_queue_get(tsr_cl_backend *b);
/* Frees every queue of b (no thread may be using them). */
void tsr_cl_queues_free(tsr_cl_backend *b);
/* With profiling, the event out-parameter for the next enqueue, counted
 * as a kernel (is_kernel) or a transfer; NULL without profiling or when
 * the tile's list is full. */
cl_event *tsr_cl_event_slot(tsr_cl_queue *q, int is_kernel);
/* Adds the finished tile's profiled times to the backend and releases its
 * events (after clFinish). */
void tsr_cl_events_collect(tsr_cl_queue *q);
/* Device images for a tile: ping-pong buffers 0 and 1, and the input (2),
 * sized at least `bytes`; NULL on failure. */
cl_mem tsr_cl_image_buffer(tsr_cl_queue *q, int which, size_t bytes);

#endif
