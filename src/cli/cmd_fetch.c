/* tessera fetch: download the results of a finished job into a folder.
 * Also the download step of `tessera submit` (hc_fetch_results). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/http_client.h"

/* Creates `dir` and its parents when missing; 0 or -1 with errno. */
static int make_dirs(const char *dir) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/* A file name safe in a folder: the last path part of `name` with anything
 * but [A-Za-z0-9._-] made '_' and no leading dot; "" when nothing is left. */
static void sanitize(const char *name, char *out, size_t cap) {
    const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
    base = strrchr(base, '\\') ? strrchr(base, '\\') + 1 : base;
    while (*base == '.')
        base++;
    size_t n = 0;
    for (; *base && n + 1 < cap; base++) {
        char ch = *base;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == '-';
        out[n++] = ok ? ch : '_';
    }
    out[n] = '\0';
}

static const char *extension(const char *format) {
    if (!format)
        return "bin";
    if (!strcmp(format, "jpeg"))
        return "jpg";
    if (!strcmp(format, "tiff"))
        return "tif";
    return format;
}

/* Makes the rename durable: fsyncs the folder. */
static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

/* Downloads one result from `path` into `dir`, named from the server's
 * Content-Disposition (sanitized) unless that name is empty or already in
 * `used`, then <image>.<ext>. Returns an exit code. */
static int fetch_one(hc_client *c, const char *path, const char *dir, const char *image,
                     const char *ext, char (*used)[256], size_t n_used) {
    char tmp[PATH_MAX], name[256], dest[PATH_MAX + 260];
    hc_response r;
    int rc = hc_download(c, path, dir, tmp, &r);
    int code = hc_check(c, rc, &r, "download");
    if (code) {
        hc_response_free(&r);
        return code;
    }
    sanitize(r.filename, name, sizeof name);
    for (size_t i = 0; i < n_used && name[0]; i++)
        if (!strcmp(used[i], name))
            name[0] = '\0';
    if (!name[0])
        snprintf(name, sizeof name, "%.200s.%s", image, ext);
    snprintf(dest, sizeof dest, "%s/%s", dir, name);
    if (rename(tmp, dest) != 0) {
        fprintf(stderr, "tessera: download: cannot rename %s to %s: %s\n", tmp, dest,
                strerror(errno));
        unlink(tmp);
        hc_response_free(&r);
        return EXIT_INTERNAL;
    }
    sync_dir(dir);
    printf("saved %s (%zu bytes)\n", dest, r.len);
    snprintf(used[n_used], 256, "%s", name);
    hc_response_free(&r);
    return EXIT_OK;
}

int hc_fetch_results(hc_client *c, json_t *job, const char *dir) {
    const char *id = json_string_value(json_object_get(job, "id"));
    json_t *items = json_object_get(job, "items");
    size_t n = json_array_size(items);
    const char *ext =
        extension(json_string_value(json_object_get(json_object_get(job, "output"), "format")));
    if (!id || !hc_valid_id(id) || n == 0) {
        fprintf(stderr, "tessera: download: the server sent a job without id or items\n");
        return EXIT_INTERNAL;
    }
    if (make_dirs(dir) != 0) {
        fprintf(stderr, "tessera: cannot create the folder %s: %s\n", dir, strerror(errno));
        return EXIT_INTERNAL;
    }
    char(*used)[256] = calloc(n, sizeof *used);
    if (!used) {
        fprintf(stderr, "tessera: out of memory\n");
        return EXIT_INTERNAL;
    }
    int worst = EXIT_OK;
    size_t n_used = 0;
    const char *job_err = json_string_value(json_object_get(job, "error"));
    if (job_err) {
        fprintf(stderr, "tessera: job %s: %s\n", id, job_err);
        worst = EXIT_INPUT;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        const char *image = json_string_value(json_object_get(it, "image"));
        const char *state = json_string_value(json_object_get(it, "state"));
        const char *err = json_string_value(json_object_get(it, "error"));
        char path[256];
        if (!state || strcmp(state, "succeeded")) {
            fprintf(stderr, "tessera: image %s: %s%s%s\n", image ? image : "(deleted)",
                    state ? state : "no state", err ? ": " : "", err ? err : "");
            worst = worst > EXIT_INPUT ? worst : EXIT_INPUT;
            continue;
        }
        if (!image || !hc_valid_id(image)) {
            fprintf(stderr, "tessera: download: item %zu has no image id\n", i + 1);
            worst = EXIT_INTERNAL;
            continue;
        }
        if (n == 1)
            snprintf(path, sizeof path, "/api/v1/jobs/%s/result", id);
        else
            snprintf(path, sizeof path, "/api/v1/jobs/%s/result/%s", id, image);
        int code = fetch_one(c, path, dir, image, ext, used, n_used);
        if (code == EXIT_OK)
            n_used++;
        worst = code > worst ? code : worst;
    }
    free(used);
    return worst;
}

static void usage(void) {
    fprintf(stderr, "usage: tessera fetch [--server URL] [--token T] JOB_ID -o DIR\n");
}

int cmd_fetch(int argc, char **argv) {
    hc_options o = {0};
    const char *id = NULL;
    for (int i = 1; i < argc; i++) {
        int t = hc_take_option(&o, argc, argv, &i);
        if (t < 0)
            return EXIT_USAGE;
        if (t)
            continue;
        if (argv[i][0] == '-' || id) {
            fprintf(stderr, "tessera fetch: unexpected argument '%s'\n", argv[i]);
            usage();
            return EXIT_USAGE;
        }
        id = argv[i];
    }
    if (!id || !o.out) {
        usage();
        return EXIT_USAGE;
    }
    if (!hc_valid_id(id)) {
        fprintf(stderr, "tessera fetch: '%s' is not a job id\n", id);
        return EXIT_USAGE;
    }
    int code = hc_options_finish(&o, "fetch");
    if (code)
        return code;
    hc_client c;
    if ((code = hc_open(&c, o.server, o.token)))
        return code;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/jobs/%s", id);
    hc_response r;
    json_t *job = NULL;
    int rc = hc_json(&c, "GET", path, NULL, &r);
    if (!(code = hc_check(&c, rc, &r, "job")) && !(job = hc_body_json(&r, "job")))
        code = EXIT_INTERNAL;
    hc_response_free(&r);
    if (!code) {
        const char *state = json_string_value(json_object_get(job, "state"));
        if (state && (!strcmp(state, "queued") || !strcmp(state, "running"))) {
            fprintf(stderr,
                    "tessera fetch: job %s is still %s (%.0f%%); try again when it is done\n", id,
                    state, json_number_value(json_object_get(job, "percent")));
            code = EXIT_INPUT;
        } else {
            code = hc_fetch_results(&c, job, o.out);
        }
    }
    json_decref(job);
    hc_close(&c);
    return code;
}
