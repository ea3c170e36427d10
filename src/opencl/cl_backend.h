/* The compute backend a process runs fused stages on: the CPU code, or an
 * OpenCL device (docs/opencl.md). `tessera process`, `serve`'s local pool
 * and `tessera worker` open one from --backend cpu|opencl|auto and
 * --device N, and pass tsr_cl_backend_accel() to the engine
 * (tsr_run_options.accel, tsr_task_worker_set_accel).
 *
 * A machine without an OpenCL runtime or device runs on the CPU: opening
 * then gives no backend and a notice, never an error. */
#ifndef TESSERA_OPENCL_CL_BACKEND_H
#define TESSERA_OPENCL_CL_BACKEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/accel.h"
#include "tessera/status.h"

typedef enum tsr_backend_choice {
    TSR_BACKEND_CPU,    /* the CPU code only */
    TSR_BACKEND_OPENCL, /* an OpenCL device of any type (a GPU first) */
    TSR_BACKEND_AUTO    /* a GPU OpenCL device if there is one, else the CPU */
} tsr_backend_choice;

/* Parses "cpu", "opencl" or "auto". Errors name the choices. */
tsr_status tsr_backend_parse(tsr_ctx *ctx, const char *text, tsr_backend_choice *out);

typedef struct tsr_cl_backend tsr_cl_backend;

/* Opens `choice` on device `device` (an index of tsr_cl_devices_json's
 * list; -1 picks as the choice says). *out is NULL for the CPU: chosen, or
 * no runtime/device (then `notice` says why, one line). Errors: a device
 * index that does not exist, a program that does not build. */
tsr_status tsr_cl_backend_open(tsr_ctx *ctx, tsr_backend_choice choice, int device,
                               tsr_cl_backend **out, char *notice, size_t notice_size);
void tsr_cl_backend_close(tsr_cl_backend *b);
/* The engine's view of the device. */
const tsr_accel *tsr_cl_backend_accel(const tsr_cl_backend *b);
/* "opencl"; and the device's description ("NVIDIA H100 (NVIDIA CUDA,
 * OpenCL 3.0 CUDA)"). For no backend (NULL): "cpu" and "". */
const char *tsr_cl_backend_name(const tsr_cl_backend *b);
const char *tsr_cl_backend_device(const tsr_cl_backend *b);

/* What the device did since it opened. */
typedef struct tsr_cl_stats {
    uint64_t tiles;     /* stage tiles computed on the device */
    uint64_t maps;      /* GLOBAL map tiles on the device */
    uint64_t fallbacks; /* tiles the CPU redid after a device error */
    double kernel_s;    /* with profiling: device seconds in kernels */
    double transfer_s;  /* with profiling: device seconds in uploads and downloads */
} tsr_cl_stats;
/* Times every kernel and transfer on the device (OpenCL profiling events)
 * into the stats; for benchmarks (bench/cl_throughput.c): call before the
 * first run. */
void tsr_cl_backend_set_profiling(tsr_cl_backend *b, int on);
void tsr_cl_backend_stats(const tsr_cl_backend *b, tsr_cl_stats *out);

/* Platforms and their devices: {"platforms":[{"name","vendor","version",
 * "devices":[{"index","name","type","vendor","driver","version",
 * "global_memory","max_alloc","compute_units","max_clock_mhz"}]}],
 * "error": "..." when there is no runtime}. Never fails for a missing
 * runtime. Caller decrefs. */
json_t *tsr_cl_devices_json(void);

#endif
