/*
 * Encryption at rest: the data key and the encrypted blob format.
 *
 * A data key file holds 32 random bytes as 64 hex digits (a trailing newline
 * allowed); `tessera data keygen FILE` writes one. From it come a stream key
 * (crypto_kdf subkey 1, context "tsrblob_") and a fingerprint: the first 8
 * bytes of a keyed BLAKE2b of a fixed context string, which names the key in
 * every blob header without revealing it.
 *
 * An encrypted blob is:
 *     "TSRBLOB1"            8 bytes of magic
 *     fingerprint           8 bytes: which key sealed it
 *     secretstream header   24 bytes (crypto_secretstream_xchacha20poly1305)
 *     chunks                64 KiB of plaintext each + 17 bytes of overhead;
 *                           the last one (possibly short, empty only for an
 *                           empty blob) carries TAG_FINAL
 * Every chunk is pushed with the blob's label (its id) as additional data,
 * so a blob moved to another id fails to open; a flipped bit, a cut chunk, a
 * missing final chunk or trailing bytes fail too. Design notes:
 * docs/internals/store.md.
 *
 * Errors: a blob that fails its check is TSR_ERR_CORRUPT with a message
 * naming the label; file errors are TSR_ERR_IO; a bad key file TSR_ERR_USAGE.
 */
#ifndef TESSERA_SERVICE_BLOB_CRYPT_H
#define TESSERA_SERVICE_BLOB_CRYPT_H

#include <stdbool.h>
#include <stdint.h>

#include "tessera/status.h"

#define TSR_BLOB_KEY_BYTES    32         /* raw key length */
#define TSR_BLOB_FP_BYTES     8          /* fingerprint length */
#define TSR_BLOB_MAGIC        "TSRBLOB1" /* first 8 bytes of an encrypted blob */
#define TSR_BLOB_MAGIC_BYTES  8          /* length of the magic */
#define TSR_BLOB_HEADER_BYTES 40         /* magic + fingerprint + stream header */
#define TSR_BLOB_CHUNK_BYTES  65536      /* plaintext bytes per chunk */

/* A loaded data key; lives in locked, guarded memory (sodium_malloc) and is
 * wiped when freed. */
typedef struct tsr_blob_key tsr_blob_key;

/* Reads key file `path`. Refuses (TSR_ERR_USAGE) a file the group or others
 * may access (like ssh: chmod 600 it), anything but 64 hex digits, and a
 * missing file (TSR_ERR_IO). The caller frees *out with tsr_blob_key_free. */
tsr_status tsr_blob_key_load(tsr_ctx *ctx, const char *path, tsr_blob_key **out);
/* Makes a key from 32 raw bytes (tests). The caller frees *out. */
tsr_status tsr_blob_key_from_bytes(tsr_ctx *ctx, const uint8_t raw[TSR_BLOB_KEY_BYTES],
                                   tsr_blob_key **out);
/* Writes a fresh random key to `path` (created 0600, fsync'ed); an existing
 * file is never overwritten (TSR_ERR_USAGE). */
tsr_status tsr_blob_key_generate(tsr_ctx *ctx, const char *path);
/* Wipes and frees a key. Accepts NULL. */
void tsr_blob_key_free(tsr_blob_key *key);
/* The key's fingerprint (TSR_BLOB_FP_BYTES bytes; borrowed). */
const uint8_t *tsr_blob_key_fingerprint(const tsr_blob_key *key);
/* Writes the fingerprint as 16 hex digits. */
void tsr_blob_fingerprint_hex(const uint8_t fp[TSR_BLOB_FP_BYTES],
                              char out[2 * TSR_BLOB_FP_BYTES + 1]);

/* Reads the first bytes of `fd` (at offset 0, whatever its position):
 * *encrypted says whether it starts with the magic and a whole header, and
 * then `fp` (may be NULL) receives the fingerprint. A read error is TSR_ERR_IO. */
tsr_status tsr_blob_probe(tsr_ctx *ctx, int fd, bool *encrypted, uint8_t fp[TSR_BLOB_FP_BYTES]);

/* Encrypts everything in `in` (read from offset 0 to its end) into `out`
 * (written at its current position), bound to `label` (a blob id).
 * *plain_bytes (may be NULL) receives the plaintext length. */
tsr_status tsr_blob_encrypt_fd(tsr_ctx *ctx, const tsr_blob_key *key, const char *label, int in,
                               int out, uint64_t *plain_bytes);
/* Decrypts and verifies all of `in` (from offset 0) into `out` (at its
 * current position). Anything wrong is TSR_ERR_CORRUPT naming `label`: "blob
 * <label>: encrypted under another key" or "blob <label>: failed its
 * integrity check (...)". On failure `out` holds unverified bytes: the caller
 * discards them. */
tsr_status tsr_blob_decrypt_fd(tsr_ctx *ctx, const tsr_blob_key *key, const char *label, int in,
                               int out, uint64_t *plain_bytes);

#endif
