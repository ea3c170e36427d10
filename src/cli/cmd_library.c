/* tessera images / tessera jobs: the image library and the job history of a
 * server (list with search, filters and paging; delete; rerun). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/http_client.h"

#define IDS_MAX 1000 /* ids one command takes */

/* Options of both commands after the common ones. */
typedef struct list_args {
    const char *action;       /* "list", "delete", "rerun" */
    const char *search;       /* images: --search TEXT */
    const char *state;        /* jobs: --state NAME */
    long limit;               /* --limit N; 0 = the server's default */
    long offset;              /* --offset N */
    int cancel;               /* jobs delete: --cancel (cancel an active job first) */
    const char *ids[IDS_MAX]; /* the ids given (borrowed from argv) */
    int n_ids;                /* how many */
} list_args;

static const char *str(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

/* Appends `text` to `out` percent-encoded (all but [A-Za-z0-9._~-]). */
static void url_encode(const char *text, char *out, size_t size) {
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("._~-", *p)) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    out[n] = '\0';
}

/* Reads a number option's value into *out; prints and returns 0 when bad. */
static int take_number(const char *cmd, const char *name, const char *value, long lo, long hi,
                       long *out) {
    char *end;
    long v = value ? strtol(value, &end, 10) : 0;
    if (!value || !*value || *end || v < lo || v > hi) {
        fprintf(stderr, "tessera %s: %s must be %ld..%ld\n", cmd, name, lo, hi);
        return 0;
    }
    *out = v;
    return 1;
}

/* Parses the command line after the command name; returns 0 or an exit code. */
static int parse_args(const char *cmd, int argc, char **argv, hc_options *o, list_args *a) {
    memset(a, 0, sizeof *a);
    a->action = NULL;
    for (int i = 1; i < argc; i++) {
        int t = hc_take_option(o, argc, argv, &i);
        if (t < 0)
            return EXIT_USAGE;
        if (t)
            continue;
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--limit") || !strcmp(argv[i], "--offset")) {
            int lim = argv[i][2] == 'l';
            if (!take_number(cmd, argv[i], v, lim, lim ? 1000 : 1000000000,
                             lim ? &a->limit : &a->offset))
                return EXIT_USAGE;
            i++;
        } else if (!strcmp(argv[i], "--search") && !strcmp(cmd, "images") && v) {
            a->search = argv[++i];
        } else if (!strcmp(argv[i], "--state") && !strcmp(cmd, "jobs") && v) {
            a->state = argv[++i];
        } else if (!strcmp(argv[i], "--cancel") && !strcmp(cmd, "jobs")) {
            a->cancel = 1;
        } else if (!a->action && argv[i][0] != '-') {
            a->action = argv[i]; /* the first word: list, delete, rerun */
        } else if (argv[i][0] != '-' && hc_valid_id(argv[i]) && strcmp(a->action, "list") &&
                   a->n_ids < IDS_MAX) {
            a->ids[a->n_ids++] = argv[i];
        } else {
            fprintf(stderr, "tessera %s: unexpected argument '%s'\n", cmd, argv[i]);
            return EXIT_USAGE;
        }
    }
    if (!a->action)
        a->action = "list";
    return hc_options_finish(o, cmd);
}

/* GETs `path` and prints it with `print` (or as JSON with --json). */
static int show(hc_client *c, const hc_options *o, const list_args *a, const char *path,
                const char *what, void (*print)(json_t *doc)) {
    hc_response r;
    json_t *doc = NULL;
    int code, rc = hc_json(c, "GET", path, NULL, &r);
    if (!(code = hc_check(c, rc, &r, what)) && !(doc = hc_body_json(&r, what)))
        code = EXIT_INTERNAL;
    if (!code && o->json)
        printf("%s\n", r.body);
    else if (!code) {
        json_object_set_new(doc, "offset", json_integer(a->offset));
        print(doc);
    }
    json_decref(doc);
    hc_response_free(&r);
    return code;
}

