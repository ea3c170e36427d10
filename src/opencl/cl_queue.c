/* One engine thread's device state: command queue, kernel objects by name,
 * reused buffers; and the launch helpers kernel families use
 * (cl_kernels.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_internal.h"
#include "util/log.h"

#define MAX_KERNELS 64
#define MAX_EVENTS  64 /* profiled commands of one tile */
#define IMAGE_SLOTS 3  /* ping-pong 0 and 1, the input 2 */

typedef struct cl_buf {
    cl_mem mem;
    size_t size;
} cl_buf;

struct tsr_cl_queue {
    tsr_cl_backend *b;               /* owner */
    cl_command_queue queue;          /* in order */
    const char *names[MAX_KERNELS];  /* kernel names (static strings) */
    cl_kernel kernels[MAX_KERNELS];  /* this thread's objects */
    int n_kernels;                   /* entries used */
    cl_buf temps[TSR_CL_TEMP_SLOTS]; /* kernels' own temporaries */
    cl_buf images[IMAGE_SLOTS];      /* tile images */
    cl_event events[MAX_EVENTS];     /* profiling: this tile's commands */
    int is_kernel[MAX_EVENTS];       /* whether each is a kernel (else a transfer) */
    int n_events;                    /* entries used */
    struct tsr_cl_queue *next;       /* b->queues list */
};

tsr_status tsr_cl_fail(cl_int err, const char *what) {
    tsr_log_field f[2] = {TSR_LOG_FIELD_STRING("call", what), TSR_LOG_FIELD_INT("cl_error", err)};
    tsr_log(TSR_LOG_DEBUG, "OpenCL call failed", f, 2);
    if (err == CL_OUT_OF_RESOURCES || err == CL_OUT_OF_HOST_MEMORY ||
        err == CL_MEM_OBJECT_ALLOCATION_FAILURE || err == CL_INVALID_BUFFER_SIZE)
        return TSR_ERR_NOMEM;
    return TSR_ERR_IO;
}

tsr_cl_queue *tsr_cl_queue_get(tsr_cl_backend *b) {
    tsr_cl_queue *q = pthread_getspecific(b->key);
    if (q)
        return q;
    q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    cl_int err = 0;
    q->b = b;
    q->queue = clCreateCommandQueue(b->context, b->device,
                                    b->profile ? CL_QUEUE_PROFILING_ENABLE : 0, &err);
    if (!q->queue || err != CL_SUCCESS) {
        free(q);
        return NULL;
    }
    pthread_mutex_lock(&b->lock);
    q->next = b->queues;
    b->queues = q;
    pthread_mutex_unlock(&b->lock);
    pthread_setspecific(b->key, q);
    return q;
}

static void buf_free(cl_buf *b) {
    if (b->mem)
        clReleaseMemObject(b->mem);
    *b = (cl_buf){0};
}

void tsr_cl_queues_free(tsr_cl_backend *b) {
    tsr_cl_queue *q = b->queues;
    while (q) {
        tsr_cl_queue *next = q->next;
        clFinish(q->queue);
        for (int i = 0; i < q->n_kernels; i++)
            clReleaseKernel(q->kernels[i]);
        for (int i = 0; i < TSR_CL_TEMP_SLOTS; i++)
            buf_free(&q->temps[i]);
        for (int i = 0; i < IMAGE_SLOTS; i++)
            buf_free(&q->images[i]);
        clReleaseCommandQueue(q->queue);
        free(q);
        q = next;
    }
    b->queues = NULL;
}

cl_kernel tsr_cl_kernel(tsr_cl_queue *q, const char *name) {
    for (int i = 0; i < q->n_kernels; i++)
        if (q->names[i] == name || !strcmp(q->names[i], name))
            return q->kernels[i];
    if (q->n_kernels == MAX_KERNELS)
        return NULL;
    cl_int err = 0;
    cl_kernel k = clCreateKernel(q->b->program, name, &err);
    if (!k || err != CL_SUCCESS) {
        tsr_log_field f[2] = {TSR_LOG_FIELD_STRING("kernel", name),
                              TSR_LOG_FIELD_INT("cl_error", err)};
        tsr_log(TSR_LOG_WARN, "OpenCL kernel missing from the program", f, 2);
        return NULL;
    }
    q->names[q->n_kernels] = name;
    q->kernels[q->n_kernels++] = k;
    return k;
}

cl_command_queue tsr_cl_command_queue(tsr_cl_queue *q) {
    return q->queue;
}

