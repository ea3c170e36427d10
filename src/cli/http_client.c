/* libcurl behind the client commands: every request goes through perform(),
 * which sets the common options, sorts the response bytes into memory, a
 * file or the event parser, and retries 429/503 after Retry-After. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/http_client.h"
#include "util/clock.h"

#define MAX_BODY    (64u << 20) /* bytes of a response kept in memory */
#define MAX_RETRIES 3           /* 429/503 answers retried per request */
#define MAX_WAIT_S  10.0        /* longest Retry-After honoured */
#define CONNECT_S   10L         /* connect timeout */
#define STALL_S     60L         /* a transfer slower than 1 B/s this long fails */

/* Where a response's bytes go. */
typedef struct sink {
    CURL *curl;      /* the handle, to ask for the status */
    hc_response *r;  /* the response being filled */
    FILE *file;      /* 2xx bodies go here when set */
    hc_event_fn fn;  /* 2xx bodies are parsed as events when set */
    void *user;      /* fn's argument */
    int stopped;     /* fn asked to stop */
    int failed;      /* out of memory or a write error */
    char *line;      /* event parser: the line so far (owned) */
    size_t line_len; /* bytes in line */
    size_t line_cap; /* capacity of line */
    char event[64];  /* event parser: the current event name */
    char *data;      /* event parser: the data lines so far (owned) */
    size_t data_len; /* bytes in data */
} sink;

/* Appends n bytes to *buf (NUL-terminated), growing it; 0 on failure. */
static int append(char **buf, size_t *len, const char *p, size_t n, size_t cap) {
    if (*len + n > cap)
        return 0;
    char *b = realloc(*buf, *len + n + 1);
    if (!b)
        return 0;
    memcpy(b + *len, p, n);
    *len += n;
    b[*len] = '\0';
    *buf = b;
    return 1;
}

/* Handles one event-stream line (no newline): fields, comments, and the
 * blank line that dispatches the event. */
static void event_line(sink *s, char *line, size_t n) {
    if (n && line[n - 1] == '\r')
        line[--n] = '\0';
    if (n == 0) {
        if (s->data_len || s->event[0])
            s->stopped = s->fn(s->user, s->event[0] ? s->event : "message", s->data ? s->data : "");
        s->event[0] = '\0';
        s->data_len = 0;
        if (s->data)
            s->data[0] = '\0';
        return;
    }
    if (line[0] == ':')
        return; /* comment, e.g. keepalive */
    char *colon = strchr(line, ':');
    char *value = colon ? colon + 1 : line + n;
    if (colon)
        *colon = '\0';
    if (*value == ' ')
        value++;
    if (!strcmp(line, "event")) {
        snprintf(s->event, sizeof s->event, "%s", value);
    } else if (!strcmp(line, "data")) {
        if ((s->data_len && !append(&s->data, &s->data_len, "\n", 1, MAX_BODY)) ||
            !append(&s->data, &s->data_len, value, strlen(value), MAX_BODY))
            s->failed = 1;
    }
}

/* Feeds bytes to the event parser, one complete line at a time. */
static void event_bytes(sink *s, const char *p, size_t n) {
    for (size_t i = 0; i < n && !s->stopped && !s->failed; i++) {
        if (p[i] != '\n') {
            if (s->line_len + 1 >= s->line_cap) {
                size_t cap = s->line_cap ? s->line_cap * 2 : 1024;
                char *l = cap <= MAX_BODY ? realloc(s->line, cap) : NULL;
                if (!l) {
                    s->failed = 1;
                    return;
                }
                s->line = l;
                s->line_cap = cap;
            }
            s->line[s->line_len++] = p[i];
            continue;
        }
        if (!s->line && !(s->line = malloc(s->line_cap = 1024))) {
            s->failed = 1;
            return;
        }
        s->line[s->line_len] = '\0';
        event_line(s, s->line, s->line_len);
        s->line_len = 0;
    }
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *user) {
    sink *s = user;
    size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    int ok = status >= 200 && status < 300;
    if (ok && s->file) {
        if (fwrite(p, 1, n, s->file) != n) {
            s->failed = 1;
            return 0;
        }
        s->r->len += n;
        return n;
    }
    if (ok && s->fn) {
        event_bytes(s, p, n);
        return s->stopped || s->failed ? 0 : n;
    }
    if (!append(&s->r->body, &s->r->len, p, n, MAX_BODY)) {
        s->failed = 1;
        return 0;
    }
    return n;
}

