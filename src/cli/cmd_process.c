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
#include "cli/cli_limits.h"
#include "util/clock.h"

typedef struct process_args {
    const char *pipeline; /* -p */
    const char *out;      /* -o */
    const char *format;   /* --format, NULL = from -o or the input */
    const char *report;   /* --report FILE.json */
    int quality;          /* --quality, 0 = default */
    int speed;            /* --speed (AVIF, HEIC), 0 = default */
    int threads;          /* --threads, 0 = all cores */
    int tile;             /* --tile, 0 = default */
    bool pyramid;         /* --pyramid: tiled TIFF with reduced-resolution pages */
    int frame;            /* --frame, -1 = none chosen */
    bool lossless;        /* --lossless (WebP) */
    cli_backend backend;  /* --backend, --device */
    tsr_limits limits;    /* --max-pixels, --max-file-bytes...: zero fields = the defaults */
    uint64_t memory;      /* --memory-budget bytes; 0 = TSR_DEFAULT_MEMORY_BUDGET */
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

/* The caps `process` takes as options. */
#define PROCESS_LIMITS (CLI_LIMITS_SHAPE | CLI_LIMITS_FILE_BYTES | CLI_LIMITS_BUFFER)

static void usage(void) {
    fprintf(stderr,
            "usage: tessera process -p PIPELINE IN... -o OUT_OR_DIR [--format F] "
            "[--quality Q] [--speed S] [--lossless]\n"
            "       [--threads N] [--tile N] [--frame N] [--report FILE.json] [--pyramid]\n"
            "       [--backend cpu|opencl|auto] [--device N] [--memory-budget N]\n"
            "       %s\n",
            cli_limits_usage);
}

/* Takes the options with a number of bytes or pixels: 1 taken, 0 not one
 * of them, -1 a bad value (after a message). */
static int size_option(const char *arg, const char *val, process_args *a) {
    if (!strcmp(arg, "--memory-budget")) {
        if (cli_parse_count(val, 1, UINT64_MAX, &a->memory))
            return 1;
        fprintf(stderr, "tessera process: --memory-budget wants a number of bytes (got '%s')\n",
                val);
        return -1;
    }
    return cli_limit_option("process", PROCESS_LIMITS, arg, val, &a->limits);
}

static int parse_args(int argc, char **argv, process_args *a) {
    memset(a, 0, sizeof *a);
    a->frame = -1;
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
        else if (!strcmp(arg, "--pyramid"))
            a->pyramid = true, takes = 0;
        else if (!strcmp(arg, "--quality") || !strcmp(arg, "-q"))
            takes = val ? (parse_int(arg, val, 1, 100, &a->quality) ? -1 : 1) : 1;
        else if (!strcmp(arg, "--frame"))
            takes = val ? (parse_int(arg, val, 0, 0x7fffffff, &a->frame) ? -1 : 1) : 1;
        else if (!strcmp(arg, "--lossless"))
            a->lossless = true, takes = 0;
        else if (!strcmp(arg, "--speed"))
            takes = val ? (parse_int(arg, val, 1, 9, &a->speed) ? -1 : 1) : 1;
        else if (!strcmp(arg, "--threads") || !strcmp(arg, "-j"))
            takes = val ? (parse_int(arg, val, 0, 1024, &a->threads) ? -1 : 1) : 1;
        else if (!strcmp(arg, "--backend") || !strcmp(arg, "--device"))
            takes = val ? cli_backend_option("process", arg, val, &a->backend) : 1;
        else if (!strcmp(arg, "--tile"))
            takes = val ? (parse_int(arg, val, TSR_TILE_MIN, TSR_TILE_MAX, &a->tile) ? -1 : 1) : 1;
        else if (!strcmp(arg, "--memory-budget") || cli_is_limit_option(PROCESS_LIMITS, arg))
            takes = val ? size_option(arg, val, a) : 1;
        else if (arg[0] == '-' && arg[1]) {
            fprintf(stderr, "tessera process: unknown option '%s'\n", arg);
            usage();
            return -1;
        } else {
            a->inputs[a->n_inputs++] = argv[i];
            takes = 0;
        }
        if (takes < 0)
            return -1;
        if (takes > 0 && !val) {
            fprintf(stderr, "tessera process: %s needs a value\n", arg);
            return -1;
        }
        i += takes;
    }
    if (!a->pipeline || !a->out || a->n_inputs == 0) {
        usage();
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

/* Output path for `in` inside dir: its base name with the format's extension
 * (".dzi" for Deep Zoom). */
static char *output_in_dir(const char *dir, const char *in, tsr_format fmt, tsr_layout layout) {
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t n = strlen(dir) + stem + 16;
    char *path = malloc(n);
    if (path)
        snprintf(path, n, "%s/%.*s.%s", dir, (int)stem, base,
                 layout == TSR_LAYOUT_DZI ? "dzi" : tsr_format_extension(fmt));
    return path;
}

/* Decides the output format and layout: --format, else the -o extension,
 * else the input's format when it can be written, else PNG; --pyramid
 * makes the layout a pyramid. */
static tsr_format choose_format(const process_args *a, int out_is_dir, tsr_format in_fmt,
                                tsr_layout *layout) {
    tsr_format f = TSR_FORMAT_UNKNOWN;
    const char *ext = out_is_dir ? NULL : extension_of(a->out);
    if (a->format)
        tsr_output_from_name(a->format, &f, layout);
    else if (!(ext && tsr_output_from_name(ext, &f, layout)))
        f = tsr_format_can_encode(in_fmt) ? in_fmt : TSR_FORMAT_PNG;
    if (a->pyramid)
        *layout = TSR_LAYOUT_PYRAMID;
    return f;
}

/* Opens a row reader for `path`, shrinking JPEGs on load when the pipeline
 * starts with a thumbnail that allows it. */
static tsr_status open_input(tsr_ctx *ctx, const tsr_pipeline *pipe, const char *path, int frame,
                             tsr_row_reader **reader, tsr_image_info *info) {
    tsr_decode_options first = {.frame = frame > 0 ? frame : 0};
    tsr_status st = tsr_row_reader_open(ctx, path, &first, reader, info);
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

/* Appends one result to the --report list: where it went, its shape, and
 * what the ops found (`plan` may be NULL: none). */
static void report_add(json_t *report, const char *in_path, const char *out_path, int w, int h,
                       int bands, bool streamed, int frames, const tsr_plan *plan) {
    char *text = plan ? tsr_plan_results_json(plan) : NULL;
    json_t *ops = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    json_t *entry =
        json_pack("{s:s, s:s, s:i, s:i, s:i, s:b}", "input", in_path, "output", out_path, "width",
                  w, "height", h, "bands", bands, "streamed", streamed);
    if (frames > 1)
        json_object_set_new(entry, "frames", json_integer(frames));
    json_object_set_new(entry, "ops",
                        ops ? json_incref(json_object_get(ops, "ops")) : json_array());
    json_decref(ops);
    json_array_append_new(report, entry);
}

/* Runs the pipeline on every frame of the animation at `in_path` into an
 * animation in `fmt` at `out_path`, keeping delays and loop count. */
static tsr_status process_frames(tsr_ctx *ctx, const process_args *a, const tsr_pipeline *pipe,
                                 tsr_executor *exec, const char *in_path, const char *out_path,
                                 tsr_format fmt, json_t *report) {
    tsr_frame_reader *reader = NULL;
    tsr_frame_writer *writer = NULL;
    tsr_buffer buf = {0};
    tsr_anim_info ai;
    int w, h, bands;
    tsr_encode_options eopts = {.quality = a->quality, .compression = -1, .lossless = a->lossless};
    tsr_status st = tsr_frame_reader_open_file(ctx, in_path, &reader, &ai);
    if (!st)
        st = tsr_pipeline_check_size(ctx, pipe, ai.width, ai.height, ai.bands, &w, &h, &bands);
    if (!st)
        st = tsr_frame_writer_open(ctx, fmt, w, h, bands, ai.loop_count, &eopts, &writer);
    if (st)
        goto out;
    cli_progress bar;
    const char *base = strrchr(in_path, '/');
    cli_progress_start(&bar, base ? base + 1 : in_path);
    tsr_run_options ropts = {.tile_size = a->tile,
                             .progress = cli_progress_update,
                             .progress_user = &bar,
                             .label = in_path,
                             .accel = tsr_cl_backend_accel(a->backend.backend)};
    st = tsr_pipeline_run_frames(ctx, pipe, reader, writer, exec, &ropts);
    if (!st)
        st = tsr_frame_writer_finish(writer, &buf);
    if (!st)
        st = tsr_file_write_atomic(ctx, out_path, buf.data, buf.len);
    cli_progress_finish(&bar, st == TSR_OK);
    if (!st && report)
        report_add(report, in_path, out_path, w, h, bands, false, ai.frames, NULL);
out:
    tsr_buffer_free(&buf);
    tsr_frame_writer_free(writer);
    tsr_frame_reader_free(reader);
    return st;
}

/* Runs the pipeline from the opened row reader to a row writer at `out_path`. */
static tsr_status process_rows(tsr_ctx *ctx, const process_args *a, const tsr_pipeline *pipe,
                               tsr_executor *exec, const char *in_path, tsr_row_reader *reader,
                               const char *out_path, tsr_format fmt, tsr_layout layout,
                               json_t *report) {
    tsr_row_writer *writer = NULL;
    tsr_plan *plan = NULL;
    int w, h, bands, out_w, out_h, out_bands;
    tsr_row_reader_shape(reader, &w, &h, &bands);
    tsr_status st = tsr_plan_new(ctx, pipe, w, h, bands, a->tile, &plan);
    if (st)
        goto out;
    tsr_plan_output(plan, &out_w, &out_h, &out_bands);
    tsr_encode_options eopts = {.quality = a->quality,
                                .compression = -1,
                                .lossless = a->lossless,
                                .layout = layout,
                                .speed = a->speed};
    if ((st = tsr_row_writer_open(ctx, out_path, fmt, out_w, out_h, out_bands, &eopts, &writer)))
        goto out;
    cli_progress bar;
    const char *base = strrchr(in_path, '/');
    cli_progress_start(&bar, base ? base + 1 : in_path);
    tsr_run_options ropts = {.tile_size = a->tile,
                             .progress = cli_progress_update,
                             .progress_user = &bar,
                             .label = in_path,
                             .accel = tsr_cl_backend_accel(a->backend.backend),
                             .memory_budget = a->memory};
    st = tsr_plan_run_rows(ctx, plan, reader, writer, exec, &ropts);
    if (!st)
        st = tsr_row_writer_finish(writer);
    cli_progress_finish(&bar, st == TSR_OK);
    if (!st && report)
        report_add(report, in_path, out_path, out_w, out_h, out_bands,
                   tsr_row_reader_streams(reader) && tsr_row_writer_streams(writer), 1, plan);
out:
    tsr_row_writer_free(writer); /* removes the temporary file unless finished */
    tsr_plan_free(plan);
    return st;
}

/* Reads one input, runs the pipeline, writes the output: every frame of an
 * animation into an animated format, else one image (the frame chosen
 * with --frame). Returns the status. */
static tsr_status process_one(tsr_ctx *ctx, const process_args *a, const tsr_pipeline *pipe,
                              tsr_executor *exec, const char *in_path, const char *out_path_given,
                              int out_is_dir, json_t *report) {
    tsr_status st;
    tsr_row_reader *reader = NULL;
    char *out_path = NULL;
    tsr_image_info info;
    bool animate = false;
    double t0 = tsr_clock_mono_s(); /* --report's "seconds": decode, run, encode, write */
    if ((st = open_input(ctx, pipe, in_path, a->frame, &reader, &info)))
        goto out;
    tsr_layout layout = TSR_LAYOUT_SINGLE;
    tsr_format fmt = choose_format(a, out_is_dir, info.format, &layout);
    if (fmt == TSR_FORMAT_UNKNOWN || !tsr_format_can_encode(fmt)) {
        st = tsr_error(ctx, TSR_ERR_USAGE, "cannot write format '%s'",
                       a->format ? a->format : tsr_format_name(fmt));
        goto out;
    }
    if ((st = tsr_frame_choice_check(ctx, &info, fmt, a->frame, "--frame N", &animate)))
        goto out;
    out_path =
        out_is_dir ? output_in_dir(out_path_given, in_path, fmt, layout) : strdup(out_path_given);
    if (!out_path) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (animate) {
        tsr_row_reader_free(reader); /* it holds the first frame only */
        reader = NULL;
        st = process_frames(ctx, a, pipe, exec, in_path, out_path, fmt, report);
    } else {
        st = process_rows(ctx, a, pipe, exec, in_path, reader, out_path, fmt, layout, report);
    }
    if (!st && report) /* the entry just added */
        json_object_set_new(json_array_get(report, json_array_size(report) - 1), "seconds",
                            json_real(round((tsr_clock_mono_s() - t0) * 1e6) / 1e6));
out:
    tsr_row_reader_free(reader);
    free(out_path);
    return st;
}

/* Writes {"results":[...]} plus the first result's "ops" at the top (one
 * input). Returns nonzero, having said why, when the file cannot be written. */
static int write_report(json_t *report, const char *path) {
    json_t *root = json_object();
    json_t *first = json_array_get(report, 0);
    json_object_set_new(root, "ops",
                        first ? json_incref(json_object_get(first, "ops")) : json_array());
    json_object_set(root, "results", report);
    int bad = json_dump_file(root, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0;
    if (bad)
        fprintf(stderr, "tessera process: could not write %s\n", path);
    json_decref(root);
    return bad;
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
    tsr_ctx_set_limits(ctx, &a.limits); /* zero fields: the library's defaults */
    cli_map_big_buffers();
    tsr_format named = TSR_FORMAT_UNKNOWN;
    tsr_layout named_layout = TSR_LAYOUT_SINGLE;
    if (a.format &&
        (!tsr_output_from_name(a.format, &named, &named_layout) || !tsr_format_can_encode(named))) {
        fprintf(stderr,
                "tessera process: cannot write format '%s' (jpeg, png, webp, gif, tiff, bmp, "
                "pnm, avif, heic, dzi, dzi-png)\n",
                a.format);
        code = EXIT_USAGE;
        goto out;
    }
    if (a.pyramid && (named_layout == TSR_LAYOUT_DZI || (a.format && named != TSR_FORMAT_TIFF))) {
        fprintf(stderr, "tessera process: --pyramid writes TIFF (--format tiff)\n");
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
    if (report && write_report(report, a.report) && code < EXIT_INTERNAL)
        code = EXIT_INTERNAL;
out:
    json_decref(report);
    tsr_executor_free(exec);
    cli_backend_close(&a.backend);
    tsr_pipeline_free(pipe);
    tsr_ctx_free(ctx);
    free(a.inputs);
    return code;
}
