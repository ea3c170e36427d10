/* Small helpers several subcommands share (see cli.h). */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdlib.h>

#include "cli/cli.h"

int cli_parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

void cli_block_stop_signals(sigset_t *stop) {
    sigemptyset(stop);
    sigaddset(stop, SIGINT);
    sigaddset(stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, stop, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void cli_map_big_buffers(void) {
#ifdef __GLIBC__
    /* Fixed, so glibc does not raise it to 32 MiB after the first big
     * free (and the trim threshold with it, to 64 MiB): a gigapixel run's
     * windows and bands are mapped and unmapped, and the per-thread heaps
     * give freed tops back instead of holding tens of MB each (a server
     * kept 200 MiB after five jobs; canny's stages reuse less). */
    mallopt(M_MMAP_THRESHOLD, CLI_MMAP_THRESHOLD);
#endif
}
