/*
 * The service's durable store: users, tokens, images, jobs and their items in
 * SQLite (data_dir/tessera.db, WAL, synchronous=FULL), and blobs (uploads and
 * results) as files under data_dir/blobs/, each written temp + fsync + rename
 * so that it is either wholly there or not there. Design notes:
 * docs/internals/store.md.
 *
 * Threads: one tsr_store may be used from any number of threads at once; every
 * database call takes the store's lock for its duration (one SQLite
 * connection); blob calls touch only files and take no lock. One
 * tsr_blob_writer is used by one thread at a time.
 *
 * Errors: every fallible call returns a tsr_status and writes its message on
 * `ctx`. "Not found" is NOT an error: the call answers TSR_OK with *found = 0
 * (gets of users and images) or *out = NULL (get of a job); calls that change
 * one object by id answer TSR_OK with *found = 0 (there `found` may be NULL).
 * Objects owned by another user are reported as not found, exactly like
 * objects that do not exist, so the HTTP layer answers 404 for both. Errors
 * are: TSR_ERR_USAGE (bad argument, duplicate name, unknown image in a new
 * job, an object still in use), TSR_ERR_NOMEM, TSR_ERR_LIMIT (a blob or
 * pipeline over its cap), TSR_ERR_FORMAT (a database from a newer build),
 * TSR_ERR_IO (file system or database file) and TSR_ERR_INTERNAL.
 *
 * Callers: calls on behalf of a user take `const tsr_store_user *caller` (the
 * user found from the request's token; never NULL). A caller sees and changes
 * only the objects it owns, except that TSR_ROLE_ADMIN callers may get and
 * delete anybody's; lists always show the caller's own objects. Role policy
 * beyond that (who may upload, create users...) is the HTTP layer's. The job
 * scheduler's calls (state, progress, item results, the resume list) take job
 * ids only.
 *
 * Times are milliseconds since the Unix epoch (UTC); 0 means "not yet".
 * Ids of images, jobs and blobs are 32 lowercase hex digits (128 random bits)
 * made by the store; user and token ids are positive integers.
 */
#ifndef TESSERA_SERVICE_STORE_H
#define TESSERA_SERVICE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

#define TSR_STORE_ID_LEN        32         /* hex digits in an image, job or blob id */
#define TSR_STORE_TOKEN_LEN     64         /* hex digits in a bearer token (256 bits) */
#define TSR_STORE_SHA256_LEN    64         /* hex digits in a SHA-256 */
#define TSR_STORE_NAME_MAX      64         /* bytes in a user name */
#define TSR_STORE_FILE_NAME_MAX 255        /* bytes kept of an original file name */
#define TSR_STORE_FORMAT_MAX    15         /* bytes in a format name ("jpeg") */
#define TSR_STORE_ERROR_MAX     1024       /* bytes kept of an error message */
#define TSR_STORE_PIPELINE_MAX  (1u << 20) /* bytes in a pipeline or op-versions text */
#define TSR_STORE_JOB_ITEMS_MAX 4096       /* images in one job */
#define TSR_STORE_LIST_MAX      1000       /* most rows one list call returns */

typedef struct tsr_store tsr_store;
typedef struct tsr_blob_writer tsr_blob_writer;
typedef struct tsr_blob_file tsr_blob_file;
typedef struct tsr_blob_reader tsr_blob_reader;

typedef enum tsr_role { TSR_ROLE_ADMIN = 0, TSR_ROLE_USER, TSR_ROLE_VIEWER } tsr_role;

/* A job's or a job item's state. QUEUED and RUNNING are active; the other
 * three are terminal: once there, a state never changes again. */
typedef enum tsr_job_state {
    TSR_JOB_QUEUED = 0,
    TSR_JOB_RUNNING,
    TSR_JOB_SUCCEEDED,
    TSR_JOB_FAILED,
    TSR_JOB_CANCELLED,
    TSR_JOB_STATE_COUNT
} tsr_job_state;

/* One per-account quota override. A zeroed one is "no override": the
 * server's default applies. */
typedef struct tsr_store_quota {
    bool set;       /* false = the server's default (NULL in the store) */
    uint64_t value; /* when set: this account's limit; 0 = unlimited */
} tsr_store_quota;

