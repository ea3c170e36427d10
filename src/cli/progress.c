/* A one-line progress bar with percent and ETA, only on a terminal. */
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/clock.h"

void cli_progress_start(cli_progress *p, const char *label) {
    p->enabled = isatty(STDERR_FILENO);
    p->label = label;
    p->start = tsr_clock_mono_s();
    p->last_draw = 0;
    p->last_percent = -1;
}

static void draw(cli_progress *p, int percent, double eta) {
    char bar[31];
    int filled = percent * 30 / 100;
    for (int i = 0; i < 30; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[30] = '\0';
    if (eta >= 0)
        fprintf(stderr, "\r%-24.24s [%s] %3d%%  ETA %4.0fs ", p->label, bar, percent, eta);
    else
        fprintf(stderr, "\r%-24.24s [%s] %3d%%            ", p->label, bar, percent);
    fflush(stderr);
}

void cli_progress_update(void *user, uint64_t done, uint64_t total) {
    cli_progress *p = user;
    if (!p->enabled || total == 0)
        return;
    int percent = (int)(done * 100 / total);
    double now = tsr_clock_mono_s();
    if (percent == p->last_percent || (now - p->last_draw < 0.1 && done < total))
        return;
    p->last_percent = percent;
    p->last_draw = now;
    double elapsed = now - p->start;
    /* No ETA before it is stable: 5 % done or 2 s in (as the server's). */
    double eta = done && (percent >= 5 || elapsed >= 2)
                     ? elapsed * (double)(total - done) / (double)done
                     : -1;
    draw(p, percent, eta);
}

void cli_progress_finish(cli_progress *p, int ok) {
    if (!p->enabled)
        return;
    if (ok)
        draw(p, 100, 0);
    fprintf(stderr, " %.2fs\n", tsr_clock_mono_s() - p->start);
}
