/*
 * A Redis connection that survives Redis restarts, and the payload format of
 * tile tasks and results on the wire: shared by the Redis executor
 * (coordinator side, engine/executor_redis.c) and the worker (worker.c).
 *
 * A link is used by one thread at a time. Commands that fail at the
 * connection level (Redis restarted, network cut) drop the connection; the
 * caller calls tsr_redis_link_ensure, which reconnects with a capped
 * exponential backoff, and retries. Error replies are not connection errors.
 *
 * Payloads: one byte of format ('Z' = zstd frame, 'R' = raw bytes) followed
 * by the bytes. Decoding is bounded (a frame that claims more than `max`
 * bytes is refused), since the bytes cross a broker.
 */
#ifndef TESSERA_FLEET_REDIS_LINK_H
#define TESSERA_FLEET_REDIS_LINK_H

#include <stdatomic.h>

#include "tessera/image.h"
#include "fleet/redis_conn.h"

/* One connection and what is needed to remake it. */
typedef struct tsr_redis_link {
    const tsr_redis_url *url; /* borrowed; outlives the link */
    redisContext *c;          /* NULL while disconnected */
    int timeout_ms;           /* connect and command timeout */
    int backoff_ms;           /* next wait before reconnecting */
    uint64_t reconnects;      /* successful connects after the first */
    int connected_once;       /* a connect has succeeded before */
} tsr_redis_link;

/* Connects if needed, waiting with backoff (50 ms doubling to 2 s) between
 * tries, until it succeeds or *stop becomes nonzero (stop may be NULL: try
 * once). Returns 1 when connected. */
int tsr_redis_link_ensure(tsr_redis_link *l, const atomic_int *stop);

/* Runs one command (binary-safe argv). Returns the reply, which the caller
 * frees with freeReplyObject, or NULL after a connection failure (the link
 * is then disconnected). */
redisReply *tsr_redis_link_cmd(tsr_redis_link *l, int argc, const char **argv, const size_t *lens);

/* Like tsr_redis_link_cmd but reconnects and retries until a reply comes or
 * *stop becomes nonzero (then NULL). For idempotent commands only. */
redisReply *tsr_redis_link_cmd_retry(tsr_redis_link *l, const atomic_int *stop, int argc,
                                     const char **argv, const size_t *lens);

/* Closes the connection. */
void tsr_redis_link_close(tsr_redis_link *l);

/* Writes out the commands appended (redisAppendCommand*) but not sent yet,
 * without reading any reply. Returns 0 when there is no connection or the
 * write failed (the caller closes the link). */
int tsr_redis_link_flush(tsr_redis_link *l);

/* Appends `bytes` to `out` as a payload: zstd at `level` (1..19), or raw
 * when level <= 0. */
tsr_status tsr_payload_pack(tsr_ctx *ctx, int level, const uint8_t *bytes, size_t len,
                            tsr_buffer *out);

/* Decodes a payload into `out` (appended), refusing more than `max` bytes.
 * TSR_ERR_CORRUPT for malformed bytes. */
tsr_status tsr_payload_unpack(tsr_ctx *ctx, const uint8_t *bytes, size_t len, size_t max,
                              tsr_buffer *out);

/* Raw payloads need no copy: returns 1 and points data and n at the bytes
 * inside `bytes` when it is a raw payload of at most `max` bytes, else 0
 * (use tsr_payload_unpack). */
int tsr_payload_raw_view(const uint8_t *bytes, size_t len, size_t max, const uint8_t **data,
                         size_t *n);

/* Looks up field `name` in a stream entry's flat [f1, v1, f2, v2...] array;
 * NULL when absent. */
const redisReply *tsr_redis_field(const redisReply *fields, const char *name);
/* The string value of field `name` (borrowed from `fields`), or `fallback`
 * when it is absent or not a string. */
const char *tsr_redis_field_str(const redisReply *fields, const char *name, const char *fallback);

#endif