typedef struct tsr_store_user {
    int64_t id;                        /* positive */
    char name[TSR_STORE_NAME_MAX + 1]; /* unique */
    tsr_role role;                     /* what the user may do */
    int64_t created;                   /* ms since epoch */
    tsr_store_quota quota_bytes;       /* override of stored bytes (originals + results) */
    tsr_store_quota quota_jobs;        /* override of queued + running jobs */
} tsr_store_user;

typedef struct tsr_store_token {
    int64_t id;      /* positive; names the token in lists and revocation */
    int64_t user;    /* owner's user id */
    int64_t created; /* ms since epoch */
    int64_t revoked; /* ms since epoch; 0 while the token is valid */
} tsr_store_token;

typedef struct tsr_store_image {
    char id[TSR_STORE_ID_LEN + 1];          /* made by tsr_store_image_insert */
    int64_t owner;                          /* user id */
    char sha256[TSR_STORE_SHA256_LEN + 1];  /* of the stored bytes, hex */
    char format[TSR_STORE_FORMAT_MAX + 1];  /* detected from content ("png") */
    uint32_t width;                         /* upright (EXIF orientation applied) */
    uint32_t height;                        /* upright (EXIF orientation applied) */
    int bands;                              /* 1..4 */
    uint32_t frames;                        /* 1 for still images */
    uint64_t bytes;                         /* size of the blob */
    char blob[TSR_STORE_ID_LEN + 1];        /* blob id holding the file */
    char name[TSR_STORE_FILE_NAME_MAX + 1]; /* original file name: display only, never a path */
    int64_t created;                        /* ms since epoch; set by insert */
    char thumb[TSR_STORE_ID_LEN + 1];       /* cached thumbnail blob; "" until made */
} tsr_store_image;

/* What a job used, for cost accounting (docs/operations.md, "Costs"). */
typedef struct tsr_job_usage {
    double cpu_seconds;    /* CPU time of its tiles (on workers: of their whole images) */
    double gpu_seconds;    /* wall time of its tiles on an OpenCL device */
    int64_t read_bytes;    /* store bytes read: each input, once per run of an item */
    int64_t written_bytes; /* store bytes written: the results */
    int64_t network_bytes; /* bytes to and from workers through Redis (tasks, results) */
    int64_t peak_pixels;   /* the most pixels one image held at once: input + output */
} tsr_job_usage;
/* Which of the caller's images a search returns. Strings borrowed. */
typedef struct tsr_store_image_query {
    const char *name; /* only names containing this (ASCII case-insensitive); NULL/"" = all */
    size_t limit;     /* at most this many (0 or over TSR_STORE_LIST_MAX: that many) */
    size_t offset;    /* skip this many of the matches first (newest first) */
} tsr_store_image_query;

typedef struct tsr_store_job_item {
    char image[TSR_STORE_ID_LEN + 1];       /* input image id; "" once that image was deleted */
    int position;                           /* 0.. in the order the job listed the images */
    tsr_job_state state;                    /* this image's progress */
    char result_blob[TSR_STORE_ID_LEN + 1]; /* "" until the result is stored */
    uint64_t result_bytes;                  /* size of the result blob */
    char result_format[TSR_STORE_FORMAT_MAX + 1]; /* "png", ...; "" until stored */
    uint32_t width;                               /* of the result */
    uint32_t height;                              /* of the result */
    char *error;                                  /* owned; NULL when none */
    int64_t started;                              /* ms since epoch; 0 = not yet */
    int64_t finished;                             /* ms since epoch; 0 = not yet */
    double seconds;                               /* processing time of this image */
} tsr_store_job_item;

