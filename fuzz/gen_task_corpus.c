/*
 * Writes seed inputs for the task target into the folder given: encoded
 * tasks of the fixture batch and of a few other pipelines, and the
 * fixture's results. Run by hand: build/fuzz/gen_task_corpus fuzz/corpus/task
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "task_fixture.h"

/* Writes bytes to dir/name. */
static int save(const char *dir, const char *name, const tsr_buffer *b) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(b->data, 1, b->len, f);
    return (fclose(f) || n != b->len) ? -1 : 0;
}

/* Tasks (and, with `results`, results) of a few tiles of batch `b`. */
static int emit(const char *dir, const char *tag, const tsr_tile_batch *b, int results) {
    tsr_task_worker *w = NULL;
    tsr_ctx *wctx = tsr_ctx_new();
    int rc = tsr_task_worker_new(wctx, &w) ? -1 : 0;
    for (int t = b->first; !rc && t < b->first + b->count; t += 3) {
        tsr_buffer task = {0}, res = {0};
        char name[128];
        rc = tsr_task_encode(b, t, &task) ? -1 : 0;
        snprintf(name, sizeof name, "%s-task-%d", tag, t);
        if (!rc)
            rc = save(dir, name, &task);
        if (!rc && results) {
            rc = tsr_task_execute(w, wctx, task.data, task.len, &res) ? -1 : 0;
            snprintf(name, sizeof name, "%s-result-%d", tag, t);
            if (!rc)
                rc = save(dir, name, &res);
        }
        if (rc)
            fprintf(stderr, "%s tile %d: %s\n", tag, t, tsr_ctx_message(wctx));
        tsr_buffer_free(&task);
        tsr_buffer_free(&res);
    }
    tsr_task_worker_free(w);
    tsr_ctx_free(wctx);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: gen_task_corpus DIR\n");
        return 2;
    }
    task_fixture *f = task_fixture_new();
    if (!f || emit(argv[1], "fixture", &f->batch, 1))
        return 1;
    /* Other single-stage pipelines on the same small image. */
    static const char *const others[] = {"grayscale|sobel",
                                         "resize:scale=0.5,interp=lanczos|median:ksize=5",
                                         "crop:x=3,y=5,width=40,height=30|flip:axis=both"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        tsr_pipeline *p = NULL;
        tsr_plan *plan = NULL;
        tsr_image *out = NULL;
        if (tsr_pipeline_parse(f->ctx, others[i], &p) ||
            tsr_plan_new(f->ctx, p, f->in->width, f->in->height, 3, 16, &plan))
            return 1;
        const tsr_stage *s = &plan->stages[0];
        tsr_image_new(f->ctx, s->out_w, s->out_h, s->out_bands, &out);
        tsr_region orr = tsr_image_region(out, tsr_rect_make(0, 0, out->width, out->height));
        tsr_tile_batch b = {f->ctx,   plan, 0,    TSR_TILE_APPLY, 0,    s->tiles_x * s->tiles_y,
                            &f->in_r, &orr, NULL, NULL,           NULL, NULL,
                            NULL};
        char tag[16];
        snprintf(tag, sizeof tag, "other%zu", i);
        int rc = emit(argv[1], tag, &b, 1);
        tsr_image_free(out);
        tsr_plan_free(plan);
        tsr_pipeline_free(p);
        if (rc)
            return 1;
    }
    task_fixture_free(f);
    return 0;
}
