/* The tessera command line: one file per subcommand. */
#ifndef TESSERA_CLI_H
#define TESSERA_CLI_H

#include <signal.h>
#include <stdint.h>

#include "tessera/tessera.h"

/* Exit codes scripts can rely on. */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 2,   /* bad usage or bad pipeline */
    EXIT_INPUT = 3,   /* bad input: corrupt, unsupported, over a limit */
    EXIT_INTERNAL = 4 /* i/o or internal error */
};

int cmd_process(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_ops(int argc, char **argv);
/* tessera serve: the REST API, web UI and job scheduler (src/server). */
int cmd_serve(int argc, char **argv);
/* tessera worker: a tile worker of a Redis fleet (src/fleet). */
int cmd_worker(int argc, char **argv);
/* The client of a `tessera serve` (libcurl, src/cli/http_client.c): upload
 * and run a job, show jobs, download results. */
int cmd_submit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
/* tessera usage: finished jobs' usage and cost by day and account. */
int cmd_usage(int argc, char **argv);
/* The image library and job history of a server (cmd_library.c): tessera
 * images list/delete, tessera jobs list/rerun/delete. */
int cmd_images(int argc, char **argv);
int cmd_jobs(int argc, char **argv);
/* The account's saved pipelines on a server (cmd_pipelines.c). */
int cmd_pipelines(int argc, char **argv);
/* Accounts on a data folder's store, offline (cmd_user.c, cmd_token.c):
 * tessera user add/list, tessera token issue/list/revoke. */
int cmd_user(int argc, char **argv);
int cmd_token(int argc, char **argv);
/* tessera data keygen / rotate-key: encryption at rest, offline (cmd_data.c). */
int cmd_data(int argc, char **argv);
/* tessera backup / restore / verify: backup and recovery (cmd_backup.c). */
int cmd_backup(int argc, char **argv);
int cmd_restore(int argc, char **argv);
int cmd_verify(int argc, char **argv);
/* The operation list as JSON, as `tessera ops --json` prints it. Caller frees. */
char *cli_ops_json(void);

/* Parses a decimal integer in [lo, hi] into *out; 0 when malformed or out
 * of range (nothing written). */
int cli_parse_int(const char *s, long lo, long hi, int *out);

/* Blocks SIGINT and SIGTERM in the calling thread (and every thread it
 * starts afterwards), so a server loop can take them with sigwait(stop),
 * and ignores SIGPIPE. */
void cli_block_stop_signals(sigset_t *stop);

/* Allocations from this size are mapped on their own (cli_map_big_buffers). */
#define CLI_MMAP_THRESHOLD (1 << 20)

/* For the commands that run images (process, serve, worker): buffers of
 * CLI_MMAP_THRESHOLD and more go straight back to the system when freed,
 * so a gigapixel run's windows, bands and tile buffers do not stay in the
 * threads' heaps (glibc; nothing elsewhere). Call before starting threads. */
void cli_map_big_buffers(void);

/* Maps a status to one of the exit codes above. */
int cli_exit_code(tsr_status st);

/* A progress bar on stderr, drawn only when stderr is a terminal. */
typedef struct cli_progress {
    int enabled;       /* stderr is a tty */
    const char *label; /* shown before the bar (borrowed) */
    double start;      /* monotonic seconds at start */
    double last_draw;  /* when the bar was last drawn */
    int last_percent;  /* last percent drawn */
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label);
/* tsr_progress_fn-compatible callback; user is a cli_progress. */
void cli_progress_update(void *user, uint64_t done, uint64_t total);
void cli_progress_finish(cli_progress *p, int ok);

#endif
