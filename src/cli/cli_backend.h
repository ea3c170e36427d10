/* The compute backend options of the commands that compute. */
#ifndef TESSERA_CLI_BACKEND_H
#define TESSERA_CLI_BACKEND_H

#include "cli/cli.h"
#include "opencl/cl_backend.h"

typedef struct cli_backend {
    tsr_backend_choice choice; /* --backend; default cpu */
    int device;                /* --device; -1 = the choice's pick */
    tsr_cl_backend *backend;   /* once opened: NULL = the CPU */
} cli_backend;

void cli_backend_init(cli_backend *c);
/* Takes `opt val` for command `cmd`: 1 = taken, 0 = not a backend option,
 * -1 = bad value (a message is printed). --device alone means opencl. */
int cli_backend_option(const char *cmd, const char *opt, const char *val, cli_backend *c);
/* Opens the chosen backend; a missing runtime or device is one notice on
 * stderr and the CPU, not an error. Errors: a --device that does not exist,
 * a program that does not build for an explicitly chosen device. */
tsr_status cli_backend_open(tsr_ctx *ctx, const char *cmd, cli_backend *c);
void cli_backend_close(cli_backend *c);

#endif
