/* POST /api/v1/images: the body (raw, or multipart/form-data with one or
 * many `file` parts) streams into blob writers, never whole in memory; each
 * file is then validated by content (header limits, then a full decode
 * through the row reader, one strip at a time) before anything is stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/server_internal.h"
#include "util/units.h"

#define VALIDATE_ROWS 16 /* rows decoded per call while validating */
/* Memory one whole-image decode (GIF, WebP, HEIF, AVIF: they do not
 * stream) may take while an upload is checked: 64 Mpx RGBA. */
#define WHOLE_DECODE_MAX (256ull << 20)

/* One uploaded file. */
typedef struct part {
    tsr_blob_writer *writer;                /* its temp file */
    char name[TSR_STORE_FILE_NAME_MAX + 1]; /* display name, "" when none */
    tsr_store_image image;                  /* filled once validated and stored */
    int duplicate; /* the caller already had these bytes: `image` is that image, no blob kept */
} part;

struct upload {
    struct MHD_PostProcessor *pp; /* multipart parser; NULL for a raw body */
    part *parts;                  /* UPLOAD_PARTS_MAX entries */
    int n;                        /* parts started */
    uint64_t total;               /* body bytes received */
    uint64_t cap;                 /* body byte cap */
    tsr_status err;               /* first error; the rest of the body is dropped */
    int err_part;                 /* part the error is about, -1 = the request */
    uint64_t quota;               /* the account's effective storage quota; 0 = none */
    uint64_t quota_room;          /* bytes the account may still store; UINT64_MAX = no quota */
    int over_quota;               /* the error is the storage quota */
};

void upload_free(upload *up) {
    if (!up)
        return;
    if (up->pp)
        MHD_destroy_post_processor(up->pp);
    for (int i = 0; i < up->n; i++)
        tsr_blob_writer_free(up->parts[i].writer);
    free(up->parts);
    free(up);
}

uint64_t upload_received(const upload *up) {
    return up ? up->total : 0;
}

static void fail(request *r, int part, tsr_status st) {
    if (!r->up->err) {
        r->up->err = st;
        r->up->err_part = part;
    }
}

/* Starts part `name`; records an error when there are too many. */
static part *part_start(request *r, const char *name) {
    upload *up = r->up;
    if (up->n >= UPLOAD_PARTS_MAX) {
        fail(r, -1,
             tsr_error(r->ctx, TSR_ERR_LIMIT, "at most %d files per upload", UPLOAD_PARTS_MAX));
        return NULL;
    }
    part *p = &up->parts[up->n];
    memset(p, 0, sizeof *p);
    display_name(name, p->name, sizeof p->name);
    tsr_status st = tsr_blob_writer_new(r->srv->store, r->ctx, up->cap, &p->writer);
    if (st) {
        fail(r, up->n, st);
        return NULL;
    }
    up->n++;
    return p;
}

static void part_write(request *r, const char *data, size_t size) {
    upload *up = r->up;
    if (up->err || up->n == 0)
        return;
    tsr_status st = tsr_blob_writer_write(up->parts[up->n - 1].writer, r->ctx, data, size);
    if (st)
        fail(r, up->n - 1, st);
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size) {
    (void)kind, (void)content_type, (void)transfer_encoding;
    request *r = cls;
    upload *up = r->up;
    if (up->err)
        return MHD_NO;
    if (!key || strcmp(key, "file"))
        return MHD_YES; /* other fields are ignored */
    int same = up->n > 0 && (off > 0 || tsr_blob_writer_bytes(up->parts[up->n - 1].writer) == 0);
    if (same) {
        char name[TSR_STORE_FILE_NAME_MAX + 1];
        display_name(filename, name, sizeof name);
        same = !strcmp(name, up->parts[up->n - 1].name);
    }
    if (!same && !part_start(r, filename))
        return MHD_NO;
    if (size)
        part_write(r, data, size);
    return up->err ? MHD_NO : MHD_YES;
}

/* The storage quota at the start of an upload: sets up->quota and
 * up->quota_room; replies 413 quota_exceeded itself and returns 0 when the
 * account is full or the declared body (Content-Length `len`, may be NULL)
 * cannot fit. The quota is the account's own when an admin set one, else
 * --quota-bytes; admins are no exception. */
