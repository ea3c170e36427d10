/* Result downloads: one image's file, or a zip of all of a job's results
 * built with libzip in a scratch file of the store (tmp/, or memory when
 * blobs are encrypted), served from the open file and discarded at once. File names are generated:
 * the image's name made safe (never a path) with the output format's extension. */
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "server/server_internal.h"
#include "util/hex.h"

/* The extension and media type of a result recorded as `result_format`: a
 * Deep Zoom result is one zip (NAME.dzi and NAME_files/), a pyramid a TIFF. */
static void result_type(const char *result_format, const char **ext, const char **mime) {
    tsr_format f;
    tsr_layout l;
    tsr_output_from_name(result_format, &f, &l);
    *ext = l == TSR_LAYOUT_DZI ? "zip" : tsr_format_extension(f);
    *mime = l == TSR_LAYOUT_DZI ? "application/zip" : tsr_format_mime(f);
}

/* "<name stem>.<ext>" of item `it` (image name when known, else image id,
 * else job-<id>-<n>), unique among `used` names (then "-2", "-3"...). */
static void item_file_name(request *r, const tsr_store_job *job, const tsr_store_job_item *it,
                           char names[][260], size_t used, char *out) {
    char stem[200] = "";
    tsr_store_image im;
    int found = 0;
    if (it->image[0] &&
        !tsr_store_image_get(r->srv->store, r->ctx, &r->user, it->image, &im, &found) && found)
        safe_stem(im.name, stem, sizeof stem);
    tsr_ctx_reset(r->ctx);
    if (!stem[0] && it->image[0])
        snprintf(stem, sizeof stem, "%s", it->image);
    if (!stem[0])
        snprintf(stem, sizeof stem, "job-%s-%d", job->id, it->position + 1);
    const char *ext, *mime;
    result_type(it->result_format, &ext, &mime);
    snprintf(out, 260, "%s.%s", stem, ext);
    for (int k = 2;; k++) {
        int clash = 0;
        for (size_t i = 0; i < used; i++)
            clash |= !strcmp(names[i], out);
        if (!clash)
            return;
        snprintf(out, 260, "%s-%d.%s", stem, k, ext);
    }
}

/* Gets the job; replies 404 itself and returns NULL when there is none. */
static tsr_store_job *get_job(request *r, enum MHD_Result *res) {
    tsr_store_job *job = NULL;
    snprintf(r->job_id, sizeof r->job_id, "%s", r->params[0]);
    tsr_status st = tsr_store_job_get(r->srv->store, r->ctx, &r->user, r->params[0], &job);
    if (st)
        *res = reply_status(r, st);
    else if (!job)
        *res = reply_error(r, 404, "not_found", "job %s not found", r->params[0]);
    return job;
}

static enum MHD_Result serve_item(request *r, const tsr_store_job *job,
                                  const tsr_store_job_item *it) {
    char name[260], etag[80];
    const char *ext, *mime;
    if (it->state != TSR_JOB_SUCCEEDED || !it->result_blob[0])
        return reply_error(r, 409, "not_ready", "the result of image %s is not ready (%s)",
                           it->image[0] ? it->image : "(deleted)", tsr_job_state_name(it->state));
    item_file_name(r, job, it, NULL, 0, name);
    snprintf(etag, sizeof etag, "\"%s\"", it->result_blob);
    result_type(it->result_format, &ext, &mime);
    return serve_file(r, it->result_blob, -1, mime, etag, name);
}

/* Adds item blob `id` to the zip as `name`: by path from plaintext blob
 * files; from memory (the verified plaintext) otherwise (an encrypted store,
 * an S3 store: the reader's path dies with it, and libzip reads its sources
 * only at zip_close), so that no descriptor stays open per entry. */
static tsr_status add_entry(request *r, zip_t *za, const char *id, const char *name) {
    tsr_blob_reader *rd = NULL;
    zip_source_t *src = NULL;
    void *data = NULL;
    tsr_status st = tsr_blob_open_read(r->srv->store, r->ctx, id, &rd);
    if (st)
        return st;
    if (tsr_store_blob_paths_stable(r->srv->store)) {
        src = zip_source_file(za, tsr_blob_reader_path(rd), 0, -1);
    } else {
        size_t size = (size_t)tsr_blob_reader_size(rd);
        int fd = tsr_blob_reader_take_fd(rd);
        if ((data = malloc(size ? size : 1)) && pread(fd, data, size, 0) == (ssize_t)size &&
            (src = zip_source_buffer(za, data, size, 1)))
            data = NULL; /* the source frees it */
        close(fd);
    }
    zip_int64_t idx = src ? zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0)
        zip_source_free(src);
    else
        zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    free(data);
    tsr_blob_reader_free(rd);
    return idx < 0 ? tsr_error(r->ctx, TSR_ERR_IO, "cannot add %s to the zip", name) : TSR_OK;
}

/* Opens the zip being built: at the scratch file's path on a plaintext
 * store (libzip writes beside it and renames), in memory (*mem) on an
 * encrypted one: no plaintext on disk. */
