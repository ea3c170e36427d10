/* tessera backup / restore / verify: backup and recovery of a data folder
 * and its blob store (src/service/backup.h; docs/operations.md). backup
 * and verify run beside a serving `tessera serve`; restore builds a new
 * folder. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/accounts.h"
#include "cli/cli.h"
#include "service/backup.h"
#include "util/clock.h"
#include "util/units.h"

static void backup_usage(FILE *f) {
    fprintf(
        f, "usage: tessera backup [--data DIR] [--db URL] [--store URL] [--s3-endpoint URL]\n"
           "                      [--data-key FILE] [--backup-endpoint URL] [--json] DEST\n"
           "       tessera restore SRC --data DIR [--db URL] [--snapshot NAME] [--store URL]\n"
           "                      [--s3-endpoint URL] [--data-key FILE] [--backup-endpoint URL]\n"
           "                      [--json]\n"
           "       tessera verify (--data DIR [--db URL] [--store URL] [--s3-endpoint URL]\n"
           "                       [--data-key FILE]\n"
           "                      | [--backup] SRC [--snapshot NAME] [--backup-endpoint URL])\n"
           "                      [--json]\n"
           "backup copies the data folder (default ./tessera-data; a server may be running on\n"
           "it) into DEST, a folder or s3://BUCKET[/PREFIX]: the database (online), each blob\n"
           "not there yet, a manifest. restore rebuilds an absent or empty DIR from the latest\n"
           "snapshot (or NAME), checking every byte. verify checks a live store or a backup;\n"
           "exit 0 when clean, 3 when it found problems (listed). --db, --store, --s3-endpoint\n"
           "and --data-key as for `tessera serve`; --backup-endpoint: the S3 endpoint of DEST/SRC\n"
           "(default --s3-endpoint, else $TESSERA_S3_ENDPOINT).\n");
}

/* The options the three commands share. */
typedef struct backup_args {
    const char *data;            /* --data */
    tsr_store_options store;     /* --store, --s3-endpoint, --data-key, --db */
    const char *backup_endpoint; /* --backup-endpoint */
    const char *snapshot;        /* --snapshot */
    const char *backup;          /* --backup (verify) */
    const char *where;           /* the one positional argument: DEST or SRC */
    int json;                    /* --json */
} backup_args;

/* Sets the option `opt` to `val`; 0 when `opt` is unknown. */
static int set_option(backup_args *a, const char *opt, const char *val) {
    const char **slot = !strcmp(opt, "--data")              ? &a->data
                        : !strcmp(opt, "--store")           ? &a->store.store_url
                        : !strcmp(opt, "--db")              ? &a->store.db_url
                        : !strcmp(opt, "--s3-endpoint")     ? &a->store.s3_endpoint
                        : !strcmp(opt, "--data-key")        ? &a->store.data_key_file
                        : !strcmp(opt, "--backup-endpoint") ? &a->backup_endpoint
                        : !strcmp(opt, "--snapshot")        ? &a->snapshot
                        : !strcmp(opt, "--backup")          ? &a->backup
                                                            : NULL;
    if (slot)
        *slot = val;
    return slot != NULL;
}

/* Parses argv[1..]: 1, or 0 on bad usage (usage printed), -1 for --help. */
static int parse(int argc, char **argv, backup_args *a) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            a->json = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            backup_usage(stdout);
            return -1;
        } else if (argv[i][0] == '-') {
            if (i + 1 >= argc || !set_option(a, argv[i], argv[i + 1])) {
                backup_usage(stderr);
                return 0;
            }
            i++;
        } else if (!a->where) {
            a->where = argv[i];
        } else {
            backup_usage(stderr);
            return 0;
        }
    }
    return 1;
}

static void print_json(json_t *j) {
    char *text = json_dumps(j, JSON_INDENT(2));
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
}

/* Prints the message (it names the command: "restore: ...") and maps the
 * status to an exit code. */
static int fail(tsr_ctx *ctx, tsr_status st) {
    fprintf(stderr, "tessera: %s\n", tsr_ctx_message(ctx));
    return cli_exit_code(st);
}