static int quota_begin(request *r, const char *len, enum MHD_Result *result) {
    upload *up = r->up;
    uint64_t quota = quota_bytes_of(r->srv, &r->user);
    tsr_store_usage use;
    up->quota = quota;
    up->quota_room = UINT64_MAX;
    if (!quota)
        return 1;
    tsr_status st = tsr_store_user_usage(r->srv->store, r->ctx, r->user.id, &use);
    if (st) {
        *result = reply_status(r, st);
        return 0;
    }
    uint64_t used = use.image_bytes + use.result_bytes;
    up->quota_room = used < quota ? quota - used : 0;
    uint64_t declared = len ? strtoull(len, NULL, 10) : 0;
    if (up->quota_room > 0 && declared <= up->quota_room)
        return 1;
    atomic_fetch_add(&r->srv->quota_stops, 1);
    *result = reply_error(r, 413, "quota_exceeded",
                          "storage quota exceeded: this account stores %llu of its %llu bytes "
                          "(quota_bytes, %s)%s",
                          (unsigned long long)used, (unsigned long long)quota,
                          quota_source(&r->user.quota_bytes),
                          up->quota_room ? " and the upload is larger than the rest" : "");
    return 0;
}

/* Checks again, just before commit, that the validated parts fit the
 * storage quota (other uploads or results may have landed meanwhile). */
static tsr_status quota_commit_check(request *r) {
    uint64_t quota = r->up->quota, sum = 0;
    tsr_store_usage use;
    if (!quota)
        return TSR_OK;
    tsr_status st = tsr_store_user_usage(r->srv->store, r->ctx, r->user.id, &use);
    if (st)
        return st;
    for (int i = 0; i < r->up->n; i++)
        sum += r->up->parts[i].image.bytes;
    uint64_t used = use.image_bytes + use.result_bytes;
    if (used + sum <= quota)
        return TSR_OK;
    r->up->over_quota = 1;
    return tsr_error(r->ctx, TSR_ERR_LIMIT,
                     "storage quota exceeded: %llu bytes stored plus %llu uploaded is more than "
                     "the account's %llu (quota_bytes, %s)",
                     (unsigned long long)used, (unsigned long long)sum, (unsigned long long)quota,
                     quota_source(&r->user.quota_bytes));
}

/* For formats decoded whole (GIF, WebP, HEIF, AVIF), caps the decode at
 * WHOLE_DECODE_MAX bytes; *saved receives the limits to restore. */
static void cap_whole_decode(request *r, const char *path, tsr_limits *saved) {
    uint8_t head[64]; /* HEIF brands may follow the major one in the ftyp box */
    *saved = *tsr_ctx_limits(r->ctx);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(head, 1, sizeof head, f) : 0;
    if (f)
        fclose(f);
    tsr_format fmt = tsr_format_detect(head, n);
    bool whole = fmt == TSR_FORMAT_GIF || fmt == TSR_FORMAT_WEBP || fmt == TSR_FORMAT_HEIF ||
                 fmt == TSR_FORMAT_AVIF;
    if (whole && saved->max_alloc > WHOLE_DECODE_MAX) {
        tsr_limits lim = *saved;
        lim.max_alloc = WHOLE_DECODE_MAX;
        tsr_ctx_set_limits(r->ctx, &lim);
    }
}

int upload_begin(request *r, enum MHD_Result *result) {
    upload *up = calloc(1, sizeof *up);
    if (!up || !(up->parts = calloc(UPLOAD_PARTS_MAX, sizeof *up->parts))) {
        free(up);
        *result = reply_error(r, 503, "unavailable", "out of memory");
        return 0;
    }
    r->up = up;
    up->err_part = -1;
    up->cap = tsr_ctx_limits(r->ctx)->max_file_bytes;
    const char *len = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (len && strtoull(len, NULL, 10) > up->cap) {
        char size[TSR_UNITS_TEXT], cap[TSR_UNITS_TEXT];
        tsr_units_pair(TSR_UNIT_BYTES, strtoull(len, NULL, 10), up->cap, size, cap);
        *result = reply_error(r, 413, "too_large", "the upload is %s, more than the limit of %s",
                              size, cap);
        return 0;
    }
    if (!quota_begin(r, len, result))
        return 0;
    const char *type = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (type && !strncasecmp(type, "multipart/form-data", 19)) {
        up->pp = MHD_create_post_processor(r->conn, 64 * 1024, on_part, r);
        if (!up->pp) {
            *result = reply_error(r, 400, "bad_request", "malformed multipart/form-data header");
            return 0;
        }
        return 1;
    }
    if (!part_start(r, query_arg(r, "name"))) {
        *result = reply_status(r, up->err);
        return 0;
    }
    return 1;
}