/* "N to M of TOTAL" under a list, for paging. */
static void print_total(json_t *doc, const char *key) {
    json_t *offset = json_object_get(doc, "offset");
    long long shown = (long long)json_array_size(json_object_get(doc, key));
    long long from = json_is_integer(offset) ? json_integer_value(offset) : 0;
    printf("%lld %s shown (%lld to %lld) of %lld\n", shown, key, shown ? from + 1 : 0, from + shown,
           json_integer_value(json_object_get(doc, "total")));
}

static void print_images(json_t *doc) {
    json_t *list = json_object_get(doc, "images"), *im;
    size_t i;
    printf("%-32s %-6s %11s %12s  %-24s  %s\n", "ID", "FORMAT", "SIZE", "BYTES", "CREATED", "NAME");
    json_array_foreach(list, i, im) {
        char size[32];
        snprintf(size, sizeof size, "%lldx%lld", json_integer_value(json_object_get(im, "width")),
                 json_integer_value(json_object_get(im, "height")));
        printf("%-32s %-6s %11s %12lld  %-24s  %s\n", str(im, "id"), str(im, "format"), size,
               json_integer_value(json_object_get(im, "bytes")), str(im, "created"),
               str(im, "name"));
    }
    print_total(doc, "images");
}

static void print_jobs(json_t *doc) {
    json_t *list = json_object_get(doc, "jobs"), *job;
    size_t i;
    printf("%-32s %-10s %6s %8s %12s  %-24s  %s\n", "ID", "STATE", "IMAGES", "SECONDS", "BYTES",
           "CREATED", "NAME / PIPELINE");
    json_array_foreach(list, i, job) {
        json_t *secs = json_object_get(job, "seconds");
        char seconds[32] = "-";
        if (json_is_number(secs))
            snprintf(seconds, sizeof seconds, "%.2f", json_number_value(secs));
        printf("%-32s %-10s %6zu %8s %12lld  %-24s  %s: %s\n", str(job, "id"), str(job, "state"),
               json_array_size(json_object_get(job, "items")), seconds,
               json_integer_value(json_object_get(job, "output_bytes")), str(job, "created"),
               str(job, "name"), str(job, "pipeline_text"));
    }
    print_total(doc, "jobs");
}

/* The list path with its query: base?limit=..&offset=..&KEY=VALUE. */
static void list_path(char *path, size_t size, const char *base, const list_args *a,
                      const char *key, const char *value) {
    snprintf(path, size, "%s?offset=%ld", base, a->offset);
    if (a->limit)
        snprintf(path + strlen(path), size - strlen(path), "&limit=%ld", a->limit);
    if (value) {
        snprintf(path + strlen(path), size - strlen(path), "&%s=", key);
        url_encode(value, path, size);
    }
}

static int need_ids(const char *cmd, const list_args *a) {
    if (a->n_ids > 0)
        return 0;
    fprintf(stderr, "tessera %s %s: give one or more ids\n", cmd, a->action);
    return EXIT_USAGE;
}

/* tessera images delete ID...: one POST /images/delete; prints each outcome. */
static int images_delete(hc_client *c, const list_args *a) {
    json_t *ids = json_array();
    for (int i = 0; i < a->n_ids; i++)
        json_array_append_new(ids, json_string(a->ids[i]));
    json_t *body = json_pack("{s:o}", "ids", ids), *doc = NULL, *v;
    hc_response r;
    int code, rc = hc_json(c, "POST", "/api/v1/images/delete", body, &r);
    json_decref(body);
    if (!(code = hc_check(c, rc, &r, "delete images")) &&
        !(doc = hc_body_json(&r, "delete images")))
        code = EXIT_INTERNAL;
    size_t i;
    json_array_foreach(json_object_get(doc, "deleted"), i, v) {
        printf("deleted %s\n", json_string_value(v));
    }
    json_array_foreach(json_object_get(doc, "not_found"), i, v) {
        fprintf(stderr, "tessera images delete: %s: not found\n", json_string_value(v));
        code = EXIT_INPUT;
    }
    json_array_foreach(json_object_get(doc, "in_use"), i, v) {
        fprintf(stderr, "tessera images delete: %s\n", str(v, "message"));
        code = EXIT_INPUT;
    }
    json_decref(doc);
    hc_response_free(&r);
    return code;
}

