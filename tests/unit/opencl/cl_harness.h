/* What every OpenCL exactness test program shares: the device under test
 * (PoCL's CPU device in CI), a 2-thread pool, the count of CPU/device runs
 * compared, and the start and end of main(). Include once, from the test's
 * .c file, after check.h. */
#ifndef TSR_TEST_CL_HARNESS_H
#define TSR_TEST_CL_HARNESS_H

#include <stdio.h>
#include <stdlib.h>

#include "opencl/cl_backend.h"
#include "tessera/tessera.h"

static tsr_cl_backend *backend;
static tsr_executor *pool;
static int n_compared;
static tsr_ctx *harness_ctx;

/* Seeds *rng from TSR_SEED when set, opens the first OpenCL device and the
 * pool. Returns 0 (after saying why) when there is no device. */
static int cl_harness_begin(unsigned long long *rng) {
    const char *seed = getenv("TSR_SEED");
    if (seed && rng)
        *rng = strtoull(seed, NULL, 10) | 1;
    harness_ctx = tsr_ctx_new();
    char notice[256];
    if (tsr_cl_backend_open(harness_ctx, TSR_BACKEND_OPENCL, -1, &backend, notice, sizeof notice) ||
        !backend) {
        fprintf(stderr, "no OpenCL device (install pocl-opencl-icd): %s %s\n", notice,
                tsr_ctx_message(harness_ctx));
        return 0;
    }
    printf("device: %s\n", tsr_cl_backend_device(backend));
    tsr_executor_local_new(harness_ctx, 2, &pool);
    return 1;
}

/* Reports the runs compared, frees what begin opened; the exit status. */
static int cl_harness_end(void) {
    printf("%d runs compared\n", n_compared);
    tsr_executor_free(pool);
    tsr_cl_backend_close(backend);
    tsr_ctx_free(harness_ctx);
    return check_finish();
}

#endif
