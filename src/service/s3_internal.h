/* Inside the S3 client (s3_client.h): the client object, one request as the
 * request engine (s3_request.c) runs it, and the XML answers (s3_xml.c). */
#ifndef TESSERA_SERVICE_S3_INTERNAL_H
#define TESSERA_SERVICE_S3_INTERNAL_H

#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>

#include "service/s3_client.h"
#include "tessera/image.h"

#define S3_XML_MAX        (8u << 20)  /* cap on an XML answer (a page of 1000 long keys) */
#define S3_ERROR_BODY_MAX (64u << 10) /* cap on an error answer kept for its code */
#define S3_ETAG_MAX       128         /* bytes of an ETag kept */
#define S3_UPLOAD_ID_MAX  1024        /* bytes of a multipart upload id */
#define S3_TOKEN_MAX      4096        /* bytes of a list continuation token */
#define S3_CODE_MAX       63          /* bytes of an error code kept ("NoSuchBucket") */
#define S3_MESSAGE_MAX    255         /* bytes of an error message kept */
#define S3_QUERY_MAX      (S3_TOKEN_MAX * 3 + TSR_S3_KEY_MAX * 3 + 256) /* an encoded query */
#define S3_READ_CHUNK     (256u << 10) /* bytes per pread when hashing a file */
#define S3_EMPTY_SHA256   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct tsr_s3_client {
    char *endpoint;               /* owned; "http[s]://host[:port][/path]", no trailing '/' */
    char *region;                 /* owned */
    char *access_key;             /* owned */
    char *secret_key;             /* owned; wiped on free */
    char *token_header;           /* owned "x-amz-security-token: ..." or NULL */
    char *ca_file;                /* owned or NULL */
    char sigv4[96];               /* "aws:amz:REGION:s3" for CURLOPT_AWS_SIGV4 */
    tsr_s3_location loc;          /* bucket and prefix */
    tsr_s3_config cfg;            /* numbers defaulted; its strings are not used */
    pthread_mutex_t lock;         /* guards idle / idle_count */
    CURL *idle[TSR_S3_POOL];      /* handles ready for reuse (they keep their connections) */
    int idle_count;               /* entries of idle in use */
    atomic_uint_fast64_t retries; /* retries made, all threads */
};

/* Where a 2xx answer's body goes (error answers always go to `mem`). */
typedef enum s3_sink {
    S3_SINK_NONE = 0, /* discard */
    S3_SINK_MEMORY,   /* `mem`, capped at S3_XML_MAX */
    S3_SINK_FD,       /* `sink_fd` from offset 0, hashed into `sha` */
    S3_SINK_BUFFER    /* `sink_buf`, at most `sink_cap` bytes */
} s3_sink;

/* One request: what the caller sets, then what each attempt fills in. */
typedef struct s3_request {
    /* set by the caller */
    const char *method;         /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *key;            /* full S3 key, or NULL for the bucket */
    const char *query;          /* canonical query (sorted, encoded) or NULL */
    const char *what;           /* names the request in messages: "get images/ab12" */
    const char *payload_sha256; /* x-amz-content-sha256; NULL = the empty body's hash */
    const char *meta_sha256;    /* sent as x-amz-meta-sha256 when set */
    const char *content_type;   /* sent when set */
    char range[64];             /* "bytes=A-B" or "" */
    bool has_body;              /* PUT/POST body from body_fd or body_mem */
    int body_fd;                /* borrowed; read with pread */
    uint64_t body_offset;       /* first byte of the body in body_fd */
    uint64_t body_length;       /* bytes of body */
    const char *body_mem;       /* borrowed body when body_fd < 0 */
    s3_sink sink;               /* where a 2xx body goes */
    int sink_fd;                /* S3_SINK_FD: borrowed */
    uint8_t *sink_buf;          /* S3_SINK_BUFFER: borrowed */
    size_t sink_cap;            /* S3_SINK_BUFFER: bytes of sink_buf */
    bool cleanup;               /* runs even when ctx is cancelled (an abort) */
    tsr_ctx *watch;             /* when set, cancellation is read here (messages go to ctx) */
    bool error_in_200;          /* a 200 answer may carry <Error> (CompleteMultipartUpload) */
    /* filled by each attempt */
    uint64_t body_pos;                      /* body bytes handed to curl */
    tsr_buffer mem;                         /* MEMORY sink or the error body (owned) */
    uint64_t received;                      /* bytes into sink_fd / sink_buf */
    crypto_hash_sha256_state sha;           /* S3_SINK_FD: hash of the bytes received */
    int local_errno;                        /* a local read/write failed (not retried) */
    bool overflow;                          /* an answer over its cap */
    long status;                            /* HTTP status, 0 when none */
    char etag[S3_ETAG_MAX + 1];             /* ETag header */
    char meta[TSR_S3_SHA256_HEX + 1];       /* x-amz-meta-sha256 header */
    char bucket_region[32];                 /* x-amz-bucket-region header */
    uint64_t content_length;                /* Content-Length header */
    char error_code[S3_CODE_MAX + 1];       /* <Code> of an error answer */
    char error_message[S3_MESSAGE_MAX + 1]; /* <Message> of an error answer */
    int tries;                              /* attempts made */
    CURLcode curl_result;                   /* of the last attempt */
    char curl_error[CURL_ERROR_SIZE];       /* curl's words for it */
} s3_request;

