/*
 * A client of S3-compatible object stores (AWS S3, MinIO, Ceph RGW, s3rver):
 * the transport under the blob store's S3 backend. Design notes:
 * docs/internals/s3.md.
 *
 * Requests are path-style (ENDPOINT/BUCKET/KEY) and signed by libcurl's
 * built-in SigV4 (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3"); this module never
 * signs by hand. Every object written by tsr_s3_put_fd carries the SHA-256
 * of its content as user metadata (x-amz-meta-sha256), and every whole read
 * (tsr_s3_get_fd) checks it.
 *
 * Keys: the names callers pass are relative to the client's location
 * (s3://BUCKET/PREFIX): the object's S3 key is "PREFIX/NAME", or NAME when
 * there is no prefix. A name is 1..TSR_S3_NAME_MAX bytes, has no control
 * characters and no empty, "." or ".." path segment.
 *
 * Retries: a request is tried up to `max_attempts` times, with exponential
 * backoff and full jitter, after a 5xx answer, 429 / SlowDown, a
 * RequestTimeout answer, a timeout, a stalled transfer (less than
 * low_speed_bytes per second for low_speed_seconds), and a connection
 * refused, reset or closed without an answer; never after another 4xx.
 * tsr_s3_retries counts every retry of the client for metrics.
 *
 * Errors (written on `ctx`): TSR_ERR_USAGE for a bad URL, name or
 * configuration and for answers that mean the configuration is wrong
 * (unknown access key, wrong secret key, missing bucket, access denied,
 * another region); TSR_ERR_IO for an unreachable endpoint, a transfer that
 * failed after its retries and a local file error; TSR_ERR_CORRUPT for an
 * object whose content does not match its SHA-256 or a malformed answer;
 * TSR_ERR_LIMIT for an object or answer over a cap; TSR_ERR_CANCELLED when
 * `ctx` was cancelled; TSR_ERR_NOMEM. A missing object is not an error
 * where the call has a `found` argument.
 *
 * Threads: one tsr_s3_client may be used by any number of threads at once;
 * each call borrows a curl handle from the client's small pool (connections
 * are reused through it) and returns it.
 */
#ifndef TESSERA_SERVICE_S3_CLIENT_H
#define TESSERA_SERVICE_S3_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tessera/status.h"

#define TSR_S3_BUCKET_MAX         63   /* bytes in a bucket name */
#define TSR_S3_KEY_MAX            1024 /* bytes in a full key (S3's limit) */
#define TSR_S3_NAME_MAX           512  /* bytes in a name under the prefix */
#define TSR_S3_PREFIX_MAX         (TSR_S3_KEY_MAX - TSR_S3_NAME_MAX - 1) /* bytes in a prefix */
#define TSR_S3_SHA256_HEX         64            /* hex digits of a SHA-256 */
#define TSR_S3_DEFAULT_REGION     "us-east-1"   /* when neither config nor AWS_REGION */
#define TSR_S3_SINGLE_PUT_MAX     (16ull << 20) /* objects up to this go in one PUT */
#define TSR_S3_PART_BYTES         (8ull << 20)  /* multipart part size */
#define TSR_S3_PART_MIN           (5ull << 20)  /* S3's smallest part but the last */
#define TSR_S3_PARTS_MAX          10000         /* S3's most parts of one upload */
#define TSR_S3_OBJECT_MAX         (5ull << 40)  /* S3's largest object */
#define TSR_S3_SINGLE_PUT_LIMIT   (5ull << 30)  /* S3's largest PUT or part */
#define TSR_S3_ATTEMPTS           5             /* tries per request */
#define TSR_S3_CONNECT_TIMEOUT_MS 10000         /* TCP + TLS connect */
#define TSR_S3_LOW_SPEED_BYTES    1024          /* a transfer slower than this... */
#define TSR_S3_LOW_SPEED_SECONDS                                                                   \
    30                             /* ...for this long (or $TESSERA_S3_STALL_SECONDS, 1..3600) is  \
                                      cut and retried */
