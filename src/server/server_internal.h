/* Private parts of the HTTP server shared by its files. */
#ifndef TESSERA_SERVER_INTERNAL_H
#define TESSERA_SERVER_INTERNAL_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "server/forwarded.h"
#include "server/ratelimit.h"
#include "server/server.h"
#include "service/prices.h"
#include "service/store_feedback.h"
#include "service/store_saved.h"
#include "service/store_usage.h"
#include "util/clock.h"

#define JSON_BODY_MAX    (1u << 20) /* bytes of a JSON request body */
#define UPLOAD_PARTS_MAX 256        /* files in one multipart upload */
#define METRIC_SLOTS     512        /* distinct (route, status) pairs counted */
#define RATE_SLOTS       8192       /* rate-limit buckets (accounts and addresses) held */
#define ID_PREFIX_DIGITS 8          /* random hex digits that start every request id */

typedef struct request request;
typedef struct preview_runs preview_runs;
typedef struct upload upload;
typedef struct transform_body transform_body;
typedef struct transform_gate transform_gate;
typedef struct transform_tally transform_tally;

/* What a route's handler needs in its body. */
typedef enum body_kind {
    BODY_NONE = 0,
    BODY_JSON,   /* a JSON object, in memory (JSON_BODY_MAX) */
    BODY_UPLOAD, /* images to store (upload.c) */
    BODY_IMAGE   /* one raw image to transform, in a memfd (transform.c) */
} body_kind;

/* Who may call a route. */
typedef enum access_kind {
    ACCESS_PUBLIC = -1, /* no token */
    ACCESS_ADMIN = TSR_ROLE_ADMIN,
    ACCESS_USER = TSR_ROLE_USER,
    ACCESS_VIEWER = TSR_ROLE_VIEWER
} access_kind;

/* Answers the request: queues a response and returns MHD's result. */
typedef enum MHD_Result (*handler_fn)(request *r);

typedef struct route {
    const char *method;  /* "GET", "POST", "PATCH", "DELETE" */
    const char *pattern; /* "/api/v1/jobs/{id}"; {name} matches one path segment */
    handler_fn handler;  /* called once the whole body is in */
    access_kind access;  /* least role allowed, or public */
    body_kind body;      /* how the body is collected */
} route;

/* One (route, status) counter of /metrics. */
typedef struct metric_slot {
    int route;       /* index into the route table; -1 = no route */
    unsigned status; /* HTTP status */
    uint64_t count;  /* requests */
} metric_slot;

struct tsr_server {
    struct MHD_Daemon *daemon;            /* the listener */
    tsr_store *store;                     /* borrowed */
    tsr_jobs *jobs;                       /* borrowed */
    tsr_server_config config;             /* copied; host borrowed */
    int port;                             /* bound port */
    atomic_int draining;                  /* set at shutdown */
    atomic_uint_fast64_t next_request;    /* request id counter */
    atomic_uint_fast64_t bytes_in;        /* upload bytes received */
    atomic_uint_fast64_t bytes_out;       /* file bytes served */
    char id_prefix[ID_PREFIX_DIGITS + 1]; /* random per process, for request ids */
    pthread_mutex_t metrics_lock;         /* guards `slots` */
    metric_slot slots[METRIC_SLOTS];      /* HTTP request counters */
    int n_slots;                          /* slots in use */
    tsr_ratelimit *rate;                  /* request rate limiter; NULL = none */
    atomic_int rate_parts;                /* coordinators sharing its limits, as last set */
    atomic_uint_fast64_t quota_stops;     /* uploads and jobs refused by a quota */
    preview_runs *previews;               /* the previews running now */
    transform_gate *gate;                 /* admission of transforms */
    transform_tally *tally;               /* transforms' usage, written in batches */
    tsr_jobs_local pool;                  /* where transforms run: the jobs' local pool */
    pthread_mutex_t ready_lock;           /* guards the readiness answer (readiness.c) */
    double ready_at;                      /* monotonic seconds of its last check; 0 = none */
    char ready_why[256];                  /* why not ready then; "" = ready */
    tsr_proxies proxies;                  /* --trusted-proxies, parsed */
};

