/*
 * The tile-task wire format: arbitrary bytes as a task for a task worker
 * (tsr_task_execute) and as a result for a small fixed batch
 * (tsr_task_apply_result). Both must refuse bad bytes cleanly.
 */
#include "fuzz.h"
#include "task_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* The fixture is read-only for apply_result except for its output
     * pixels, so one per process is enough. */
    static task_fixture *fixture;
    if (!fixture && !(fixture = task_fixture_new()))
        abort();
    tsr_ctx *ctx = fuzz_ctx();
    tsr_task_worker *worker = NULL;
    tsr_buffer result = {0};
    if (!ctx || tsr_task_worker_new(ctx, &worker))
        goto out;
    (void)tsr_task_tile_of(data, size);
    if (tsr_task_execute(worker, ctx, data, size, &result) == TSR_OK) {
        /* A result the worker made must be well-formed for its tile. */
        if (tsr_task_tile_of(result.data, result.len) != tsr_task_tile_of(data, size))
            abort();
    }
    int tile;
    double cpu, dev;
    tsr_ctx_reset(fixture->ctx);
    (void)tsr_task_apply_result(&fixture->batch, data, size, &tile, &cpu, &dev);
out:
    tsr_buffer_free(&result);
    tsr_task_worker_free(worker);
    tsr_ctx_free(ctx);
    return 0;
}
