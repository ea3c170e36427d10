/* The global family on OpenCL (see cl_kernels.h): equalize and
 * threshold-otsu map their tiles into per-band histograms on the device,
 * and apply the per-band tables that finalize built (ops/global/global.h). */
#include <stdint.h>

#include "ops/global/global.h"
#include "opencl/cl_kernels.h"

#define HIST_LOCAL      256   /* work items per group of global_histogram (at most) */
#define HIST_GROUPS     512   /* groups at most; each item counts several pixels */
#define HIST_PER        8     /* pixels per work item below HIST_GROUPS groups */
#define HIST_CPU_PER    16384 /* CPU devices: pixels per group (of one item) at least */
#define HIST_CPU_GROUPS 4     /* CPU devices: groups per compute unit at most */

/* Enqueues global_lut: each colour band through its table in op->state (a
 * band_luts), alpha copied; as tsr_global_run. */
static tsr_status run_luts(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                           const tsr_cl_image *out) {
    const band_luts *l = op->state;
    if (!l)
        return TSR_ERR_INTERNAL; /* not finalized: the CPU run says so */
    cl_kernel k = tsr_cl_kernel(q, "global_lut");
    cl_mem luts = tsr_cl_table(q, 0, l->lut, sizeof l->lut);
    if (!k || !luts)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg_image(k, &arg, out);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof luts, &luts);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "global_lut arguments");
    return tsr_cl_run_2d(q, k, (size_t)out->rect.w, (size_t)out->rect.h);
}

/* The grid of global_histogram for `pixels` on q's device: on a GPU,
 * groups of HIST_LOCAL items (fewer where the device allows fewer) sharing
 * local bins through atomics; on a CPU device, which runs a group on one
 * thread, groups of one item counting without atomics, a few per core. */
static void histogram_grid(tsr_cl_queue *q, cl_kernel k, size_t pixels, size_t *local,
                           size_t *groups) {
    cl_device_id dev = NULL;
    cl_device_type type = CL_DEVICE_TYPE_GPU;
    cl_uint units = 1;
    size_t most = 0;
    if (clGetCommandQueueInfo(tsr_cl_command_queue(q), CL_QUEUE_DEVICE, sizeof dev, &dev, NULL) ==
        CL_SUCCESS) {
        clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
        clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof units, &units, NULL);
    }
    clGetKernelWorkGroupInfo(k, dev, CL_KERNEL_WORK_GROUP_SIZE, sizeof most, &most, NULL);
    size_t per = HIST_PER, most_groups = HIST_GROUPS;
    *local = most == 0 ? 1 : (most < HIST_LOCAL ? most : HIST_LOCAL);
    if (type & CL_DEVICE_TYPE_CPU) {
        *local = 1;
        per = HIST_CPU_PER;
        most_groups = (size_t)(units ? units : 1) * HIST_CPU_GROUPS;
    }
    size_t n = (pixels + *local * per - 1) / (*local * per);
    *groups = n < 1 ? 1 : (n > most_groups ? most_groups : n);
}

/* Enqueues global_histogram over all of in into `hist` (zeroed here). */
static tsr_status enqueue_histogram(tsr_cl_queue *q, const tsr_cl_image *in, cl_mem *hist,
                                    size_t hist_bytes) {
    static const uint32_t zeros[TSR_MAX_BANDS * 256];
    cl_kernel k = tsr_cl_kernel(q, "global_histogram");
    *hist = tsr_cl_table(q, 1, zeros, hist_bytes);
    if (!k || !*hist)
        return TSR_ERR_IO;
    cl_uint arg = 0;
    cl_int err = tsr_cl_arg_image(k, &arg, in);
    if (err == CL_SUCCESS)
        err = tsr_cl_arg(k, &arg, sizeof *hist, hist);
    if (err != CL_SUCCESS)
        return tsr_cl_fail(err, "global_histogram arguments");
    size_t local = 1, groups = 1;
    histogram_grid(q, k, (size_t)in->rect.w * (size_t)in->rect.h, &local, &groups);
    size_t global = groups * local;
    err =
        clEnqueueNDRangeKernel(tsr_cl_command_queue(q), k, 1, NULL, &global, &local, 0, NULL, NULL);
    return err == CL_SUCCESS ? TSR_OK : tsr_cl_fail(err, "clEnqueueNDRangeKernel");
}

/* tsr_histograms_map on the device: counts in's colour samples into 32-bit
 * bins there, reads them back and adds them into `partial` (a
 * band_histograms) only when everything succeeded. */
static tsr_status map_histograms(tsr_cl_queue *q, const tsr_op *op, const tsr_cl_image *in,
                                 void *partial) {
    (void)op;
    if ((uint64_t)in->rect.w * (uint64_t)in->rect.h > UINT32_MAX)
        return TSR_ERR_INTERNAL; /* a bin could wrap: the CPU counts in 64 bits */
    int colour = colour_bands(in->bands);
    uint32_t counts[TSR_MAX_BANDS * 256];
    size_t bytes = (size_t)colour * 256 * sizeof counts[0];
    cl_mem hist = NULL;
    tsr_status st = enqueue_histogram(q, in, &hist, bytes);
    if (!st)
        st = tsr_cl_read(q, hist, counts, bytes);
    if (st)
        return st;
    band_histograms *h = partial;
    for (int c = 0; c < colour; c++)
        for (int v = 0; v < 256; v++)
            h->bins[c][v] += counts[c * 256 + v];
    return TSR_OK;
}

const tsr_cl_op_kernel tsr_cl_kernels_global[] = {
    {"equalize", NULL, run_luts, map_histograms},
    {"threshold-otsu", NULL, run_luts, map_histograms},
    {NULL, NULL, NULL, NULL},
};
