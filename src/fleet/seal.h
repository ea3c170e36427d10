/*
 * Sealed tile payloads: with a cluster key, every task and result payload
 * on the broker is encrypted and authenticated (XChaCha20-Poly1305, a
 * random 24-byte nonce per message), so Redis never sees pixels and a
 * tampered, foreign (other key) or moved payload is rejected.
 *
 * Wire form: 'S', the nonce, then the sealed inner payload (the 'Z'/'R'
 * payload of redis_link.h). The additional data binds a payload to its
 * stream entry: "T:<key>" for a task, "R:<key>" for a result, where <key>
 * is the entry's `key` field; a payload copied under another key, or a task
 * replayed as a result, fails to open.
 */
#ifndef TESSERA_FLEET_SEAL_H
#define TESSERA_FLEET_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/image.h"

#define TSR_CLUSTER_KEY_BYTES 32 /* key length */
#define TSR_SEAL_NONCE_BYTES  24 /* nonce after the 'S' */
#define TSR_SEAL_TAG_BYTES    16 /* authentication tag */

/* A cluster key. */
typedef struct tsr_cluster_key {
    uint8_t k[TSR_CLUSTER_KEY_BYTES]; /* the secret */
} tsr_cluster_key;

/* Reads a key file: 64 hex digits (surrounding whitespace allowed) or 32 raw
 * bytes. Refuses (TSR_ERR_USAGE) a file that the group or others may read
 * or write, a missing file (TSR_ERR_IO) and any other content. */
tsr_status tsr_cluster_key_load(tsr_ctx *ctx, const char *path, tsr_cluster_key *out);

/* Appends the sealed form of payload `inner` bound to `ad` (a string) to
 * `out`. */
tsr_status tsr_payload_seal(tsr_ctx *ctx, const tsr_cluster_key *key, const char *ad,
                            const uint8_t *inner, size_t len, tsr_buffer *out);

/* Opens a sealed payload bound to `ad`, appending the inner payload to
 * `out`. TSR_ERR_CORRUPT when it is not sealed, was sealed under another
 * key or for other additional data, or was altered. */
tsr_status tsr_payload_open(tsr_ctx *ctx, const tsr_cluster_key *key, const char *ad,
                            const uint8_t *bytes, size_t len, tsr_buffer *out);

/* 1 when the payload is in sealed form (its first byte is 'S'). */
int tsr_payload_is_sealed(const uint8_t *bytes, size_t len);

#endif
