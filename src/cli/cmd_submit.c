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
#include "service/image_run.h"
#include "util/clock.h"

#define POLL_MS             500   /* job polling interval (ms) when the event stream breaks */
#define RECONNECT_FIRST_MS  500   /* first wait after the server stops answering */
#define RECONNECT_MAX_MS    10000 /* the wait doubles up to this */
#define RECONNECT_DEFAULT_S 300   /* --reconnect-s default: how long an outage may last */

/* What the event callback tracks while a job runs. */
typedef struct follow {
    cli_progress bar;  /* the terminal progress bar */
    int tty;           /* stderr is a terminal: draw the bar, else print lines */
    int decile;        /* last 10% step printed when not a terminal */
    const char *id;    /* the job (borrowed) */
    json_t *final;     /* the job object of the `done` event (owned) */
    double window_s;   /* how long the server may stay unreachable (--reconnect-s) */
    double lost_since; /* monotonic time the server stopped answering; 0 = it answers */
    int delay_ms;      /* the next wait before reconnecting */
} follow;

static int terminal_state(const char *state) {
    return state &&
           (!strcmp(state, "succeeded") || !strcmp(state, "failed") || !strcmp(state, "cancelled"));
}

/* Says so once when the server answers again after an outage. */
static void reconnected(follow *f) {
    if (!f->lost_since)
        return;
    fprintf(stderr, "tessera: job %s: reconnected after %.0f s\n", f->id,
            tsr_clock_mono_s() - f->lost_since);
    f->lost_since = 0;
}

/* Shows one job object's progress: the bar on a terminal, else a line per
 * 10%. Keeps the object when the job is over; returns 1 then. */
