/*
 * A backup snapshot's manifest (snapshots/NAME/manifest.json, written last:
 * a snapshot without one is an interrupted backup): what the snapshot
 * holds and how to check it. JSON, one object:
 *
 *   {"format": 1, "snapshot": "20261207T101500.123Z", "created": ms,
 *    "created_iso": "...", "tessera_version": "0.1.0", "schema_version": 3,
 *    "store": {"url": "" | "s3://...", "key_fingerprint": "16 hex" | null,
 *              "keycheck": "hex of data_dir/keycheck" | null},
 *    "metadata": {"name": "metadata.db", "format": "sqlite", "bytes": N, "sha256": "..."},
 *    "totals": {"blobs": N, "bytes": N},
 *    "transfer": {"copied_blobs": N, "copied_bytes": N, "reused_blobs": N,
 *                 "reused_bytes": N},
 *    "blobs": [{"id": "32 hex", "bytes": N, "sha256": "64 hex",
 *               "stamp": "..."}, ...]}
 *
 * A blob's bytes and SHA-256 are those of its STORED form (sealed when the
 * store is encrypted); the backup keeps it as blobs/<sha256>. `stamp`
 * (optional) names the stored file's version on the files backend (inode,
 * size, modification time) so the next backup can skip hashing an
 * unchanged file. The data key itself is never written: only its
 * fingerprint and the store's keycheck record (a known value sealed under
 * it). The metadata is a SQLite file (format "sqlite", metadata.db; a
 * manifest without "format" is one) or, for a store whose metadata is in
 * PostgreSQL, a pg_dump archive in its custom format ("pg_dump",
 * metadata.dump). Design notes: docs/internals/backup.md.
 *
 * Decoding treats the text as untrusted: every id, hash and size is
 * checked, duplicates and unknown formats are refused (TSR_ERR_CORRUPT, or
 * TSR_ERR_FORMAT for a newer format), and blobs come back sorted by id.
 */
#ifndef TESSERA_SERVICE_BACKUP_MANIFEST_H
#define TESSERA_SERVICE_BACKUP_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service/store.h"

#define TSR_MANIFEST_FORMAT       1               /* the format this build writes and reads */
#define TSR_MANIFEST_MAX_BYTES    (1ull << 30)    /* largest manifest read (about 8M blobs) */
#define TSR_MANIFEST_BLOBS_MAX    (16u << 20)     /* most blobs in one manifest */
#define TSR_MANIFEST_STAMP_MAX    63              /* bytes in a blob's stamp */
#define TSR_MANIFEST_URL_MAX      1023            /* bytes in the store URL */
#define TSR_MANIFEST_KEYCHECK_MAX 512             /* bytes of the keycheck record */
#define TSR_MANIFEST_FP_HEX       16              /* hex digits of a key fingerprint */
#define TSR_MANIFEST_VERSION_MAX  31              /* bytes in a tessera version */
#define TSR_BACKUP_NAME_MAX       31              /* bytes in a snapshot name */
#define TSR_BACKUP_NAME_LEN       20              /* "20261207T101500.123Z" */
#define TSR_BACKUP_METADATA       "metadata.db"   /* the database's name in a snapshot */
#define TSR_BACKUP_METADATA_PG    "metadata.dump" /* ... when it is a pg_dump archive */
#define TSR_BACKUP_MANIFEST       "manifest.json" /* the manifest's name in a snapshot */
#define TSR_BACKUP_BLOBS_DIR      "blobs/"        /* blobs/<sha256> */
#define TSR_BACKUP_SNAPSHOTS_DIR  "snapshots/"    /* snapshots/<name>/... */

/* One blob of a snapshot. */
typedef struct tsr_manifest_blob {
    char id[TSR_STORE_ID_LEN + 1];          /* the blob id in the store */
    uint64_t bytes;                         /* size of its stored form */
    char sha256[TSR_STORE_SHA256_LEN + 1];  /* hex SHA-256 of its stored form */
    char stamp[TSR_MANIFEST_STAMP_MAX + 1]; /* "" or the source file's version */
} tsr_manifest_blob;