static void print_backup(const backup_args *a, const tsr_backup_report *r, double seconds) {
    char all[TSR_UNITS_TEXT], copied[TSR_UNITS_TEXT], reused[TSR_UNITS_TEXT], meta[TSR_UNITS_TEXT];
    if (a->json) {
        print_json(json_pack(
            "{s:s, s:s, s:i, s:o, s:I, s:I, s:{s:I, s:I}, s:{s:I, s:I}, s:I, s:I, s:i, s:f}",
            "snapshot", r->snapshot, "dest", a->where, "schema_version", r->schema_version,
            "key_fingerprint",
            r->key_fingerprint[0] ? json_string(r->key_fingerprint) : json_null(), "blobs",
            (json_int_t)r->blobs, "bytes", (json_int_t)r->bytes, "copied", "blobs",
            (json_int_t)r->copied_blobs, "bytes", (json_int_t)r->copied_bytes, "reused", "blobs",
            (json_int_t)r->reused_blobs, "bytes", (json_int_t)r->reused_bytes, "hashed_blobs",
            (json_int_t)r->hashed_blobs, "metadata_bytes", (json_int_t)r->metadata_bytes, "retakes",
            r->retakes, "seconds", seconds));
        return;
    }
    tsr_units_format(TSR_UNIT_BYTES, r->bytes, all);
    tsr_units_format(TSR_UNIT_BYTES, r->copied_bytes, copied);
    tsr_units_format(TSR_UNIT_BYTES, r->reused_bytes, reused);
    tsr_units_format(TSR_UNIT_BYTES, r->metadata_bytes, meta);
    printf("backup: snapshot %s in %s: %llu blobs (%s): %llu copied (%s), %llu already there "
           "(%s); metadata %s; %.1f s\n",
           r->snapshot, a->where, (unsigned long long)r->blobs, all,
           (unsigned long long)r->copied_blobs, copied, (unsigned long long)r->reused_blobs, reused,
           meta, seconds);
}