static int show(follow *f, json_t *job) {
    double pct = json_number_value(json_object_get(job, "percent"));
    const char *state = json_string_value(json_object_get(job, "state"));
    reconnected(f);
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

/* 1 when a request failed in a way a restarting server fails: no answer
 * at all, or 502/503/504 from it or a proxy in front of it. */
static int transient(int rc, const hc_response *r) {
    return rc || r->status == 0 || r->status == 502 || r->status == 503 || r->status == 504;
}

/* After a transient failure: says "reconnecting..." when the outage
 * starts, waits (0.5 s doubling to 10 s) and returns 1, or returns 0 once
 * the outage has lasted f->window_s. */
static int backoff(hc_client *c, follow *f) {
    double now = tsr_clock_mono_s();
    if (!f->lost_since) {
        f->lost_since = now;
        f->delay_ms = RECONNECT_FIRST_MS;
        fprintf(stderr, "%stessera: job %s: lost the server (%s); reconnecting…\n",
                f->tty ? "\n" : "", f->id, c->err[0] ? c->err : "no answer");
    }
    if (now - f->lost_since >= f->window_s)
        return 0;
    tsr_clock_sleep_ms(f->delay_ms);
    f->delay_ms = f->delay_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : f->delay_ms * 2;
    return 1;
}

/* GETs the job once and shows it. Returns 0 when shown, -1 on a transient
 * failure, else an exit code (after a message). */
static int poll_once(hc_client *c, follow *f) {
    char path[160];
    hc_response r;
    snprintf(path, sizeof path, "/api/v1/jobs/%s", f->id);
    int rc = hc_json(c, "GET", path, NULL, &r);
    int code = transient(rc, &r) ? -1 : hc_check(c, rc, &r, "job");
    if (code < 0 && !rc) /* an answer, but 502/503/504: say which */
        snprintf(c->err, sizeof c->err, "HTTP %ld", r.status);
    json_t *job = code ? NULL : hc_body_json(&r, "job");
    if (!code && !job)
        code = EXIT_INTERNAL;
    if (job)
        show(f, job);
    json_decref(job);
    hc_response_free(&r);
    return code;
}

/* Follows job `id` to its end: the event stream, a poll whenever the
 * stream ends early, and through a server restart or a dropped connection
 * a reconnect with backoff for up to f->window_s. Returns an exit code;
 * f->final holds the job. */
static int wait_job(hc_client *c, follow *f) {
    char path[160];
    snprintf(path, sizeof path, "/api/v1/jobs/%s/events", f->id);
    while (!f->final) {
        hc_response r;
        int rc = hc_events(c, path, on_event, f, &r);
        int code = 0;
        if (!f->final && !transient(rc, &r) && (r.status < 200 || r.status >= 300))
            code = hc_check(c, rc, &r, "events");
        hc_response_free(&r);
        if (!code && !f->final)
            code = poll_once(c, f);
        if (code > 0)
            return code;
        if (code < 0 && !backoff(c, f)) {
            fprintf(stderr,
                    "tessera: job %s: the server did not answer for %.0f s; giving up "
                    "(the job may still finish: `tessera status %s`)\n",
                    f->id, f->window_s, f->id);
            return EXIT_INTERNAL;
        }
        if (!code && !f->final)
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
                    "                      [--format F] [--quality Q] [--speed S] [--pyramid]\n"
                    "                      [--frame N] [--no-wait] [--reconnect-s S]\n");
}

/* Checks the arguments that need no server; returns an exit code. */
static int check_args(const char *pipe, int n_files, const hc_options *o, int no_wait,
                      const char **format, long quality, long speed) {
    static const char *const formats[] = {"png", "jpeg", "webp", "gif", "tiff",
                                          "bmp", "pnm",  "avif", "dzi", "dzi-png"};
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
                    "tessera submit: --format must be one of png, jpeg, webp, gif, tiff, bmp, "
                    "pnm, avif, dzi, dzi-png (got %s)\n",
                    *format);
            return EXIT_USAGE;
        }
    }
    if (quality != 0 && (quality < 1 || quality > 100)) {
        fprintf(stderr, "tessera submit: --quality must be between 1 and 100\n");
        return EXIT_USAGE;
    }
    if (speed != 0 && (speed < 1 || speed > 9)) {
        fprintf(stderr, "tessera submit: --speed must be between 1 and 9\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* Checks the pipeline before anything is uploaded, with the library: it
 * must parse, and plan for each file's size (what depends on the image,
 * e.g. a crop outside it). Appends each readable file's size, as the
 * server's check takes it, to `sizes` and its index to files_of. Files the
 * library cannot read are left to the upload, which says why; limits are
 * left to the server, whose own apply. Returns an exit code after a
 * message. */
static int check_locally(const char *text, char **files, int n, json_t *sizes, int *files_of) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_pipeline *pipe = NULL;
    int code = EXIT_OK;
    if (!ctx)
        return EXIT_INTERNAL;
    if (tsr_pipeline_parse(ctx, text, &pipe)) {
        fprintf(stderr, "tessera submit: %s\n", tsr_ctx_message(ctx));
        code = EXIT_USAGE;
    }
    for (int i = 0; !code && i < n; i++) {
        tsr_row_reader *reader = NULL;
        tsr_image_info info;
        int w, h, bands;
        tsr_ctx_reset(ctx);
        if (tsr_row_reader_open(ctx, files[i], NULL, &reader, &info))
            continue;
        tsr_row_reader_shape(reader, &w, &h, &bands);
        tsr_row_reader_free(reader);
        const char *format = tsr_format_name(info.format), *base = strrchr(files[i], '/');
        files_of[json_array_size(sizes)] = i;
        json_array_append_new(sizes, json_pack("{s:i, s:i, s:i, s:s, s:s}", "width", w, "height", h,
                                               "bands", bands, "format", format, "name",
                                               base ? base + 1 : files[i]));
        tsr_image_decoded_size(pipe, format, &w, &h);
        tsr_ctx_reset(ctx);
        if (tsr_pipeline_check_size(ctx, pipe, w, h, bands, NULL, NULL, NULL) == TSR_ERR_USAGE) {
            fprintf(stderr, "tessera submit: %s: %s\n", files[i], tsr_ctx_message(ctx));
            code = EXIT_USAGE;
        }
    }
    tsr_pipeline_free(pipe);
    tsr_ctx_free(ctx);
    return code;
}

/* Confirms the pipeline with the server before anything is uploaded, for
 * the files' sizes when known (`sizes`, from check_locally). A refusal for
 * one image names its file (files[files_of[k]] for entry k). */
