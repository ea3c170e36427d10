/* tessera usage: what finished jobs and transforms used and cost (GET
 * /api/v1/usage), by day, and for an administrator by account. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/http_client.h"
#include "util/units.h"

static const char *str(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static double num(json_t *o, const char *key) {
    return json_number_value(json_object_get(o, key));
}

/* One table line: account, day, jobs, transforms, CPU and GPU seconds,
 * bytes, cost. */
static void print_row(json_t *row, const char *account, const char *day) {
    json_t *u = json_object_get(row, "usage"), *cost = json_object_get(row, "cost");
    char read[TSR_UNITS_TEXT], written[TSR_UNITS_TEXT], net[TSR_UNITS_TEXT];
    tsr_units_format(TSR_UNIT_BYTES, (uint64_t)num(u, "read_bytes"), read);
    tsr_units_format(TSR_UNIT_BYTES, (uint64_t)num(u, "written_bytes"), written);
    tsr_units_format(TSR_UNIT_BYTES, (uint64_t)num(u, "network_bytes"), net);
    printf("%-16s %-10s %6lld %10lld %10.2f %9.2f %10s %10s %10s", account, day,
           (long long)num(row, "jobs"), (long long)num(row, "transforms"), num(u, "cpu_seconds"),
           num(u, "gpu_seconds"), read, written, net);
    if (json_is_object(cost))
        printf(" %12.6f", num(cost, "total"));
    printf("\n");
}

static void print_report(json_t *doc) {
    const char *currency = str(doc, "currency");
    printf("from %s to %s\n", str(doc, "from"), str(doc, "to"));
    printf("%-16s %-10s %6s %10s %10s %9s %10s %10s %10s", "ACCOUNT", "DAY", "JOBS", "TRANSFORMS",
           "CPU_S", "GPU_S", "READ", "WRITTEN", "NETWORK");
    if (*currency)
        printf(" %12s", currency);
    printf("\n");
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(doc, "rows"), i, row)
        print_row(row, *str(row, "account") ? str(row, "account") : "-", str(row, "day"));
    print_row(json_object_get(doc, "totals"), "total", "");
}

static void usage(void) {
    fprintf(stderr, "usage: tessera usage [--server URL] [--token T] [--json] [--from DATE] "
                    "[--to DATE] [--account NAME|all]\n");
}

/* Adds "&name=value" to the query (values are dates, numbers, names). */
static int add_query(char *path, size_t size, const char *name, const char *value) {
    for (const char *p = value; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
            return 0;
    size_t n = strlen(path);
    snprintf(path + n, size - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, value);
    return 1;
}

int cmd_usage(int argc, char **argv) {
    hc_options o = {0};
    char path[512] = "/api/v1/usage";
    for (int i = 1; i < argc; i++) {
        int t = hc_take_option(&o, argc, argv, &i);
        if (t < 0)
            return EXIT_USAGE;
        if (t)
            continue;
        const char *names[] = {"--from", "--to", "--account"};
        size_t k = 0;
        while (k < 3 && strcmp(argv[i], names[k]))
            k++;
        if (k == 3 || i + 1 >= argc || !add_query(path, sizeof path, names[k] + 2, argv[i + 1])) {
            fprintf(stderr, "tessera usage: unexpected or bad argument '%s'\n", argv[i]);
            usage();
            return EXIT_USAGE;
        }
        i++;
    }
    int code = hc_options_finish(&o, "usage");
    if (code)
        return code;
    hc_client c;
    if ((code = hc_open(&c, o.server, o.token)))
        return code;
    hc_response r;
    json_t *doc = NULL;
    int rc = hc_json(&c, "GET", path, NULL, &r);
    if (!(code = hc_check(&c, rc, &r, "usage")) && !(doc = hc_body_json(&r, "usage")))
        code = EXIT_INTERNAL;
    if (!code && o.json)
        printf("%s\n", r.body);
    else if (!code)
        print_report(doc);
    json_decref(doc);
    hc_response_free(&r);
    hc_close(&c);
    return code;
}
