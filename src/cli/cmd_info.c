/* tessera info: what a file's header says (format, size, bands, frames;
 * for an animated GIF or WebP each frame's delay and the loop count);
 * with --devices, the OpenCL platforms and devices this machine has. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "opencl/cl_backend.h"

/* The loop count in words: "forever", "once", "3 times". */
static void plays_text(int loop_count, char *out, size_t n) {
    if (loop_count == 0)
        snprintf(out, n, "forever");
    else if (loop_count == 1)
        snprintf(out, n, "once");
    else
        snprintf(out, n, "%d times", loop_count);
}

/* Prints an animation's frame delays and loop count after the header. */
static void print_animation(const tsr_anim_info *a, const int *delays, json_t *o) {
    char plays[32];
    plays_text(a->loop_count, plays, sizeof plays);
    if (o) {
        json_t *d = json_array();
        for (int i = 0; i < a->frames; i++)
            json_array_append_new(d, json_integer(delays[i]));
        json_object_set_new(o, "delays_ms", d);
        json_object_set_new(o, "loop_count", json_integer(a->loop_count));
        return;
    }
    printf("delays (ms):");
    for (int i = 0; i < a->frames; i++)
        printf(" %d", delays[i]);
    printf("\nplays:       %s (loop count %d)\n", plays, a->loop_count);
}

/* An animation's frame delays and loop count (the file read whole). */
static tsr_status read_anim(tsr_ctx *ctx, const char *path, tsr_anim_info *anim, int **delays) {
    tsr_buffer file = {0};
    tsr_status st = tsr_file_read(ctx, path, tsr_ctx_limits(ctx)->max_file_bytes, &file);
    if (!st)
        st = tsr_anim_info_read(ctx, file.data, file.len, anim, delays);
    tsr_buffer_free(&file);
    return st;
}

/* Files up to this size are read whole and their header parsed; larger ones
 * (a gigapixel TIFF) through a row reader, which reads only the header of the
 * formats that stream. */
#define INFO_READ_WHOLE_MAX (64u << 20)

/* The header facts of `path` into *info and its size into *bytes. */
static tsr_status read_info(tsr_ctx *ctx, const char *path, tsr_image_info *info, size_t *bytes) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > INFO_READ_WHOLE_MAX) {
        tsr_row_reader *reader = NULL;
        tsr_status st = tsr_row_reader_open(ctx, path, NULL, &reader, info);
        tsr_row_reader_free(reader);
        *bytes = (size_t)sb.st_size;
        return st;
    }
    tsr_buffer file = {0};
    tsr_status st = tsr_file_read(ctx, path, tsr_ctx_limits(ctx)->max_file_bytes, &file);
    if (!st)
        st = tsr_image_info_read(ctx, file.data, file.len, info);
    *bytes = file.len;
    tsr_buffer_free(&file);
    return st;
}

static int info_one(tsr_ctx *ctx, const char *path, int as_json, int many) {
    tsr_image_info info;
    tsr_anim_info anim;
    int *delays = NULL;
    size_t bytes = 0;
    tsr_status st = read_info(ctx, path, &info, &bytes);
    if (!st && tsr_image_info_animated(&info))
        st = read_anim(ctx, path, &anim, &delays);
    if (st) {
        fprintf(stderr, "tessera info: %s: %s\n", path, tsr_ctx_message(ctx));
        return cli_exit_code(st);
    }
    if (as_json) {
        json_t *o = json_pack(
            "{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "file", path, "format",
            tsr_format_name(info.format), "mime", tsr_format_mime(info.format), "width", info.width,
            "height", info.height, "bands", info.bands, "bit_depth", info.bit_depth, "frames",
            info.frames, "orientation", info.orientation, "bytes", (json_int_t)bytes);
        if (delays)
            print_animation(&anim, delays, o);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        if (many)
            printf("%s:\n", path);
        printf("format:      %s (%s)\nsize:        %d x %d\nbands:       %d\n"
               "bit depth:   %d\nframes:      %d\norientation: %d\nbytes:       %zu\n",
               tsr_format_name(info.format), tsr_format_mime(info.format), info.width, info.height,
               info.bands, info.bit_depth, info.frames, info.orientation, bytes);
        if (delays)
            print_animation(&anim, delays, NULL);
    }
    free(delays);
    return EXIT_OK;
}

/* Prints one device of tsr_cl_devices_json's list. */
static void print_device(json_t *d) {
    json_int_t mem = json_integer_value(json_object_get(d, "global_memory"));
    json_int_t alloc = json_integer_value(json_object_get(d, "max_alloc"));
    printf("  device %lld: %s (%s)\n    %s, driver %s\n    memory %.0f MiB (largest buffer "
           "%.0f MiB), %lld compute units at %lld MHz\n",
           (long long)json_integer_value(json_object_get(d, "index")),
           json_string_value(json_object_get(d, "name")),
           json_string_value(json_object_get(d, "type")),
           json_string_value(json_object_get(d, "version")),
           json_string_value(json_object_get(d, "driver")), (double)mem / 1048576.0,
           (double)alloc / 1048576.0,
           (long long)json_integer_value(json_object_get(d, "compute_units")),
           (long long)json_integer_value(json_object_get(d, "max_clock_mhz")));
}

/* tessera info --devices [--json]: never fails for a missing runtime. */
static int info_devices(int as_json) {
    json_t *root = tsr_cl_devices_json();
    if (!root)
        return EXIT_INTERNAL;
    if (as_json) {
        char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
    } else {
        json_t *platforms = json_object_get(root, "platforms"), *p;
        size_t i, j;
        json_array_foreach(platforms, i, p) {
            printf("platform %zu: %s (%s, %s)\n", i, json_string_value(json_object_get(p, "name")),
                   json_string_value(json_object_get(p, "vendor")),
                   json_string_value(json_object_get(p, "version")));
            json_t *d;
            json_array_foreach(json_object_get(p, "devices"), j, d) print_device(d);
        }
        if (json_object_get(root, "error"))
            printf("%s: OpenCL work runs on the CPU\n",
                   json_string_value(json_object_get(root, "error")));
    }
    json_decref(root);
    return EXIT_OK;
}

int cmd_info(int argc, char **argv) {
    int as_json = 0, n_files = 0, code = EXIT_OK, devices = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            as_json = 1;
        else if (!strcmp(argv[i], "--devices"))
            devices = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "tessera info: unknown option '%s'\n", argv[i]);
            return EXIT_USAGE;
        } else
            n_files++;
    }
    if (devices && n_files == 0)
        return info_devices(as_json);
    if (n_files == 0 || devices) {
        fprintf(stderr, "usage: tessera info FILE... [--json]\n"
                        "       tessera info --devices [--json]\n");
        return EXIT_USAGE;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            continue;
        tsr_ctx_reset(ctx);
        int c = info_one(ctx, argv[i], as_json, n_files > 1);
        if (c > code)
            code = c;
    }
    tsr_ctx_free(ctx);
    return code;
}
