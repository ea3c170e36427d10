/* A small HTTP client for `tessera submit/status/fetch` (libcurl): JSON
 * requests, streamed uploads and downloads, a Server-Sent Events reader and
 * the mapping from server errors to the CLI's exit codes. One client per
 * command, single-threaded. */
#ifndef TESSERA_CLI_HTTP_CLIENT_H
#define TESSERA_CLI_HTTP_CLIENT_H

#include <jansson.h>
#include <stddef.h>

/* A connection to one server with one token. */
typedef struct hc_client {
    void *curl;    /* the CURL easy handle, reused so connections stay open */
    char *base;    /* server URL without a trailing slash (owned) */
    char *auth;    /* "Authorization: Bearer <token>" (owned) */
    int retries;   /* 429/503 retries left for the current request */
    char err[256]; /* libcurl's message for the last network error */
} hc_client;

/* One response. body holds the bytes unless they went to a file. */
typedef struct hc_response {
    long status;        /* HTTP status; 0 when no response came (network) */
    char *body;         /* response body, NUL-terminated (owned) */
    size_t len;         /* bytes in body */
    char filename[256]; /* Content-Disposition file name, "" when none */
    double retry_after; /* Retry-After seconds, 0 when absent */
} hc_response;

/* Common options of the client commands. */
typedef struct hc_options {
    const char *server; /* --server, else $TESSERA_SERVER, else 127.0.0.1:8080 */
    const char *token;  /* --token, else $TESSERA_TOKEN */
    const char *out;    /* -o DIR */
    int json;           /* --json */
} hc_options;

/* Takes --server/--token/-o/--json at argv[*i] (advancing *i) and returns
 * 1; 0 when argv[*i] is none of them; -1 (message printed) when one lacks
 * its value. */
int hc_take_option(hc_options *o, int argc, char **argv, int *i);
/* Fills defaults from the environment; prints and returns EXIT_USAGE when
 * no token is known, else 0. */
int hc_options_finish(hc_options *o, const char *cmd);

/* Opens a client for `server` (http://host:port, scheme optional). Returns 0
 * or prints why and returns an exit code. */
int hc_open(hc_client *c, const char *server, const char *token);
void hc_close(hc_client *c);
void hc_response_free(hc_response *r);

/* Sends `method path` with an optional JSON body (NULL for none). */
int hc_json(hc_client *c, const char *method, const char *path, json_t *body, hc_response *r);
/* POSTs the file at `file` as a raw body to `path`?name=<its base name>,
 * streamed from disk (never read whole into memory). */
int hc_upload(hc_client *c, const char *path, const char *file, hc_response *r);
/* GETs `path` into a temp file in `dir` when the answer is 2xx; the temp
 * path is written to `tmp` (PATH_MAX) and r->len holds the bytes written.
 * Any other answer's body lands in r->body. */
int hc_download(hc_client *c, const char *path, const char *dir, char *tmp, hc_response *r);

/* Called per Server-Sent Event; return nonzero to stop reading. */
typedef int (*hc_event_fn)(void *user, const char *event, const char *data);
/* Reads the event stream at `path` until it ends or `fn` says stop. */
int hc_events(hc_client *c, const char *path, hc_event_fn fn, void *user, hc_response *r);

/* Returns 0 for a 2xx response, else prints "tessera: WHAT: ..." naming the
 * HTTP status and the server's message, and returns the exit code: 2 for
 * 400/401/403 (bad usage, pipeline or token), 3 for the other 4xx (bad
 * input, not found, not ready), 4 for 5xx, 429 and network errors. `rc`
 * is the transfer's own result (nonzero: network error, reported as is). */
int hc_check(hc_client *c, int rc, const hc_response *r, const char *what);

/* Parses r->body as JSON; prints and returns NULL when it is not. */
json_t *hc_body_json(const hc_response *r, const char *what);

/* Downloads every succeeded result of `job` (a job object) into `dir`,
 * printing one confirmation per file; returns an exit code (3 when an item
 * failed). Defined in cmd_fetch.c. */
int hc_fetch_results(hc_client *c, json_t *job, const char *dir);

/* 1 when `id` is a well-formed object id ([A-Za-z0-9_-], 1..64). */
int hc_valid_id(const char *id);

#endif
