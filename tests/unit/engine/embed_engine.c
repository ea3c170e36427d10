/*
 * A program that embeds only the engine library (libtessera): it loads an
 * image, runs a pipeline on the local executor and writes the result. It is
 * linked against libtessera.so alone, so it builds only while the engine
 * needs nothing from the service; check_link_deps.py then reads its NEEDED
 * entries. Usage: embed_engine IN PIPELINE OUT.png
 */
#include <stdio.h>

#include "tessera/tessera.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: embed_engine IN PIPELINE OUT.png\n");
        return 2;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_image *in = NULL, *out = NULL;
    tsr_pipeline *pipe = NULL;
    tsr_executor *exec = NULL;
    tsr_status st = ctx ? TSR_OK : TSR_ERR_NOMEM;
    if (!st && !(st = tsr_image_load(ctx, argv[1], NULL, &in, NULL)) &&
        !(st = tsr_pipeline_parse(ctx, argv[2], &pipe)) &&
        !(st = tsr_executor_local_new(ctx, 2, &exec)) &&
        !(st = tsr_pipeline_run(ctx, pipe, in, exec, NULL, &out)))
        st = tsr_image_save(ctx, out, argv[3], TSR_FORMAT_PNG, NULL);
    if (st)
        fprintf(stderr, "embed_engine: %s\n", tsr_ctx_message(ctx));
    tsr_executor_free(exec);
    tsr_pipeline_free(pipe);
    tsr_image_free(in);
    tsr_image_free(out);
    tsr_ctx_free(ctx);
    return st ? 1 : 0;
}
