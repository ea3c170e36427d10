/* How close tessera gets to the machine's limits (docs/benchmarks.md,
 * "Near the machine's limits"):
 *
 * 1. memory bandwidth, STREAM-like: copy (c = a) and triad (a = b + s*c) on
 *    arrays far larger than the caches, one thread and N threads;
 * 2. for each op, the in-memory kernel throughput (Mpixel/s of the input,
 *    N threads) and the bytes it must move per pixel (input read, output
 *    written) as a fraction of the N-thread copy bandwidth;
 * 3. the codec floor: decoding and encoding the same JPEG with no
 *    operation, through tessera's own row reader and writer, and each op's
 *    file-to-file time (the same reader, plan and writer as `tessera
 *    process`, in this process) as a multiple of that floor.
 *
 * The input is a photo scaled to the size asked with camera-like noise.
 *
 * usage: limits PHOTO [--size WxH] [--threads N] [--runs N] [--only SUBSTRING]
 *               [--work DIR] [--mib N]
 * Prints Markdown tables; exit 2 on bad usage, 1 on a failure. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_input.h"
#include "tessera/tessera.h"
#include "util/clock.h"

static const char *const workloads[] = {
    "invert",
    "brightness:delta=40",
    "contrast:factor=1.3",
    "gamma:gamma=0.8",
    "threshold:value=127",
    "grayscale",
    "flip:axis=horizontal",
    "box-blur:ksize=9",
    "gaussian-blur:ksize=5",
    "sharpen",
    "sobel",
    "median:ksize=5",
    "canny:low=100,high=200",
    "grayscale|gaussian-blur:ksize=5|canny:low=100,high=200",
    "equalize",
    "resize:scale=0.5,interp=linear",
    "resize:scale=0.5,interp=lanczos",
    "rotate:angle=30",
};

typedef struct options {
    const char *photo, *only, *work;
    int w, h, threads, runs, mib;
} options;

/* ---- 1. memory bandwidth ---- */

typedef struct stream_arg {
    double *a, *b, *c;
    size_t lo, hi;
    int triad;
} stream_arg;

static void *stream_part(void *p) {
    stream_arg *s = p;
    if (s->triad)
        for (size_t i = s->lo; i < s->hi; i++)
            s->a[i] = s->b[i] + 3.0 * s->c[i];
    else
        for (size_t i = s->lo; i < s->hi; i++)
            s->c[i] = s->a[i];
    return NULL;
}

/* GB/s of copy (16 bytes per element) or triad (24), median of runs. */
static double stream_gbs(double *a, double *b, double *c, size_t n, int threads, int triad,
                         int runs) {
    double t[64];
    runs = runs < 64 ? runs : 64;
    for (int r = -1; r < runs; r++) {
        pthread_t th[64];
        stream_arg args[64];
        int k = threads < 64 ? threads : 64;
        double t0 = tsr_clock_mono_s();
        for (int i = 0; i < k; i++) {
            args[i] = (stream_arg){
                a, b, c, n * (size_t)i / (size_t)k, n * (size_t)(i + 1) / (size_t)k, triad};
            pthread_create(&th[i], NULL, stream_part, &args[i]);
        }
        for (int i = 0; i < k; i++)
            pthread_join(th[i], NULL);
        if (r >= 0)
            t[r] = tsr_clock_mono_s() - t0;
    }
    return (double)n * (triad ? 24 : 16) / bench_median(t, runs) / 1e9;
}