int cmd_images(int argc, char **argv) {
    hc_options o = {0};
    list_args a;
    hc_client c;
    char path[1024];
    int code = parse_args("images", argc, argv, &o, &a);
    if (code || (code = hc_open(&c, o.server, o.token)))
        return code;
    if (!strcmp(a.action, "list")) {
        list_path(path, sizeof path, "/api/v1/images", &a, "q", a.search);
        code = show(&c, &o, &a, path, "images", print_images);
    } else if (!strcmp(a.action, "delete")) {
        code = need_ids("images", &a);
        if (!code)
            code = images_delete(&c, &a);
    } else {
        fprintf(stderr, "usage: tessera images [list] [--search TEXT] [--limit N] [--offset N] "
                        "[--json]\n       tessera images delete ID...\n");
        code = EXIT_USAGE;
    }
    hc_close(&c);
    return code;
}

/* POSTs the rerun of `id`; prints the new job's id. */
static int job_rerun(hc_client *c, const hc_options *o, const char *id) {
    char path[160];
    hc_response r;
    json_t *doc = NULL;
    snprintf(path, sizeof path, "/api/v1/jobs/%s/rerun", id);
    int code, rc = hc_json(c, "POST", path, NULL, &r);
    if (!(code = hc_check(c, rc, &r, "rerun")) && !(doc = hc_body_json(&r, "rerun")))
        code = EXIT_INTERNAL;
    if (!code && o->json)
        printf("%s\n", r.body);
    else if (!code)
        printf("job %s reruns %s (%s)\n", str(doc, "id"), id, str(doc, "state"));
    json_decref(doc);
    hc_response_free(&r);
    return code;
}

/* Deletes job `id` with its results; an active job only with --cancel. */
static int job_delete(hc_client *c, const list_args *a, const char *id) {
    char path[160];
    hc_response r;
    json_t *doc = NULL;
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    int code, rc = hc_json(c, "GET", path, NULL, &r);
    if (!(code = hc_check(c, rc, &r, "job")) && !(doc = hc_body_json(&r, "job")))
        code = EXIT_INTERNAL;
    const char *state = str(doc, "state");
    if (!code && !a->cancel && (!strcmp(state, "queued") || !strcmp(state, "running"))) {
        fprintf(stderr, "tessera jobs delete: job %s is %s: cancel it first (--cancel)\n", id,
                state);
        code = EXIT_USAGE;
    }
    json_decref(doc);
    hc_response_free(&r);
    if (code)
        return code;
    snprintf(path, sizeof path, "/api/v1/jobs/%s?purge=true", id);
    rc = hc_json(c, "DELETE", path, NULL, &r);
    if (!(code = hc_check(c, rc, &r, "delete job")))
        printf("deleted %s\n", id);
    hc_response_free(&r);
    return code;
}

int cmd_jobs(int argc, char **argv) {
    hc_options o = {0};
    list_args a;
    hc_client c;
    char path[256];
    int code = parse_args("jobs", argc, argv, &o, &a);
    if (code || (code = hc_open(&c, o.server, o.token)))
        return code;
    if (!strcmp(a.action, "list")) {
        list_path(path, sizeof path, "/api/v1/jobs", &a, "state", a.state);
        code = show(&c, &o, &a, path, "jobs", print_jobs);
    } else if (!strcmp(a.action, "rerun") || !strcmp(a.action, "delete")) {
        code = need_ids("jobs", &a);
        for (int i = 0; !code && i < a.n_ids; i++)
            code = a.action[0] == 'r' ? job_rerun(&c, &o, a.ids[i]) : job_delete(&c, &a, a.ids[i]);
    } else {
        fprintf(stderr, "usage: tessera jobs [list] [--state S] [--limit N] [--offset N] "
                        "[--json]\n       tessera jobs rerun ID...\n"
                        "       tessera jobs delete [--cancel] ID...\n");
        code = EXIT_USAGE;
    }
    hc_close(&c);
    return code;
}
