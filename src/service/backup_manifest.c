/* A snapshot's manifest: JSON encode and decode (backup_manifest.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "service/backup_manifest.h"
#include "util/clock.h"
#include "util/hex.h"

#define JSON_INT_MAX 9007199254740992ll /* 2^53: sizes above are refused */

tsr_status tsr_manifest_add_blob(tsr_ctx *ctx, tsr_manifest *m, const tsr_manifest_blob *blob) {
    if (m->blob_count == m->blob_cap) {
        if (m->blob_cap >= TSR_MANIFEST_BLOBS_MAX)
            return tsr_error(ctx, TSR_ERR_LIMIT, "backup: more than %u blobs in one snapshot",
                             TSR_MANIFEST_BLOBS_MAX);
        size_t cap = m->blob_cap ? m->blob_cap * 2 : 256;
        tsr_manifest_blob *grown = realloc(m->blobs, cap * sizeof *grown);
        if (!grown)
            return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
        m->blobs = grown;
        m->blob_cap = cap;
    }
    m->blobs[m->blob_count++] = *blob;
    return TSR_OK;
}

static int by_id(const void *a, const void *b) {
    return strcmp(((const tsr_manifest_blob *)a)->id, ((const tsr_manifest_blob *)b)->id);
}

void tsr_manifest_sort(tsr_manifest *m) {
    if (m->blob_count > 1)
        qsort(m->blobs, m->blob_count, sizeof *m->blobs, by_id);
}

const tsr_manifest_blob *tsr_manifest_find(const tsr_manifest *m, const char *id) {
    tsr_manifest_blob key;
    if (!m->blob_count || !tsr_store_id_valid(id))
        return NULL;
    snprintf(key.id, sizeof key.id, "%s", id);
    return bsearch(&key, m->blobs, m->blob_count, sizeof *m->blobs, by_id);
}

uint64_t tsr_manifest_blob_bytes(const tsr_manifest *m) {
    uint64_t sum = 0;
    for (size_t i = 0; i < m->blob_count; i++)
        sum += m->blobs[i].bytes;
    return sum;
}

void tsr_manifest_clear(tsr_manifest *m) {
    if (!m)
        return;
    free(m->keycheck_hex);
    free(m->blobs);
    memset(m, 0, sizeof *m);
}

void tsr_backup_snapshot_name(int64_t wall_ms, char out[TSR_BACKUP_NAME_MAX + 1]) {
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, TSR_BACKUP_NAME_MAX + 1, "%Y%m%dT%H%M%S", &tm);
    snprintf(out + n, TSR_BACKUP_NAME_MAX + 1 - n, ".%03dZ", (int)(wall_ms % 1000));
}

bool tsr_backup_snapshot_name_valid(const char *name) {
    static const char shape[] = "ddddddddTdddddd.dddZ";
    if (!name || strlen(name) != TSR_BACKUP_NAME_LEN)
        return false;
    for (size_t i = 0; i < TSR_BACKUP_NAME_LEN; i++) {
        bool digit = name[i] >= '0' && name[i] <= '9';
        if (shape[i] == 'd' ? !digit : name[i] != shape[i])
            return false;
    }
    return true;
}

bool tsr_backup_sha256_valid(const char *sha) {
    return sha && strlen(sha) == TSR_STORE_SHA256_LEN &&
           tsr_hex_is_lower(sha, TSR_STORE_SHA256_LEN);
}

/* ---- encode ---- */