/* Takes the file name out of a Content-Disposition value. */
static void disposition_name(const char *v, char *out, size_t cap) {
    const char *f = strstr(v, "filename=");
    if (!f)
        return;
    f += 9;
    int quoted = *f == '"';
    f += quoted;
    size_t n = 0;
    while (f[n] && n + 1 < cap &&
           (quoted ? f[n] != '"' : f[n] != ';' && f[n] != '\r' && f[n] != '\n' && f[n] != ' '))
        n++;
    memcpy(out, f, n);
    out[n] = '\0';
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *user) {
    sink *s = user;
    size_t n = size * nmemb;
    char line[512];
    size_t k = n < sizeof line - 1 ? n : sizeof line - 1;
    memcpy(line, p, k);
    line[k] = '\0';
    if (!strncmp(line, "HTTP/", 5)) { /* a new response (after a 100, a retry) */
        s->r->filename[0] = '\0';
        s->r->retry_after = 0;
    } else if (!strncasecmp(line, "content-disposition:", 20)) {
        disposition_name(line + 20, s->r->filename, sizeof s->r->filename);
    } else if (!strncasecmp(line, "retry-after:", 12)) {
        s->r->retry_after = strtod(line + 12, NULL);
    }
    return n;
}

/* Runs one request on the prepared handle (method, body already set):
 * sets URL, headers and callbacks, performs it, and retries 429/503 up to
 * MAX_RETRIES times. `upload` (may be NULL) is rewound before a retry.
 * Returns 0 or the libcurl error (message in c->err). */
static int perform(hc_client *c, const char *path, struct curl_slist *headers, sink *s,
                   FILE *upload) {
    CURL *curl = c->curl;
    size_t ulen = strlen(c->base) + strlen(path) + 1;
    char *url = malloc(ulen);
    if (!url) {
        snprintf(c->err, sizeof c->err, "out of memory");
        return CURLE_OUT_OF_MEMORY;
    }
    snprintf(url, ulen, "%s%s", c->base, path);
    headers = curl_slist_append(headers, c->auth);
    headers = curl_slist_append(headers, "Expect:");
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_S);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, STALL_S);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tessera/" TESSERA_VERSION);
    s->curl = curl;
    CURLcode rc = CURLE_OK;
    for (int attempt = 0;; attempt++) {
        s->r->len = 0;
        s->r->status = 0;
        if (s->r->body)
            s->r->body[0] = '\0';
        rc = curl_easy_perform(curl);
        if (rc == CURLE_WRITE_ERROR && s->stopped && !s->failed)
            rc = CURLE_OK; /* the event callback ended the stream */
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &s->r->status);
        if (rc || (s->r->status != 429 && s->r->status != 503) || attempt >= MAX_RETRIES ||
            s->file || s->fn || s->r->retry_after <= 0)
            break;
        double wait = s->r->retry_after < MAX_WAIT_S ? s->r->retry_after : MAX_WAIT_S;
        fprintf(stderr, "tessera: server busy (HTTP %ld), retrying in %.0fs\n", s->r->status, wait);
        tsr_clock_sleep_ms((int64_t)(wait * 1000));
        if (upload && fseek(upload, 0, SEEK_SET) != 0)
            break;
    }
    if (rc)
        snprintf(c->err, sizeof c->err, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    else if (s->failed)
        snprintf(c->err, sizeof c->err, "%s",
                 s->file ? strerror(errno) : "response too large or out of memory");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(headers);
    free(url);
    free(s->line);
    free(s->data);
    return rc ? (int)rc : s->failed ? (int)CURLE_WRITE_ERROR : 0;
}