typedef struct tsr_store_job {
    char id[TSR_STORE_ID_LEN + 1];                /* made by tsr_store_job_create */
    int64_t owner;                                /* user id */
    char *pipeline_json;                          /* owned; normalized JSON form */
    char *pipeline_text;                          /* owned; normalized text form */
    char *op_versions;                            /* owned; JSON object op name -> version */
    char output_format[TSR_STORE_FORMAT_MAX + 1]; /* "png", ... */
    int quality, speed;                           /* 0 = the format's default (speed: AVIF) */
    tsr_job_state state;                          /* see tsr_job_state */
    int64_t tiles_done;                           /* progress, over all items */
    int64_t tiles_total;                          /* 0 while unknown */
    double percent;                               /* weighted work done as last recorded */
    double eta_seconds;                           /* the ETA recorded with it; < 0 = unknown */
    int64_t progress_at;                          /* when (wall ms); 0 = never */
    int64_t created;                              /* ms since epoch */
    int64_t started;                              /* first time it went RUNNING; 0 = not yet */
    int64_t finished;                             /* when it became terminal; 0 = not yet */
    char *error;                                  /* owned; NULL when none */
    tsr_job_usage usage;                          /* what it used (cpu_seconds: CPU time) */
    size_t item_count;                            /* images in the job */
    char name[TSR_STORE_FILE_NAME_MAX + 1];       /* display name; "" when none */
    char tessera_version[TSR_STORE_NAME_MAX + 1]; /* that created it; "" = not recorded */
    int tile;                                     /* tile side it runs with; 0 = not recorded */
    char saved_pipeline[TSR_STORE_NAME_MAX + 1];  /* saved pipeline it came from; "" = none */
    int saved_version;                            /* that saved pipeline's version */
    int frame;                                    /* frame taken from animations; -1 = none */
    tsr_store_job_item *items;                    /* owned; item_count entries by position, or
                                                     NULL in lists (which leave items out) */
} tsr_store_job;

/* Usage reports (what finished jobs and transforms used, by account and
 * day): service/store_usage.h. */

/* What tsr_store_job_create needs; all pointers borrowed. */
typedef struct tsr_store_job_spec {
    const char *pipeline_json;    /* normalized JSON form; required */
    const char *pipeline_text;    /* normalized text form; required */
    const char *op_versions;      /* JSON; NULL = "{}" */
    const char *output_format;    /* "png", ...; required */
    int quality, speed;           /* 0..100; 0..9 (AVIF encoder speed, 0 = default) */
    int64_t tiles_total;          /* 0 if not known yet */
    const char *const *image_ids; /* image_count ids, in processing order */
    size_t image_count;           /* 1..TSR_STORE_JOB_ITEMS_MAX */
    const char *tessera_version;  /* recorded as is; NULL = not recorded */
    int tile;                     /* tile side the job runs with; 0 = the server's */
    const char *saved_pipeline;   /* saved pipeline it came from; NULL = none */
    int saved_version;            /* that saved pipeline's version */
    int frame_pick;               /* 1 + the frame taken from animations; 0 = none chosen */
} tsr_store_job_spec;

/* Which of the caller's jobs a search returns. */
typedef struct tsr_store_job_query {
    int state;     /* a tsr_job_state, or -1 for every state */
    size_t limit;  /* at most this many (0 or over TSR_STORE_LIST_MAX: that many) */
    size_t offset; /* skip this many of the matches first (newest first) */
} tsr_store_job_query;

/* What the scheduler records when an item's result is stored. */
typedef struct tsr_store_item_result {
    const char *blob;   /* committed blob id (tsr_blob_put_file / writer); borrowed */
    uint64_t bytes;     /* its size */
    const char *format; /* "png", ...; borrowed */
    uint32_t width;     /* of the result image */
    uint32_t height;    /* of the result image */
    double seconds;     /* processing time */
} tsr_store_item_result;

/* ---- names ---- */

/* "admin", "user", "viewer". */
const char *tsr_role_name(tsr_role role);
/* Parses a role name; returns false when it is none. */
bool tsr_role_parse(const char *name, tsr_role *out);
/* "queued", "running", "succeeded", "failed", "cancelled". */
const char *tsr_job_state_name(tsr_job_state state);
/* Whether `state` is terminal (succeeded, failed, cancelled). */
bool tsr_job_state_terminal(tsr_job_state state);

/* ---- opening ---- */

/* Opens the store in `data_dir`, creating the directory (0700), blobs/ and
 * tmp/ as needed, locking it against other processes (a second open fails
 * with TSR_ERR_IO until the first is closed), opening its database
 * (tessera.db; see db_url below) and running the migrations this build knows
 * (a newer database is refused). Then it removes leftovers of a crash: every
 * file in tmp/ and every blob no row refers to. Close with tsr_store_close. */
tsr_status tsr_store_open(tsr_ctx *ctx, const char *data_dir, tsr_store **out);

/* How tsr_store_open_with opens a store: where blobs live, encryption at
 * rest. With an S3 store, opening checks that the bucket answers (one
 * message for an unreachable endpoint, wrong credentials, a missing bucket;
 * see tsr_s3_check). */
