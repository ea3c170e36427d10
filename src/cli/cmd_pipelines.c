/* tessera pipelines: the saved pipelines of the caller's account on a
 * server (issue 14): list, save (a new name or a new version of one), show
 * (a version, or every version with --versions), rollback (a new version
 * equal to an older one) and delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/http_client.h"

#define SAVED_BASE "/api/v1/pipelines/saved"

/* Options after the common ones. */
typedef struct pipe_args {
    const char *action;   /* list, save, show, rollback, delete */
    const char *name;     /* the saved pipeline's name */
    const char *pipeline; /* save: -p PIPELINE */
    const char *format;   /* save: --format F */
    int quality;          /* save: --quality Q; 0 = not set */
    int tile;             /* save: --tile N; 0 = not set */
    int frame;            /* save: --frame N (of animated inputs); -1 = not set */
    int speed;            /* save: --speed S (AVIF); 0 = not set */
    int version;          /* show --version N, rollback VERSION; 0 = none */
    int versions;         /* show --versions */
    int limit, offset;    /* list paging; limit 0 = the server's default */
} pipe_args;

static const char *str(json_t *o, const char *key) {
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static void usage(void) {
    fprintf(stderr,
            "usage: tessera pipelines [list] [--limit N] [--offset N] [--json]\n"
            "       tessera pipelines save NAME -p PIPELINE [--format F] [--quality Q] [--tile N]\n"
            "                                [--frame N] [--speed S]\n"
            "       tessera pipelines show NAME [--version N | --versions] [--json]\n"
            "       tessera pipelines rollback NAME VERSION\n"
            "       tessera pipelines delete NAME\n");
}

/* Takes the option at argv[*i] that has a value; returns 0 after a
 * message when it is bad, -1 when argv[*i] is none of them. */
static int take_valued(pipe_args *a, int argc, char **argv, int *i) {
    const struct {
        const char *name; /* the option */
        long lo, hi;      /* its range */
        int *slot;        /* where it goes */
    } ints[] = {{"--quality", 1, 100, &a->quality},     {"--tile", 16, 65536, &a->tile},
                {"--frame", 0, 2147483646, &a->frame},  {"--speed", 1, 9, &a->speed},
                {"--version", 1, 1000000, &a->version}, {"--limit", 1, 1000, &a->limit},
                {"--offset", 0, 1000000000, &a->offset}};
    const char *opt = argv[*i];
    int strings = !strcmp(opt, "-p") || !strcmp(opt, "--pipeline") || !strcmp(opt, "--format");
    size_t k = 0, n = sizeof ints / sizeof ints[0];
    while (!strings && k < n && strcmp(opt, ints[k].name))
        k++;
    if (!strings && k == n)
        return -1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "tessera pipelines: %s needs a value\n", opt);
        return 0;
    }
    const char *v = argv[++*i];
    if (strings && !strcmp(opt, "--format"))
        a->format = v;
    else if (strings)
        a->pipeline = v;
    else if (!cli_parse_int(v, ints[k].lo, ints[k].hi, ints[k].slot)) {
        fprintf(stderr, "tessera pipelines: %s must be %ld..%ld\n", opt, ints[k].lo, ints[k].hi);
        return 0;
    }
    return 1;
}

/* Parses the command line; returns 0 or an exit code. */
static int parse_args(int argc, char **argv, hc_options *o, pipe_args *a) {
    memset(a, 0, sizeof *a);
    a->frame = -1;
    for (int i = 1; i < argc; i++) {
        int t = hc_take_option(o, argc, argv, &i);
        if (t < 0)
            return EXIT_USAGE;
        if (t)
            continue;
        if ((t = take_valued(a, argc, argv, &i)) == 0)
            return EXIT_USAGE;
        if (t > 0)
            continue;
        if (!strcmp(argv[i], "--versions"))
            a->versions = 1;
        else if (!a->action && argv[i][0] != '-')
            a->action = argv[i];
        else if (!a->name && argv[i][0] != '-' && hc_valid_id(argv[i]))
            a->name = argv[i];
        else if (a->name && !a->version && !strcmp(a->action, "rollback") &&
                 cli_parse_int(argv[i], 1, 1000000, &a->version))
            continue;
        else {
            fprintf(stderr, "tessera pipelines: unexpected argument '%s'\n", argv[i]);
            usage();
            return EXIT_USAGE;
        }
    }
    if (!a->action)
        a->action = "list";
    return hc_options_finish(o, "pipelines");
}

/* One saved version in a few lines. */
static void print_version(json_t *v) {
    json_t *out = json_object_get(v, "output"), *back = json_object_get(v, "rollback_of");
    printf("%s version %lld of %lld, saved %s", str(v, "name"),
           json_integer_value(json_object_get(v, "version")),
           json_integer_value(json_object_get(v, "latest")), str(v, "saved"));
    if (json_is_integer(back))
        printf(" (rollback to version %lld)", json_integer_value(back));
    printf("\n  pipeline: %s\n", str(v, "pipeline_text"));
    const char *keys[] = {"quality", "tile", "frame", "speed"};
    char val[4][24];
    for (int k = 0; k < 4; k++) {
        json_t *n = json_object_get(out, keys[k]);
        if (json_is_integer(n))
            snprintf(val[k], sizeof val[k], "%lld", json_integer_value(n));
        else
            snprintf(val[k], sizeof val[k], "-");
    }
    printf("  output:   format %s, quality %s, tile %s, frame %s, speed %s (- = the job's or "
           "server's default; frame -: every frame)\n",
           str(out, "format"), val[0], val[1], val[2], val[3]);
}