/* What one backup copied and what it found already in the backup. */
typedef struct tsr_manifest_transfer {
    uint64_t copied_blobs; /* blobs written to the backup by this snapshot */
    uint64_t copied_bytes; /* their bytes */
    uint64_t reused_blobs; /* blobs an earlier snapshot had already written */
    uint64_t reused_bytes; /* their bytes */
} tsr_manifest_transfer;

typedef struct tsr_manifest {
    char snapshot[TSR_BACKUP_NAME_MAX + 1];             /* the snapshot's name */
    int64_t created;                                    /* ms since epoch: the metadata's copy */
    char tessera_version[TSR_MANIFEST_VERSION_MAX + 1]; /* of the build that took it */
    int schema_version;                                 /* of metadata.db */
    char store_url[TSR_MANIFEST_URL_MAX + 1];           /* the source's --store ("" = files) */
    char key_fingerprint[TSR_MANIFEST_FP_HEX + 1];      /* "" = plaintext store */
    char *keycheck_hex;      /* owned; the keycheck file as hex, NULL when plaintext */
    uint64_t metadata_bytes; /* size of metadata.db */
    char metadata_sha256[TSR_STORE_SHA256_LEN + 1]; /* its hex SHA-256 */
    bool metadata_pg;                               /* metadata.dump (pg_dump), not metadata.db */
    tsr_manifest_transfer transfer;                 /* what taking it moved */
    tsr_manifest_blob *blobs; /* owned; blob_count entries (sorted by id once decoded or
                                 sorted with tsr_manifest_sort) */
    size_t blob_count;        /* entries in use */
    size_t blob_cap;          /* entries allocated */
} tsr_manifest;

/* Appends a copy of `blob`; TSR_ERR_LIMIT past TSR_MANIFEST_BLOBS_MAX. */
tsr_status tsr_manifest_add_blob(tsr_ctx *ctx, tsr_manifest *m, const tsr_manifest_blob *blob);
/* Sorts the blobs by id (needed by tsr_manifest_find). */
void tsr_manifest_sort(tsr_manifest *m);
/* The blob with `id` in a sorted manifest, or NULL. Borrowed. */
const tsr_manifest_blob *tsr_manifest_find(const tsr_manifest *m, const char *id);
/* Sum of the blobs' bytes. */
uint64_t tsr_manifest_blob_bytes(const tsr_manifest *m);
/* Encodes `m` as JSON (blobs in the order they are). The caller frees *out
 * with free(); *len (may be NULL) gets its length. */
tsr_status tsr_manifest_encode(tsr_ctx *ctx, const tsr_manifest *m, char **out, size_t *len);
/* Decodes `len` bytes of JSON into *out (zeroed first); on failure *out is
 * left empty. The caller clears *out with tsr_manifest_clear. */
tsr_status tsr_manifest_decode(tsr_ctx *ctx, const char *text, size_t len, tsr_manifest *out);
/* Frees what `m` owns and zeroes it. Accepts NULL. */
void tsr_manifest_clear(tsr_manifest *m);

/* Writes the snapshot name of `wall_ms` ("20261207T101500.123Z", UTC; names
 * sort in time order) into `out`. */
void tsr_backup_snapshot_name(int64_t wall_ms, char out[TSR_BACKUP_NAME_MAX + 1]);
/* Whether `name` has the form tsr_backup_snapshot_name makes. */
bool tsr_backup_snapshot_name_valid(const char *name);
/* Whether `sha` is 64 lowercase hex digits. */
bool tsr_backup_sha256_valid(const char *sha);

/* The snapshot's metadata file name: TSR_BACKUP_METADATA or
 * TSR_BACKUP_METADATA_PG. */
const char *tsr_manifest_metadata_name(const tsr_manifest *m);

#endif