typedef struct tsr_store_options {
    const char *data_key_file; /* --data-key FILE: blobs are encrypted with it; NULL = none */
    const char *store_url;     /* --store: NULL / "" = files in data_dir/blobs, "file:DIR",
                                  "s3://BUCKET[/PREFIX]" (objects PREFIX/blobs/ID) */
    const char *s3_endpoint;   /* --s3-endpoint URL; NULL = $TESSERA_S3_ENDPOINT, else AWS */
    bool metadata_only;        /* the caller never touches blobs (user/token commands): an
                                  encrypted store opens without its key, blob calls refused */
    const char *db_url;        /* --db sqlite:PATH|postgresql://... (db.h); NULL = its tessera.db */
} tsr_store_options;

/* Like tsr_store_open (which is this with no key), then checks the store's
 * identity: with a key, the store's keycheck record must open under it (a
 * fresh empty store becomes encrypted; a store holding plaintext blobs is
 * refused, pointing at `tessera data rotate-key`); without one, an encrypted
 * store is refused ("start with --data-key FILE"); an interrupted key
 * rotation is refused. Refusals are TSR_ERR_USAGE. `opts` may be NULL. */
tsr_status tsr_store_open_with(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                               tsr_store **out);
/* Whether `id` is exactly 32 lowercase hex digits (an image, job or blob
 * id). */
bool tsr_store_id_valid(const char *id);

/* A fleet worker's view of the coordinators' store: blobs only, no
 * database. `opts->store_url` must name the shared store ("s3://..." or
 * "file:DIR"; the files of a coordinator's data folder are not reachable
 * from other hosts) and `opts->data_key_file` its data key when it is
 * encrypted (a wrong key shows as "encrypted under another key" on the
 * first read). `work_dir` holds tmp/ (created, locked against a second
 * process, emptied). With an S3 store, opening checks the bucket answers.
 * Blob calls work as on a full store; calls that need the database fail
 * with TSR_ERR_USAGE. The caller closes *out with tsr_store_close. */
tsr_status tsr_store_open_blobs(tsr_ctx *ctx, const char *work_dir, const tsr_store_options *opts,
                                tsr_store **out);
/* Whether the store encrypts its blobs (opened with a data key). */
bool tsr_store_encrypted(const tsr_store *store);
/* Whether a blob reader's path names the stored file itself (plaintext
 * blobs on the files backend), so it may be opened again after the reader
 * is freed; otherwise it names the reader's own descriptor (a decrypted
 * memfd, a downloaded S3 object) and lives only as long as the reader. */
bool tsr_store_blob_paths_stable(const tsr_store *store);
/* Closes the store; no call may be running on it. Accepts NULL. */
void tsr_store_close(tsr_store *store);
/* The schema version of the open database. */
int tsr_store_schema_version(tsr_store *store);

/* ---- users and tokens ---- */

/* Creates a user with a unique `name` (1..64 bytes of letters, digits, '.',
 * '_' or '-'); a taken name is TSR_ERR_USAGE. *id receives the new id. */
tsr_status tsr_store_user_create(tsr_store *store, tsr_ctx *ctx, const char *name, tsr_role role,
                                 int64_t *id);
/* Finds a user by id; *found = 0 when there is none. */
tsr_status tsr_store_user_get(tsr_store *store, tsr_ctx *ctx, int64_t id, tsr_store_user *out,
                              int *found);
/* All users by id. The caller frees *out with free(). (Admin-only: the HTTP
 * layer checks the role.) */
tsr_status tsr_store_user_list(tsr_store *store, tsr_ctx *ctx, tsr_store_user **out, size_t *count);
/* Number of users (0 on a fresh store: time to create the first admin). */
tsr_status tsr_store_user_count(tsr_store *store, tsr_ctx *ctx, int64_t *count);

/* Creates a bearer token for user `user`: 256 random bits from the kernel
 * (getrandom, src/util/random.h), returned once as 64 hex digits in `token`;
 * only its SHA-256 is stored. *id (may be NULL) receives the token's id. */
tsr_status tsr_store_token_create(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                  char token[TSR_STORE_TOKEN_LEN + 1], int64_t *id);
/* Stores a token chosen by the caller (64 lowercase hex digits, e.g. the
 * TESSERA_ADMIN_TOKEN of a first start) for user `user`, like
 * tsr_store_token_create but without generating it. */
tsr_status tsr_store_token_insert(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                  const char *token_hex, int64_t *id);
/* Authenticates: finds the user whose valid (not revoked) token is `token`,
 * comparing hashes in constant time. *found = 0 for an unknown, malformed or
 * revoked token. */