/* Prints the bandwidth table; returns the N-thread copy GB/s. */
static double bandwidth(const options *o) {
    size_t n = (size_t)o->mib << 20 >> 3;
    double *a = malloc(n * 8), *b = malloc(n * 8), *c = malloc(n * 8);
    if (!a || !b || !c)
        return 0;
    for (size_t i = 0; i < n; i++)
        a[i] = 1.0, b[i] = 2.0, c[i] = 0.5; /* touch every page */
    double copy1 = stream_gbs(a, b, c, n, 1, 0, o->runs);
    double triad1 = stream_gbs(a, b, c, n, 1, 1, o->runs);
    double copyn = stream_gbs(a, b, c, n, o->threads, 0, o->runs);
    double triadn = stream_gbs(a, b, c, n, o->threads, 1, o->runs);
    printf("### Memory bandwidth (%d MiB arrays, median of %d)\n\n", o->mib, o->runs);
    printf("| kernel | 1 thread GB/s | %d threads GB/s |\n|---|---|---|\n", o->threads);
    printf("| copy `c = a` | %.1f | %.1f |\n| triad `a = b + s*c` | %.1f | %.1f |\n\n", copy1,
           copyn, triad1, triadn);
    free(a), free(b), free(c);
    return copyn;
}

/* ---- inputs ---- */

/* ---- 2. in memory ---- */

static double time_memory(tsr_ctx *ctx, const options *o, const tsr_pipeline *p,
                          const tsr_image *in, tsr_executor *pool, int *out_px, int *out_bands) {
    double t[64];
    int runs = o->runs < 64 ? o->runs : 64;
    for (int i = -1; i < runs; i++) {
        tsr_image *out = NULL;
        double t0 = tsr_clock_mono_s();
        if (tsr_pipeline_run(ctx, p, in, pool, NULL, &out))
            return -1;
        if (i >= 0)
            t[i] = tsr_clock_mono_s() - t0;
        *out_px = out->width * out->height;
        *out_bands = out->bands;
        tsr_image_free(out);
    }
    return bench_median(t, runs);
}

/* ---- 3. file to file ---- */

/* One file-to-file run: `p` NULL is the codec floor (rows straight from the
 * reader to the writer, 256 at a time). Returns seconds, -1 on failure. */
static double file_run(tsr_ctx *ctx, const char *in, const char *out, const tsr_pipeline *p,
                       tsr_executor *pool) {
    tsr_row_reader *r = NULL;
    tsr_row_writer *wr = NULL;
    tsr_plan *plan = NULL;
    uint8_t *rows = NULL;
    tsr_status st;
    double t0 = tsr_clock_mono_s();
    int w, h, b, ow, oh, ob;
    if ((st = tsr_row_reader_open(ctx, in, NULL, &r, NULL)))
        goto done;
    tsr_row_reader_shape(r, &w, &h, &b);
    ow = w, oh = h, ob = b;
    if (p && !(st = tsr_plan_new(ctx, p, w, h, b, 0, &plan)))
        tsr_plan_output(plan, &ow, &oh, &ob);
    if (!st)
        st = tsr_row_writer_open(ctx, out, TSR_FORMAT_JPEG, ow, oh, ob, NULL, &wr);
    if (!st && plan)
        st = tsr_plan_run_rows(ctx, plan, r, wr, pool, NULL);
    else if (!st && !(rows = malloc((size_t)w * (size_t)b * 256)))
        st = TSR_ERR_NOMEM;
    for (int y = 0; !st && !plan && y < h; y += 256) {
        int n = h - y < 256 ? h - y : 256;
        if (!(st = tsr_row_reader_read(r, rows, (size_t)w * (size_t)b, n)))
            st = tsr_row_writer_write(wr, rows, (size_t)w * (size_t)b, n);
    }
    if (!st)
        st = tsr_row_writer_finish(wr);
done:
    free(rows);
    tsr_plan_free(plan);
    tsr_row_writer_free(wr);
    tsr_row_reader_free(r);
    return st ? -1 : tsr_clock_mono_s() - t0;
}

static double time_file(tsr_ctx *ctx, const options *o, const char *in, const char *out,
                        const tsr_pipeline *p, tsr_executor *pool) {
    double t[64];
    int runs = o->runs < 64 ? o->runs : 64;
    for (int i = -1; i < runs; i++) {
        double s = file_run(ctx, in, out, p, pool);
        if (s < 0)
            return -1;
        if (i >= 0)
            t[i] = s;
    }
    return bench_median(t, runs);
}

