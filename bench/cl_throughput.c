/* In-memory throughput of each op on the CPU backend and on an OpenCL
 * device (bench/opencl.md): Mpixel/s of the input, the CPU with N threads,
 * the device through the engine with transfers included (the same N
 * threads feeding it), and the device's kernel time alone (OpenCL
 * profiling; transfers excluded). The input is a photo scaled to the size
 * asked with camera-like noise added, so no op gets an unrealistically
 * smooth image.
 *
 * usage: cl_throughput PHOTO [--size WxH] [--threads N] [--runs N]
 *                      [--device N] [--tile N] [--only SUBSTRING]
 * Prints a Markdown table; exit 2 on bad usage, 1 without a device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opencl/cl_backend.h"
#include "bench_input.h"
#include "tessera/tessera.h"
#include "util/clock.h"

static const char *const workloads[] = {
    "invert",
    "brightness:delta=40",
    "gamma:gamma=0.8",
    "threshold:value=127",
    "grayscale",
    "box-blur:ksize=9",
    "gaussian-blur:ksize=5",
    "gaussian-blur:sigma=3",
    "sharpen",
    "sobel",
    "median:ksize=3",
    "median:ksize=5",
    "convolve:kernel=0 -1 0 -1 5 -1 0 -1 0",
    "canny:low=100,high=200",
    "grayscale|gaussian-blur:ksize=5|canny:low=100,high=200",
    "equalize",
    "threshold-otsu",
    "resize:scale=0.5,interp=linear",
    "resize:scale=0.5,interp=area",
    "resize:scale=0.5,interp=lanczos",
    "resize:scale=2,interp=linear",
    "rotate:angle=30",
    "flip:axis=horizontal",
    "rotate90",
};

typedef struct options {
    const char *photo;
    int w, h, threads, runs, device, tile;
    const char *only;
} options;

/* Median wall seconds of o->runs runs of `p` (after one warm-up run). */
static double time_runs(tsr_ctx *ctx, const options *o, const tsr_pipeline *p, const tsr_image *in,
                        tsr_executor *pool, const tsr_accel *accel) {
    double t[64];
    int runs = o->runs < 64 ? o->runs : 64;
    tsr_run_options ro = {.tile_size = o->tile, .accel = accel};
    for (int i = -1; i < runs; i++) {
        tsr_image *out = NULL;
        double t0 = tsr_clock_mono_s();
        if (tsr_pipeline_run(ctx, p, in, pool, &ro, &out)) {
            fprintf(stderr, "run failed: %s\n", tsr_ctx_message(ctx));
            return -1;
        }
        if (i >= 0)
            t[i] = tsr_clock_mono_s() - t0;
        tsr_image_free(out);
    }
    return bench_median(t, runs);
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.w = 3840, .h = 2160, .threads = 2, .runs = 5, .device = -1, .tile = 256};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            o->photo = a;
            continue;
        }
        if (!v)
            return 0;
        i++;
        if (!strcmp(a, "--size") && sscanf(v, "%dx%d", &o->w, &o->h) == 2)
            continue;
        if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--runs"))
            o->runs = atoi(v);
        else if (!strcmp(a, "--device"))
            o->device = atoi(v);
        else if (!strcmp(a, "--tile"))
            o->tile = atoi(v);
        else if (!strcmp(a, "--only"))
            o->only = v;
        else
            return 0;
    }
    return o->photo && o->w > 0 && o->h > 0 && o->threads > 0 && o->runs > 0 && o->tile >= 16;
}

/* One table row: CPU, device with transfers, device kernels alone. */
static void bench_one(tsr_ctx *ctx, const options *o, const char *text, const tsr_image *in,
                      tsr_executor *pool, tsr_cl_backend *dev, tsr_cl_backend *prof) {
    tsr_pipeline *p = NULL;
    if (tsr_pipeline_parse(ctx, text, &p)) {
        printf("| %s | %s |\n", text, tsr_ctx_message(ctx));
        return;
    }
    double mpx = (double)in->width * in->height / 1e6;
    char name[256]; /* '|' escaped for a Markdown cell */
    size_t n = 0;
    for (const char *c = text; *c && n + 3 < sizeof name; c++) {
        if (*c == '|')
            name[n++] = '\\';
        name[n++] = *c;
    }
    name[n] = 0;
    double cpu = time_runs(ctx, o, p, in, pool, NULL);
    tsr_cl_stats a, b;
    tsr_cl_backend_stats(dev, &a);
    double gpu = time_runs(ctx, o, p, in, pool, tsr_cl_backend_accel(dev));
    tsr_cl_backend_stats(dev, &b);
    int on_device = b.tiles + b.maps > a.tiles + a.maps;
    tsr_cl_backend_stats(prof, &a);
    time_runs(ctx, o, p, in, pool, tsr_cl_backend_accel(prof));
    tsr_cl_backend_stats(prof, &b);
    double kernel = (b.kernel_s - a.kernel_s) / (o->runs + 1);
    double transfer = (b.transfer_s - a.transfer_s) / (o->runs + 1);
    if (on_device)
        printf("| `%s` | %.1f | %.1f | %.1f | %.1f | %.2f |\n", name, mpx / cpu, mpx / gpu,
               kernel > 0 ? mpx / kernel : 0.0, transfer > 0 ? mpx / transfer : 0.0, cpu / gpu);
    else
        printf("| `%s` | %.1f | (CPU: no kernel) | | | |\n", name, mpx / cpu);
    fflush(stdout);
    tsr_pipeline_free(p);
}

int main(int argc, char **argv) {
    options o;
    if (!parse(argc, argv, &o)) {
        fprintf(stderr, "usage: cl_throughput PHOTO [--size WxH] [--threads N] [--runs N] "
                        "[--device N] [--tile N] [--only SUBSTRING]\n");
        return 2;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_cl_backend *dev = NULL, *prof = NULL;
    tsr_executor *pool = NULL;
    char notice[256] = "";
    if (tsr_cl_backend_open(ctx, TSR_BACKEND_OPENCL, o.device, &dev, notice, sizeof notice) ||
        !dev ||
        tsr_cl_backend_open(ctx, TSR_BACKEND_OPENCL, o.device, &prof, notice, sizeof notice)) {
        fprintf(stderr, "no OpenCL device: %s%s\n", notice, tsr_ctx_message(ctx));
        return 1;
    }
    tsr_cl_backend_set_profiling(prof, 1);
    tsr_image *in = bench_make_input(ctx, o.photo, o.w, o.h);
    if (!in || tsr_executor_local_new(ctx, o.threads, &pool)) {
        fprintf(stderr, "cannot make the input: %s\n", tsr_ctx_message(ctx));
        return 1;
    }
    printf("Device: %s. Input %dx%dx%d (%s + noise), %d threads, tile %d, median of %d runs.\n\n",
           tsr_cl_backend_device(dev), in->width, in->height, in->bands, o.photo, o.threads, o.tile,
           o.runs);
    printf("| pipeline | CPU Mpx/s | OpenCL Mpx/s (with transfers) | OpenCL kernels Mpx/s "
           "| transfers Mpx/s | CPU time / OpenCL time |\n|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (!o.only || strstr(workloads[i], o.only))
            bench_one(ctx, &o, workloads[i], in, pool, dev, prof);
    tsr_image_free(in);
    tsr_executor_free(pool);
    tsr_cl_backend_close(dev);
    tsr_cl_backend_close(prof);
    tsr_ctx_free(ctx);
    return 0;
}
