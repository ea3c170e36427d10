/* tessera data: encryption at rest, offline. `keygen FILE` writes a new
 * data key; `rotate-key` re-encrypts a store's blobs from one key to
 * another, encrypts a plaintext store or decrypts one back (store.h,
 * tsr_store_rotate_key). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/accounts.h"
#include "cli/cli.h"
#include "service/blob_crypt.h"
#include "service/store.h"
#include "util/clock.h"

static void data_usage(FILE *f) {
    fprintf(f, "usage: tessera data keygen FILE\n"
               "       tessera data rotate-key [--data DIR] [--old-key FILE] [--new-key FILE]\n"
               "                               [--store URL] [--s3-endpoint URL] [--db URL]\n"
               "keygen writes 32 random bytes as 64 hex digits to FILE (mode 0600; an existing\n"
               "file is never overwritten). rotate-key rewrites every blob of the store in DIR\n"
               "(default ./tessera-data; no server may run on it) from --old-key to --new-key;\n"
               "without --old-key it encrypts a plaintext store, without --new-key it decrypts\n"
               "one back. An interrupted rotation is finished by rerunning the same command.\n"
               "--store and --s3-endpoint name where the blobs live, --db where the metadata\n"
               "is, as for `tessera serve`.\n");
}

static int keygen(tsr_ctx *ctx, int argc, char **argv) {
    if (argc != 2) {
        data_usage(stderr);
        return EXIT_USAGE;
    }
    tsr_status st = tsr_blob_key_generate(ctx, argv[1]);
    if (st) {
        fprintf(stderr, "tessera data keygen: %s\n", tsr_ctx_message(ctx));
        return cli_exit_code(st);
    }
    fprintf(stderr,
            "tessera: wrote a new data key to %s (mode 0600); keep a copy apart from "
            "the data: without it the blobs cannot be read\n",
            argv[1]);
    return EXIT_OK;
}

/* Rotation progress lines. */
typedef struct progress_state {
    double last; /* monotonic seconds of the last line */
} progress_state;

/* Prints "rotate-key: N/M blobs" at most every half second, and the last. */
static void on_progress(void *user, uint64_t done, uint64_t total) {
    progress_state *p = user;
    double t = tsr_clock_mono_s();
    if (done != total && t - p->last < 0.5)
        return;
    p->last = t;
    fprintf(stderr, "rotate-key: %llu/%llu blobs\n", (unsigned long long)done,
            (unsigned long long)total);
}

static int rotate(tsr_ctx *ctx, int argc, char **argv) {
    const char *data = "./tessera-data", *old_key = NULL, *new_key = NULL;
    tsr_store_options where = {0};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!val) {
            data_usage(stderr);
            return EXIT_USAGE;
        }
        if (!strcmp(opt, "--data"))
            data = val;
        else if (!strcmp(opt, "--old-key"))
            old_key = val;
        else if (!strcmp(opt, "--new-key"))
            new_key = val;
        else if (!strcmp(opt, "--store"))
            where.store_url = val;
        else if (!strcmp(opt, "--s3-endpoint"))
            where.s3_endpoint = val;
        else if (!strcmp(opt, "--db"))
            where.db_url = val;
        else {
            data_usage(stderr);
            return EXIT_USAGE;
        }
        i++;
    }
    progress_state p = {0};
    tsr_store_rotation r;
    tsr_status st =
        tsr_store_rotate_key_with(ctx, data, &where, old_key, new_key, on_progress, &p, &r);
    if (st) {
        fprintf(stderr, "tessera data rotate-key: %s\n", tsr_ctx_message(ctx));
        if (st != TSR_ERR_USAGE)
            fprintf(stderr,
                    "(%llu blobs rewritten before stopping; the store refuses to serve until the "
                    "same command, rerun once the cause is fixed, finishes)\n",
                    (unsigned long long)r.rewritten);
        return cli_exit_code(st);
    }
    const char *what = !new_key ? "decrypted" : old_key ? "re-encrypted" : "encrypted";
    cli_audit(data, "data_key_rotated", "direction", json_string(what), "blobs",
              json_integer((json_int_t)r.rewritten), "bytes", json_integer((json_int_t)r.bytes),
              NULL);
    printf("%llu blobs %s, %llu bytes (%llu already done, %llu in the store); the store is now "
           "%s\n",
           (unsigned long long)r.rewritten, what, (unsigned long long)r.bytes,
           (unsigned long long)r.skipped, (unsigned long long)r.blobs,
           new_key ? "encrypted under --new-key" : "plaintext");
    return EXIT_OK;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    int rc;
    if (!strcmp(argv[1], "keygen")) {
        rc = keygen(ctx, argc - 1, argv + 1);
    } else if (!strcmp(argv[1], "rotate-key")) {
        rc = rotate(ctx, argc - 1, argv + 1);
    } else {
        data_usage(stderr);
        rc = EXIT_USAGE;
    }
    tsr_ctx_free(ctx);
    return rc;
}