static zip_t *zip_begin(request *r, tsr_blob_file *scratch, zip_source_t **mem) {
    int err = 0;
    zip_error_t zerr;
    *mem = NULL;
    if (!tsr_store_encrypted(r->srv->store))
        return zip_open(tsr_blob_file_path(scratch), ZIP_CREATE | ZIP_TRUNCATE, &err);
    zip_error_init(&zerr);
    zip_t *za = NULL;
    if ((*mem = zip_source_buffer_create(NULL, 0, 0, &zerr))) {
        zip_source_keep(*mem); /* read back after zip_close */
        if (!(za = zip_open_from_source(*mem, ZIP_TRUNCATE, &zerr)))
            zip_source_free(*mem); /* drops the open's reference */
    }
    zip_error_fini(&zerr);
    return za;
}

/* Copies the in-memory zip into the scratch file (a memfd). */
static int zip_spill(zip_source_t *mem, int fd) {
    char buf[65536];
    zip_int64_t n;
    if (zip_source_open(mem) != 0)
        return -1;
    while ((n = zip_source_read(mem, buf, sizeof buf)) > 0)
        if (write(fd, buf, (size_t)n) != (ssize_t)n) {
            n = -1;
            break;
        }
    zip_source_close(mem);
    return n < 0 ? -1 : 0;
}

/* Writes the zip of every succeeded item into a scratch file; returns a
 * read-only fd on it (the file itself already gone) or -1 after replying. */
static int build_zip(request *r, const tsr_store_job *job, enum MHD_Result *res) {
    char(*names)[260] = calloc(job->item_count, sizeof *names);
    tsr_blob_file *scratch = NULL;
    zip_source_t *mem = NULL;
    zip_t *za = NULL;
    const char *bad = ""; /* the blob that failed its check */
    int fd = -1;
    size_t n = 0;
    tsr_status st = names ? tsr_blob_file_new(r->srv->store, r->ctx, &scratch) : TSR_ERR_NOMEM;
    if (st) {
        *res = reply_status(r, st);
        free(names);
        return -1;
    }
    if (!(za = zip_begin(r, scratch, &mem)))
        goto fail;
    for (size_t i = 0; i < job->item_count; i++) {
        const tsr_store_job_item *it = &job->items[i];
        if (it->state != TSR_JOB_SUCCEEDED || !it->result_blob[0])
            continue;
        item_file_name(r, job, it, names, n, names[n]);
        if ((st = add_entry(r, za, it->result_blob, names[n]))) {
            bad = it->result_blob;
            goto fail;
        }
        n++;
    }
    if (zip_close(za) != 0)
        goto fail;
    za = NULL;
    if (mem && zip_spill(mem, tsr_blob_file_fd(scratch)) != 0)
        goto fail;
    if (tsr_blob_file_reopen(scratch, r->ctx, &fd))
        *res = reply_error(r, 500, "internal", "cannot reopen the zip");
    goto out;
fail:
    if (za)
        zip_discard(za);
    if (st == TSR_ERR_CORRUPT)
        *res = reply_integrity_failure(r, bad);
    else
        *res = reply_error(r, 500, "internal", "cannot build the zip of job %s", job->id);
out:
    zip_source_free(mem);
    tsr_blob_file_free(scratch);
    free(names);
    return fd;
}

enum MHD_Result h_job_result(request *r) {
    enum MHD_Result res = MHD_YES;
    tsr_store_job *job = get_job(r, &res);
    if (!job)
        return res;
    if (job->state != TSR_JOB_SUCCEEDED) {
        res = reply_error(r, 409, "not_ready", "job %s has not succeeded (it is %s)", job->id,
                          tsr_job_state_name(job->state));
    } else if (job->item_count == 1) {
        res = serve_item(r, job, &job->items[0]);
    } else {
        /* ETag: SHA-256 over the result blob ids, which never change. */
        unsigned char hash[crypto_hash_sha256_BYTES];
        crypto_hash_sha256_state hs;
        char hex[2 * crypto_hash_sha256_BYTES + 1], etag[80], name[64];
        crypto_hash_sha256_init(&hs);
        for (size_t i = 0; i < job->item_count; i++)
            crypto_hash_sha256_update(&hs, (const unsigned char *)job->items[i].result_blob,
                                      strlen(job->items[i].result_blob) + 1);
        crypto_hash_sha256_final(&hs, hash);
        tsr_hex_encode(hex, hash, sizeof hash);
        snprintf(etag, sizeof etag, "\"%s\"", hex);
        snprintf(name, sizeof name, "job-%s.zip", job->id);
        if (etag_matches(r, etag)) {
            res = serve_file(r, NULL, -1, "application/zip", etag, name);
        } else {
            int fd = build_zip(r, job, &res);
            if (fd >= 0)
                res = serve_file(r, NULL, fd, "application/zip", etag, name);
        }
    }
    tsr_store_job_free(job);
    return res;
}

enum MHD_Result h_job_item_result(request *r) {
    enum MHD_Result res = MHD_YES;
    tsr_store_job *job = get_job(r, &res);
    if (!job)
        return res;
    const tsr_store_job_item *it = NULL;
    for (size_t i = 0; i < job->item_count && !it; i++)
        if (!strcmp(job->items[i].image, r->params[1]))
            it = &job->items[i];
    if (!it)
        res = reply_error(r, 404, "not_found", "job %s has no image %s", job->id, r->params[1]);
    else
        res = serve_item(r, job, it);
    tsr_store_job_free(job);
    return res;
}