/* s3_client.c */
/* The full key of `name` ("PREFIX/NAME") in out; TSR_ERR_USAGE for a bad name. */
tsr_status s3_full_key(const tsr_s3_client *c, tsr_ctx *ctx, const char *name,
                       char out[TSR_S3_KEY_MAX + 1]);
/* Appends `text` URI-encoded (RFC 3986 unreserved kept, '/' kept when
 * keep_slash) to out; TSR_ERR_LIMIT past its cap. */
tsr_status s3_uri_append(tsr_buffer *out, const char *text, bool keep_slash);
/* Borrows a handle from the pool (or makes one); NULL when out of memory. */
CURL *s3_handle_take(tsr_s3_client *c);
/* Returns a handle to the pool (or frees it when the pool is full). */
void s3_handle_give(tsr_s3_client *c, CURL *h);

/* s3_request.c */
/* Runs `req` with retries. TSR_OK when an answer came that is not retried
 * (any status: the caller reads req->status); an error, with its message on
 * ctx, when the transfer failed, retries ran out or a local file failed.
 * The caller frees req->mem with tsr_buffer_free (s3_request_done). */
tsr_status s3_perform(tsr_s3_client *c, tsr_ctx *ctx, s3_request *req);
/* Frees what an s3_request owns. */
void s3_request_done(s3_request *req);
/* Writes the message for a non-2xx answer of req and returns its status:
 * the configuration errors (credentials, bucket, region) in plain words. */
tsr_status s3_answer_error(tsr_s3_client *c, tsr_ctx *ctx, const s3_request *req);
/* Sleeps the backoff before retry `attempt` (1..); false when ctx was cancelled. */
bool s3_backoff(tsr_s3_client *c, tsr_ctx *ctx, int attempt);

/* s3_xml.c */
/* Initialises libxml2 (once; thread-safe). */
void s3_xml_init(void);
/* <Error><Code>/<Message> of an error body into code/message ("" when
 * absent); true when the document is an <Error>. */
bool s3_xml_error(const tsr_buffer *body, char code[S3_CODE_MAX + 1],
                  char message[S3_MESSAGE_MAX + 1]);
/* The UploadId of an InitiateMultipartUploadResult. */
tsr_status s3_xml_upload_id(tsr_ctx *ctx, const tsr_buffer *body, char out[S3_UPLOAD_ID_MAX + 1]);
/* One ListObjectsV2 page: fn(arg, key, size) per <Contents> (full keys);
 * *truncated and `token` (NextContinuationToken) for the next page; *stop
 * when fn asked to stop. */
typedef int (*s3_xml_key_fn)(void *arg, const char *key, uint64_t size);
tsr_status s3_xml_list_page(tsr_ctx *ctx, const tsr_buffer *body, s3_xml_key_fn fn, void *arg,
                            bool *truncated, char token[S3_TOKEN_MAX + 1], bool *stop);
/* Appends `text` XML-escaped (& < > " ') to out. */
tsr_status s3_xml_escape_append(tsr_buffer *out, const char *text);

#endif
