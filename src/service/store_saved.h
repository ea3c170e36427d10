/* Saved pipelines (issue 14, "Reproducible versions"): an account names a
 * pipeline and every change to it is a new version; nothing is rewritten.
 * Each version holds its pipeline normalized, so with every op's version
 * pinned (a saved version always runs the same ops, whatever the server's
 * defaults become), and optional output settings. A rollback adds a new
 * version equal to an older one (rollback_of says which). Saved pipelines
 * belong to one account: every call works on the caller's own, admins
 * included. */
#ifndef TESSERA_SERVICE_STORE_SAVED_H
#define TESSERA_SERVICE_STORE_SAVED_H

#include "service/store.h"

#define TSR_SAVED_NAME_MAX     64   /* bytes in a saved pipeline's name */
#define TSR_SAVED_PER_ACCOUNT  1000 /* saved pipelines one account may have */
#define TSR_SAVED_VERSIONS_MAX 1000 /* versions one saved pipeline may have */

/* One version of a saved pipeline. */
typedef struct tsr_saved_version {
    char name[TSR_SAVED_NAME_MAX + 1];            /* the saved pipeline's name */
    int version;                                  /* 1.. */
    int latest;                                   /* the name's newest version */
    char *pipeline_json;                          /* owned; normalized, versions pinned */
    char *pipeline_text;                          /* owned; normalized, versions pinned */
    char output_format[TSR_STORE_FORMAT_MAX + 1]; /* "" = not set */
    int quality;                                  /* 1..100; 0 = not set */
    int tile;                                     /* tile side; 0 = not set */
    bool frame_set;                               /* a frame of animated inputs was saved */
    int frame;                                    /* that frame (0 = the first) */
    int speed;                                    /* AVIF/HEIC speed 1..9; 0 = not set */
    int rollback_of;                              /* version it copies; 0 = none */
    int64_t created;                              /* this version, ms since epoch */
    int64_t first_created;                        /* version 1, ms since epoch */
} tsr_saved_version;

/* What a new version holds; strings borrowed. */
typedef struct tsr_saved_spec {
    const char *pipeline_json; /* normalized JSON form; required */
    const char *pipeline_text; /* normalized text form; required */
    const char *output_format; /* NULL or "" = not set */
    int quality;               /* 0 = not set, else 1..100 */
    int tile;                  /* 0 = not set */
    bool frame_set;            /* a frame of animated inputs is chosen */
    int frame;                 /* that frame, 0.. (0 = the first) */
    int speed;                 /* 0 = not set, else 1..9 */
    int rollback_of;           /* version it copies; 0 = none */
} tsr_saved_spec;

/* Whether `name` is a usable saved pipeline name: 1..TSR_SAVED_NAME_MAX
 * letters, digits, '-' and '_' (it is a URL path segment). */
bool tsr_saved_name_valid(const char *name);

/* Adds a version of the caller's saved pipeline `name`. `create`: the name
 * must be new (it gets version 1); else it must exist (it gets its newest
 * version + 1). *version is the version made, or 0 when nothing was done
 * because the name exists (create) or does not (update). Errors: a bad name
 * or spec (TSR_ERR_USAGE), past TSR_SAVED_PER_ACCOUNT or
 * TSR_SAVED_VERSIONS_MAX (TSR_ERR_LIMIT). */
tsr_status tsr_store_saved_add(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                               const char *name, const tsr_saved_spec *spec, bool create,
                               int *version);
/* Reads version `version` (0 = the newest) of the caller's `name` into
 * *out (cleared first; the caller clears it with tsr_saved_version_clear).
 * *found = 0 when the name or that version does not exist. */
tsr_status tsr_store_saved_get(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                               const char *name, int version, tsr_saved_version *out, int *found);
/* The newest version of each of the caller's saved pipelines, by name,
 * `limit` (0 or over TSR_STORE_LIST_MAX: that many) from `offset`, and the
 * number there are in *total. The caller frees *out with
 * tsr_saved_versions_free. */
tsr_status tsr_store_saved_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                size_t limit, size_t offset, tsr_saved_version **out, size_t *count,
                                int64_t *total);
/* Every version of the caller's `name`, oldest first (*count = 0 when the
 * name does not exist). The caller frees *out with tsr_saved_versions_free. */
tsr_status tsr_store_saved_versions(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                    const char *name, tsr_saved_version **out, size_t *count);
/* Deletes the caller's `name` with all its versions (jobs keep their record
 * of it). *found = 0 when there was none. */
tsr_status tsr_store_saved_delete(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  const char *name, int *found);

/* Frees what a version owns and zeroes it; accepts NULL. */
void tsr_saved_version_clear(tsr_saved_version *v);
/* Frees a list of `count` versions; accepts NULL. */
void tsr_saved_versions_free(tsr_saved_version *list, size_t count);

#endif
