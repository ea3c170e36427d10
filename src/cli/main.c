/* tessera: dispatch to a subcommand. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/simd.h"

static void usage(FILE *f) {
    fprintf(f,
            "tessera %s - tiled parallel image processing\n\n"
            "usage:\n"
            "  tessera process -p PIPELINE IN... -o OUT_OR_DIR [--format F] [--quality Q]\n"
            "                  [--speed S] [--threads N] [--tile N] [--report FILE.json]\n"
            "  tessera info FILE... [--json]\n"
            "  tessera ops [--presets] [--json]\n"
            "  tessera serve [--listen HOST:PORT] [--data DIR] [--threads N] [--runners N]\n"
            "                [--max-upload-bytes N] [--pixel-budget N] [--max-active-jobs N]\n"
            "  tessera worker --redis URL [--threads N] [--cluster NAME] [--backend cpu]\n"
            "  tessera submit [--server URL] [--token T] -p PIPELINE FILE... -o DIR\n"
            "                 [--format F] [--quality Q] [--speed S] [--no-wait]\n"
            "  tessera status [--server URL] [--token T] [--json] [JOB_ID]\n"
            "  tessera usage [--server URL] [--token T] [--json] [--from DATE] [--to DATE]\n"
            "                [--account NAME|all]\n"
            "  tessera fetch [--server URL] [--token T] JOB_ID -o DIR\n"
            "  tessera images [list] [--search TEXT] [--limit N] [--offset N] [--json]\n"
            "  tessera images delete ID...\n"
            "  tessera jobs [list] [--state S] [--limit N] [--offset N] [--json]\n"
            "  tessera jobs rerun ID... | delete [--cancel] ID...\n"
            "  tessera pipelines [list] | save NAME -p PIPELINE | show NAME [--versions]\n"
            "  tessera pipelines rollback NAME VERSION | delete NAME\n"
            "  tessera user add NAME --role admin|user|viewer [--data DIR]\n"
            "  tessera user list [--data DIR] [--json]\n"
            "  tessera user quota NAME [--bytes N|default] [--jobs N|default] [--data DIR]\n"
            "  tessera token issue --user NAME | list [--user NAME] | revoke ID [--data DIR]\n"
            "  tessera data keygen FILE\n"
            "  tessera data rotate-key [--data DIR] [--old-key FILE] [--new-key FILE]\n"
            "  tessera backup [--data DIR] [--store URL] DEST\n"
            "  tessera restore SRC --data DIR [--snapshot NAME] [--store URL]\n"
            "  tessera verify (--data DIR [--store URL] | --backup SRC) [--json]\n"
            "  tessera version\n\n"
            "Pipelines: 'grayscale|gaussian-blur:sigma=2|canny:low=100,high=200'\n"
            "or JSON: '[{\"op\":\"grayscale\"},{\"op\":\"canny\",\"low\":100}]',\n"
            "or a preset: 'preset:edge-detection' (tessera ops --presets);\n"
            "'gaussian-blur@1' (or \"version\":1) pins an op's version.\n"
            "Exit codes: 0 ok, 2 bad usage, 3 bad input, 4 i/o or internal error.\n",
            TESSERA_VERSION);
}

int cli_exit_code(tsr_status st) {
    switch (st) {
    case TSR_OK:
        return EXIT_OK;
    case TSR_ERR_USAGE:
        return EXIT_USAGE;
    case TSR_ERR_LIMIT:
    case TSR_ERR_FORMAT:
    case TSR_ERR_CORRUPT:
        return EXIT_INPUT;
    default:
        return EXIT_INTERNAL;
    }
}

/* Tile buffers of a few hundred KiB to a few MiB are made and freed for
 * every tile (task payloads, Redis replies). glibc would map and unmap each
 * one, paying a page fault and a zeroed page per 4 KiB every time; fixed
 * thresholds keep them in the heap for reuse. Memory given back to the
 * system only above 128 MiB of free heap top. */
static void tune_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

int main(int argc, char **argv) {
    tune_malloc();
    const char *test_ops = getenv("TESSERA_TEST_OP_V2");
    if (test_ops && !strcmp(test_ops, "1"))
        tsr_op_enable_test_versions(); /* TEST ONLY: a brightness v2 (issue 14's upgrade test) */
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "process"))
        return cmd_process(argc - 1, argv + 1);
    if (!strcmp(cmd, "info"))
        return cmd_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "ops"))
        return cmd_ops(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "worker"))
        return cmd_worker(argc - 1, argv + 1);
    if (!strcmp(cmd, "submit"))
        return cmd_submit(argc - 1, argv + 1);
    if (!strcmp(cmd, "status"))
        return cmd_status(argc - 1, argv + 1);
    if (!strcmp(cmd, "fetch"))
        return cmd_fetch(argc - 1, argv + 1);
    if (!strcmp(cmd, "usage"))
        return cmd_usage(argc - 1, argv + 1);
    if (!strcmp(cmd, "images"))
        return cmd_images(argc - 1, argv + 1);
    if (!strcmp(cmd, "jobs"))
        return cmd_jobs(argc - 1, argv + 1);
    if (!strcmp(cmd, "pipelines"))
        return cmd_pipelines(argc - 1, argv + 1);
    if (!strcmp(cmd, "user"))
        return cmd_user(argc - 1, argv + 1);
    if (!strcmp(cmd, "token"))
        return cmd_token(argc - 1, argv + 1);
    if (!strcmp(cmd, "data"))
        return cmd_data(argc - 1, argv + 1);
    if (!strcmp(cmd, "backup"))
        return cmd_backup(argc - 1, argv + 1);
    if (!strcmp(cmd, "restore"))
        return cmd_restore(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("tessera %s\n", TESSERA_VERSION);
        printf("simd: %s\n", tsr_simd_name(tsr_simd_active())); /* after TESSERA_SIMD */
        return EXIT_OK;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        usage(stdout);
        return EXIT_OK;
    }
    fprintf(stderr, "tessera: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