void upload_feed(request *r, const char *data, size_t size) {
    upload *up = r->up;
    atomic_fetch_add(&r->srv->bytes_in, size);
    up->total += size;
    if (up->err)
        return;
    if (up->total > up->cap) {
        char cap[TSR_UNITS_TEXT];
        tsr_units_format(TSR_UNIT_BYTES, up->cap, cap);
        fail(r, -1, tsr_error(r->ctx, TSR_ERR_LIMIT, "the upload is over the limit of %s", cap));
        return;
    }
    if (up->total > up->quota_room) {
        up->over_quota = 1;
        fail(r, -1,
             tsr_error(r->ctx, TSR_ERR_LIMIT,
                       "storage quota exceeded: the upload passed the %llu bytes this account "
                       "may still store of its %llu (quota_bytes, %s)",
                       (unsigned long long)up->quota_room, (unsigned long long)up->quota,
                       quota_source(&r->user.quota_bytes)));
        return;
    }
    if (!up->pp) {
        part_write(r, data, size);
        return;
    }
    if (MHD_post_process(up->pp, data, size) != MHD_YES && !up->err)
        fail(r, -1, tsr_error(r->ctx, TSR_ERR_USAGE, "malformed multipart/form-data body"));
}

/* Checks part `p` by content: header limits, then decodes every row. */
static tsr_status validate(request *r, part *p) {
    tsr_row_reader *rd = NULL;
    tsr_image_info info;
    uint8_t *rows = NULL;
    tsr_limits saved;
    if (tsr_blob_writer_bytes(p->writer) == 0) /* 400, before any decoder calls it a format */
        return tsr_error(r->ctx, TSR_ERR_USAGE, "empty file (0 bytes)");
    cap_whole_decode(r, tsr_blob_writer_temp_path(p->writer), &saved);
    tsr_status st =
        tsr_row_reader_open(r->ctx, tsr_blob_writer_temp_path(p->writer), NULL, &rd, &info);
    if (st)
        goto out;
    int w, h, bands;
    tsr_row_reader_shape(rd, &w, &h, &bands);
    size_t stride = (size_t)w * (size_t)bands;
    if (!(rows = malloc(stride * VALIDATE_ROWS))) {
        st = tsr_error(r->ctx, TSR_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int y = 0; y < h && !st; y += VALIDATE_ROWS)
        st = tsr_row_reader_read(rd, rows, stride, h - y < VALIDATE_ROWS ? h - y : VALIDATE_ROWS);
    if (!st)
        st = trailing_check(r->ctx, tsr_blob_writer_temp_path(p->writer), info.format);
    if (st)
        goto out;
    tsr_store_image *im = &p->image;
    memset(im, 0, sizeof *im);
    im->owner = r->user.id;
    snprintf(im->format, sizeof im->format, "%s", tsr_format_name(info.format));
    im->width = (uint32_t)w; /* upright: EXIF orientation applied, as jobs see it */
    im->height = (uint32_t)h;
    im->bands = info.bands;
    im->frames = info.frames > 0 ? (uint32_t)info.frames : 1;
    im->bytes = tsr_blob_writer_bytes(p->writer);
    snprintf(im->name, sizeof im->name, "%s", p->name);
out:
    tsr_ctx_set_limits(r->ctx, &saved);
    free(rows);
    tsr_row_reader_free(rd);
    return st;
}

/* Replies the upload error, naming the part's file. */
static enum MHD_Result reply_upload_error(request *r, int index, tsr_status st) {
    const char *name = index >= 0 && r->up->parts[index].name[0] ? r->up->parts[index].name : "";
    const char *text = tsr_ctx_message(r->ctx), *temp = NULL;
    char msg[1300];
    if (index >= 0 && r->up->parts[index].writer)
        temp = tsr_blob_writer_temp_path(r->up->parts[index].writer);
    if (temp && temp[0] && !strncmp(text, temp, strlen(temp))) { /* never show server paths */
        text += strlen(temp);
        text += strspn(text, ": ");
    }
    if (name[0])
        snprintf(msg, sizeof msg, "%s: %s", name, text);
    else
        snprintf(msg, sizeof msg, "%s", text);
    tsr_ctx_reset(r->ctx);
    tsr_error(r->ctx, st, "%s", msg);
    if (r->up->over_quota) {
        atomic_fetch_add(&r->srv->quota_stops, 1);
        return reply_error(r, 413, "quota_exceeded", "%s", msg);
    }
    return reply_status(r, st);
}

/* Stores validated part `p`: when the caller already has an image of the
 * same bytes (by SHA-256), `p` becomes that image and its temp file is
 * dropped (no second blob); otherwise its blob is committed and recorded. */
static tsr_status store_part(request *r, part *p) {
    tsr_store *store = r->srv->store;
    char sha[TSR_STORE_SHA256_LEN + 1];
    int found = 0;
    tsr_blob_writer_sha256(p->writer, sha);
    tsr_status st = tsr_store_image_find_sha(store, r->ctx, &r->user, sha, &p->image, &found);
    if (st || found) {
        p->duplicate = found;
        return st;
    }
    if ((st = tsr_blob_writer_commit(p->writer, r->ctx, p->image.blob, p->image.sha256)))
        return st;
    if ((st = tsr_store_image_insert(store, r->ctx, &p->image)))
        tsr_blob_delete(store, r->ctx, p->image.blob);
    return st;
}

/* The image object of an uploaded part, with "duplicate". */
static json_t *upload_json(const part *p) {
    json_t *o = image_json(&p->image);
    json_object_set_new(o, "duplicate", json_boolean(p->duplicate));
    return o;
}

enum MHD_Result h_images_upload(request *r) {
    upload *up = r->up;
    tsr_store *store = r->srv->store;
    int stored = 0, failed_at = -1;
    tsr_status st = up->err;
    if (st)
        return reply_upload_error(r, up->err_part, st);
    if (up->pp && MHD_destroy_post_processor(up->pp) != MHD_YES && !up->err)
        st = tsr_error(r->ctx, TSR_ERR_USAGE, "the multipart/form-data body is incomplete");
    up->pp = NULL;
    if (!st && up->n == 0)
        st = tsr_error(r->ctx, TSR_ERR_USAGE, "the upload holds no part named 'file'");
    for (int i = 0; !st && i < up->n; i++)
        if ((st = validate(r, &up->parts[i])))
            failed_at = i;
    if (!st)
        st = quota_commit_check(r);
    for (; !st && stored < up->n; stored++) {
        if ((st = store_part(r, &up->parts[stored]))) {
            failed_at = stored;
            break;
        }
    }
    if (st) {
        for (int i = 0; i < stored; i++) { /* all or nothing: never an image stored before */
            int found;
            if (!up->parts[i].duplicate)
                tsr_store_image_delete(store, r->ctx, &r->user, up->parts[i].image.id, &found);
        }
        return reply_upload_error(r, failed_at, st);
    }
    int fresh = 0;
    for (int i = 0; i < up->n; i++) {
        fresh += !up->parts[i].duplicate;
        tsr_server_log("info", up->parts[i].duplicate ? "image already stored" : "image stored",
                       "request_id", json_string(r->id), "image_id",
                       json_string(up->parts[i].image.id), "bytes",
                       json_integer((json_int_t)up->parts[i].image.bytes), NULL);
    }
    json_t *body;
    if (up->n == 1) {
        body = upload_json(&up->parts[0]);
    } else {
        body = json_array();
        for (int i = 0; i < up->n; i++)
            json_array_append_new(body, upload_json(&up->parts[i]));
        body = json_pack("{s:o}", "images", body);
    }
    char loc[64];
    snprintf(loc, sizeof loc, "/api/v1/images/%s", up->parts[0].image.id);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return reply_error(r, 503, "unavailable", "out of memory");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Location", loc);
    return reply(r, fresh ? 201 : 200, resp);
}