tsr_status tsr_store_token_verify(tsr_store *store, tsr_ctx *ctx, const char *token,
                                  tsr_store_user *out, int *found);
/* Revokes token `id` if it is the caller's own (or the caller is an admin);
 * revoking twice is harmless. */
tsr_status tsr_store_token_revoke(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  int64_t id, int *found);
/* The caller's tokens (all tokens for an admin), by id. The caller frees
 * *out with free(). */
tsr_status tsr_store_token_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                tsr_store_token **out, size_t *count);

/* ---- images ---- */

/* Records an uploaded image whose file is already committed as blob
 * `image->blob` (see tsr_blob_writer_commit). Fills image->id and
 * image->created; image->owner must be an existing user. If this fails the
 * caller should delete the blob. */
tsr_status tsr_store_image_insert(tsr_store *store, tsr_ctx *ctx, tsr_store_image *image);
/* Gets image `id` if the caller may see it (its owner, or an admin);
 * *found = 0 otherwise. */
tsr_status tsr_store_image_get(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                               const char *id, tsr_store_image *out, int *found);
/* The caller's images, newest first, at most `limit` (0 or more than
 * TSR_STORE_LIST_MAX means TSR_STORE_LIST_MAX). The caller frees *out with free(). */
tsr_status tsr_store_image_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                size_t limit, tsr_store_image **out, size_t *count);
/* The caller's images matching `query`, newest first; *total = how many
 * match in all (before limit and offset). The caller frees *out with free(). */
tsr_status tsr_store_image_search(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const tsr_store_image_query *query, tsr_store_image **out,
                                  size_t *count, int64_t *total);
/* The caller's own image whose stored bytes have SHA-256 `sha256` (hex),
 * the oldest if several: what an upload of the same file returns instead
 * of a second copy. *found = 0 when there is none. */
tsr_status tsr_store_image_find_sha(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                    const char *sha256, tsr_store_image *out, int *found);
/* Records committed blob `blob` as image `id`'s thumbnail unless it already
 * has one (then *changed = 0 and the caller removes its blob) or the image
 * is gone (likewise). */
tsr_status tsr_store_image_set_thumb(tsr_store *store, tsr_ctx *ctx, const char *id,
                                     const char *blob, int *changed);
/* Deletes image `id` (the caller's own, or any for an admin) and its blob.
 * An image that a queued or running job uses is TSR_ERR_USAGE; finished jobs
 * keep their results, their item's `image` becomes "". */
tsr_status tsr_store_image_delete(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const char *id, int *found);

/* ---- jobs (the HTTP layer) ---- */

/* Creates a QUEUED job owned by the caller with one QUEUED item per image,
 * in one transaction: all or nothing. Every image must be one the caller may
 * see; an unknown one is TSR_ERR_USAGE naming it. `id` receives the job id. */
tsr_status tsr_store_job_create(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                const tsr_store_job_spec *spec, char id[TSR_STORE_ID_LEN + 1]);
/* Gets job `id` with its items if the caller may see it; *out = NULL
 * otherwise. The caller frees *out with tsr_store_job_free. */
tsr_status tsr_store_job_get(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                             const char *id, tsr_store_job **out);
/* The caller's jobs, newest first, at most `limit` (as for images), without
 * items (item_count is set). The caller frees *out with tsr_store_jobs_free. */
tsr_status tsr_store_job_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                              size_t limit, tsr_store_job **out, size_t *count);
/* Sets the display name of job `id` (the caller's, or any for an admin; cut
 * to TSR_STORE_FILE_NAME_MAX bytes, control characters replaced). *found =
 * 0 when the caller has no such job. */
tsr_status tsr_store_job_set_name(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const char *id, const char *name, int *found);
/* The caller's jobs matching `query`, newest first, without items (as
 * tsr_store_job_list); *total = how many match in all. */
tsr_status tsr_store_job_search(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                const tsr_store_job_query *query, tsr_store_job **out,
                                size_t *count, int64_t *total);
/* Deletes a finished job (the caller's own, or any for an admin), its items
 * and its result blobs. A queued or running job is TSR_ERR_USAGE: cancel it
 * first. */
