/* The OpenCL backend: opening a device, and the engine's accelerator hooks
 * (engine/accel.h) that run a fused stage's tile or a GLOBAL op's map tile
 * there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_internal.h"
#include "util/log.h"

#define MAX_FOUND     64
#define MAX_STAGE_OPS 129 /* 2 * TSR_PIPELINE_MAX_OPS + 1, as plan.c */
#define WARN_LIMIT    10  /* fallbacks logged per backend; the rest only counted */

tsr_status tsr_backend_parse(tsr_ctx *ctx, const char *text, tsr_backend_choice *out) {
    if (!strcmp(text, "cpu"))
        *out = TSR_BACKEND_CPU;
    else if (!strcmp(text, "opencl"))
        *out = TSR_BACKEND_OPENCL;
    else if (!strcmp(text, "auto"))
        *out = TSR_BACKEND_AUTO;
    else
        return tsr_error(ctx, TSR_ERR_USAGE, "unknown backend '%s' (cpu, opencl or auto)", text);
    return TSR_OK;
}

static bool cl_supports(const tsr_accel *a, const tsr_op *ops, int count) {
    (void)a;
    if (count > MAX_STAGE_OPS)
        return false;
    for (int k = 0; k < count; k++)
        if (!tsr_cl_find_kernel(&ops[k]))
            return false;
    return true;
}

/* Uploads rect r of region `in` into device buffer `mem` (rows packed). */
static tsr_status upload(tsr_cl_queue *q, cl_mem mem, const tsr_region *in, tsr_rect r) {
    size_t row = (size_t)r.w * (size_t)in->bands;
    size_t origin[3] = {0, 0, 0}, host[3] = {0, 0, 0}, region[3] = {row, (size_t)r.h, 1};
    const uint8_t *src = TSR_REGION_AT(in, r.x, r.y);
    cl_int err =
        clEnqueueWriteBufferRect(tsr_cl_command_queue(q), mem, CL_FALSE, origin, host, region, row,
                                 0, in->stride, 0, src, 0, NULL, tsr_cl_event_slot(q, 0));
    return err == CL_SUCCESS ? TSR_OK : tsr_cl_fail(err, "clEnqueueWriteBufferRect");
}

/* Reads device buffer `mem` (rect r, rows packed) into region `out`. */
static tsr_status download(tsr_cl_queue *q, cl_mem mem, const tsr_region *out, tsr_rect r) {
    size_t row = (size_t)r.w * (size_t)out->bands;
    size_t origin[3] = {0, 0, 0}, host[3] = {0, 0, 0}, region[3] = {row, (size_t)r.h, 1};
    uint8_t *dst = TSR_REGION_AT(out, r.x, r.y);
    cl_int err =
        clEnqueueReadBufferRect(tsr_cl_command_queue(q), mem, CL_TRUE, origin, host, region, row, 0,
                                out->stride, 0, dst, 0, NULL, tsr_cl_event_slot(q, 0));
    return err == CL_SUCCESS ? TSR_OK : tsr_cl_fail(err, "clEnqueueReadBufferRect");
}

static size_t image_bytes(tsr_rect r, int bands) {
    return (size_t)(r.w > 0 ? r.w : 0) * (size_t)(r.h > 0 ? r.h : 0) * (size_t)bands;
}

/* TEST ONLY: whether this attempt is one $TESSERA_TEST_CL_FAIL_EVERY fails
 * after the device computed it (a device error's path, results dropped). */
static int injected_failure(tsr_cl_backend *b) {
    return b->fail_every > 0 && (atomic_fetch_add(&b->attempts, 1) + 1) % b->fail_every == 0;
}