/* A buffer of at least `bytes`, grown (never shrunk) as tiles need. */
static cl_mem buf_get(tsr_cl_queue *q, cl_buf *b, size_t bytes) {
    if (bytes == 0)
        bytes = 1;
    if (bytes > q->b->max_alloc)
        return NULL;
    if (b->size >= bytes)
        return b->mem;
    buf_free(b);
    cl_int err = 0;
    b->mem = clCreateBuffer(q->b->context, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (!b->mem || err != CL_SUCCESS) {
        *b = (cl_buf){0};
        return NULL;
    }
    b->size = bytes;
    return b->mem;
}

cl_mem tsr_cl_temp(tsr_cl_queue *q, int slot, size_t bytes) {
    if (slot < 0 || slot >= TSR_CL_TEMP_SLOTS)
        return NULL;
    return buf_get(q, &q->temps[slot], bytes);
}

cl_mem tsr_cl_image_buffer(tsr_cl_queue *q, int which, size_t bytes) {
    return buf_get(q, &q->images[which], bytes);
}

cl_mem tsr_cl_table(tsr_cl_queue *q, int slot, const void *data, size_t bytes) {
    cl_mem m = tsr_cl_temp(q, slot, bytes);
    if (m && bytes &&
        clEnqueueWriteBuffer(q->queue, m, CL_TRUE, 0, bytes, data, 0, NULL, NULL) != CL_SUCCESS)
        return NULL;
    return m;
}

cl_int tsr_cl_arg(cl_kernel k, cl_uint *arg, size_t size, const void *value) {
    return clSetKernelArg(k, (*arg)++, size, value);
}

cl_int tsr_cl_arg_image(cl_kernel k, cl_uint *arg, const tsr_cl_image *im) {
    cl_int4 r = {{im->rect.x, im->rect.y, im->rect.w, im->rect.h}};
    cl_int2 size = {{im->image_w, im->image_h}};
    cl_int bands = im->bands;
    cl_int err = tsr_cl_arg(k, arg, sizeof im->mem, &im->mem);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, arg, sizeof r, &r);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, arg, sizeof size, &size);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, arg, sizeof bands, &bands);
    return err;
}

static size_t round_up(size_t n, size_t m) {
    return (n + m - 1) / m * m;
}

tsr_status tsr_cl_run_2d(tsr_cl_queue *q, cl_kernel k, size_t w, size_t h) {
    if (!k)
        return TSR_ERR_INTERNAL;
    if (w == 0 || h == 0)
        return TSR_OK;
    size_t global[2] = {round_up(w, TSR_CL_GROUP_W), round_up(h, TSR_CL_GROUP_H)};
    size_t local[2] = {TSR_CL_GROUP_W, TSR_CL_GROUP_H};
    cl_int err = clEnqueueNDRangeKernel(q->queue, k, 2, NULL, global, local, 0, NULL,
                                        tsr_cl_event_slot(q, 1));
    if (err == CL_INVALID_WORK_GROUP_SIZE || err == CL_INVALID_WORK_ITEM_SIZE)
        err = clEnqueueNDRangeKernel(q->queue, k, 2, NULL, global, NULL, 0, NULL,
                                     tsr_cl_event_slot(q, 1));
    return err == CL_SUCCESS ? TSR_OK : tsr_cl_fail(err, "clEnqueueNDRangeKernel");
}

tsr_status tsr_cl_read(tsr_cl_queue *q, cl_mem mem, void *dst, size_t bytes) {
    cl_int err = clEnqueueReadBuffer(q->queue, mem, CL_TRUE, 0, bytes, dst, 0, NULL,
                                     tsr_cl_event_slot(q, 0));
    return err == CL_SUCCESS ? TSR_OK : tsr_cl_fail(err, "clEnqueueReadBuffer");
}

cl_event *tsr_cl_event_slot(tsr_cl_queue *q, int is_kernel) {
    if (!q->b->profile || q->n_events == MAX_EVENTS)
        return NULL;
    q->is_kernel[q->n_events] = is_kernel;
    return &q->events[q->n_events++];
}

void tsr_cl_events_collect(tsr_cl_queue *q) {
    for (int i = 0; i < q->n_events; i++) {
        cl_ulong start = 0, end = 0;
        if (clGetEventProfilingInfo(q->events[i], CL_PROFILING_COMMAND_START, sizeof start, &start,
                                    NULL) == CL_SUCCESS &&
            clGetEventProfilingInfo(q->events[i], CL_PROFILING_COMMAND_END, sizeof end, &end,
                                    NULL) == CL_SUCCESS &&
            end > start)
            atomic_fetch_add(q->is_kernel[i] ? &q->b->kernel_ns : &q->b->transfer_ns, end - start);
        clReleaseEvent(q->events[i]);
    }
    q->n_events = 0;
}
