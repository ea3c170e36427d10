/* In-memory time of a pipeline on the CPU: the image is decoded first, then
 * the pipeline runs `warmup` times untimed (page faults, the allocator
 * settling on reusing the output's memory) and `runs` times timed, with N
 * threads and tiles of the given side. Prints
 * one line per timed run, "op_s=SECONDS cpu_s=SECONDS" (wall time, and
 * the CPU time of every thread of the process), the line bench/opencv_peer
 * prints with PEER_TIME_OP=1, so bench/median.py reads both alike.
 *
 * usage: op_time IMAGE PIPELINE [--threads N] [--runs N] [--warmup N] [--tile N]
 * Exit 2 on bad usage, 1 when the image or the pipeline fails. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tessera/tessera.h"
#include "util/clock.h"
#include "util/simd.h"

/* CPU seconds of the whole process (every thread). */
static double process_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct options {
    const char *image;    /* input file */
    const char *pipeline; /* pipeline text */
    int threads;          /* executor threads */
    int runs;             /* timed runs */
    int warmup;           /* untimed runs before them */
    int tile;             /* tile side */
} options;

static int parse(int argc, char **argv, options *o) {
    *o = (options){.threads = 2, .runs = 1, .warmup = 1, .tile = TSR_DEFAULT_TILE};
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            if (positional == 0)
                o->image = a;
            else if (positional == 1)
                o->pipeline = a;
            else
                return 0;
            positional++;
            continue;
        }
        if (!v)
            return 0;
        i++;
        if (!strcmp(a, "--threads"))
            o->threads = atoi(v);
        else if (!strcmp(a, "--runs"))
            o->runs = atoi(v);
        else if (!strcmp(a, "--warmup"))
            o->warmup = atoi(v);
        else if (!strcmp(a, "--tile"))
            o->tile = atoi(v);
        else
            return 0;
    }
    return o->image && o->pipeline && o->threads > 0 && o->runs > 0 && o->warmup >= 0 &&
           o->tile >= TSR_TILE_MIN;
}

int main(int argc, char **argv) {
    options o;
    if (!parse(argc, argv, &o)) {
        fprintf(stderr,
                "usage: op_time IMAGE PIPELINE [--threads N] [--runs N] [--warmup N] [--tile N]\n");
        return 2;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = NULL;
    tsr_pipeline *p = NULL;
    tsr_executor *pool = NULL;
    int rc = 1;
    if (tsr_image_load(ctx, o.image, NULL, &in, NULL) || tsr_pipeline_parse(ctx, o.pipeline, &p) ||
        tsr_executor_local_new(ctx, o.threads, &pool))
        goto out;
    tsr_run_options ro = {.tile_size = o.tile};
    for (int i = -o.warmup; i < o.runs; i++) {
        tsr_image *out = NULL;
        double t0 = tsr_clock_mono_s(), c0 = process_cpu_s();
        if (tsr_pipeline_run(ctx, p, in, pool, &ro, &out))
            goto out;
        double t = tsr_clock_mono_s() - t0, c = process_cpu_s() - c0;
        tsr_image_free(out);
        if (i >= 0)
            printf("op_s=%.6f cpu_s=%.6f\n", t, c);
    }
    fprintf(stderr, "op_time: %dx%dx%d, %d threads, tile %d, simd %s\n", in->width, in->height,
            in->bands, o.threads, o.tile, tsr_simd_name(tsr_simd_active()));
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "op_time: %s\n", tsr_ctx_message(ctx));
    tsr_executor_free(pool);
    tsr_pipeline_free(p);
    tsr_image_free(in);
    tsr_ctx_free(ctx);
    return rc;
}