static tsr_status cl_run_tile(const tsr_accel *a, const tsr_op *ops, int count,
                              const tsr_rect *rects, const tsr_region *in, const tsr_region *out) {
    tsr_cl_backend *b = (tsr_cl_backend *)a;
    tsr_cl_queue *q = tsr_cl_queue_get(b);
    if (!q)
        return TSR_ERR_IO;
    tsr_cl_image cur = {tsr_cl_image_buffer(q, 2, image_bytes(rects[0], in->bands)), rects[0],
                        in->bands, in->image_w, in->image_h};
    if (!cur.mem)
        return TSR_ERR_NOMEM;
    tsr_status st = upload(q, cur.mem, in, rects[0]);
    for (int k = 0; !st && k < count; k++) {
        const tsr_op *op = &ops[k];
        tsr_cl_image dst = {tsr_cl_image_buffer(q, k & 1, image_bytes(rects[k + 1], op->out_bands)),
                            rects[k + 1], op->out_bands, op->out_w, op->out_h};
        const tsr_cl_op_kernel *kern = tsr_cl_find_kernel(op);
        st = !dst.mem ? TSR_ERR_NOMEM : kern ? kern->run(q, op, &cur, &dst) : TSR_ERR_INTERNAL;
        cur = dst;
    }
    if (!st)
        st = download(q, cur.mem, out, rects[count]);
    cl_int err = clFinish(tsr_cl_command_queue(q));
    tsr_cl_events_collect(q);
    if (!st && err != CL_SUCCESS)
        st = tsr_cl_fail(err, "clFinish");
    if (!st && injected_failure(b))
        st = TSR_ERR_IO;
    if (!st)
        atomic_fetch_add(&b->tiles, 1);
    return st;
}

static bool cl_supports_map(const tsr_accel *a, const tsr_op *op) {
    (void)a;
    const tsr_cl_op_kernel *k = tsr_cl_find_kernel(op);
    return k && k->map;
}

static tsr_status cl_map(const tsr_accel *a, const tsr_op *op, const tsr_region *in,
                         void *partial) {
    tsr_cl_backend *b = (tsr_cl_backend *)a;
    tsr_cl_queue *q = tsr_cl_queue_get(b);
    const tsr_cl_op_kernel *k = tsr_cl_find_kernel(op);
    if (!q || !k || !k->map)
        return TSR_ERR_IO;
    if (tsr_rect_empty(in->rect))
        return TSR_ERR_INTERNAL;
    tsr_cl_image im = {tsr_cl_image_buffer(q, 2, image_bytes(in->rect, in->bands)), in->rect,
                       in->bands, in->image_w, in->image_h};
    if (!im.mem)
        return TSR_ERR_NOMEM;
    tsr_status st = upload(q, im.mem, in, in->rect);
    if (!st)
        st = injected_failure(b) ? TSR_ERR_IO : k->map(q, op, &im, partial);
    cl_int err = clFinish(tsr_cl_command_queue(q));
    tsr_cl_events_collect(q);
    if (!st && err != CL_SUCCESS)
        st = tsr_cl_fail(err, "clFinish");
    if (!st)
        atomic_fetch_add(&b->maps, 1);
    return st;
}

static void cl_fell_back(const tsr_accel *a, const char *what, tsr_status st) {
    tsr_cl_backend *b = (tsr_cl_backend *)a;
    atomic_fetch_add(&b->fallbacks, 1);
    if (atomic_fetch_add(&b->warned, 1) >= WARN_LIMIT)
        return;
    tsr_log_field f[3] = {TSR_LOG_FIELD_STRING("stage", what),
                          TSR_LOG_FIELD_STRING("error", tsr_status_name(st)),
                          TSR_LOG_FIELD_STRING("device", b->description)};
    tsr_log(TSR_LOG_WARN, "OpenCL tile failed; computed on the CPU instead", f, 3);
}

static const tsr_accel_vt cl_vt = {cl_supports, cl_run_tile, cl_supports_map, cl_map, cl_fell_back};

/* Index of the device `choice` picks from found[0..n), -1 when none. */
static int pick(const cl_found_device *found, int n, tsr_backend_choice choice) {
    for (int i = 0; i < n; i++)
        if (found[i].type & CL_DEVICE_TYPE_GPU)
            return i;
    return choice == TSR_BACKEND_OPENCL && n > 0 ? 0 : -1;
}

static void describe(tsr_cl_backend *b, const cl_found_device *f) {
    char name[96], platform[64], version[64];
    tsr_cl_device_string(f->device, CL_DEVICE_NAME, name, sizeof name);
    tsr_cl_platform_string(f->platform, CL_PLATFORM_NAME, platform, sizeof platform);
    tsr_cl_device_string(f->device, CL_DEVICE_VERSION, version, sizeof version);
    snprintf(b->description, sizeof b->description, "%s (%s, %s)", name, platform, version);
}