int cmd_backup(int argc, char **argv) {
    backup_args a = {.data = "./tessera-data"};
    int parsed = parse(argc, argv, &a);
    if (parsed <= 0)
        return parsed < 0 ? EXIT_OK : EXIT_USAGE;
    if (!a.where || a.snapshot || a.backup) {
        backup_usage(stderr);
        return EXIT_USAGE;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    tsr_backup_request req = {
        .data_dir = a.data, .store = a.store, .dest = a.where, .dest_endpoint = a.backup_endpoint};
    const char *pause = getenv("TESSERA_TEST_BACKUP_PAUSE_MS"); /* tests only */
    if (pause && !cli_parse_int(pause, 0, 600000, &req.test_pause_ms)) {
        fprintf(stderr, "tessera backup: bad TESSERA_TEST_BACKUP_PAUSE_MS=%s\n", pause);
        tsr_ctx_free(ctx);
        return EXIT_USAGE;
    }
    tsr_backup_report r;
    double t0 = tsr_clock_mono_s();
    tsr_status st = tsr_backup_take(ctx, &req, &r);
    int rc = st ? fail(ctx, st) : EXIT_OK;
    if (!st) {
        cli_audit(a.data, "backup_taken", "snapshot", json_string(r.snapshot), "dest",
                  json_string(a.where), "blobs", json_integer((json_int_t)r.blobs), NULL);
        print_backup(&a, &r, tsr_clock_mono_s() - t0);
    }
    tsr_ctx_free(ctx);
    return rc;
}

static void print_restore(const backup_args *a, const tsr_restore_report *r, double seconds) {
    char all[TSR_UNITS_TEXT];
    if (a->json) {
        print_json(json_pack("{s:s, s:s, s:s, s:i, s:o, s:I, s:I, s:I, s:f}", "snapshot",
                             r->snapshot, "source", a->where, "data", a->data, "schema_version",
                             r->schema_version, "key_fingerprint",
                             r->key_fingerprint[0] ? json_string(r->key_fingerprint) : json_null(),
                             "blobs", (json_int_t)r->blobs, "bytes", (json_int_t)r->bytes,
                             "metadata_bytes", (json_int_t)r->metadata_bytes, "seconds", seconds));
        return;
    }
    tsr_units_format(TSR_UNIT_BYTES, r->bytes, all);
    printf("restore: snapshot %s from %s into %s: %llu blobs (%s), schema version %d; %.1f s\n",
           r->snapshot, a->where, a->data, (unsigned long long)r->blobs, all, r->schema_version,
           seconds);
    if (r->key_fingerprint[0])
        printf("restore: the store is encrypted (key fingerprint %s): start `tessera serve` with "
               "that --data-key\n",
               r->key_fingerprint);
}

int cmd_restore(int argc, char **argv) {
    backup_args a = {0};
    int parsed = parse(argc, argv, &a);
    if (parsed <= 0)
        return parsed < 0 ? EXIT_OK : EXIT_USAGE;
    if (!a.where || !a.data || a.backup) {
        backup_usage(stderr);
        return EXIT_USAGE;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    tsr_restore_request req = {.src = a.where,
                               .src_endpoint = a.backup_endpoint,
                               .snapshot = a.snapshot,
                               .data_dir = a.data,
                               .store = a.store};
    tsr_restore_report r;
    double t0 = tsr_clock_mono_s();
    tsr_status st = tsr_backup_restore(ctx, &req, &r);
    int rc = st ? fail(ctx, st) : EXIT_OK;
    if (st)
        fprintf(stderr, "tessera restore: nothing was restored; %s is as it was\n", a.data);
    else {
        cli_audit(a.data, "backup_restored", "snapshot", json_string(r.snapshot), "from",
                  json_string(a.where), "blobs", json_integer((json_int_t)r.blobs), NULL);
        print_restore(&a, &r, tsr_clock_mono_s() - t0);
    }
    tsr_ctx_free(ctx);
    return rc;
}

static json_t *verify_json(const backup_args *a, const tsr_verify_report *r) {
    json_t *problems = json_array(), *orphans = json_array();
    for (size_t i = 0; i < r->problem_count; i++)
        json_array_append_new(problems, json_pack("{s:s, s:s}", "object", r->problems[i].object,
                                                  "message", r->problems[i].message));
    for (size_t i = 0; i < r->orphan_count; i++)
        json_array_append_new(orphans, json_string(r->orphans[i]));
    return json_pack("{s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:o, s:I, s:o}", "target",
                     a->backup ? "backup" : "store", "location", a->backup ? a->backup : a->data,
                     "clean", r->problem_total == 0, "snapshots", (json_int_t)r->snapshots, "blobs",
                     (json_int_t)r->blobs, "bytes", (json_int_t)r->bytes, "problem_count",
                     (json_int_t)r->problem_total, "problems", problems, "orphan_count",
                     (json_int_t)r->orphan_total, "orphans", orphans);
}

static void print_verify(const backup_args *a, const tsr_verify_report *r) {
    char bytes[TSR_UNITS_TEXT], snaps[64] = "";
    if (a->json) {
        print_json(verify_json(a, r));
        return;
    }
    for (size_t i = 0; i < r->problem_count; i++)
        printf("problem: %s: %s\n", r->problems[i].object, r->problems[i].message);
    for (size_t i = 0; i < r->orphan_count; i++)
        printf("orphan: %s (present, nothing refers to it)\n", r->orphans[i]);
    tsr_units_format(TSR_UNIT_BYTES, r->bytes, bytes);
    if (a->backup)
        snprintf(snaps, sizeof snaps, "%llu snapshots, ", (unsigned long long)r->snapshots);
    printf("verify: %s: %s%llu blobs (%s) checked: %s, %llu problems, %llu orphans\n",
           a->backup ? a->backup : a->data, snaps, (unsigned long long)r->blobs, bytes,
           r->problem_total ? "NOT CLEAN" : "clean", (unsigned long long)r->problem_total,
           (unsigned long long)r->orphan_total);
}

int cmd_verify(int argc, char **argv) {
    backup_args a = {0};
    int parsed = parse(argc, argv, &a);
    if (parsed <= 0)
        return parsed < 0 ? EXIT_OK : EXIT_USAGE;
    if (a.where && !a.backup) { /* `tessera verify BACKUP` = --backup BACKUP */
        a.backup = a.where;
        a.where = NULL;
    }
    if (a.where || !a.data == !a.backup || (a.snapshot && !a.backup)) {
        backup_usage(stderr);
        return EXIT_USAGE;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    tsr_verify_report r;
    const char *endpoint = a.backup_endpoint ? a.backup_endpoint : a.store.s3_endpoint;
    tsr_status st = a.backup ? tsr_verify_backup(ctx, a.backup, endpoint, a.snapshot, &r)
                             : tsr_verify_store(ctx, a.data, &a.store, &r);
    int rc = st ? fail(ctx, st) : r.problem_total ? EXIT_INPUT : EXIT_OK;
    if (!st)
        print_verify(&a, &r);
    tsr_verify_report_clear(&r);
    tsr_ctx_free(ctx);
    return rc;
}