/* Per-request state, from the first call of the access handler to the
 * completion notice. */
struct request {
    tsr_server *srv;             /* the server */
    struct MHD_Connection *conn; /* the connection */
    const char *method;          /* borrowed from MHD */
    int route_index;             /* matched route, -1 = none */
    char params[5][65];          /* values of {id}, {image}, ... in order */
    tsr_store_user user;         /* the caller, once authenticated */
    tsr_ctx *ctx;                /* errors and limits of this request */
    char id[32];                 /* request id (X-Request-Id) */
    double start;                /* monotonic seconds */
    unsigned status;             /* status answered */
    int retry_after;             /* seconds for Retry-After; 0 = none */
    char allow[64];              /* Allow header of a 405; "" = none */
    int queued;                  /* a response was queued */
    tsr_buffer body;             /* JSON body */
    int body_over;               /* JSON body over its cap */
    upload *up;                  /* upload state (BODY_UPLOAD) */
    transform_body *tb;          /* transform state (BODY_IMAGE) */
    char job_id[65];             /* for the log line, when relevant */
    char reason[200];            /* message of the last error reply, for the audit log */
    char idem_key[256];          /* the Idempotency-Key this request holds; "" = none */
};

/* ---- routes.c ---- */
extern const route server_routes[];
extern const int server_route_count;
/* Finds the route for method+path: *index = route, or -1 with *path_known
 * set when another method matches (405). Fills r->params. */
int route_match(const char *method, const char *path, char params[5][65], int *path_known);
/* "GET, DELETE" of the routes matching `path`, into buf. */
void route_allowed(const char *path, char *buf, size_t size);

/* ---- pipeline_error.c ---- */
/* {"step": N (1 = the first), "param": NAME (when one is to blame)} for
 * the first step of the JSON list `pipeline` (borrowed) that does not
 * parse alone; NULL when `pipeline` is not a list or every step parses
 * alone. The caller owns the result. */
json_t *pipeline_error_fields(json_t *pipeline);
/* Replies 400 bad_pipeline with r->ctx's message plus the step and
 * parameter to blame when `pipeline` (borrowed) is a JSON list. */
enum MHD_Result reply_pipeline_error(request *r, json_t *pipeline);
/* Reads a request's "pipeline" `v` (text or JSON list; borrowed) into *out
 * (the caller frees it); replies 400/413 itself and returns 0 when it is
 * not usable. */
int request_pipeline(request *r, json_t *v, tsr_pipeline **out, enum MHD_Result *res);
/* Checks `pipe` for an image of w x h x bands stored as `format` (may be
 * NULL) as a run would plan it, with the server's limits; `upload` also
 * checks the upload limits. TSR_OK with the output size in out[3], or the
 * run's status with its message in msg. */
tsr_status pipeline_check_image(request *r, const tsr_pipeline *pipe, int w, int h, int bands,
                                const char *format, int upload, char *msg, size_t size, int out[3]);
/* Replies that the pipeline cannot run on image `image`: 400 bad_pipeline
 * with `msg` for USAGE and LIMIT, else 500/503; `images` (consumed, may be
 * NULL) lists every image's outcome. */
enum MHD_Result reply_pipeline_refused(request *r, tsr_status st, const char *msg,
                                       const char *image, json_t *images);