static int validate(hc_client *c, json_t *pipeline, json_t *sizes, char **files,
                    const int *files_of) {
    hc_response r;
    json_t *body = json_pack("{s:O}", "pipeline", pipeline);
    if (json_array_size(sizes))
        json_object_set(body, "images", sizes);
    int rc = hc_json(c, "POST", "/api/v1/pipelines/validate", body, &r);
    json_decref(body);
    json_t *doc = !rc && r.status == 400 && r.body ? json_loads(r.body, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
    json_t *entry;
    size_t k;
    int code = -1;
    json_array_foreach(json_object_get(doc, "images"), k, entry) {
        if (code < 0 && msg && k < json_array_size(sizes) &&
            json_string_value(json_object_get(entry, "error"))) {
            fprintf(stderr, "tessera: pipeline: %s: %s (HTTP 400 bad_pipeline)\n",
                    files[files_of[k]], msg);
            code = EXIT_USAGE;
        }
    }
    if (code < 0)
        code = hc_check(c, rc, &r, "pipeline");
    json_decref(doc);
    hc_response_free(&r);
    return code;
}

/* Creates the job; prints its id and the normalized pipeline. */
static int create_job(hc_client *c, json_t *ids, json_t *pipeline, const char *format, long quality,
                      long speed, int pyramid, long frame, json_t **job) {
    json_t *output = json_object();
    if (pyramid)
        json_object_set_new(output, "pyramid", json_true());
    if (frame >= 0) /* from animated inputs, this frame only */
        json_object_set_new(output, "frame", json_integer(frame));
    if (format)
        json_object_set_new(output, "format", json_string(format));
    if (quality)
        json_object_set_new(output, "quality", json_integer(quality));
    if (speed)
        json_object_set_new(output, "speed", json_integer(speed));
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
    long speed;         /* --speed (AVIF); 0 = default, -1 = malformed */
    int pyramid;        /* --pyramid: a pyramidal TIFF (with --format tiff) */
    long frame;         /* --frame; -1 = none chosen */
    int no_wait;        /* --no-wait: print the job id and exit */
    double reconnect_s; /* --reconnect-s: how long the server may stay unreachable */
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
        } else if (!strcmp(arg, "--pyramid")) {
            a->pyramid = 1;
        } else if ((!strcmp(arg, "-p") || !strcmp(arg, "--pipeline")) && i + 1 < argc) {
            a->pipe = argv[++i];
        } else if (!strcmp(arg, "--reconnect-s") && i + 1 < argc) {
            char *end;
            a->reconnect_s = strtod(argv[++i], &end);
            if (*end || !(a->reconnect_s >= 0 && a->reconnect_s <= 86400)) {
                fprintf(stderr, "tessera submit: --reconnect-s must be 0..86400 seconds\n");
                return EXIT_USAGE;
            }
        } else if (!strcmp(arg, "--format") && i + 1 < argc) {
            a->format = argv[++i];
        } else if (!strcmp(arg, "--frame") && i + 1 < argc) {
            char *end;
            a->frame = strtol(argv[++i], &end, 10);
            if (*end || a->frame < 0 || a->frame > 0x7fffffff || end == argv[i]) {
                fprintf(stderr, "tessera submit: --frame must be 0 or more (0 = the first)\n");
                return EXIT_USAGE;
            }
        } else if (!strcmp(arg, "--quality") && i + 1 < argc) {
            char *end;
            a->quality = strtol(argv[++i], &end, 10);
            if (*end || a->quality == 0)
                a->quality = -1;
        } else if (!strcmp(arg, "--speed") && i + 1 < argc) {
            char *end;
            a->speed = strtol(argv[++i], &end, 10);
            if (*end || a->speed == 0)
                a->speed = -1;
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
static int follow_job(hc_client *c, const json_t *job, const char *out, double reconnect_s) {
    follow f = {.tty = isatty(STDERR_FILENO),
                .id = json_string_value(json_object_get(job, "id")),
                .window_s = reconnect_s};
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
    submit_args a = {.frame = -1,
                     .files = calloc((size_t)argc, sizeof *a.files),
                     .reconnect_s = RECONNECT_DEFAULT_S};
    if (!a.files)
        return EXIT_INTERNAL;
    int code = parse_submit_args(argc, argv, &a);
    if (!code)
        code = check_args(a.pipe, a.n_files, &a.o, a.no_wait, &a.format, a.quality, a.speed);
    if (!code)
        code = check_files(a.files, a.n_files);
    if (!code)
        code = hc_options_finish(&a.o, "submit");
    json_t *pipeline = code ? NULL : pipeline_value(a.pipe);
    if (!code && !pipeline)
        code = EXIT_USAGE;
    hc_client c = {0};
    json_t *ids = json_array(), *fresh = json_array(), *job = NULL, *sizes = json_array();
    int *files_of = calloc((size_t)argc, sizeof *files_of);
    if (!code && !files_of)
        code = EXIT_INTERNAL;
    if (!code)
        code = check_locally(a.pipe, a.files, a.n_files, sizes, files_of);
    if (!code)
        code = hc_open(&c, a.o.server, a.o.token);
    if (!code)
        code = validate(&c, pipeline, sizes, a.files, files_of);
    if (!code && (code = upload_all(&c, a.files, a.n_files, ids, fresh)))
        forget(&c, fresh);
    if (!code && (code = create_job(&c, ids, pipeline, a.format, a.quality, a.speed, a.pyramid,
                                    a.frame, &job)))
        forget(&c, fresh);
    if (!code && a.no_wait)
        printf("%s\n", json_string_value(json_object_get(job, "id")));
    else if (!code)
        code = follow_job(&c, job, a.o.out, a.reconnect_s);
    json_decref(job);
    json_decref(ids);
    json_decref(sizes);
    free(files_of);
    json_decref(fresh);
    json_decref(pipeline);
    if (c.curl)
        hc_close(&c);
    free(a.files);
    return code;
}
