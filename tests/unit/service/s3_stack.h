/* The S3 test stack for C tests: tests/s3/s3server.py --stack (s3rver
 * behind a SigV4-checking front and a fault proxy) as a child process, and
 * its control port. The stack stops when the test closes its stdin (or
 * dies). Needs $TSR_S3_DIR (tests/s3, set by meson) with node_modules
 * installed (scripts/run_tests.py runs npm install there). */
#ifndef TESSERA_TEST_S3_STACK_H
#define TESSERA_TEST_S3_STACK_H

#include <curl/curl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "service/s3_client.h"

#define STACK_START_MS 60000 /* s3rver and the proxies must be up within this */
#define STACK_PYTHON   "/usr/bin/python3"

typedef struct s3_stack {
    pid_t pid;            /* the python process */
    int in;               /* its stdin: closing it stops the stack */
    char endpoint[128];   /* through the fault proxy */
    char direct[128];     /* the front, no proxy */
    char control[128];    /* control port */
    char bucket[64];      /* the bucket made for the tests */
    char access_key[64];  /* s3rver's credentials */
    char secret_key[64];  /* ... */
    char directory[1024]; /* s3rver's data directory */
} s3_stack;

static void stack_copy(json_t *obj, const char *name, char *out, size_t cap) {
    const char *v = json_string_value(json_object_get(obj, name));
    snprintf(out, cap, "%s", v ? v : "");
}

/* Starts the stack; 0 on success, else -1 with the reason in why. */
static int s3_stack_start(s3_stack *s, char *why, size_t cap) {
    const char *dir = getenv("TSR_S3_DIR");
    char script[1024], line[4096];
    int to_child[2], from_child[2];
    snprintf(script, sizeof script, "%s/s3server.py", dir ? dir : "tests/s3");
    if (pipe(to_child) || pipe(from_child)) {
        snprintf(why, cap, "pipe failed");
        return -1;
    }
    s->pid = fork();
    if (s->pid == 0) {
        dup2(to_child[0], 0);
        dup2(from_child[1], 1);
        close(to_child[1]);
        close(from_child[0]);
        execl(STACK_PYTHON, STACK_PYTHON, script, "--stack", (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    s->in = to_child[1];
    size_t len = 0;
    struct pollfd p = {.fd = from_child[0], .events = POLLIN};
    while (len < sizeof line - 1 && !memchr(line, '\n', len) && poll(&p, 1, STACK_START_MS) > 0) {
        ssize_t n = read(from_child[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    line[len] = '\0';
    close(from_child[0]);
    json_t *obj = json_loads(line, 0, NULL);
    const char *error = json_string_value(json_object_get(obj, "error"));
    if (!obj || error) {
        snprintf(why, cap, "%s %.300s: %.1500s", STACK_PYTHON, script,
                 error   ? error
                 : *line ? line
                         : "ended without a word (its stderr is above)");
        json_decref(obj);
        return -1;
    }
    stack_copy(obj, "endpoint", s->endpoint, sizeof s->endpoint);
    stack_copy(obj, "direct", s->direct, sizeof s->direct);
    stack_copy(obj, "control", s->control, sizeof s->control);
    stack_copy(obj, "bucket", s->bucket, sizeof s->bucket);
    stack_copy(obj, "access_key", s->access_key, sizeof s->access_key);
    stack_copy(obj, "secret_key", s->secret_key, sizeof s->secret_key);
    stack_copy(obj, "directory", s->directory, sizeof s->directory);
    json_decref(obj);
    return 0;
}

static void s3_stack_stop(s3_stack *s) {
    if (s->pid <= 0)
        return;
    close(s->in);
    for (int i = 0; i < 100 && waitpid(s->pid, NULL, WNOHANG) == 0; i++)
        usleep(100000);
    if (waitpid(s->pid, NULL, WNOHANG) == 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

static size_t stack_collect(char *data, size_t size, size_t n, void *arg) {
    char *out = arg;
    size_t have = strlen(out), add = size * n;
    if (have + add >= 65536)
        add = 65535 - have;
    memcpy(out + have, data, add);
    out[have + add] = '\0';
    return size * n;
}

/* POSTs path (with query) to the control port; the JSON answer, owned by
 * the caller (json_decref), or NULL. */
static json_t *s3_stack_control(const s3_stack *s, const char *path) {
    static char body[65536];
    char url[512];
    body[0] = '\0';
    snprintf(url, sizeof url, "%s%s", s->control, path);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, stack_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "control %s: %s\n", path, curl_easy_strerror(rc));
        return NULL;
    }
    json_t *v = json_loads(body, JSON_DECODE_ANY, NULL);
    if (!v || json_object_get(v, "error"))
        fprintf(stderr, "control %s: %s\n", path, body);
    return v;
}

/* A control call whose answer is not needed; 0 when it succeeded. */
static int s3_stack_do(const s3_stack *s, const char *path) {
    json_t *v = s3_stack_control(s, path);
    int bad = !v || json_object_get(v, "error") != NULL;
    json_decref(v);
    return bad ? -1 : 0;
}

/* The number `field` of GET /stats. */
static long long s3_stack_stat(const s3_stack *s, const char *field) {
    json_t *v = s3_stack_control(s, "/stats");
    long long n = (long long)json_integer_value(json_object_get(v, field));
    json_decref(v);
    return n;
}

/* A client of the stack's bucket at `endpoint` under s3://BUCKET/PREFIX,
 * with cfg's settings (NULL: defaults) and the stack's credentials unless
 * cfg names others. NULL (message on ctx) when it cannot be made. */
static tsr_s3_client *s3_stack_client(const s3_stack *s, const char *endpoint, const char *prefix,
                                      const tsr_s3_config *cfg, tsr_ctx *ctx) {
    char url[256];
    tsr_s3_location loc;
    tsr_s3_config c = cfg ? *cfg : (tsr_s3_config){0};
    tsr_s3_client *client = NULL;
    c.endpoint = c.endpoint ? c.endpoint : endpoint;
    c.access_key = c.access_key ? c.access_key : s->access_key;
    c.secret_key = c.secret_key ? c.secret_key : s->secret_key;
    c.region = "us-east-1";
    snprintf(url, sizeof url, "s3://%s%s%s", s->bucket, prefix ? "/" : "", prefix ? prefix : "");
    if (tsr_s3_location_parse(ctx, url, &loc) || tsr_s3_client_new(ctx, &c, &loc, &client))
        return NULL;
    return client;
}

/* A memfd holding n random bytes; *copy (freed by the caller) gets them too. */
static int memfd_random(size_t n, uint8_t **copy) {
    int fd = memfd_create("s3-test", MFD_CLOEXEC);
    uint8_t *bytes = malloc(n + 1);
    randombytes_buf(bytes, n);
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, bytes + done, n - done);
        if (w <= 0)
            abort();
        done += (size_t)w;
    }
    *copy = bytes;
    return fd;
}

/* The whole content of fd (freed by the caller) and its length. */
static uint8_t *fd_content(int fd, size_t *len) {
    struct stat sb;
    fstat(fd, &sb);
    *len = (size_t)sb.st_size;
    uint8_t *buf = malloc(*len + 1);
    for (size_t done = 0; done < *len;) {
        ssize_t r = pread(fd, buf + done, *len - done, (off_t)done);
        if (r <= 0)
            abort();
        done += (size_t)r;
    }
    return buf;
}

#endif