/* The history of one name, a line per version. */
static void print_versions(json_t *doc) {
    json_t *v;
    size_t i;
    printf("%-7s %-24s %-9s %s\n", "VERSION", "SAVED", "ROLLBACK", "PIPELINE");
    json_array_foreach(json_object_get(doc, "versions"), i, v) {
        json_t *back = json_object_get(v, "rollback_of");
        char to[24] = "-";
        if (json_is_integer(back))
            snprintf(to, sizeof to, "to %lld", json_integer_value(back));
        printf("%-7lld %-24s %-9s %s\n", json_integer_value(json_object_get(v, "version")),
               str(v, "saved"), to, str(v, "pipeline_text"));
    }
}

static void print_list(json_t *doc) {
    json_t *v;
    size_t i;
    printf("%-24s %-7s %-24s %s\n", "NAME", "VERSION", "SAVED", "PIPELINE");
    json_array_foreach(json_object_get(doc, "pipelines"), i, v) {
        printf("%-24s %-7lld %-24s %s\n", str(v, "name"),
               json_integer_value(json_object_get(v, "version")), str(v, "saved"),
               str(v, "pipeline_text"));
    }
    printf("%zu of %lld saved pipelines\n", json_array_size(json_object_get(doc, "pipelines")),
           json_integer_value(json_object_get(doc, "total")));
}

/* Sends `method path` with `body` (may be NULL; borrowed) and prints the
 * answer with `print`, or as JSON with --json. `r` is filled and freed here;
 * *status gets the HTTP status when not NULL. */
static int call(hc_client *c, const hc_options *o, const char *method, const char *path,
                json_t *body, const char *what, void (*print)(json_t *), long *status) {
    hc_response r;
    json_t *doc = NULL;
    int rc = hc_json(c, method, path, body, &r), code;
    if (status)
        *status = rc ? 0 : r.status;
    if (status && !rc && r.status == 404) { /* the caller decides */
        hc_response_free(&r);
        return EXIT_INPUT;
    }
    if (!(code = hc_check(c, rc, &r, what)) && print && !(doc = hc_body_json(&r, what)))
        code = EXIT_INTERNAL;
    if (!code && print && o->json)
        printf("%s\n", r.body);
    else if (!code && print)
        print(doc);
    json_decref(doc);
    hc_response_free(&r);
    return code;
}

/* tessera pipelines save: PUT a new version, or POST the name when it is
 * new. */
static int save(hc_client *c, const hc_options *o, const pipe_args *a) {
    char path[160];
    long status = 0;
    if (!a->pipeline) {
        fprintf(stderr, "tessera pipelines save: give the pipeline with -p\n");
        return EXIT_USAGE;
    }
    json_t *out = json_object();
    if (a->format)
        json_object_set_new(out, "format", json_string(a->format));
    if (a->quality)
        json_object_set_new(out, "quality", json_integer(a->quality));
    if (a->tile)
        json_object_set_new(out, "tile", json_integer(a->tile));
    if (a->frame >= 0)
        json_object_set_new(out, "frame", json_integer(a->frame));
    if (a->speed)
        json_object_set_new(out, "speed", json_integer(a->speed));
    json_t *body =
        json_pack("{s:s, s:s, s:o}", "name", a->name, "pipeline", a->pipeline, "output", out);
    snprintf(path, sizeof path, SAVED_BASE "/%s", a->name);
    int code = call(c, o, "PUT", path, body, "save pipeline", print_version, &status);
    if (status == 404)
        code = call(c, o, "POST", SAVED_BASE, body, "save pipeline", print_version, NULL);
    json_decref(body);
    return code;
}

int cmd_pipelines(int argc, char **argv) {
    hc_options o = {0};
    pipe_args a;
    hc_client c;
    char path[256];
    int code = parse_args(argc, argv, &o, &a);
    if (code)
        return code;
    int list = !strcmp(a.action, "list");
    if ((!list && !a.name) || (!strcmp(a.action, "rollback") && !a.version) ||
        (!list && strcmp(a.action, "save") && strcmp(a.action, "show") &&
         strcmp(a.action, "rollback") && strcmp(a.action, "delete"))) {
        usage();
        return EXIT_USAGE;
    }
    if ((code = hc_open(&c, o.server, o.token)))
        return code;
    if (list) {
        snprintf(path, sizeof path, SAVED_BASE "?offset=%d", a.offset);
        if (a.limit)
            snprintf(path + strlen(path), sizeof path - strlen(path), "&limit=%d", a.limit);
        code = call(&c, &o, "GET", path, NULL, "saved pipelines", print_list, NULL);
    } else if (!strcmp(a.action, "save")) {
        code = save(&c, &o, &a);
    } else if (!strcmp(a.action, "show")) {
        snprintf(path, sizeof path, SAVED_BASE "/%s%s", a.name, a.versions ? "/versions" : "");
        if (a.version && !a.versions)
            snprintf(path + strlen(path), sizeof path - strlen(path), "/versions/%d", a.version);
        code = call(&c, &o, "GET", path, NULL, "saved pipeline",
                    a.versions ? print_versions : print_version, NULL);
    } else if (!strcmp(a.action, "rollback")) {
        json_t *body = json_pack("{s:i}", "version", a.version);
        snprintf(path, sizeof path, SAVED_BASE "/%s/rollback", a.name);
        code = call(&c, &o, "POST", path, body, "rollback", print_version, NULL);
        json_decref(body);
    } else {
        snprintf(path, sizeof path, SAVED_BASE "/%s", a.name);
        if (!(code = call(&c, &o, "DELETE", path, NULL, "delete saved pipeline", NULL, NULL)))
            printf("deleted %s\n", a.name);
    }
    hc_close(&c);
    return code;
}