/* Creates the context and program for device f into b. */
static tsr_status open_device(tsr_ctx *ctx, tsr_cl_backend *b, const cl_found_device *f) {
    cl_int err = 0;
    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)f->platform, 0};
    b->device = f->device;
    b->context = clCreateContext(props, 1, &f->device, NULL, NULL, &err);
    if (!b->context || err != CL_SUCCESS)
        return tsr_error(ctx, TSR_ERR_IO, "OpenCL context could not be created (%d)", (int)err);
    cl_ulong alloc = 0;
    clGetDeviceInfo(f->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
    b->max_alloc = (size_t)alloc;
    describe(b, f);
    int cached = 0;
    tsr_status st = tsr_cl_program_build(ctx, b->context, f->device, &b->program, &cached);
    if (!st) {
        tsr_log_field lf[2] = {TSR_LOG_FIELD_STRING("device", b->description),
                               TSR_LOG_FIELD_STRING("program", cached ? "cached" : "built")};
        tsr_log(TSR_LOG_INFO, "OpenCL backend ready", lf, 2);
    }
    return st;
}

tsr_status tsr_cl_backend_open(tsr_ctx *ctx, tsr_backend_choice choice, int device,
                               tsr_cl_backend **out, char *notice, size_t notice_size) {
    *out = NULL;
    notice[0] = 0;
    if (choice == TSR_BACKEND_CPU)
        return TSR_OK;
    cl_found_device found[MAX_FOUND];
    char why[128] = "";
    int n = tsr_cl_enumerate(found, MAX_FOUND, why, sizeof why);
    if (n == 0) {
        snprintf(notice, notice_size, "%s: running on the CPU", why);
        return TSR_OK;
    }
    if (device >= n)
        return tsr_error(ctx, TSR_ERR_USAGE, "--device %d: there %s %d OpenCL device%s (0..%d)",
                         device, n == 1 ? "is" : "are", n, n == 1 ? "" : "s", n - 1);
    int i = device >= 0 ? device : pick(found, n, choice);
    if (i < 0) {
        snprintf(notice, notice_size, "no GPU OpenCL device: running on the CPU");
        return TSR_OK;
    }
    tsr_cl_backend *b = calloc(1, sizeof *b);
    if (!b)
        return tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
    b->accel.vt = &cl_vt;
    const char *fail = getenv("TESSERA_TEST_CL_FAIL_EVERY");
    b->fail_every = fail ? atoi(fail) : 0;
    pthread_mutex_init(&b->lock, NULL);
    pthread_key_create(&b->key, NULL);
    tsr_status st = open_device(ctx, b, &found[i]);
    if (st && choice == TSR_BACKEND_AUTO && device < 0) {
        snprintf(notice, notice_size, "OpenCL device unusable (%.200s): running on the CPU",
                 tsr_ctx_message(ctx));
        tsr_ctx_reset(ctx);
        st = TSR_OK;
        tsr_cl_backend_close(b);
        return st;
    }
    if (st) {
        tsr_cl_backend_close(b);
        return st;
    }
    *out = b;
    return TSR_OK;
}

void tsr_cl_backend_close(tsr_cl_backend *b) {
    if (!b)
        return;
    tsr_cl_queues_free(b);
    if (b->program)
        clReleaseProgram(b->program);
    if (b->context)
        clReleaseContext(b->context);
    pthread_key_delete(b->key);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

const tsr_accel *tsr_cl_backend_accel(const tsr_cl_backend *b) {
    return b ? &b->accel : NULL;
}

const char *tsr_cl_backend_name(const tsr_cl_backend *b) {
    return b ? "opencl" : "cpu";
}

const char *tsr_cl_backend_device(const tsr_cl_backend *b) {
    return b ? b->description : "";
}

void tsr_cl_backend_stats(const tsr_cl_backend *b, tsr_cl_stats *out) {
    *out = (tsr_cl_stats){0};
    if (b) {
        out->tiles = atomic_load(&b->tiles);
        out->maps = atomic_load(&b->maps);
        out->fallbacks = atomic_load(&b->fallbacks);
        out->kernel_s = (double)atomic_load(&b->kernel_ns) / 1e9;
        out->transfer_s = (double)atomic_load(&b->transfer_ns) / 1e9;
    }
}

void tsr_cl_backend_set_profiling(tsr_cl_backend *b, int on) {
    if (b)
        b->profile = on;
}