int hc_open(hc_client *c, const char *server, const char *token) {
    memset(c, 0, sizeof *c);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || !(c->curl = curl_easy_init())) {
        fprintf(stderr, "tessera: cannot start libcurl\n");
        return EXIT_INTERNAL;
    }
    int scheme = strstr(server, "://") != NULL;
    size_t n = strlen(server) + 8;
    c->base = malloc(n);
    c->auth = malloc(strlen(token) + 32);
    if (!c->base || !c->auth) {
        hc_close(c);
        fprintf(stderr, "tessera: out of memory\n");
        return EXIT_INTERNAL;
    }
    snprintf(c->base, n, "%s%s", scheme ? "" : "http://", server);
    size_t len = strlen(c->base);
    while (len && c->base[len - 1] == '/')
        c->base[--len] = '\0';
    sprintf(c->auth, "Authorization: Bearer %s", token);
    return 0;
}

void hc_close(hc_client *c) {
    if (c->curl) {
        curl_easy_cleanup(c->curl);
        curl_global_cleanup();
    }
    free(c->base);
    free(c->auth);
    memset(c, 0, sizeof *c);
}

void hc_response_free(hc_response *r) {
    free(r->body);
    memset(r, 0, sizeof *r);
}

int hc_json(hc_client *c, const char *method, const char *path, json_t *body, hc_response *r) {
    memset(r, 0, sizeof *r);
    curl_easy_reset(c->curl);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    char *text = NULL;
    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text) {
            curl_slist_free_all(h);
            snprintf(c->err, sizeof c->err, "cannot encode the request");
            return CURLE_OUT_OF_MEMORY;
        }
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, text);
    }
    curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
    sink s = {.r = r};
    int rc = perform(c, path, h, &s, NULL);
    free(text);
    return rc;
}

static size_t on_read(char *p, size_t size, size_t nmemb, void *user) {
    FILE *f = user;
    size_t n = fread(p, 1, size * nmemb, f);
    return ferror(f) ? CURL_READFUNC_ABORT : n;
}

int hc_upload(hc_client *c, const char *path, const char *file, hc_response *r) {
    memset(r, 0, sizeof *r);
    curl_easy_reset(c->curl);
    FILE *f = fopen(file, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(c->err, sizeof c->err, "cannot read %s: %s", file, strerror(errno));
        if (f)
            fclose(f);
        return CURLE_READ_ERROR;
    }
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    char *name = curl_easy_escape(c->curl, base, 0);
    size_t n = strlen(path) + (name ? strlen(name) : 0) + 8;
    char *full = malloc(n);
    int rc = CURLE_OUT_OF_MEMORY;
    if (name && full) {
        snprintf(full, n, "%s?name=%s", path, name);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/octet-stream");
        h = curl_slist_append(h, "Accept: application/json");
        curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c->curl, CURLOPT_READDATA, f);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
        sink s = {.r = r};
        rc = perform(c, full, h, &s, f);
    } else {
        snprintf(c->err, sizeof c->err, "out of memory");
    }
    curl_free(name);
    free(full);
    fclose(f);
    return rc;
}