/* ---- reply.c ---- */
/* Adds security headers and X-Request-Id, queues, destroys the response. */
enum MHD_Result reply(request *r, unsigned status, struct MHD_Response *resp);
/* JSON body (stolen). */
enum MHD_Result reply_json(request *r, unsigned status, json_t *body);
/* {"error":{"code":..,"message":..}}. */
enum MHD_Result reply_error(request *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Maps a tsr_status (message from r->ctx) to an error reply. */
enum MHD_Result reply_status(request *r, tsr_status st);
/* Plain text body (copied). */
enum MHD_Result reply_text(request *r, unsigned status, const char *type, const char *text);
/* RFC 3339 UTC time of ms since epoch, or JSON null for 0. */
json_t *json_time(int64_t ms);
/* The request's JSON body as an object; replies 400 itself and returns
 * NULL when it is not one (an empty body gives an empty object). */
json_t *request_json(request *r);
/* Query argument or NULL. */
const char *query_arg(request *r, const char *name);
/* Parses ?limit= (1..1000, default 50); false after replying 400. */
int query_limit(request *r, size_t *limit, enum MHD_Result *result);
/* Parses ?offset= (0..10^9, default 0); false after replying 400. */
int query_offset(request *r, size_t *offset, enum MHD_Result *result);
/* Whether If-None-Match matches `etag` (quoted). */
int etag_matches(request *r, const char *etag);
/* Copies a display file name: drops path components and control bytes. */
void display_name(const char *in, char *out, size_t size);
/* Safe file-name stem: [A-Za-z0-9._-] only, no leading dot, no extension. */
void safe_stem(const char *name, char *out, size_t size);

/* ---- routes_images.c ---- */
/* Replies 500 "stored data failed its integrity check" for blob `blob`
 * (the detail from r->ctx goes to the log and the audit log, not the client). */
enum MHD_Result reply_integrity_failure(request *r, const char *blob);
/* Serves stored blob `blob` (or, when `fd` >= 0, that open file, consumed)
 * with Content-Type, ETag (quoted) and an attachment file name that is
 * already safe; 304 when If-None-Match matches. A stored blob is verified
 * whole before the first byte goes out. */
enum MHD_Result serve_file(request *r, const char *blob, int fd, const char *type, const char *etag,
                           const char *filename);
/* serve_file with `cache_control` and `disposition` ("attachment",
 * "inline") of the caller's choosing. */
enum MHD_Result serve_blob(request *r, const char *blob, int fd, const char *type, const char *etag,
                           const char *filename, const char *cache_control,
                           const char *disposition);
/* Looks up image {id} (r->params[0]) as the caller sees it; replies 404
 * (or the error) itself and returns 0 when there is none. */
int find_image(request *r, tsr_store_image *im, enum MHD_Result *res);

/* ---- routes_library.c ---- */
#define THUMB_SIDE 256 /* a thumbnail fits inside THUMB_SIDE x THUMB_SIDE */
/* Thumbnails are JPEG, or PNG where there is alpha (2 or 4 bands). */
tsr_format thumb_format(const tsr_store_image *im);
/* Makes sure image `im` has its thumbnail, making it now with the engine
 * when it has none: TSR_OK with im->thumb naming its blob; TSR_ERR_USAGE
 * when the image was deleted meanwhile; else the error (message on r->ctx). */
tsr_status image_thumb(request *r, tsr_store_image *im);
/* Replies to image_thumb's failure `st`: 500 integrity, 404, or the status. */
enum MHD_Result reply_thumb_error(request *r, const tsr_store_image *im, tsr_status st);

/* ---- preview_runs.c ---- */
/* Why a preview was cancelled. */
typedef enum preview_stop {
    PREVIEW_RUNNING = 0, /* not cancelled */
    PREVIEW_SUPERSEDED,  /* a newer preview of the same account started */
    PREVIEW_TIMED_OUT    /* it ran past its deadline */
} preview_stop;
/* One preview being made: lives on its handler's stack from
 * preview_runs_start to preview_runs_end. */
typedef struct preview_run {
    int64_t user;             /* the account that asked */
    tsr_ctx *ctx;             /* the run's own context, cancelled to stop it (borrowed) */
    double deadline;          /* monotonic seconds; INFINITY until armed */
    atomic_int stop;          /* a preview_stop: why it was cancelled */
    struct preview_run *next; /* list link */
} preview_run;
/* Starts the registry and its watchdog thread; NULL when out of resources. */
preview_runs *preview_runs_new(void);
/* Stops the watchdog and frees; no run may be registered. Accepts NULL. */
void preview_runs_free(preview_runs *runs);
/* Registers `run` (user and ctx set), cancelling the same account's older
 * previews (their stop becomes PREVIEW_SUPERSEDED). */
void preview_runs_start(preview_runs *runs, preview_run *run);
/* Gives `run` a deadline `seconds` from now, after which the watchdog
 * cancels it (stop PREVIEW_TIMED_OUT). */
void preview_runs_arm(preview_runs *runs, preview_run *run, double seconds);
/* Unregisters `run`; nothing cancels it afterwards. */
void preview_runs_end(preview_runs *runs, preview_run *run);

/* ---- server.c ---- */
/* tsr_server_log with the members of the object `detail` (borrowed) as
 * detail, in order. */
void tsr_server_log_json(const char *level, const char *msg, json_t *detail);
/* Adds the key, json_t* ... NULL pairs of `ap` to `object` (values stolen;
 * NULL becomes null). */
void json_object_add_pairs(json_t *object, va_list ap);

/* ---- audit.c ---- */
/* Logs one audit record ("msg":"audit", through tsr_server_log_json):
 * event, request id, client address, account (null before sign-in),
 * method, route, plus the key, json_t* ... NULL pairs given (values
 * stolen). */
void audit(request *r, const char *level, const char *event, ...);
/* The client's numeric address into `out`, or "" when MHD does not know it. */
void request_address(request *r, char *out, size_t size);

/* ---- auth.c ---- */
/* Authenticates and checks the route's role; replies itself and returns 0
 * when the request may not go on. */
int auth_check(request *r, const route *rt, enum MHD_Result *result);

/* ---- json.c ---- */
json_t *image_json(const tsr_store_image *im);
/* A job object: store row plus live progress when the scheduler holds it. */
json_t *job_json(tsr_server *srv, const tsr_store_job *job);
/* {"currency","compute","transfer","storage_month","total"} of `u` under
 * `prices`; JSON null when there is no price table. */
json_t *cost_json(const tsr_prices *prices, const tsr_job_usage *u);
/* {"cpu_seconds","gpu_seconds","read_bytes","written_bytes","network_bytes",
 * "wall_seconds","peak_pixels"} (routes_usage.c). */
json_t *usage_json_of(const tsr_job_usage *u, double wall_seconds);

/* ---- routes_feedback.c ---- */
/* The feedback object of the API (admin lists, the POST answer). */
json_t *feedback_json(const tsr_store_feedback *fb);
/* The op_versions text as a JSON object ({} when it is not one); the
 * caller owns it. */
json_t *feedback_op_versions(const char *text);
/* Adds "feedback" to job object `obj` (borrowed): the owner's rating,
 * comment and times, or null (none yet, not finished, or unreadable). */
void job_feedback_add(tsr_server *srv, const tsr_store_job *job, json_t *obj);

/* ---- feedback_csv.c ---- */
/* Streams every feedback row matching `q` (paging ignored) as CSV. */
enum MHD_Result feedback_csv_reply(request *r, const tsr_store_feedback_query *q);

/* ---- upload.c ---- */
/* Starts an upload from the request headers; replies itself (415, 413) and
 * returns 0 when it cannot. */
int upload_begin(request *r, enum MHD_Result *result);
/* Feeds body bytes. */
void upload_feed(request *r, const char *data, size_t size);
void upload_free(upload *up);
/* Body bytes received so far (0 for NULL). */
uint64_t upload_received(const upload *up);

/* ---- transform.c, transform_gate.c, transform_tally.c ---- */
/* Checks a transform's query and headers and admits it: 1 when its body
 * may come, 0 once a reply was queued. Sets up r->tb. */
int transform_begin(request *r, enum MHD_Result *result);
/* Takes body bytes (into a memfd, capped). */
void transform_feed(request *r, const char *data, size_t size);
/* Frees r->tb, leaving the gate when it still holds an admission. */
void transform_body_free(request *r);
/* The gate's figures for /metrics and busy answers. */
typedef struct transform_gate_stats {
    unsigned slots, queue; /* configured: run at once, may wait besides */
    unsigned running;      /* running now */
    unsigned waiting;      /* admitted, not running: receiving a body or queued */
    uint64_t refused;      /* answered 503 busy since start */
} transform_gate_stats;
/* A gate of `slots` running (at least 1) and `queue` more admitted; NULL
 * when out of memory. */
transform_gate *gate_new(unsigned slots, unsigned queue);
void gate_free(transform_gate *g);
/* Admits one more transform (before its body): 0 when slots and queue are
 * taken or the gate is closed. Each admission ends with gate_leave. */
int gate_admit(transform_gate *g);
/* Waits, in arrival order, for a slot, at most `seconds`: 1 = it holds one
 * (leave with ran = 1); 0 = timed out or the gate closed. */
int gate_run(transform_gate *g, double seconds);
/* Ends an admission; `ran`: it held a slot, which passes to the oldest
 * waiter. */
void gate_leave(transform_gate *g, int ran);
/* Refuses new admissions and sends the waiters away (shutdown). Accepts NULL. */
void gate_close(transform_gate *g);
/* A memfd for a body, at offset 0: one a finished body left (its old bytes
 * still there past what is written: cut it to the body's length) or a new
 * one; -1 with errno set when none can be made. */
int gate_body_fd(transform_gate *g);
/* Gives a body's memfd back: kept (its pages cut to 4 MiB) for the next
 * body while fewer than `slots` are kept, else closed. Accepts -1. */
void gate_body_fd_done(transform_gate *g, int fd);
void gate_stats(transform_gate *g, transform_gate_stats *out);
/* Starts the usage writer on `store` (borrowed); NULL when it cannot. */
transform_tally *tally_new(tsr_store *store);
/* Writes what is left and stops. Accepts NULL. */
void tally_free(transform_tally *t);
/* Counts one finished transform of account `owner`. */
void tally_add(transform_tally *t, int64_t owner, const tsr_job_usage *used, double wall);

/* ---- quota.c ---- */
/* The account's effective storage quota in bytes: its override when set,
 * else --quota-bytes. 0 = unlimited. */
uint64_t quota_bytes_of(const tsr_server *srv, const tsr_store_user *u);
/* The account's effective active-jobs quota, likewise (--quota-jobs). */
uint64_t quota_jobs_of(const tsr_server *srv, const tsr_store_user *u);
/* Where a limit comes from, for messages: "this account's own quota" or
 * "the server's default". Static text. */
const char *quota_source(const tsr_store_quota *q);
/* Adds to user object `obj` (borrowed) the account's effective quotas
 * (quota_bytes, quota_jobs; 0 = unlimited), its overrides (null = the
 * server's default) and its usage (stored_bytes, active_jobs). Fails only
 * when the store cannot read the usage (message on r->ctx). */
tsr_status user_quota_add(request *r, const tsr_store_user *u, json_t *obj);

/* ---- trailing.c ---- */
/* The trailing-data rule: after the end of a PNG, GIF, JPEG or WebP image
 * only zero bytes may follow (TSR_ERR_CORRUPT naming the byte count);
 * other formats pass. */
tsr_status trailing_check(tsr_ctx *ctx, const char *path, tsr_format format);

/* ---- routes_jobs.c ---- */
/* Reads a job request's "output" (format, quality 1..100, tile) over what
 * `s` already holds (the defaults, or a saved pipeline's settings); replies
 * 400 itself and returns 0 when it is not usable. */
int parse_output(request *r, json_t *v, tsr_job_settings *s, enum MHD_Result *res);
/* Whether the API writes `format` as one image (output.format: png, jpeg,
 * webp, gif, tiff, bmp, pnm, avif; HEIC is read only). */
int output_format_allowed(tsr_format format);
/* The account's quotas at submit (queued + running jobs, stored bytes);
 * replies itself and returns 0 when the job may not be queued. */
int quota_allow(request *r, enum MHD_Result *res);
/* Submits a job of `ids` (n, already checked) through `pipe` with
 * `settings` for the caller, names it `name` (NULL: after its first image)
 * and replies 201 with it (or the admission error). */
enum MHD_Result submit_job(request *r, const char **ids, size_t n, const tsr_pipeline *pipe,
                           const tsr_job_settings *settings, const char *name);

/* ---- idempotency.c ---- */
typedef enum idem_step {
    IDEM_GO,       /* make the job (holding the key, when one came) */
    IDEM_ANSWERED, /* replied already: a bad or reused key, one in progress, an error */
    IDEM_REPLAY    /* the key's first request made job `job`: answer with it */
} idem_step;
/* Reads the request's Idempotency-Key (none: IDEM_GO) and takes it for
 * this request or finds what an earlier one with it did. */
idem_step idempotency_begin(request *r, char job[TSR_STORE_ID_LEN + 1], enum MHD_Result *res);
/* Records the job the request made under its key (r->job_id), or gives the
 * key up when it made none. A no-op without a key. */
void idempotency_end(request *r);

/* ---- routes_saved.c ---- */
/* Reads a job request's "saved_pipeline" ("name", or {"name": .., "version":
 * N}, the newest when none) into *pipe (the caller frees it), its output
 * settings into `s` and its name and version into `name` and s (which
 * borrows `name`); replies itself (404, 400) and returns 0 when it cannot. */
int saved_pipeline_load(request *r, json_t *v, tsr_pipeline **pipe, tsr_job_settings *s,
                        char name[TSR_SAVED_NAME_MAX + 1], enum MHD_Result *res);

/* ---- handlers ---- */
enum MHD_Result h_images_upload(request *r);
enum MHD_Result h_images_list(request *r);
enum MHD_Result h_image_get(request *r);
enum MHD_Result h_image_delete(request *r);
enum MHD_Result h_image_content(request *r);
enum MHD_Result h_image_thumbnail(request *r);
enum MHD_Result h_image_preview(request *r);
enum MHD_Result h_transform(request *r);
enum MHD_Result h_presets(request *r);
enum MHD_Result h_images_delete_many(request *r);
enum MHD_Result h_job_rerun(request *r);
enum MHD_Result h_saved_list(request *r);
enum MHD_Result h_saved_create(request *r);
enum MHD_Result h_saved_get(request *r);
enum MHD_Result h_saved_update(request *r);
enum MHD_Result h_saved_delete(request *r);
enum MHD_Result h_saved_versions(request *r);
enum MHD_Result h_saved_version_get(request *r);
enum MHD_Result h_saved_rollback(request *r);
enum MHD_Result h_job_feedback(request *r);
enum MHD_Result h_feedback_list(request *r);
enum MHD_Result h_operations(request *r);
enum MHD_Result h_pipeline_validate(request *r);
enum MHD_Result h_jobs_create(request *r);
enum MHD_Result h_jobs_list(request *r);
enum MHD_Result h_job_get(request *r);
enum MHD_Result h_job_delete(request *r);
enum MHD_Result h_job_events(request *r);
enum MHD_Result h_job_result(request *r);
enum MHD_Result h_job_item_result(request *r);
/* routes_dzi.c: a Deep Zoom result's descriptor and tiles */
enum MHD_Result h_job_item_dzi(request *r);
enum MHD_Result h_job_item_dzi_tile(request *r);
enum MHD_Result h_workers(request *r);
enum MHD_Result h_usage(request *r);
enum MHD_Result h_users_create(request *r);
enum MHD_Result h_users_list(request *r);
enum MHD_Result h_user_get(request *r);
enum MHD_Result h_user_patch(request *r);
enum MHD_Result h_tokens_create(request *r);
enum MHD_Result h_tokens_list(request *r);
enum MHD_Result h_token_revoke(request *r);
enum MHD_Result h_metrics(request *r);
enum MHD_Result h_healthz(request *r);
enum MHD_Result h_readyz(request *r);
enum MHD_Result h_web(request *r);

/* ---- metrics.c ---- */
void metrics_count(tsr_server *srv, int route, unsigned status);

/* ---- web assets (generated by scripts/embed_assets.py) ---- */
typedef struct web_asset {
    const char *path;          /* "/app.js" ("/" for index.html) */
    const char *type;          /* Content-Type */
    const unsigned char *data; /* the bytes */
    size_t size;               /* their count */
} web_asset;
extern const web_asset tsr_web_assets[];
extern const size_t tsr_web_asset_count;

#endif
