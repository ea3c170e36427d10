/*
 * Backup and recovery of a data folder and its blob store: `tessera
 * backup` (tsr_backup_take), `tessera restore` (tsr_backup_restore) and
 * `tessera verify` (tsr_verify_backup, tsr_verify_store). Design notes:
 * docs/internals/backup.md; the operator's guide: docs/operations.md.
 *
 * A backup location is a folder or s3://BUCKET[/PREFIX] holding
 *
 *   blobs/<sha256>                   each blob's stored bytes (sealed blobs stay
 *                                    sealed), named by their SHA-256: shared by
 *                                    every snapshot, so a later backup copies only
 *                                    blobs it does not hold yet
 *   snapshots/<name>/metadata.db     the SQLite database, copied online (or
 *   snapshots/<name>/metadata.dump   a pg_dump archive of PostgreSQL metadata)
 *   snapshots/<name>/manifest.json   written last (backup_manifest.h)
 *
 * Backups run beside a serving `tessera serve`: the data folder is not
 * locked, the database is read through its own connection (one read
 * transaction of SQLite's online backup API) and blobs through the store's
 * backend. Errors are written on `ctx`: TSR_ERR_USAGE (bad arguments, a
 * non-empty restore target, a wrong data key), TSR_ERR_CORRUPT (a damaged
 * backup or a live blob that fails its check), TSR_ERR_IO, TSR_ERR_NOMEM.
 */
#ifndef TESSERA_SERVICE_BACKUP_H
#define TESSERA_SERVICE_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service/store.h"

#define TSR_BACKUP_RETAKES 3 /* metadata copies retaken when blobs vanish meanwhile */

/* What `tessera backup` backs up and where to. Strings borrowed. */
typedef struct tsr_backup_request {
    const char *data_dir;      /* the live data folder (a server may run on it) */
    tsr_store_options store;   /* its --store / --s3-endpoint; --data-key, when given, must be
                                  the store's key (checked; never needed) */
    const char *dest;          /* a folder or s3://BUCKET[/PREFIX] */
    const char *dest_endpoint; /* S3 endpoint of `dest`; NULL = store.s3_endpoint, else
                                  $TESSERA_S3_ENDPOINT */
    int test_pause_ms;         /* tests only: sleep this long after the first metadata copy,
                                  so a test can change the store meanwhile; 0 = none */
} tsr_backup_request;

/* What a backup did. */
typedef struct tsr_backup_report {
    char snapshot[32];        /* the new snapshot's name */
    int schema_version;       /* of its metadata */
    char key_fingerprint[17]; /* "" = plaintext store */
    uint64_t blobs;           /* blobs the snapshot refers to */
    uint64_t bytes;           /* their stored bytes */
    uint64_t copied_blobs;    /* of them, copied now */
    uint64_t copied_bytes;    /* their bytes */
    uint64_t reused_blobs;    /* already in the backup (an earlier snapshot) */
    uint64_t reused_bytes;    /* their bytes */
    uint64_t hashed_blobs;    /* read to learn their hash (no stamp or S3 hash to go by) */
    uint64_t metadata_bytes;  /* size of metadata.db */
    int retakes;              /* metadata copies retaken: blobs deleted while copying */
} tsr_backup_report;

/* Takes a snapshot of the data folder and its blob store into the backup
 * location: the metadata (online backup API), then every blob it refers to
 * that the location does not hold yet, then the manifest. A blob deleted by
 * the server between the metadata copy and its own copy makes the metadata
 * be copied again (up to TSR_BACKUP_RETAKES times). A live blob that fails
 * its hash check stops the backup (TSR_ERR_CORRUPT naming it). */
tsr_status tsr_backup_take(tsr_ctx *ctx, const tsr_backup_request *req, tsr_backup_report *out);

/* What `tessera restore` restores and where to. Strings borrowed. */
typedef struct tsr_restore_request {
    const char *src;          /* a backup location */
    const char *src_endpoint; /* its S3 endpoint; NULL = store.s3_endpoint, else env */
    const char *snapshot;     /* NULL = the latest complete snapshot */
    const char *data_dir;     /* the folder to create: absent or empty */
    tsr_store_options store;  /* where blobs go (--store; must hold no blob yet); --data-key,
                                 when given, must match the backup's key fingerprint */
} tsr_restore_request;

/* What a restore did. */
typedef struct tsr_restore_report {
    char snapshot[32];        /* the snapshot restored */
    int schema_version;       /* of its metadata */
    char key_fingerprint[17]; /* "" = plaintext; else start serve with that key */
    uint64_t blobs;           /* blobs restored */
    uint64_t bytes;           /* their bytes */
    uint64_t metadata_bytes;  /* size of the database */
} tsr_restore_report;

/* Rebuilds `data_dir` (absent or empty) and its blob store from a snapshot,
 * checking the metadata's and every blob's size and SHA-256 as it copies
 * and the database with PRAGMA integrity_check. Everything is built in a
 * hidden folder beside `data_dir` that is renamed into place at the end; on
 * any failure it is removed (and blobs already put in a --store that is not
 * inside the folder are removed again), so nothing is left half-restored. */
tsr_status tsr_backup_restore(tsr_ctx *ctx, const tsr_restore_request *req,
                              tsr_restore_report *out);

/* One thing `tessera verify` found wrong. */
typedef struct tsr_verify_problem {
    char *object;  /* owned; what is wrong: "blobs/<sha256>", "blob <id>", "tessera.db", ... */
    char *message; /* owned; how */
} tsr_verify_problem;

#define TSR_VERIFY_LIST_MAX 100000 /* problems or orphans listed; more are only counted */

/* What `tessera verify` found. */
typedef struct tsr_verify_report {
    uint64_t snapshots;           /* snapshots checked (backups) */
    uint64_t blobs;               /* blobs read and checked */
    uint64_t bytes;               /* their bytes */
    tsr_verify_problem *problems; /* owned; problem_count listed */
    size_t problem_count;         /* listed */
    uint64_t problem_total;       /* found, listed or not */
    char **orphans;               /* owned; blobs present that nothing refers to */
    size_t orphan_count;          /* listed */
    uint64_t orphan_total;        /* found, listed or not */
} tsr_verify_report;

/* Checks backup location `src`: every snapshot (or only `snapshot`) has a
 * manifest, its metadata.db matches its size and hash and passes PRAGMA
 * integrity_check and refers to no blob its manifest lacks, and every blob
 * named by a manifest is present with its size and SHA-256; blobs no
 * manifest names are orphans. Answers TSR_OK when the check ran (whatever
 * it found); errors only when it could not run. Clear *out with
 * tsr_verify_report_clear. */
tsr_status tsr_verify_backup(tsr_ctx *ctx, const char *src, const char *endpoint,
                             const char *snapshot, tsr_verify_report *out);
/* Checks a live store (a server may run on it): PRAGMA integrity_check of
 * its database, and every blob it refers to read through the store's
 * integrity check (decrypted and authenticated with the data key, which an
 * encrypted store requires; an S3 object checked against its SHA-256), an
 * image's plaintext against its recorded SHA-256 and size, a result against
 * its size; blobs the store holds that nothing refers to are orphans. */
tsr_status tsr_verify_store(tsr_ctx *ctx, const char *data_dir, const tsr_store_options *opts,
                            tsr_verify_report *out);
/* Frees what a report owns and zeroes it. Accepts NULL. */
void tsr_verify_report_clear(tsr_verify_report *r);

#endif
