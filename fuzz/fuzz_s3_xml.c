/*
 * The S3 client's readers of S3 answers (src/service/s3_xml.c), which parse
 * whatever an endpoint sends: error documents, the upload id of a new
 * multipart upload, ListObjectsV2 pages. Input: the answer body. Every
 * reader must end in TSR_OK or an error, never read past its caps, and
 * hand the list callback only keys that fit TSR_S3_KEY_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "service/s3_internal.h"

static int on_key(void *arg, const char *key, uint64_t size) {
    (void)size;
    if (strlen(key) > TSR_S3_KEY_MAX)
        abort();
    return ++*(int *)arg >= 5000; /* a callback that stops the page early */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        s3_xml_init();
        ready = 1;
    }
    tsr_buffer body = {.data = (uint8_t *)data, .len = size, .cap = size};
    char code[S3_CODE_MAX + 1], message[S3_MESSAGE_MAX + 1], id[S3_UPLOAD_ID_MAX + 1];
    char token[S3_TOKEN_MAX + 1];
    bool truncated, stop;
    int keys = 0;
    tsr_ctx *ctx = fuzz_ctx();
    if (!ctx)
        return 0;
    s3_xml_error(&body, code, message);
    if (strlen(code) > S3_CODE_MAX || strlen(message) > S3_MESSAGE_MAX)
        abort();
    if (s3_xml_upload_id(ctx, &body, id) == TSR_OK && (!id[0] || strlen(id) > S3_UPLOAD_ID_MAX))
        abort();
    tsr_ctx_reset(ctx);
    if (s3_xml_list_page(ctx, &body, on_key, &keys, &truncated, token, &stop) == TSR_OK &&
        truncated && !token[0])
        abort(); /* a truncated page always names where to go on */
    tsr_ctx_free(ctx);
    return 0;
}
