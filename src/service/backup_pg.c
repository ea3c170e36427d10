/* The PostgreSQL side of backup, restore and verify: pg_dump (custom
 * format) of an exported snapshot, so that the dump and the blob list read
 * beside it are the same instant; pg_restore into an empty database in one
 * transaction; pg_restore --list to check an archive. The programs come
 * from $TESSERA_PG_BINDIR, else Debian's /usr/lib/postgresql/N/bin (the
 * server's major version or a newer one), else $PATH. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "service/backup_internal.h"

#define OUTPUT_MAX   2048 /* bytes of a program's stderr kept for the message */
#define NEWEST_MAJOR 30   /* the newest PostgreSQL major version looked for */

extern char **environ;

/* Where program `name` is for a server of major version `major` (0 =
 * unknown): `path` gets an absolute path, or `name` alone for $PATH. */
static void find_tool(const char *name, int major, char *path, size_t size) {
    const char *dir = getenv("TESSERA_PG_BINDIR");
    if (dir && *dir) {
        snprintf(path, size, "%s/%s", dir, name);
        return;
    }
    for (int v = major > 0 ? major : 11; v <= NEWEST_MAJOR; v++) {
        snprintf(path, size, "/usr/lib/postgresql/%d/bin/%s", v, name);
        if (access(path, X_OK) == 0)
            return;
    }
    snprintf(path, size, "%s", name);
}

/* Reads what the child wrote to `fd` (its stderr) into `out`, keeping the
 * first OUTPUT_MAX - 1 bytes, until it closes. */
static void drain(int fd, char *out) {
    size_t n = 0;
    char buf[512];
    ssize_t got;
    out[0] = '\0';
    while ((got = read(fd, buf, sizeof buf)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            break;
        size_t take = n + (size_t)got < OUTPUT_MAX - 1 ? (size_t)got : OUTPUT_MAX - 1 - n;
        memcpy(out + n, buf, take);
        n += take;
        out[n] = '\0';
    }
}

/* Runs `argv` (argv[0] a name find_tool resolves) with stdout to
 * /dev/null; a failure is TSR_ERR_IO naming `what` with the first line
 * the program wrote to stderr. */
static tsr_status run_tool(tsr_ctx *ctx, int major, char **argv, const char *what) {
    char path[512], err[OUTPUT_MAX];
    int pipefd[2], status = 0;
    pid_t pid;
    find_tool(argv[0], major, path, sizeof path);
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return tsr_error(ctx, TSR_ERR_IO, "%s: pipe: %s", what, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    int rc = path[0] == '/' ? posix_spawn(&pid, path, &fa, NULL, argv, environ)
                            : posix_spawnp(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    if (rc != 0) {
        close(pipefd[0]);
        return tsr_error(ctx, TSR_ERR_IO,
                         "%s: cannot run %s: %s (install PostgreSQL's client "
                         "programs, or set TESSERA_PG_BINDIR)",
                         what, path, strerror(rc));
    }
    drain(pipefd[0], err);
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return TSR_OK;
    err[strcspn(err, "\n")] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127 && !err[0])
        snprintf(err, sizeof err, "%s not found", path);
    return tsr_error(ctx, TSR_ERR_IO, "%s: %s failed: %s", what, path, err[0] ? err : "no message");
}

tsr_status tsr_backup_pg_dump(tsr_ctx *ctx, tsr_db *db, const char *url, const char *path) {
    char snapshot[128] = "", snap_arg[160], file_arg[PATH_MAX + 8], db_arg[TSR_DB_URL_MAX + 16];
    tsr_db_stmt *st = NULL;
    if (tsr_db_exec(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") ||
        tsr_db_prepare(db, "SELECT pg_export_snapshot()", &st) || tsr_db_step(st) != TSR_DB_ROW) {
        tsr_error(ctx, TSR_ERR_IO, "backup: cannot export a snapshot of the database: %s",
                  tsr_db_message(db));
        tsr_db_finalize(st);
        tsr_db_rollback(db);
        return TSR_ERR_IO;
    }
    snprintf(snapshot, sizeof snapshot, "%s", tsr_db_column_text(st, 0));
    tsr_db_finalize(st);
    snprintf(snap_arg, sizeof snap_arg, "--snapshot=%s", snapshot);
    snprintf(file_arg, sizeof file_arg, "--file=%s", path);
    snprintf(db_arg, sizeof db_arg, "--dbname=%s", url);
    char *argv[] = {"pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                    snap_arg,  file_arg,          db_arg,       NULL};
    unlink(path);
    tsr_status rc = run_tool(ctx, tsr_db_server_version(db) / 10000, argv, "backup");
    if (rc)
        tsr_db_rollback(db);
    return rc; /* on success the snapshot's transaction stays open for the blob list */
}

/* Whether database `db` has no tables of its own. */
static tsr_status check_empty(tsr_ctx *ctx, tsr_db *db, const char *shown) {
    tsr_db_stmt *st = NULL;
    int64_t n = -1;
    if (!tsr_db_prepare(db,
                        "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN "
                        "('pg_catalog', 'information_schema')",
                        &st) &&
        tsr_db_step(st) == TSR_DB_ROW)
        n = tsr_db_column_int64(st, 0);
    tsr_db_finalize(st);
    if (n < 0)
        return tsr_error(ctx, TSR_ERR_IO, "restore: cannot list the tables of %s: %s", shown,
                         tsr_db_message(db));
    if (n > 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "restore: the database %s is not empty (%lld tables); restore into a "
                         "new, empty database (createdb)",
                         shown, (long long)n);
    return TSR_OK;
}

tsr_status tsr_backup_pg_restore(tsr_ctx *ctx, const char *url, const char *path) {
    char shown[TSR_DB_URL_MAX], db_arg[TSR_DB_URL_MAX + 16], file_arg[PATH_MAX];
    tsr_db *db = NULL;
    tsr_db_url_redact(url, shown, sizeof shown);
    tsr_status rc = tsr_db_open(ctx, url, 0, &db);
    if (!rc)
        rc = check_empty(ctx, db, shown);
    int major = db ? tsr_db_server_version(db) / 10000 : 0;
    tsr_db_close(db);
    if (rc)
        return rc;
    snprintf(db_arg, sizeof db_arg, "--dbname=%s", url);
    snprintf(file_arg, sizeof file_arg, "%s", path);
    char *argv[] = {"pg_restore",      "--single-transaction",
                    "--exit-on-error", "--no-owner",
                    "--no-privileges", db_arg,
                    file_arg,          NULL};
    return run_tool(ctx, major, argv, "restore");
}

tsr_status tsr_backup_pg_check(tsr_ctx *ctx, const char *path, char **problems) {
    char file_arg[PATH_MAX];
    *problems = NULL;
    snprintf(file_arg, sizeof file_arg, "%s", path);
    char *argv[] = {"pg_restore", "--list", file_arg, NULL};
    tsr_ctx *scratch = tsr_ctx_new();
    if (!scratch)
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    if (run_tool(scratch, 0, argv, "pg_restore --list") &&
        !(*problems = strdup(tsr_ctx_message(scratch)))) {
        tsr_ctx_free(scratch);
        return tsr_error(ctx, TSR_ERR_NOMEM, "verify: out of memory");
    }
    tsr_ctx_free(scratch);
    return TSR_OK;
}