tsr_status tsr_store_job_delete(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                const char *id, int *found);
/* Number of jobs in each state, over all users (for /metrics). */
tsr_status tsr_store_job_count_by_state(tsr_store *store, tsr_ctx *ctx,
                                        int64_t counts[TSR_JOB_STATE_COUNT]);

/* ---- jobs (the scheduler) ---- */

/* Jobs in state QUEUED or RUNNING, oldest first, with their items: what to
 * resume after a restart. The caller frees *out with tsr_store_jobs_free. */
tsr_status tsr_store_job_list_active(tsr_store *store, tsr_ctx *ctx, tsr_store_job **out,
                                     size_t *count);
/* Moves job `id` to `state` unless it is already terminal (then *changed =
 * 0: e.g. a job cancelled by its user stays cancelled; an unknown job also
 * gives 0). RUNNING sets `started` the first time; a terminal state sets
 * `finished`. `error`, when not NULL, becomes the job's error message.
 * `changed` may be NULL. */
tsr_status tsr_store_job_set_state(tsr_store *store, tsr_ctx *ctx, const char *id,
                                   tsr_job_state state, const char *error, int *changed);
/* A running job's progress as its runner sees it. */
typedef struct tsr_store_progress {
    int64_t tiles_done, tiles_total; /* over all items */
    double percent;                  /* weighted work done, 0..100 */
    double eta_seconds;              /* < 0 = unknown */
    tsr_job_usage usage;
} tsr_store_progress;
/* Records progress of an active job (a terminal job is left as it is):
 * absolute counts and times, so a repeated write is harmless; the stored
 * percent never goes down (a resumed run restarts its own count). Each call
 * is one durable commit (an fsync): a few times a second at most. */
tsr_status tsr_store_job_progress(tsr_store *store, tsr_ctx *ctx, const char *id,
                                  const tsr_store_progress *p);
/* Moves item `position` of job `id` to `state` unless the item is terminal
 * (then *changed = 0), setting `started`/`finished` like jobs; `error`, when
 * not NULL, becomes the item's error message. For a SUCCEEDED item with a
 * result use tsr_store_job_item_result. */
tsr_status tsr_store_job_item_set_state(tsr_store *store, tsr_ctx *ctx, const char *id,
                                        int position, tsr_job_state state, const char *error,
                                        int *changed);
/* Records the committed result blob of item `position` of job `id` and
 * marks it SUCCEEDED, unless the item is already terminal: then *changed = 0,
 * the first result stays, and the caller deletes its blob. */
tsr_status tsr_store_job_item_result(tsr_store *store, tsr_ctx *ctx, const char *id, int position,
                                     const tsr_store_item_result *result, int *changed);

/* Frees a job and its strings and items. Accepts NULL. */
void tsr_store_job_free(tsr_store_job *job);
/* Frees an array of `count` jobs from a list call. Accepts NULL. */
void tsr_store_jobs_free(tsr_store_job *jobs, size_t count);

/* ---- blobs ---- */

/* Starts streaming a new blob into a temp file under data_dir/tmp. At most
 * `max_bytes` may be written (0 = the ctx's max_file_bytes limit). The caller
 * ends it with tsr_blob_writer_commit and/or tsr_blob_writer_free. */
tsr_status tsr_blob_writer_new(tsr_store *store, tsr_ctx *ctx, uint64_t max_bytes,
                               tsr_blob_writer **out);
/* Appends `len` bytes, hashing them on the way; past the cap: TSR_ERR_LIMIT. */
tsr_status tsr_blob_writer_write(tsr_blob_writer *writer, tsr_ctx *ctx, const void *data,
                                 size_t len);
/* The temp file's path while the writer is uncommitted (so the content can be
 * checked before commit: sniff the format, read the header). Borrowed. */
const char *tsr_blob_writer_temp_path(const tsr_blob_writer *writer);
/* Bytes written so far. */
uint64_t tsr_blob_writer_bytes(const tsr_blob_writer *writer);
/* The hex SHA-256 of the bytes written so far, into `sha256` (the writer
 * goes on hashing: an upload compares it with stored images before commit). */
void tsr_blob_writer_sha256(const tsr_blob_writer *writer, char sha256[TSR_STORE_SHA256_LEN + 1]);
/* Makes the blob durable: fsync, rename into blobs/<2 hex>/<id>, fsync the
 * directory. `id` receives the new blob id and `sha256` (may be NULL) the
 * hex SHA-256 of the bytes. The writer must still be freed. */