static json_t *blobs_json(const tsr_manifest *m) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < m->blob_count; i++) {
        const tsr_manifest_blob *b = &m->blobs[i];
        json_t *o = json_pack("{s:s, s:I, s:s}", "id", b->id, "bytes", (json_int_t)b->bytes,
                              "sha256", b->sha256);
        if (o && b->stamp[0])
            json_object_set_new(o, "stamp", json_string(b->stamp));
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *nullable(const char *s) {
    return s && *s ? json_string(s) : json_null();
}

tsr_status tsr_manifest_encode(tsr_ctx *ctx, const tsr_manifest *m, char **out, size_t *len) {
    char iso[TSR_CLOCK_ISO_SIZE];
    const tsr_manifest_transfer *t = &m->transfer;
    *out = NULL;
    tsr_clock_format_iso(m->created, iso);
    json_t *blobs = blobs_json(m);
    json_t *j =
        blobs ? json_pack(
                    "{s:i, s:s, s:I, s:s, s:s, s:i,"
                    " s:{s:s, s:o, s:o},"
                    " s:{s:s, s:s, s:I, s:s},"
                    " s:{s:I, s:I},"
                    " s:{s:I, s:I, s:I, s:I}, s:o}",
                    "format", TSR_MANIFEST_FORMAT, "snapshot", m->snapshot, "created",
                    (json_int_t)m->created, "created_iso", iso, "tessera_version",
                    m->tessera_version, "schema_version", m->schema_version, "store", "url",
                    m->store_url, "key_fingerprint", nullable(m->key_fingerprint), "keycheck",
                    nullable(m->keycheck_hex), "metadata", "name", tsr_manifest_metadata_name(m),
                    "format", m->metadata_pg ? "pg_dump" : "sqlite", "bytes",
                    (json_int_t)m->metadata_bytes, "sha256", m->metadata_sha256, "totals", "blobs",
                    (json_int_t)m->blob_count, "bytes", (json_int_t)tsr_manifest_blob_bytes(m),
                    "transfer", "copied_blobs", (json_int_t)t->copied_blobs, "copied_bytes",
                    (json_int_t)t->copied_bytes, "reused_blobs", (json_int_t)t->reused_blobs,
                    "reused_bytes", (json_int_t)t->reused_bytes, "blobs", blobs)
              : NULL;
    char *text = j ? json_dumps(j, JSON_INDENT(1)) : NULL;
    json_decref(j);
    if (!text)
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory writing a manifest");
    *out = text;
    if (len)
        *len = strlen(text);
    return TSR_OK;
}

/* ---- decode ---- */

/* Copies string member `key` of `o` into `buf` (`size` bytes); a missing,
 * non-string or too long member is TSR_ERR_CORRUPT. With `optional`, a
 * missing or null member gives "". */
static tsr_status get_string(tsr_ctx *ctx, json_t *o, const char *key, char *buf, size_t size,
                             bool optional) {
    json_t *v = json_object_get(o, key);
    buf[0] = '\0';
    if (optional && (!v || json_is_null(v)))
        return TSR_OK;
    if (!json_is_string(v) || json_string_length(v) >= size)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: \"%s\" is missing or malformed", key);
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    if (strlen(buf) != json_string_length(v))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: \"%s\" holds a NUL byte", key);
    return TSR_OK;
}

/* Reads integer member `key` of `o` in [0, 2^53] into *out. */
static tsr_status get_size(tsr_ctx *ctx, json_t *o, const char *key, uint64_t *out) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > JSON_INT_MAX)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: \"%s\" is missing or not a size", key);
    *out = (uint64_t)json_integer_value(v);
    return TSR_OK;
}

static tsr_status decode_blob(tsr_ctx *ctx, json_t *o, size_t index, tsr_manifest_blob *b) {
    memset(b, 0, sizeof *b);
    tsr_status rc;
    if (!json_is_object(o))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: blob %zu is not an object", index);
    if ((rc = get_string(ctx, o, "id", b->id, sizeof b->id, false)) ||
        (rc = get_string(ctx, o, "sha256", b->sha256, sizeof b->sha256, false)) ||
        (rc = get_string(ctx, o, "stamp", b->stamp, sizeof b->stamp, true)) ||
        (rc = get_size(ctx, o, "bytes", &b->bytes)))
        return rc;
    if (!tsr_store_id_valid(b->id) || !tsr_backup_sha256_valid(b->sha256))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: blob %zu has a malformed id or sha256",
                         index);
    return TSR_OK;
}

static tsr_status decode_blobs(tsr_ctx *ctx, json_t *arr, tsr_manifest *m) {
    if (!json_is_array(arr))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: \"blobs\" is missing or not a list");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        tsr_manifest_blob b;
        tsr_status rc = decode_blob(ctx, json_array_get(arr, i), i, &b);
        if (rc || (rc = tsr_manifest_add_blob(ctx, m, &b)))
            return rc;
    }
    tsr_manifest_sort(m);
    for (size_t i = 1; i < m->blob_count; i++)
        if (!strcmp(m->blobs[i - 1].id, m->blobs[i].id))
            return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: blob %s is listed twice",
                             m->blobs[i].id);
    return TSR_OK;
}

/* The "store" object: URL, key fingerprint, keycheck record. */
static tsr_status decode_store(tsr_ctx *ctx, json_t *o, tsr_manifest *m) {
    char keycheck[2 * TSR_MANIFEST_KEYCHECK_MAX + 1];
    tsr_status rc;
    if (!json_is_object(o))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: \"store\" is missing");
    if ((rc = get_string(ctx, o, "url", m->store_url, sizeof m->store_url, false)) ||
        (rc = get_string(ctx, o, "key_fingerprint", m->key_fingerprint, sizeof m->key_fingerprint,
                         true)) ||
        (rc = get_string(ctx, o, "keycheck", keycheck, sizeof keycheck, true)))
        return rc;
    size_t fp = strlen(m->key_fingerprint), kc = strlen(keycheck);
    if ((fp && (fp != TSR_MANIFEST_FP_HEX || !tsr_hex_is_lower(m->key_fingerprint, fp))) ||
        (kc % 2 || (kc && !tsr_hex_is_lower(keycheck, kc))) || (!fp != !kc))
        return tsr_error(ctx, TSR_ERR_CORRUPT,
                         "manifest: the key fingerprint or keycheck is malformed");
    if (kc && !(m->keycheck_hex = strdup(keycheck)))
        return tsr_error(ctx, TSR_ERR_NOMEM, "backup: out of memory");
    return TSR_OK;
}