#define TSR_S3_BACKOFF_BASE_MS 100 /* first retry waits up to this */
#define TSR_S3_BACKOFF_MAX_MS  10000                 /* no retry waits longer */
#define TSR_S3_LIST_PAGE       1000                  /* keys per list page (S3's maximum) */
#define TSR_S3_POOL            16                    /* idle curl handles kept per client */
#define TSR_S3_ENV_ENDPOINT    "TESSERA_S3_ENDPOINT" /* endpoint when config has none */

/* Where objects live: s3://BUCKET[/PREFIX]. */
typedef struct tsr_s3_location {
    char bucket[TSR_S3_BUCKET_MAX + 1]; /* a valid bucket name */
    char prefix[TSR_S3_PREFIX_MAX + 1]; /* "" or a key prefix without leading/trailing '/' */
} tsr_s3_location;

/*
 * How to reach the store. NULL strings and zero numbers take their default:
 * endpoint $TESSERA_S3_ENDPOINT, else https://s3.REGION.amazonaws.com;
 * region $AWS_REGION, else us-east-1; credentials $AWS_ACCESS_KEY_ID,
 * $AWS_SECRET_ACCESS_KEY and (optional) $AWS_SESSION_TOKEN. All strings are
 * borrowed: the client copies them.
 */
typedef struct tsr_s3_config {
    const char *endpoint;      /* "http[s]://HOST[:PORT][/PATH]": path-style requests go below */
    const char *region;        /* signing region ("us-east-1") */
    const char *access_key;    /* access key id */
    const char *secret_key;    /* secret access key */
    const char *session_token; /* temporary credentials' token, sent as x-amz-security-token */
    const char *ca_file;       /* PEM CA bundle for https, NULL = the system's */
    long connect_timeout_ms;   /* TSR_S3_CONNECT_TIMEOUT_MS */
    long low_speed_bytes;      /* TSR_S3_LOW_SPEED_BYTES per second... */
    long low_speed_seconds;    /* ...for TSR_S3_LOW_SPEED_SECONDS cuts a transfer */
    long request_timeout_ms;   /* whole-request cap; 0 = none (the low-speed cut applies) */
    int max_attempts;          /* tries per request, TSR_S3_ATTEMPTS; 1 = no retry */
    long backoff_base_ms;      /* TSR_S3_BACKOFF_BASE_MS */
    long backoff_max_ms;       /* TSR_S3_BACKOFF_MAX_MS */
    uint64_t single_put_max;   /* TSR_S3_SINGLE_PUT_MAX: larger objects go multipart */
    uint64_t part_bytes;       /* TSR_S3_PART_BYTES; at least TSR_S3_PART_MIN */
    int list_page;             /* keys asked per list page, TSR_S3_LIST_PAGE (1..1000) */
} tsr_s3_config;

/* What the store holds about one object. */
typedef struct tsr_s3_object {
    uint64_t size;                      /* bytes */
    char sha256[TSR_S3_SHA256_HEX + 1]; /* x-amz-meta-sha256 (lower-case hex), "" when none */
} tsr_s3_object;

typedef struct tsr_s3_client tsr_s3_client;

/* Called by tsr_s3_list once per object: `name` is relative to the prefix
 * (borrowed for the call). Return 0 to go on, non-zero to stop the listing. */
typedef int (*tsr_s3_list_fn)(void *arg, const char *name, uint64_t size);

/* Parses "s3://BUCKET[/PREFIX]" into *out, checking S3's bucket naming rules
 * (3..63 of a-z 0-9 . -, starting and ending with a letter or digit, no "..",
 * not an IP address, no xn-- / sthree- prefix or -s3alias / --ol-s3 suffix)
 * and the prefix (no empty, "." or ".." segment; a trailing '/' is dropped).
 * Anything else is TSR_ERR_USAGE with a message naming the rule. */
tsr_status tsr_s3_location_parse(tsr_ctx *ctx, const char *url, tsr_s3_location *out);

/* Creates a client for `loc` with `cfg` (NULL = all defaults). Checks the
 * endpoint URL and that credentials exist (TSR_ERR_USAGE names the missing
 * variable); sends no request. The caller frees *out with tsr_s3_client_free. */