static void cell_name(const char *text, char *name, size_t size) {
    size_t n = 0; /* '|' escaped for a Markdown cell */
    for (const char *c = text; *c && n + 3 < size; c++) {
        if (*c == '|')
            name[n++] = '\\';
        name[n++] = *c;
    }
    name[n] = 0;
}

static void bench_one(tsr_ctx *ctx, const options *o, const char *text, const tsr_image *in,
                      tsr_executor *pool, double copy_gbs, const char *jpg, double floor_s) {
    tsr_pipeline *p = NULL;
    char name[256], out[4096];
    cell_name(text, name, sizeof name);
    if (tsr_pipeline_parse(ctx, text, &p)) {
        printf("| `%s` | %s |\n", name, tsr_ctx_message(ctx));
        return;
    }
    int out_px = 0, out_bands = 0;
    double mem = time_memory(ctx, o, p, in, pool, &out_px, &out_bands);
    snprintf(out, sizeof out, "%s/limits-out.jpg", o->work);
    double file = time_file(ctx, o, jpg, out, p, pool);
    double px = (double)in->width * in->height;
    double bytes = px * in->bands + (double)out_px * out_bands; /* read in, write out */
    if (mem < 0 || file < 0)
        printf("| `%s` | failed: %s |\n", name, tsr_ctx_message(ctx));
    else
        printf("| `%s` | %.0f | %.2f | %.0f%% | %.3f | %.2f |\n", name, px / mem / 1e6,
               bytes / mem / 1e9, 100.0 * bytes / mem / 1e9 / copy_gbs, file, file / floor_s);
    fflush(stdout);
    tsr_pipeline_free(p);
}

static int parse(int argc, char **argv, options *o) {
    *o = (options){.w = 3840, .h = 2160, .threads = 2, .runs = 5, .mib = 256, .work = "/tmp"};
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
        else if (!strcmp(a, "--mib"))
            o->mib = atoi(v);
        else if (!strcmp(a, "--only"))
            o->only = v;
        else if (!strcmp(a, "--work"))
            o->work = v;
        else
            return 0;
    }
    return o->photo && o->w > 0 && o->h > 0 && o->threads > 0 && o->threads <= 64 && o->runs > 0 &&
           o->mib >= 16;
}

int main(int argc, char **argv) {
    options o;
    if (!parse(argc, argv, &o)) {
        fprintf(stderr, "usage: limits PHOTO [--size WxH] [--threads N] [--runs N] "
                        "[--only SUBSTRING] [--work DIR] [--mib N]\n");
        return 2;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_executor *pool = NULL;
    double copy = bandwidth(&o);
    tsr_image *in = bench_make_input(ctx, o.photo, o.w, o.h);
    char jpg[4096];
    snprintf(jpg, sizeof jpg, "%s/limits-in.jpg", o.work);
    tsr_encode_options q90 = {.quality = 90, .compression = -1};
    if (copy <= 0 || !in || tsr_executor_local_new(ctx, o.threads, &pool) ||
        tsr_image_save(ctx, in, jpg, TSR_FORMAT_JPEG, &q90)) {
        fprintf(stderr, "limits: cannot set up: %s\n", tsr_ctx_message(ctx));
        return 1;
    }
    char out[4096];
    snprintf(out, sizeof out, "%s/limits-out.jpg", o.work);
    double floor_s = time_file(ctx, &o, jpg, out, NULL, pool);
    printf("### Ops against the limits (input %dx%dx%d, %s + noise; %d threads; median of %d)\n\n"
           "Codec floor (JPEG q90 in, decode + encode at q85, no op): %.3f s.\n\n",
           in->width, in->height, in->bands, o.photo, o.threads, o.runs, floor_s);
    printf("| pipeline | in memory Mpx/s | GB/s moved (in + out) | of copy bandwidth "
           "| file to file s | x codec floor |\n|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++)
        if (!o.only || strstr(workloads[i], o.only))
            bench_one(ctx, &o, workloads[i], in, pool, copy, jpg, floor_s);
    remove(jpg);
    remove(out);
    tsr_image_free(in);
    tsr_executor_free(pool);
    tsr_ctx_free(ctx);
    return 0;
}
