/* The XML of S3 answers, read with libxml2: error documents, the upload id
 * of a new multipart upload, ListObjectsV2 pages; and XML escaping for the
 * CompleteMultipartUpload body. Every body arrives capped by the request
 * engine (S3_XML_MAX, S3_ERROR_BODY_MAX); the parser loads no network
 * resource and expands no external entity. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "service/s3_internal.h"

#define PARSE_OPTIONS                                                                              \
    (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS)

void s3_xml_init(void) {
    xmlInitParser();
}

/* The parsed document, or NULL when the body is empty, not XML or has a
 * DTD: S3 never sends one, and only a DTD can declare the entities whose
 * nested expansion (by xmlNodeGetContent) would blow up memory. */
static xmlDocPtr parse(const tsr_buffer *body) {
    if (!body->len || body->len > S3_XML_MAX)
        return NULL;
    xmlDocPtr doc =
        xmlReadMemory((const char *)body->data, (int)body->len, NULL, NULL, PARSE_OPTIONS);
    if (doc && (doc->intSubset || doc->extSubset)) {
        xmlFreeDoc(doc);
        doc = NULL;
    }
    return doc;
}

static bool named(xmlNodePtr n, const char *name) {
    return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNodePtr child(xmlNodePtr parent, const char *name) {
    for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
        if (named(n, name))
            return n;
    return NULL;
}

/* Copies the text of `parent`'s child `name` into out (cap bytes with the
 * NUL). Returns its length, -1 when absent, -2 when it does not fit. */
static long child_text(xmlNodePtr parent, const char *name, char *out, size_t cap) {
    xmlNodePtr n = child(parent, name);
    out[0] = '\0';
    if (!n)
        return -1;
    xmlChar *text = xmlNodeGetContent(n);
    if (!text)
        return -1;
    size_t len = strlen((const char *)text);
    long result = len < cap ? (long)len : -2;
    if (len < cap)
        memcpy(out, text, len + 1);
    xmlFree(text);
    return result;
}

bool s3_xml_error(const tsr_buffer *body, char code[S3_CODE_MAX + 1],
                  char message[S3_MESSAGE_MAX + 1]) {
    code[0] = message[0] = '\0';
    xmlDocPtr doc = parse(body);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    bool is_error = named(root, "Error");
    if (is_error) {
        child_text(root, "Code", code, S3_CODE_MAX + 1);
        if (child_text(root, "Message", message, S3_MESSAGE_MAX + 1) == -2)
            strcpy(message, "(message too long)");
    }
    xmlFreeDoc(doc);
    return is_error;
}

tsr_status s3_xml_upload_id(tsr_ctx *ctx, const tsr_buffer *body, char out[S3_UPLOAD_ID_MAX + 1]) {
    xmlDocPtr doc = parse(body);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    long n = named(root, "InitiateMultipartUploadResult")
                 ? child_text(root, "UploadId", out, S3_UPLOAD_ID_MAX + 1)
                 : -1;
    xmlFreeDoc(doc);
    for (long i = 0; i < n; i++)
        if ((unsigned char)out[i] < 0x21 || out[i] == 0x7f)
            n = -1;
    if (n <= 0)
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "s3: the answer to a new multipart upload has no usable UploadId");
    return TSR_OK;
}

/* One <Contents>: its key and size to fn. */
static tsr_status list_entry(tsr_ctx *ctx, xmlNodePtr n, s3_xml_key_fn fn, void *arg, bool *stop) {
    char key[TSR_S3_KEY_MAX + 1], size[32];
    if (child_text(n, "Key", key, sizeof key) <= 0 || child_text(n, "Size", size, sizeof size) <= 0)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "s3: list: an entry has no usable Key or Size");
    char *end;
    unsigned long long bytes = strtoull(size, &end, 10);
    if (*end || size[0] == '-')
        return tsr_error(ctx, TSR_ERR_CORRUPT, "s3: list: entry '%s' has size '%s'", key, size);
    *stop = fn(arg, key, bytes) != 0;
    return TSR_OK;
}

tsr_status s3_xml_list_page(tsr_ctx *ctx, const tsr_buffer *body, s3_xml_key_fn fn, void *arg,
                            bool *truncated, char token[S3_TOKEN_MAX + 1], bool *stop) {
    char flag[8];
    tsr_status rc = TSR_OK;
    *truncated = *stop = false;
    token[0] = '\0';
    xmlDocPtr doc = parse(body);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (!named(root, "ListBucketResult")) {
        xmlFreeDoc(doc);
        return tsr_error(ctx, TSR_ERR_CORRUPT, "s3: list: the answer is not a ListBucketResult");
    }
    for (xmlNodePtr n = root->children; n && !rc && !*stop; n = n->next)
        if (named(n, "Contents"))
            rc = list_entry(ctx, n, fn, arg, stop);
    if (!rc && child_text(root, "IsTruncated", flag, sizeof flag) > 0)
        *truncated = !strcmp(flag, "true");
    if (!rc && *truncated &&
        child_text(root, "NextContinuationToken", token, S3_TOKEN_MAX + 1) <= 0)
        rc = tsr_error(ctx, TSR_ERR_CORRUPT,
                       "s3: list: a truncated page has no usable NextContinuationToken");
    xmlFreeDoc(doc);
    return rc;
}

tsr_status s3_xml_escape_append(tsr_buffer *out, const char *text) {
    tsr_status rc = TSR_OK;
    for (const char *p = text; *p && !rc; p++) {
        const char *e = *p == '&'    ? "&amp;"
                        : *p == '<'  ? "&lt;"
                        : *p == '>'  ? "&gt;"
                        : *p == '"'  ? "&quot;"
                        : *p == '\'' ? "&apos;"
                                     : NULL;
        rc = e ? tsr_buffer_append(out, e, strlen(e)) : tsr_buffer_append(out, p, 1);
    }
    return rc;
}