tsr_status tsr_s3_client_new(tsr_ctx *ctx, const tsr_s3_config *cfg, const tsr_s3_location *loc,
                             tsr_s3_client **out);
/* Frees a client and its idle handles. Accepts NULL. No call may be running. */
void tsr_s3_client_free(tsr_s3_client *c);

/* "http://127.0.0.1:9000" (the endpoint in use) and "us-east-1"; borrowed. */
const char *tsr_s3_client_endpoint(const tsr_s3_client *c);
const char *tsr_s3_client_region(const tsr_s3_client *c);

/* One listing request (max-keys 1 under the prefix) for `serve`/`worker` to
 * call at start. Its one message tells apart an unreachable endpoint
 * (TSR_ERR_IO: DNS or connect failure), wrong credentials (TSR_ERR_USAGE:
 * unknown access key id, or a signature that does not match: wrong secret
 * key), a missing bucket (TSR_ERR_USAGE) and other refusals. */
tsr_status tsr_s3_check(tsr_s3_client *c, tsr_ctx *ctx);

/* Stores all of `fd` (read with pread from offset 0 to its size at the call;
 * a regular file or memfd, borrowed, never closed, its offset untouched) as
 * object `name`. Reads the file twice: once for its SHA-256 (and each part's),
 * then to send it; no more than one read buffer is in memory. Up to
 * single_put_max bytes go in one PUT, more as a multipart upload of
 * part_bytes parts; any failure aborts that upload, so the store is left
 * with the whole new object or none (an older one of that name stays). The
 * payload of each request is signed with its real hash, so the store
 * rejects bytes changed in transit. *info (may be NULL) gets size and hash. */
tsr_status tsr_s3_put_fd(tsr_s3_client *c, tsr_ctx *ctx, const char *name, int fd,
                         tsr_s3_object *info);

/* Writes object `name` into `fd` (borrowed: a temp file or memfd the caller
 * commits only on success), truncating it first and writing from offset 0,
 * while hashing it; the hash must equal the object's x-amz-meta-sha256, else
 * TSR_ERR_CORRUPT "s3: object NAME failed its SHA-256 check ..." (also when
 * the object has no such metadata). On any failure `fd` is truncated to 0
 * bytes. *found (may be NULL: then a missing object is TSR_ERR_IO) says
 * whether the object exists; *info (may be NULL) gets its size and hash. */
tsr_status tsr_s3_get_fd(tsr_s3_client *c, tsr_ctx *ctx, const char *name, int fd, bool *found,
                         tsr_s3_object *info);

/* Reads `length` bytes of object `name` from byte `offset` into `buf`
 * (caller-sized, at least `length` bytes); *got receives the bytes read,
 * fewer only at the object's end (0 when offset is at or past it). Ranged
 * reads cannot be checked against the whole-object hash: callers that need
 * integrity check the bytes themselves (the blob store's sealed chunks do).
 * A missing object is TSR_ERR_IO. */
tsr_status tsr_s3_get_range(tsr_s3_client *c, tsr_ctx *ctx, const char *name, uint64_t offset,
                            size_t length, void *buf, size_t *got);

/* Size and hash of object `name`; *found = false (and TSR_OK) when absent. */
tsr_status tsr_s3_head(tsr_s3_client *c, tsr_ctx *ctx, const char *name, bool *found,
                       tsr_s3_object *info);

/* Deletes object `name`. Idempotent: a missing object is TSR_OK. */
tsr_status tsr_s3_delete(tsr_s3_client *c, tsr_ctx *ctx, const char *name);

/* Calls fn for every object whose name starts with `name_prefix` ("" or NULL
 * for all), in the store's (byte) order, page by page (ListObjectsV2 with
 * continuation tokens). Stops early, with TSR_OK, when fn returns non-zero. */
tsr_status tsr_s3_list(tsr_s3_client *c, tsr_ctx *ctx, const char *name_prefix, tsr_s3_list_fn fn,
                       void *arg);

/* Retries made by this client since it was created (all threads). */
uint64_t tsr_s3_retries(const tsr_s3_client *c);

#endif
