/* tessera submit: upload files to a `tessera serve`, run a pipeline on them
 * as one job, follow its progress through the event stream, and download
 * the results. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/http_client.h"
#include "util/clock.h"

#define POLL_MS        500 /* job polling interval (ms) when the event stream breaks */
#define MAX_NET_ERRORS 5   /* consecutive failed polls before giving up */

/* What the event callback tracks while a job runs. */
typedef struct follow {
    cli_progress bar; /* the terminal progress bar */
    int tty;          /* stderr is a terminal: draw the bar, else print lines */
    int decile;       /* last 10% step printed when not a terminal */
    const char *id;   /* the job (borrowed) */
    json_t *final;    /* the job object of the `done` event (owned) */
} follow;

static int terminal_state(const char *state) {
    return state &&
           (!strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled"));
}

/* Shows one job object's progress: the bar on a terminal, else a line per
 * 10%. Keeps the object when the job is over; returns 1 then. */
static int show(follow *f, json_t *job) {
    double pct = json_number_value(json_object_get(job, "percent"));
    const char *state = json_string_value(json_object_get(job, "state"));
    pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
    if (f->tty) {
        cli_progress_update(&f->bar, (uint64_t)(pct * 10), 1000);
    } else if ((int)(pct / 10) > f->decile) {
        f->decile = (int)(pct / 10);
        fprintf(stderr, "tessera: job %s: %d%%\n", f->id, f->decile * 10);
    }
    if (!terminal_state(state))
        return 0;
    json_decref(f->final);
    f->final = json_incref(job);
    return 1;
}

static int on_event(void *user, const char *event, const char *data) {
    follow *f = user;
    if (strcmp(event, "progress") && strcmp(event, "done"))
        return 0;
    json_t *job = json_loads(data, 0, NULL);
    if (!job)
        return 0;
    int over = show(f, job);
    json_decref(job);
    return over || !strcmp(event, "done");
}

/* Follows job `id` to its end: the event stream, then polling when the
 * stream ends early. Returns an exit code; f->final holds the job. */
static int wait_job(hc_client *c, follow *f) {
    char path[160];
    hc_response r;
    snprintf(path, sizeof path, "/api/v1/jobs/%s/events", f->id);
    int rc = hc_events(c, path, on_event, f, &r);
    int code = rc || (r.status >= 200 && r.status < 300) ? 0 : hc_check(c, rc, &r, "events");
    hc_response_free(&r);
    if (code)
        return code;
    snprintf(path, sizeof path, "/api/v1/jobs/%s", f->id);
    for (int errors = 0; !f->final;) {
        rc = hc_json(c, "GET", path, NULL, &r);
        json_t *job = NULL;
        if (rc) {
            if (++errors > MAX_NET_ERRORS) {
                code = hc_check(c, rc, &r, "job");
                hc_response_free(&r);
                return code;
            }
        } else if ((code = hc_check(c, rc, &r, "job"))) {
            hc_response_free(&r);
            return code;
        } else if ((job = hc_body_json(&r, "job"))) {
            errors = 0;
            show(f, job);
            json_decref(job);
        }
        hc_response_free(&r);
        if (!f->final)
            tsr_clock_sleep_ms(POLL_MS);
    }
    return EXIT_OK;
}

/* Whether the JSON array `list` holds the string `s`. */
static int holds(json_t *list, const char *s) {
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        if (!strcmp(json_string_value(v), s))
            return 1;
    }
    return 0;
}

/* Uploads each file, printing its confirmation, and adds its id to `ids`
 * (once: two files of the same bytes are one image) and, when the server
 * stored it now rather than finding it already stored, to `fresh`: only
 * those are deleted again after a failure. */
static int upload_all(hc_client *c, char **files, int n, json_t *ids, json_t *fresh) {
    for (int i = 0; i < n; i++) {
        hc_response r;
        char what[300];
        snprintf(what, sizeof what, "upload %.256s", files[i]);
        int rc = hc_upload(c, "/api/v1/images", files[i], &r);
        int code = hc_check(c, rc, &r, what);
        json_t *doc = code ? NULL : hc_body_json(&r, what);
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (!code && !id) {
            fprintf(stderr, "tessera: %s: the answer has no image id\n", what);
            code = EXIT_INTERNAL;
        }
        if (!code) {
            int again = json_is_true(json_object_get(doc, "duplicate"));
            printf("uploaded %s: %s, %s %lldx%lld, %lld bytes%s\n", files[i], id,
                   json_string_value(json_object_get(doc, "format")),
                   json_integer_value(json_object_get(doc, "width")),
                   json_integer_value(json_object_get(doc, "height")),
                   json_integer_value(json_object_get(doc, "bytes")),
                   again ? " (already stored)" : "");
            if (!holds(ids, id))
                json_array_append_new(ids, json_string(id));
            if (!again)
                json_array_append_new(fresh, json_string(id));
        }
        json_decref(doc);
        hc_response_free(&r);
        if (code)
            return code;
    }
    return EXIT_OK;
}

