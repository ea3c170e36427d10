/* tessera status: one job's state, progress and errors, or the job list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/http_client.h"
#include "util/units.h"

static const char *str(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* "  versions: tessera 0.1.0; grayscale@1, gaussian-blur@1": what ran the
 * job (an op more than once: listed each time). */
static void print_versions(json_t *job) {
    json_t *v = json_object_get(job, "versions"), *op;
    size_t i;
    printf("  versions: tessera %s;", str(v, "tessera"));
    json_array_foreach(json_object_get(v, "ops"), i, op) {
        json_t *n = json_object_get(op, "version");
        if (json_is_integer(n))
            printf("%s %s@%lld", i ? "," : "", str(op, "op"), json_integer_value(n));
        else
            printf("%s %s", i ? "," : "", str(op, "op"));
    }
    printf("\n");
}

static double num(json_t *o, const char *key) {
    return json_number_value(json_object_get(o, key));
}

/* The job's usage line and, when the server has a price table, its cost. */
static void print_usage(json_t *u, json_t *cost) {
    if (!json_is_object(u))
        return;
    char read[TSR_UNITS_TEXT], written[TSR_UNITS_TEXT], net[TSR_UNITS_TEXT], peak[TSR_UNITS_TEXT];
    tsr_units_format(TSR_UNIT_BYTES, (uint64_t)num(u, "read_bytes"), read);
    tsr_units_format(TSR_UNIT_BYTES, (uint64_t)num(u, "written_bytes"), written);
    tsr_units_format(TSR_UNIT_BYTES, (uint64_t)num(u, "network_bytes"), net);
    tsr_units_format(TSR_UNIT_PIXELS, (uint64_t)num(u, "peak_pixels"), peak);
    printf("  used:     cpu %.2fs, gpu %.2fs, read %s, written %s, network %s, peak %s, "
           "wall %.2fs\n",
           num(u, "cpu_seconds"), num(u, "gpu_seconds"), read, written, net, peak,
           num(u, "wall_seconds"));
    if (json_is_object(cost))
        printf("  cost:     %.6f %s (compute %.6f, transfer %.6f, storage %.6f a month)\n",
               num(cost, "total"), str(cost, "currency"), num(cost, "compute"),
               num(cost, "transfer"), num(cost, "storage_month"));
}

/* One job in several lines: state, progress, pipeline, versions, output
 * settings, saved pipeline, usage and cost, times, errors, and a line per
 * image. */
static void print_job(json_t *job) {
    json_t *eta = json_object_get(job, "eta_seconds");
    json_t *out = json_object_get(job, "output");
    printf("job %s: %s, %.1f%%, tiles %lld/%lld", str(job, "id"), str(job, "state"),
           json_number_value(json_object_get(job, "percent")),
           json_integer_value(json_object_get(job, "tiles_done")),
           json_integer_value(json_object_get(job, "tiles_total")));
    if (json_is_number(eta))
        printf(", ETA %.0fs", json_number_value(eta));
    printf("\n  pipeline: %s\n", str(job, "pipeline_text"));
    print_versions(job);
    printf("  output:   %s, quality %lld", str(out, "format"),
           json_integer_value(json_object_get(out, "quality")));
    if (json_is_integer(json_object_get(out, "tile")))
        printf(", tile %lld", json_integer_value(json_object_get(out, "tile")));
    printf("\n");
    json_t *saved = json_object_get(job, "saved_pipeline");
    if (json_is_object(saved))
        printf("  saved:    %s version %lld\n", str(saved, "name"),
               json_integer_value(json_object_get(saved, "version")));
    printf("  created:  %s  started: %s  finished: %s\n", str(job, "created"), str(job, "started"),
           str(job, "finished"));
    printf("  cpu:      %.2fs\n", json_number_value(json_object_get(job, "cpu_seconds")));
    print_usage(json_object_get(job, "usage"), json_object_get(job, "cost"));
    if (json_is_string(json_object_get(job, "error")))
        printf("  error:    %s\n", str(job, "error"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(job, "items"), i, it) {
        printf("  image %s: %s", str(it, "image"), str(it, "state"));
        if (json_is_integer(json_object_get(it, "width")))
            printf(", %lldx%lld", json_integer_value(json_object_get(it, "width")),
                   json_integer_value(json_object_get(it, "height")));
        if (json_is_integer(json_object_get(it, "bytes")))
            printf(", %lld bytes", json_integer_value(json_object_get(it, "bytes")));
        if (json_is_number(json_object_get(it, "seconds")))
            printf(", %.2fs", json_number_value(json_object_get(it, "seconds")));
        if (json_is_string(json_object_get(it, "error")))
            printf(", error: %s", str(it, "error"));
        printf("\n");
    }
}

/* The job list, one line each, newest first as the server sends it. */
static void print_list(json_t *doc) {
    json_t *jobs = json_object_get(doc, "jobs");
    if (json_array_size(jobs) == 0) {
        printf("no jobs\n");
        return;
    }
    printf("%-32s %-10s %7s %6s  %-24s  %s\n", "ID", "STATE", "PERCENT", "IMAGES", "CREATED",
           "PIPELINE");
    size_t i;
    json_t *job;
    json_array_foreach(jobs, i, job) {
        printf("%-32s %-10s %6.1f%% %6zu  %-24s  %s\n", str(job, "id"), str(job, "state"),
               json_number_value(json_object_get(job, "percent")),
               json_array_size(json_object_get(job, "items")), str(job, "created"),
               str(job, "pipeline_text"));
    }
}

static void usage(void) {
    fprintf(stderr, "usage: tessera status [--server URL] [--token T] [--json] [--limit N] "
                    "[JOB_ID]\n");
}

int cmd_status(int argc, char **argv) {
    hc_options o = {0};
    const char *id = NULL;
    long limit = 0;
    for (int i = 1; i < argc; i++) {
        int t = hc_take_option(&o, argc, argv, &i);
        if (t < 0)
            return EXIT_USAGE;
        if (t)
            continue;
        if (!strcmp(argv[i], "--limit") && i + 1 < argc) {
            char *end;
            limit = strtol(argv[++i], &end, 10);
            if (*end || limit < 1 || limit > 1000) {
                fprintf(stderr, "tessera status: --limit must be 1..1000\n");
                return EXIT_USAGE;
            }
            continue;
        }
        if (argv[i][0] == '-' || id) {
            fprintf(stderr, "tessera status: unexpected argument '%s'\n", argv[i]);
            usage();
            return EXIT_USAGE;
        }
        id = argv[i];
    }
    if (id && !hc_valid_id(id)) {
        fprintf(stderr, "tessera status: '%s' is not a job id\n", id);
        return EXIT_USAGE;
    }
    int code = hc_options_finish(&o, "status");
    if (code)
        return code;
    hc_client c;
    if ((code = hc_open(&c, o.server, o.token)))
        return code;
    char path[128];
    if (id)
        snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    else if (limit)
        snprintf(path, sizeof path, "/api/v1/jobs?limit=%ld", limit);
    else
        snprintf(path, sizeof path, "/api/v1/jobs");
    hc_response r;
    json_t *doc = NULL;
    int rc = hc_json(&c, "GET", path, NULL, &r);
    if (!(code = hc_check(&c, rc, &r, id ? "job" : "jobs")) &&
        !(doc = hc_body_json(&r, id ? "job" : "jobs")))
        code = EXIT_INTERNAL;
    if (!code && o.json)
        printf("%s\n", r.body);
    else if (!code && id)
        print_job(doc);
    else if (!code)
        print_list(doc);
    json_decref(doc);
    hc_response_free(&r);
    hc_close(&c);
    return code;
}
