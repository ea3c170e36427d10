/* --backend cpu|opencl|auto and --device N, shared by `tessera process`,
 * `serve` (its local pool) and `worker`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli_backend.h"

int cli_backend_option(const char *cmd, const char *opt, const char *val, cli_backend *c) {
    if (!strcmp(opt, "--backend")) {
        tsr_ctx *ctx = tsr_ctx_new();
        tsr_status st = ctx ? tsr_backend_parse(ctx, val, &c->choice) : TSR_ERR_NOMEM;
        if (st)
            fprintf(stderr, "tessera %s: %s\n", cmd, ctx ? tsr_ctx_message(ctx) : "out of memory");
        tsr_ctx_free(ctx);
        return st ? -1 : 1;
    }
    if (!strcmp(opt, "--device")) {
        if (!cli_parse_int(val, 0, 63, &c->device)) {
            fprintf(stderr, "tessera %s: --device wants a device index 0..63 (got %s)\n", cmd, val);
            return -1;
        }
        if (c->choice == TSR_BACKEND_CPU)
            c->choice = TSR_BACKEND_OPENCL; /* a device implies OpenCL */
        return 1;
    }
    return 0;
}

void cli_backend_init(cli_backend *c) {
    c->choice = TSR_BACKEND_CPU;
    c->device = -1;
    c->backend = NULL;
}

tsr_status cli_backend_open(tsr_ctx *ctx, const char *cmd, cli_backend *c) {
    char notice[512];
    tsr_status st =
        tsr_cl_backend_open(ctx, c->choice, c->device, &c->backend, notice, sizeof notice);
    if (!st && notice[0])
        fprintf(stderr, "tessera %s: notice: %s\n", cmd, notice);
    return st;
}

void cli_backend_close(cli_backend *c) {
    tsr_cl_backend_close(c->backend);
    c->backend = NULL;
}