/* Deletes the images uploaded before a failure (best effort). */
static void forget(hc_client *c, json_t *ids) {
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        char path[160];
        hc_response r;
        snprintf(path, sizeof path, "/api/v1/images/%s", json_string_value(v));
        hc_json(c, "DELETE", path, NULL, &r);
        hc_response_free(&r);
    }
}

/* The pipeline as the API takes it: the JSON form when it starts with '[',
 * else the text form as a string. NULL (message printed) when bad JSON. */
static json_t *pipeline_value(const char *text) {
    const char *p = text + strspn(text, " \t\r\n");
    if (*p != '[')
        return json_string(text);
    json_error_t err;
    json_t *v = json_loads(p, 0, &err);
    if (!v)
        fprintf(stderr, "tessera submit: the JSON pipeline does not parse: %s (column %d)\n",
                err.text, err.column);
    return v;
}

static void usage(void) {
    fprintf(stderr, "usage: tessera submit [--server URL] [--token T] -p PIPELINE FILE... -o DIR\n"
                    "                      [--format F] [--quality Q] [--no-wait]\n");
}

/* Checks the arguments that need no server; returns an exit code. */
static int check_args(const char *pipe, int n_files, const hc_options *o, int no_wait,
                      const char **format, long quality) {
    static const char *const formats[] = {"png", "jpeg", "webp", "tiff", "bmp", "pnm"};
    if (!pipe || n_files == 0 || (!o->out && !no_wait)) {
        usage();
        return EXIT_USAGE;
    }
    if (*format) {
        if (!strcmp(*format, "jpg"))
            *format = "jpeg";
        else if (!strcmp(*format, "tif"))
            *format = "tiff";
        int ok = 0;
        for (size_t i = 0; i < sizeof formats / sizeof *formats; i++)
            ok |= !strcmp(*format, formats[i]);
        if (!ok) {
            fprintf(stderr,
                    "tessera submit: --format must be one of png, jpeg, webp, tiff, bmp, "
                    "pnm (got %s)\n",
                    *format);
            return EXIT_USAGE;
        }
    }
    if (quality != 0 && (quality < 1 || quality > 100)) {
        fprintf(stderr, "tessera submit: --quality must be between 1 and 100\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Confirms the pipeline with the server before anything is uploaded. */
static int validate(hc_client *c, json_t *pipeline) {
    hc_response r;
    json_t *body = json_pack("{s:O}", "pipeline", pipeline);
    int rc = hc_json(c, "POST", "/api/v1/pipelines/validate", body, &r);
    int code = hc_check(c, rc, &r, "pipeline");
    json_decref(body);
    hc_response_free(&r);
    return code;
}

/* Creates the job; prints its id and the normalized pipeline. */
static int create_job(hc_client *c, json_t *ids, json_t *pipeline, const char *format, long quality,
                      json_t **job) {
    json_t *output = json_object();
    if (format)
        json_object_set_new(output, "format", json_string(format));
    if (quality)
        json_object_set_new(output, "quality", json_integer(quality));
    json_t *body =
        json_pack("{s:O, s:O, s:o}", "images", ids, "pipeline", pipeline, "output", output);
    hc_response r;
    int rc = hc_json(c, "POST", "/api/v1/jobs", body, &r);
    int code = hc_check(c, rc, &r, "job");
    json_decref(body);
    if (!code && !(*job = hc_body_json(&r, "job")))
        code = EXIT_INTERNAL;
    const char *id = json_string_value(json_object_get(*job, "id"));
    if (!code && (!id || !hc_valid_id(id))) {
        fprintf(stderr, "tessera: job: the answer has no job id\n");
        code = EXIT_INTERNAL;
    }
    if (!code) {
        json_t *out = json_object_get(*job, "output");
        printf("job %s: %s -> %s (quality %lld)\n", id,
               json_string_value(json_object_get(*job, "pipeline_text")),
               json_string_value(json_object_get(out, "format")),
               json_integer_value(json_object_get(out, "quality")));
    }
    hc_response_free(&r);
    return code;
}

/* The command line of `tessera submit`. */
typedef struct submit_args {
    hc_options o;       /* server, token, output */
    const char *pipe;   /* -p PIPELINE */
    const char *format; /* --format; NULL = the server's default */
    long quality;       /* --quality; 0 = default, -1 = malformed */
    int no_wait;        /* --no-wait: print the job id and exit */
    char **files;       /* the images (borrowed from argv) */
    int n_files;        /* how many */
} submit_args;

/* Parses argv into *a (a->files must hold argc entries). Returns an exit
 * code: EXIT_OK, or EXIT_USAGE after a message. */
static int parse_submit_args(int argc, char **argv, submit_args *a) {
    for (int i = 1; i < argc; i++) {
        int t = hc_take_option(&a->o, argc, argv, &i);
        const char *arg = argv[i];
        if (t) {
            if (t < 0)
                return EXIT_USAGE;
        } else if (!strcmp(arg, "--no-wait")) {
            a->no_wait = 1;
        } else if ((!strcmp(arg, "-p") || !strcmp(arg, "--pipeline")) && i + 1 < argc) {
            a->pipe = argv[++i];
        } else if (!strcmp(arg, "--format") && i + 1 < argc) {
            a->format = argv[++i];
        } else if (!strcmp(arg, "--quality") && i + 1 < argc) {
            char *end;
            a->quality = strtol(argv[++i], &end, 10);
            if (*end || a->quality == 0)
                a->quality = -1;
        } else if (arg[0] == '-' && arg[1]) {
            fprintf(stderr, "tessera submit: unknown or incomplete option '%s'\n", arg);
            usage();
            return EXIT_USAGE;
        } else {
            a->files[a->n_files++] = argv[i];
        }
    }
    return EXIT_OK;
}

/* EXIT_INPUT after a message when one of the files is not a readable
 * regular file. */
static int check_files(char **files, int n) {
    for (int i = 0; i < n; i++) {
        struct stat st;
        errno = 0;
        if (stat(files[i], &st) != 0 || !S_ISREG(st.st_mode)) {
            fprintf(stderr, "tessera submit: cannot read %s: %s\n", files[i],
                    errno ? strerror(errno) : "not a file");
            return EXIT_INPUT;
        }
    }
    return EXIT_OK;
}

/* Follows job `job` to its end with a progress bar, then downloads its
 * results into `out`. Returns the exit code. */
static int follow_job(hc_client *c, const json_t *job, const char *out) {
    follow f = {.tty = isatty(STDERR_FILENO), .id = json_string_value(json_object_get(job, "id"))};
    cli_progress_start(&f.bar, f.id);
    int code = wait_job(c, &f);
    const char *state = f.final ? json_string_value(json_object_get(f.final, "state")) : "";
    int ok = !code && state && !strcmp(state, "succeeded");
    if (f.tty)
        cli_progress_finish(&f.bar, ok);
    if (!code) {
        printf("job %s %s in %.2fs\n", f.id, state, tsr_clock_mono_s() - f.bar.start);
        int got = hc_fetch_results(c, f.final, out);
        code = !ok && got == EXIT_OK ? EXIT_INPUT : got;
    }
    json_decref(f.final);
    return code;
}

int cmd_submit(int argc, char **argv) {
    submit_args a = {.files = calloc((size_t)argc, sizeof *a.files)};
    if (!a.files)
        return EXIT_INTERNAL;
    int code = parse_submit_args(argc, argv, &a);
    if (!code)
        code = check_args(a.pipe, a.n_files, &a.o, a.no_wait, &a.format, a.quality);
    if (!code)
        code = check_files(a.files, a.n_files);
    if (!code)
        code = hc_options_finish(&a.o, "submit");
    json_t *pipeline = code ? NULL : pipeline_value(a.pipe);
    if (!code && !pipeline)
        code = EXIT_USAGE;
    hc_client c = {0};
    json_t *ids = json_array(), *fresh = json_array(), *job = NULL;
    if (!code)
        code = hc_open(&c, a.o.server, a.o.token);
    if (!code)
        code = validate(&c, pipeline);
    if (!code && (code = upload_all(&c, a.files, a.n_files, ids, fresh)))
        forget(&c, fresh);
    if (!code && (code = create_job(&c, ids, pipeline, a.format, a.quality, &job)))
        forget(&c, fresh);
    if (!code && a.no_wait)
        printf("%s\n", json_string_value(json_object_get(job, "id")));
    else if (!code)
        code = follow_job(&c, job, a.o.out);
    json_decref(job);
    json_decref(ids);
    json_decref(fresh);
    json_decref(pipeline);
    if (c.curl)
        hc_close(&c);
    free(a.files);
    return code;
}