tsr_status tsr_blob_writer_commit(tsr_blob_writer *writer, tsr_ctx *ctx,
                                  char id[TSR_STORE_ID_LEN + 1],
                                  char sha256[TSR_STORE_SHA256_LEN + 1]);
/* Frees the writer; an uncommitted temp file is removed. Accepts NULL. */
void tsr_blob_writer_free(tsr_blob_writer *writer);

/* Writes into `path` (PATH_MAX bytes) a fresh, unused file name under
 * data_dir/tmp for a producer that wants to write a file itself (an encoder);
 * then tsr_blob_put_file moves it into the store. Creates the file (0600). */
tsr_status tsr_blob_temp_path(tsr_store *store, tsr_ctx *ctx, char *path);
/* Moves the finished file `path` (from tsr_blob_temp_path) into the store:
 * fsync, rename, fsync the directory. `id` receives the blob id, `bytes` (may
 * be NULL) its size. A path not made by tsr_blob_temp_path is TSR_ERR_USAGE
 * and left alone; on any other failure the file is removed. A producer that
 * gives up before calling this removes its temp file itself (or the next open
 * does). */
tsr_status tsr_blob_put_file(tsr_store *store, tsr_ctx *ctx, const char *path,
                             char id[TSR_STORE_ID_LEN + 1], uint64_t *bytes);
/* Writes into `path` (PATH_MAX bytes) where blob `id` lives, for readers.
 * A malformed id is TSR_ERR_USAGE: ids never come from user input. */
tsr_status tsr_blob_path(tsr_store *store, tsr_ctx *ctx, const char *id, char *path);
/* Removes blob `id`; a missing blob is not an error. */
tsr_status tsr_blob_delete(tsr_store *store, tsr_ctx *ctx, const char *id);

/* Encryption at rest. With a data key every blob on disk is encrypted and
 * authenticated (blob_crypt.h), and no plaintext byte is written to disk:
 * plaintext scratch files are memfds, named to path-based code as
 * "/proc/self/fd/N". Without a key the calls below use the plain files,
 * with no extra copy. The writer above follows the same rule (its temp path
 * is a memfd when encrypted; commit seals it into the store). */

/* A scratch file for a producer (an encoder) that becomes a blob: a file
 * under tmp/ on a plaintext store, a memfd on an encrypted one. The caller
 * ends it with tsr_blob_file_commit and/or tsr_blob_file_free. */
tsr_status tsr_blob_file_new(tsr_store *store, tsr_ctx *ctx, tsr_blob_file **out);
/* Its open read-write descriptor (borrowed: the file keeps it). */
int tsr_blob_file_fd(const tsr_blob_file *file);
/* A path naming it, for code that opens files by name and writes in place
 * (no temp + rename beside it). Borrowed. */
const char *tsr_blob_file_path(const tsr_blob_file *file);
/* Moves its content into the store as a new blob (sealed when encrypted),
 * temp + fsync + rename. `id` receives the blob id, `bytes` (may be NULL) the
 * content's size. */
tsr_status tsr_blob_file_commit(tsr_blob_file *file, tsr_ctx *ctx, char id[TSR_STORE_ID_LEN + 1],
                                uint64_t *bytes);
/* The same, as blob `id` chosen by the caller (32 lowercase hex digits),
 * replacing a blob of that id whole: committing the same content twice
 * under one id leaves one blob (a retried image task's result). */
tsr_status tsr_blob_file_commit_as(tsr_blob_file *file, tsr_ctx *ctx, const char *id,
                                   uint64_t *bytes);
/* A fresh read-only descriptor on its content as it is now at its path (for
 * serving a scratch result such as a zip); the caller closes it. */
tsr_status tsr_blob_file_reopen(tsr_blob_file *file, tsr_ctx *ctx, int *fd);
/* Frees it; an uncommitted file is removed. Accepts NULL. */
void tsr_blob_file_free(tsr_blob_file *file);

/* Opens blob `id` for reading its verified plaintext: on a plaintext store
 * the blob file itself; on an encrypted one the WHOLE blob is decrypted and
 * verified into a memfd before this returns, so nothing unverified is ever
 * handed out. A blob that fails (flipped, truncated, moved from another id,
 * sealed under another key) is TSR_ERR_CORRUPT, "blob <id>: failed its
 * integrity check (...)" or "blob <id>: encrypted under another key (...)",
 * and counts in tsr_blob_integrity_failures. A missing file is TSR_ERR_IO.
 * The caller frees *out with tsr_blob_reader_free. */
