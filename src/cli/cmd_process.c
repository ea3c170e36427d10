/* tessera process: run a pipeline over one or many files with all cores. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli/cli.h"
#include "cli/cli_backend.h"
#include "util/clock.h"

typedef struct process_args {
    const char *pipeline; /* -p */
    const char *out;      /* -o */
    const char *format;   /* --format, NULL = from -o or the input */
    const char *report;   /* --report FILE.json */
    int quality;          /* --quality, 0 = default */
    int threads;          /* --threads, 0 = all cores */
    int tile;             /* --tile, 0 = default */
    cli_backend backend;  /* --backend, --device */
    char **inputs;        /* input paths (borrowed from argv) */
    int n_inputs;         /* count */
} process_args;

static int parse_int(const char *flag, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "tessera process: %s must be a whole number from %d to %d (got '%s')\n",
                flag, lo, hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, process_args *a) {
    memset(a, 0, sizeof *a);
    cli_backend_init(&a->backend);
    a->inputs = calloc((size_t)argc, sizeof *a->inputs);
    if (!a->inputs)
        return -1;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (!strcmp(arg, "-p") || !strcmp(arg, "--pipeline"))
            a->pipeline = val;
        else if (!strcmp(arg, "-o") || !strcmp(arg, "--output"))
            a->out = val;
        else if (!strcmp(arg, "--format") || !strcmp(arg, "-f"))
            a->format = val;
        else if (!strcmp(arg, "--report"))
            a->report = val;
        else if (!strcmp(arg, "--quality") || !strcmp(arg, "-q"))
            takes = val ? (parse_int(arg, val, 1, 100, &a->quality) ? -1 : 1) : 1;
        else if (!strcmp(arg, "--threads") || !strcmp(arg, "-j"))
            takes = val ? (parse_int(arg, val, 0, 1024, &a->threads) ? -1 : 1) : 1;
        else if (!strcmp(arg, "--backend") || !strcmp(arg, "--device"))
            takes = val ? cli_backend_option("process", arg, val, &a->backend) : 1;
        else if (!strcmp(arg, "--tile"))
            takes = val ? (parse_int(arg, val, TSR_TILE_MIN, TSR_TILE_MAX, &a->tile) ? -1 : 1) : 1;
        else if (arg[0] == '-' && arg[1]) {
            fprintf(stderr, "tessera process: unknown option '%s'\n", arg);
            return -1;
        } else {
            a->inputs[a->n_inputs++] = argv[i];
            takes = 0;
        }
        if (takes < 0)
            return -1;
        if (takes && !val) {
            fprintf(stderr, "tessera process: %s needs a value\n", arg);
            return -1;
        }
        i += takes;
    }
    if (!a->pipeline || !a->out || a->n_inputs == 0) {
        fprintf(stderr, "usage: tessera process -p PIPELINE IN... -o OUT_OR_DIR [--format F] "
                        "[--quality Q] [--threads N] [--tile N] [--report FILE.json]\n"
                        "       [--backend cpu|opencl|auto] [--device N]\n");
        return -1;
    }
    return 0;
}

static int is_dir(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static const char *extension_of(const char *path) {
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return dot && (!slash || dot > slash) ? dot + 1 : NULL;
}

/* Output path for `in` inside dir: its base name with the format's extension. */
static char *output_in_dir(const char *dir, const char *in, tsr_format fmt) {
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t n = strlen(dir) + stem + 16;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%.*s.%s", dir, (int)stem, base, tsr_format_extension(fmt));
    return path;
}

/* Decides the output format: --format, else the -o extension, else the
 * input's format when it can be written, else PNG. */
static tsr_format choose_format(const process_args *a, int out_is_dir, tsr_format in_fmt) {
    if (a->format)
        return tsr_format_from_name(a->format);
    if (!out_is_dir) {
        const char *ext = extension_of(a->out);
        tsr_format f = ext ? tsr_format_from_name(ext) : TSR_FORMAT_UNKNOWN;
        if (f != TSR_FORMAT_UNKNOWN)
            return f;
    }
    return tsr_format_can_encode(in_fmt) ? in_fmt : TSR_FORMAT_PNG;
}

/* Opens a row reader for `path`, shrinking JPEGs on load when the pipeline
 * starts with a thumbnail that allows it. */
static tsr_status open_input(tsr_ctx *ctx, const tsr_pipeline *pipe, const char *path,
                             tsr_row_reader **reader, tsr_image_info *info) {
    tsr_status st = tsr_row_reader_open(ctx, path, NULL, reader, info);
    if (st || info->format != TSR_FORMAT_JPEG)
        return st;
    int w = info->width, h = info->height;
    if (info->orientation >= 5) { /* stored sideways */
        w = info->height;
        h = info->width;
    }
    tsr_decode_options dopts = {0};
    dopts.shrink = tsr_pipeline_shrink_hint(pipe, w, h);
    if (dopts.shrink <= 1)
        return TSR_OK;
    tsr_row_reader_free(*reader);
    *reader = NULL;
    return tsr_row_reader_open(ctx, path, &dopts, reader, info);
}

/* Reads one input, runs the pipeline, writes the output. Returns the status. */
static tsr_status process_one(tsr_ctx *ctx, const process_args *a, const tsr_pipeline *pipe,
                              tsr_executor *exec, const char *in_path, const char *out_path_given,
                              int out_is_dir, json_t *report) {
    tsr_status st;
    tsr_row_reader *reader = NULL;
    tsr_row_writer *writer = NULL;
    tsr_plan *plan = NULL;
    char *out_path = NULL;
    tsr_image_info info;
    int w, h, bands, out_w, out_h, out_bands;
    double t0 = tsr_clock_mono_s(); /* --report's "seconds": decode, run, encode, write */
    if ((st = open_input(ctx, pipe, in_path, &reader, &info)))
        goto out;
    tsr_row_reader_shape(reader, &w, &h, &bands);
    tsr_format fmt = choose_format(a, out_is_dir, info.format);
    if (fmt == TSR_FORMAT_UNKNOWN || !tsr_format_can_encode(fmt)) {
        st = tsr_error(ctx, TSR_ERR_USAGE, "cannot write format '%s'",
                       a->format ? a->format : tsr_format_name(fmt));
        goto out;
    }
    out_path = out_is_dir ? output_in_dir(out_path_given, in_path, fmt) : strdup(out_path_given);
    if (!out_path) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((st = tsr_plan_new(ctx, pipe, w, h, bands, a->tile, &plan)))
        goto out;
    tsr_plan_output(plan, &out_w, &out_h, &out_bands);
    tsr_encode_options eopts = {.quality = a->quality, .compression = -1};
    if ((st = tsr_row_writer_open(ctx, out_path, fmt, out_w, out_h, out_bands, &eopts, &writer)))
        goto out;
    cli_progress bar;
    const char *base = strrchr(in_path, '/');
    cli_progress_start(&bar, base ? base + 1 : in_path);
    tsr_run_options ropts = {.tile_size = a->tile,
                             .progress = cli_progress_update,
                             .progress_user = &bar,
                             .label = in_path,
                             .accel = tsr_cl_backend_accel(a->backend.backend)};
    st = tsr_plan_run_rows(ctx, plan, reader, writer, exec, &ropts);
    if (!st)
        st = tsr_row_writer_finish(writer);
    cli_progress_finish(&bar, st == TSR_OK);
    if (st)
        goto out;
    if (report) {
        char *text = tsr_plan_results_json(plan);
        json_t *ops = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        json_t *entry =
            json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:f}", "input", in_path, "output", out_path,
                      "width", out_w, "height", out_h, "bands", out_bands, "streamed",
                      tsr_row_reader_streams(reader) && tsr_row_writer_streams(writer), "seconds",
                      round((tsr_clock_mono_s() - t0) * 1e6) / 1e6);
        json_object_set_new(entry, "ops",
                            ops ? json_incref(json_object_get(ops, "ops")) : json_array());
        json_decref(ops);
        json_array_append_new(report, entry);
    }