/* The top-level fields other than "store" and "blobs". */
static tsr_status decode_head(tsr_ctx *ctx, json_t *j, tsr_manifest *m) {
    json_t *format = json_object_get(j, "format"), *meta = json_object_get(j, "metadata");
    json_t *schema = json_object_get(j, "schema_version"), *created = json_object_get(j, "created");
    tsr_status rc;
    if (!json_is_integer(format))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: no \"format\"; not a tessera manifest");
    if (json_integer_value(format) != TSR_MANIFEST_FORMAT)
        return tsr_error(ctx, TSR_ERR_FORMAT,
                         "manifest: format %lld is not this build's %d; use a newer tessera",
                         (long long)json_integer_value(format), TSR_MANIFEST_FORMAT);
    if ((rc = get_string(ctx, j, "snapshot", m->snapshot, sizeof m->snapshot, false)) ||
        (rc = get_string(ctx, j, "tessera_version", m->tessera_version, sizeof m->tessera_version,
                         false)))
        return rc;
    if (!tsr_backup_snapshot_name_valid(m->snapshot))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: the snapshot name is malformed");
    if (!json_is_integer(schema) || json_integer_value(schema) < 1 ||
        json_integer_value(schema) > 1000000 || !json_is_integer(created))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: schema version or time is malformed");
    m->schema_version = (int)json_integer_value(schema);
    m->created = (int64_t)json_integer_value(created);
    if (!json_is_object(meta))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: \"metadata\" is missing");
    if ((rc = get_size(ctx, meta, "bytes", &m->metadata_bytes)) ||
        (rc =
             get_string(ctx, meta, "sha256", m->metadata_sha256, sizeof m->metadata_sha256, false)))
        return rc;
    if (!tsr_backup_sha256_valid(m->metadata_sha256))
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: the metadata's sha256 is malformed");
    json_t *kind = json_object_get(meta, "format"); /* absent: SQLite (older manifests) */
    if (kind && (!json_is_string(kind) || (strcmp(json_string_value(kind), "sqlite") &&
                                           strcmp(json_string_value(kind), "pg_dump"))))
        return tsr_error(ctx, TSR_ERR_FORMAT,
                         "manifest: the metadata's format is not sqlite or pg_dump; use a newer "
                         "tessera");
    m->metadata_pg = kind && !strcmp(json_string_value(kind), "pg_dump");
    return TSR_OK;
}

const char *tsr_manifest_metadata_name(const tsr_manifest *m) {
    return m->metadata_pg ? TSR_BACKUP_METADATA_PG : TSR_BACKUP_METADATA;
}

/* The optional "transfer" counts (informational). */
static void decode_transfer(json_t *o, tsr_manifest_transfer *t) {
    json_int_t v[4] = {0, 0, 0, 0};
    if (json_is_object(o))
        json_unpack(o, "{s?I, s?I, s?I, s?I}", "copied_blobs", &v[0], "copied_bytes", &v[1],
                    "reused_blobs", &v[2], "reused_bytes", &v[3]);
    t->copied_blobs = v[0] > 0 ? (uint64_t)v[0] : 0;
    t->copied_bytes = v[1] > 0 ? (uint64_t)v[1] : 0;
    t->reused_blobs = v[2] > 0 ? (uint64_t)v[2] : 0;
    t->reused_bytes = v[3] > 0 ? (uint64_t)v[3] : 0;
}

tsr_status tsr_manifest_decode(tsr_ctx *ctx, const char *text, size_t len, tsr_manifest *out) {
    json_error_t err;
    memset(out, 0, sizeof *out);
    if (len > TSR_MANIFEST_MAX_BYTES)
        return tsr_error(ctx, TSR_ERR_LIMIT, "manifest: larger than %llu bytes",
                         (unsigned long long)TSR_MANIFEST_MAX_BYTES);
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    if (!j)
        return tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: not JSON (%s at line %d)", err.text,
                         err.line);
    tsr_status rc = TSR_OK;
    if (!json_is_object(j))
        rc = tsr_error(ctx, TSR_ERR_CORRUPT, "manifest: not a JSON object");
    if (!rc && !(rc = decode_head(ctx, j, out)) &&
        !(rc = decode_store(ctx, json_object_get(j, "store"), out)))
        rc = decode_blobs(ctx, json_object_get(j, "blobs"), out);
    if (!rc)
        decode_transfer(json_object_get(j, "transfer"), &out->transfer);
    json_decref(j);
    if (rc)
        tsr_manifest_clear(out);
    return rc;
}