tsr_status tsr_blob_open_read(tsr_store *store, tsr_ctx *ctx, const char *id,
                              tsr_blob_reader **out);
/* A path to open the plaintext by name (valid while the reader lives). */
const char *tsr_blob_reader_path(const tsr_blob_reader *reader);
/* The plaintext's size in bytes. */
uint64_t tsr_blob_reader_size(const tsr_blob_reader *reader);
/* Hands the reader's read-only descriptor to the caller, who closes it (the
 * reader's path stops working). */
int tsr_blob_reader_take_fd(tsr_blob_reader *reader);
/* Frees the reader. Accepts NULL. */
void tsr_blob_reader_free(tsr_blob_reader *reader);
/* Blobs that failed their integrity check since the store was opened. */
uint64_t tsr_blob_integrity_failures(tsr_store *store);

/* What a key rotation did. */
typedef struct tsr_store_rotation {
    uint64_t blobs;     /* blobs in the store */
    uint64_t rewritten; /* blobs rewritten under the new key (or decrypted) */
    uint64_t skipped;   /* blobs already in the target form (a resumed rotation) */
    uint64_t bytes;     /* plaintext bytes rewritten */
} tsr_store_rotation;

/* Called after each blob of a rotation: blobs done so far and in all. */
typedef void (*tsr_store_rotation_progress)(void *user, uint64_t done, uint64_t total);

/* `tessera data rotate-key`: opens the store in `data_dir` (holding its lock,
 * so never beside a running server) and rewrites every blob from `old_key_file`
 * (NULL: the store is plaintext) to `new_key_file` (NULL: decrypt back to
 * plaintext), each blob temp + fsync + rename over itself (or uploaded over
 * itself on S3: tsr_store_rotate_key_with); blobs already in the
 * target form are skipped, the keycheck record changes last, and a marker file
 * makes the store refuse to serve until a rerun with the same arguments
 * finishes an interrupted rotation. A blob that fails verification stops the
 * rotation with TSR_ERR_CORRUPT naming it. `progress` may be NULL. */
tsr_status tsr_store_rotate_key(tsr_ctx *ctx, const char *data_dir, const char *old_key_file,
                                const char *new_key_file, tsr_store_rotation_progress progress,
                                void *user, tsr_store_rotation *out);
/* The same for a store whose blobs live where `where` says (its store_url
 * and s3_endpoint; the rest is ignored; NULL = data_dir/blobs): on S3 each
 * blob is downloaded, re-sealed and uploaded again under the same id. */
tsr_status tsr_store_rotate_key_with(tsr_ctx *ctx, const char *data_dir,
                                     const tsr_store_options *where, const char *old_key_file,
                                     const char *new_key_file, tsr_store_rotation_progress progress,
                                     void *user, tsr_store_rotation *out);

/* ---- quotas (store_quota.c) ---- */

#define TSR_STORE_QUOTA_JOBS_MAX 1000000 /* largest active-jobs override (as --quota-jobs) */

/* What one account holds, for its quotas. */
typedef struct tsr_store_usage {
    uint64_t image_bytes;  /* bytes of its uploaded originals */
    uint64_t result_bytes; /* bytes of the stored results of its jobs */
    int64_t active_jobs;   /* its jobs that are queued or running */
} tsr_store_usage;

/* Fills *out with what user `user` (an id; not checked) holds now. */
tsr_status tsr_store_user_usage(tsr_store *store, tsr_ctx *ctx, int64_t user, tsr_store_usage *out);

/* Sets or clears both quota overrides of user `user_id` in one statement:
 * with `has_bytes` its stored-bytes override becomes `bytes` (0 = unlimited),
 * without it the override is cleared (back to the server's default); the
 * same for `has_jobs` and `jobs`. A caller changing only one reads the user
 * first and passes the other as it is. `bytes` over INT64_MAX or `jobs` over
 * TSR_STORE_QUOTA_JOBS_MAX is TSR_ERR_USAGE. *found = 0 (may be NULL) when
 * there is no such user. */
tsr_status tsr_store_user_set_quota(tsr_store *store, tsr_ctx *ctx, int64_t user_id, bool has_bytes,
                                    uint64_t bytes, bool has_jobs, uint64_t jobs, int *found);

#endif