out:
    tsr_row_writer_free(writer); /* removes the temporary file unless finished */
    tsr_row_reader_free(reader);
    tsr_plan_free(plan);
    free(out_path);
    return st;
}

int cmd_process(int argc, char **argv) {
    process_args a = {0};
    int code = EXIT_OK;
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *pipe = NULL;
    tsr_executor *exec = NULL;
    json_t *report = NULL;
    if (!ctx || parse_args(argc, argv, &a)) {
        code = EXIT_USAGE;
        goto out;
    }
    if (a.format && (tsr_format_from_name(a.format) == TSR_FORMAT_UNKNOWN ||
                     !tsr_format_can_encode(tsr_format_from_name(a.format)))) {
        fprintf(stderr,
                "tessera process: cannot write format '%s' (jpeg, png, webp, tiff, bmp, "
                "pnm)\n",
                a.format);
        code = EXIT_USAGE;
        goto out;
    }
    if (tsr_pipeline_parse(ctx, a.pipeline, &pipe)) {
        fprintf(stderr, "tessera process: %s\n", tsr_ctx_message(ctx));
        code = EXIT_USAGE;
        goto out;
    }
    int out_is_dir = is_dir(a.out);
    if (a.n_inputs > 1 && !out_is_dir) {
        if (mkdir(a.out, 0777) != 0) {
            fprintf(stderr, "tessera process: with several inputs -o must be a folder (%s: %s)\n",
                    a.out, strerror(errno));
            code = EXIT_USAGE;
            goto out;
        }
        out_is_dir = 1;
    }
    tsr_status bst = cli_backend_open(ctx, "process", &a.backend);
    if (bst || tsr_executor_local_new(ctx, a.threads, &exec)) {
        fprintf(stderr, "tessera process: %s\n", tsr_ctx_message(ctx));
        code = bst ? cli_exit_code(bst) : EXIT_INTERNAL;
        goto out;
    }
    if (a.report)
        report = json_array();
    for (int i = 0; i < a.n_inputs; i++) {
        tsr_ctx_reset(ctx);
        tsr_status st = process_one(ctx, &a, pipe, exec, a.inputs[i], a.out, out_is_dir, report);
        if (st) {
            fprintf(stderr, "tessera: %s: %s\n", a.inputs[i], tsr_ctx_message(ctx));
            int c = cli_exit_code(st);
            if (c > code)
                code = c;
        }
    }
    if (report) {
        /* {"results":[...]} plus the first result's "ops" at the top for one input. */
        json_t *root = json_object();
        json_t *first = json_array_get(report, 0);
        json_object_set_new(root, "ops",
                            first ? json_incref(json_object_get(first, "ops")) : json_array());
        json_object_set(root, "results", report);
        if (json_dump_file(root, a.report, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            fprintf(stderr, "tessera process: could not write %s\n", a.report);
            if (code < EXIT_INTERNAL)
                code = EXIT_INTERNAL;
        }
        json_decref(root);
    }
out:
    json_decref(report);
    tsr_executor_free(exec);
    cli_backend_close(&a.backend);
    tsr_pipeline_free(pipe);
    tsr_ctx_free(ctx);
    free(a.inputs);
    return code;
}