int hc_download(hc_client *c, const char *path, const char *dir, char *tmp, hc_response *r) {
    memset(r, 0, sizeof *r);
    curl_easy_reset(c->curl);
    snprintf(tmp, PATH_MAX, "%s/.tessera-XXXXXX.part", dir);
    int fd = mkstemps(tmp, 5);
    mode_t mask = umask(0); /* a plain file's mode, not mkstemp's 0600 */
    umask(mask);
    if (fd >= 0)
        fchmod(fd, 0666 & ~mask);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        snprintf(c->err, sizeof c->err, "cannot create a file in %s: %s", dir, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        tmp[0] = '\0';
        return CURLE_WRITE_ERROR;
    }
    sink s = {.r = r, .file = f};
    int rc = perform(c, path, NULL, &s, NULL);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (!rc && bad) {
        snprintf(c->err, sizeof c->err, "cannot write %s: %s", tmp, strerror(errno));
        rc = CURLE_WRITE_ERROR;
    }
    if (rc || r->status < 200 || r->status >= 300) {
        unlink(tmp);
        tmp[0] = '\0';
    }
    return rc;
}

int hc_events(hc_client *c, const char *path, hc_event_fn fn, void *user, hc_response *r) {
    memset(r, 0, sizeof *r);
    curl_easy_reset(c->curl);
    struct curl_slist *h = curl_slist_append(NULL, "Accept: text/event-stream");
    sink s = {.r = r, .fn = fn, .user = user};
    return perform(c, path, h, &s, NULL);
}

int hc_check(hc_client *c, int rc, const hc_response *r, const char *what) {
    if (rc) {
        fprintf(stderr, "tessera: %s: %s (server %s)\n", what, c->err, c->base);
        return rc == CURLE_READ_ERROR ? EXIT_INPUT : EXIT_INTERNAL;
    }
    if (r->status >= 200 && r->status < 300)
        return EXIT_OK;
    json_t *doc = r->body ? json_loads(r->body, 0, NULL) : NULL;
    json_t *e = json_object_get(doc, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *code = json_string_value(json_object_get(e, "code"));
    if (msg)
        fprintf(stderr, "tessera: %s: %s (HTTP %ld %s)\n", what, msg, r->status, code ? code : "");
    else
        fprintf(stderr, "tessera: %s: the server answered HTTP %ld%s%.200s\n", what, r->status,
                r->body && r->body[0] ? ": " : "", r->body ? r->body : "");
    if (r->status == 401)
        fprintf(stderr, "tessera: check --token or TESSERA_TOKEN\n");
    json_decref(doc);
    if (r->status == 400 || r->status == 401 || r->status == 403)
        return EXIT_USAGE;
    if (r->status >= 400 && r->status < 500 && r->status != 429)
        return EXIT_INPUT;
    return EXIT_INTERNAL;
}

json_t *hc_body_json(const hc_response *r, const char *what) {
    json_error_t err;
    json_t *doc = r->body ? json_loads(r->body, 0, &err) : NULL;
    if (!doc)
        fprintf(stderr, "tessera: %s: the server's answer is not JSON\n", what);
    return doc;
}

int hc_take_option(hc_options *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    const char **slot = !strcmp(a, "--server")                    ? &o->server
                        : !strcmp(a, "--token")                   ? &o->token
                        : !strcmp(a, "-o") || !strcmp(a, "--out") ? &o->out
                                                                  : NULL;
    if (!strcmp(a, "--json")) {
        o->json = 1;
        return 1;
    }
    if (!slot)
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "tessera: %s needs a value\n", a);
        return -1;
    }
    *slot = argv[++*i];
    return 1;
}

int hc_options_finish(hc_options *o, const char *cmd) {
    if (!o->server)
        o->server = getenv("TESSERA_SERVER");
    if (!o->server || !o->server[0])
        o->server = "http://127.0.0.1:8080";
    if (!o->token)
        o->token = getenv("TESSERA_TOKEN");
    if (!o->token || !o->token[0]) {
        fprintf(stderr, "tessera %s: give --token T or set TESSERA_TOKEN\n", cmd);
        return EXIT_USAGE;
    }
    if (strchr(o->token, '\r') || strchr(o->token, '\n')) {
        fprintf(stderr, "tessera %s: the token has a line break\n", cmd);
        return EXIT_USAGE;
    }
    return 0;
}

int hc_valid_id(const char *id) {
    size_t n = strlen(id);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '-')
            return 0;
    return 1;
}
