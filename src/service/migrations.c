/* The store's schema, as an ordered list of migrations. Never edit a released
 * migration: append a new one. tsr_store_migrate applies those the database
 * lacks, in the one transaction that also bumps schema_version. The SQL is
 * SQLite's; on PostgreSQL it is translated (db.h: types, the `user` column)
 * and followed by the migration's pg_extra, if any. */
#include "service/store_internal.h"

#define STATES "('queued','running','succeeded','failed','cancelled')"

static const char v1[] = "CREATE TABLE users("
                         " id INTEGER PRIMARY KEY,"
                         " name TEXT NOT NULL UNIQUE,"
                         " role TEXT NOT NULL CHECK (role IN ('admin','user','viewer')),"
                         " created INTEGER NOT NULL);"

                         "CREATE TABLE tokens("
                         " id INTEGER PRIMARY KEY,"
                         " hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
                         " user INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
                         " created INTEGER NOT NULL,"
                         " revoked INTEGER);"
                         "CREATE INDEX tokens_user ON tokens(user);"

                         "CREATE TABLE images("
                         " id TEXT PRIMARY KEY CHECK (length(id) = 32),"
                         " owner INTEGER NOT NULL REFERENCES users(id),"
                         " sha256 TEXT NOT NULL,"
                         " format TEXT NOT NULL,"
                         " width INTEGER NOT NULL,"
                         " height INTEGER NOT NULL,"
                         " bands INTEGER NOT NULL,"
                         " frames INTEGER NOT NULL,"
                         " bytes INTEGER NOT NULL,"
                         " blob TEXT NOT NULL UNIQUE,"
                         " name TEXT NOT NULL DEFAULT '',"
                         " created INTEGER NOT NULL);"
                         "CREATE INDEX images_owner ON images(owner, created);"

                         "CREATE TABLE jobs("
                         " id TEXT PRIMARY KEY CHECK (length(id) = 32),"
                         " owner INTEGER NOT NULL REFERENCES users(id),"
                         " pipeline_json TEXT NOT NULL,"
                         " pipeline_text TEXT NOT NULL,"
                         " op_versions TEXT NOT NULL DEFAULT '{}',"
                         " output_format TEXT NOT NULL,"
                         " quality INTEGER NOT NULL DEFAULT 0,"
                         " state TEXT NOT NULL CHECK (state IN " STATES "),"
                         " tiles_done INTEGER NOT NULL DEFAULT 0,"
                         " tiles_total INTEGER NOT NULL DEFAULT 0,"
                         " created INTEGER NOT NULL,"
                         " started INTEGER,"
                         " finished INTEGER,"
                         " error TEXT,"
                         " cpu_seconds REAL NOT NULL DEFAULT 0);"
                         "CREATE INDEX jobs_owner ON jobs(owner, created);"
                         "CREATE INDEX jobs_state ON jobs(state);"

                         "CREATE TABLE job_items("
                         " job TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
                         " image TEXT REFERENCES images(id) ON DELETE SET NULL,"
                         " position INTEGER NOT NULL,"
                         " state TEXT NOT NULL CHECK (state IN " STATES "),"
                         " result_blob TEXT,"
                         " result_bytes INTEGER NOT NULL DEFAULT 0,"
                         " result_format TEXT,"
                         " width INTEGER NOT NULL DEFAULT 0,"
                         " height INTEGER NOT NULL DEFAULT 0,"
                         " error TEXT,"
                         " started INTEGER,"
                         " finished INTEGER,"
                         " seconds REAL NOT NULL DEFAULT 0,"
                         " PRIMARY KEY (job, position));"
                         "CREATE INDEX job_items_image ON job_items(image);"
                         "CREATE INDEX job_items_result ON job_items(result_blob);";

/* PostgreSQL has no rowid: the tables whose lists break ties on it (newest
 * first at the same millisecond) get an identity column of that name. */
static const char v1_pg[] =
    "ALTER TABLE images ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;"
    "ALTER TABLE jobs ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY;";

/* Per-account quota overrides: NULL = the server's default (--quota-bytes,
 * --quota-jobs), 0 = unlimited for that account, N = its own limit. */
static const char v2[] =
    "ALTER TABLE users ADD COLUMN quota_bytes INTEGER CHECK (quota_bytes >= 0);"
    "ALTER TABLE users ADD COLUMN quota_jobs INTEGER CHECK (quota_jobs >= 0);";

/* The image library and job history: each image's cached thumbnail blob
 * (NULL until first asked for; deleted with the image), an index to find an
 * account's image by content (upload de-duplication), and a job's display
 * name (NULL for jobs made before it: the API then shows none). */
static const char v3[] = "ALTER TABLE images ADD COLUMN thumb_blob TEXT;"
                         "CREATE INDEX images_owner_sha ON images(owner, sha256);"
                         "CREATE INDEX images_thumb ON images(thumb_blob);"
                         "ALTER TABLE jobs ADD COLUMN name TEXT;";

/* User feedback (issue 14): one rating (1..5) and plain-text comment per
 * job and user, with what the job ran copied in when it is given (pipeline
 * text, op versions, output settings, name, final state), so the feedback
 * outlives a deleted job: `job` is therefore not a foreign key. `id` orders
 * exports stably (a replaced rating keeps its row). feedback_counts counts
 * every rating given, by op of the rated job and rating; it only grows
 * (GET /metrics reads it as tessera_feedback_ratings_total). */
static const char v4[] = "CREATE TABLE feedback("
                         " id INTEGER PRIMARY KEY,"
                         " job TEXT NOT NULL CHECK (length(job) = 32),"
                         " user INTEGER NOT NULL REFERENCES users(id),"
                         " rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),"
                         " comment TEXT NOT NULL DEFAULT '',"
                         " job_name TEXT NOT NULL DEFAULT '',"
                         " job_state TEXT NOT NULL CHECK (job_state IN ('succeeded','failed')),"
                         " pipeline_text TEXT NOT NULL,"
                         " op_versions TEXT NOT NULL DEFAULT '{}',"
                         " output_format TEXT NOT NULL,"
                         " quality INTEGER NOT NULL DEFAULT 0,"
                         " created INTEGER NOT NULL,"
                         " updated INTEGER NOT NULL,"
                         " UNIQUE (job, user));"
                         "CREATE INDEX feedback_updated ON feedback(updated);"
                         "CREATE TABLE feedback_counts("
                         " op TEXT NOT NULL,"
                         " rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5),"
                         " count INTEGER NOT NULL CHECK (count >= 0),"
                         " PRIMARY KEY (op, rating)) WITHOUT ROWID;";

/* PostgreSQL has no json_valid(): the op names of a feedback row come from
 * this, which reads anything but a JSON object as {} (store_feedback.c). */
static const char v4_pg[] = "CREATE OR REPLACE FUNCTION tsr_json_object(t TEXT) RETURNS JSONB "
                            "LANGUAGE plpgsql IMMUTABLE AS $$"
                            " BEGIN"
                            "  IF jsonb_typeof(t::jsonb) = 'object' THEN RETURN t::jsonb; END IF;"
                            "  RETURN '{}'::jsonb;"
                            " EXCEPTION WHEN others THEN RETURN '{}'::jsonb;"
                            " END $$;";

/* Cost accounting: what each job used besides CPU time (tsr_job_usage). */
static const char v5[] = "ALTER TABLE jobs ADD COLUMN gpu_seconds REAL NOT NULL DEFAULT 0;"
                         "ALTER TABLE jobs ADD COLUMN read_bytes INTEGER NOT NULL DEFAULT 0;"
                         "ALTER TABLE jobs ADD COLUMN written_bytes INTEGER NOT NULL DEFAULT 0;"
                         "ALTER TABLE jobs ADD COLUMN network_bytes INTEGER NOT NULL DEFAULT 0;"
                         "ALTER TABLE jobs ADD COLUMN peak_pixels INTEGER NOT NULL DEFAULT 0;"
                         "CREATE INDEX jobs_finished ON jobs(finished);";

/* Reproducible versions (issue 14 point 3). What a job ran with beyond its
 * pinned pipeline: the tessera version, the tile side, and the saved
 * pipeline (name, version) it came from (all NULL for jobs made before).
 * Saved pipelines: a name per account, and its versions, append-only: an
 * update or a rollback adds one. Each version keeps its pipeline normalized
 * (every op's version pinned) and optional output settings (NULL = the
 * job's or the server's default). */
static const char v6[] = "ALTER TABLE jobs ADD COLUMN tessera_version TEXT;"
                         "ALTER TABLE jobs ADD COLUMN tile INTEGER;"
                         "ALTER TABLE jobs ADD COLUMN saved_pipeline TEXT;"
                         "ALTER TABLE jobs ADD COLUMN saved_version INTEGER;"

                         "CREATE TABLE saved_pipelines("
                         " id INTEGER PRIMARY KEY,"
                         " owner INTEGER NOT NULL REFERENCES users(id),"
                         " name TEXT NOT NULL,"
                         " created INTEGER NOT NULL,"
                         " UNIQUE (owner, name));"

                         "CREATE TABLE saved_pipeline_versions("
                         " saved INTEGER NOT NULL REFERENCES saved_pipelines(id) ON DELETE CASCADE,"
                         " version INTEGER NOT NULL CHECK (version >= 1),"
                         " pipeline_json TEXT NOT NULL,"
                         " pipeline_text TEXT NOT NULL,"
                         " output_format TEXT,"
                         " quality INTEGER CHECK (quality BETWEEN 1 AND 100),"
                         " tile INTEGER,"
                         " rollback_of INTEGER,"
                         " created INTEGER NOT NULL,"
                         " PRIMARY KEY (saved, version));";

/* Animations (issue 15): the frame a job takes from animated inputs for a
 * one-frame output format; NULL = none chosen (animated outputs keep every
 * frame; a one-frame format refuses an animated input). */
static const char v7[] = "ALTER TABLE jobs ADD COLUMN frame INTEGER CHECK (frame >= 0);";
/* AVIF output (issue 15): a job's encoder speed, 1..9; 0 = the format's
 * default (and every job made before). */
static const char v8[] = "ALTER TABLE jobs ADD COLUMN speed INTEGER NOT NULL DEFAULT 0 "
                         "CHECK (speed BETWEEN 0 AND 9);";
/* Transforms (POST /api/v1/transform, issue 16 point 5) make no job row:
 * what they used is summed per account and UTC minute, so usage reports
 * and the per-account counters count them with the jobs, in a table that
 * grows by at most one row per account a minute. `minute` is its first
 * millisecond since the epoch; the columns are tsr_job_usage's. */
static const char v9[] = "CREATE TABLE transform_usage("
                         " owner INTEGER NOT NULL REFERENCES users(id),"
                         " minute INTEGER NOT NULL,"
                         " transforms INTEGER NOT NULL CHECK (transforms >= 0),"
                         " cpu_seconds REAL NOT NULL DEFAULT 0,"
                         " gpu_seconds REAL NOT NULL DEFAULT 0,"
                         " read_bytes INTEGER NOT NULL DEFAULT 0,"
                         " written_bytes INTEGER NOT NULL DEFAULT 0,"
                         " peak_pixels INTEGER NOT NULL DEFAULT 0,"
                         " wall_seconds REAL NOT NULL DEFAULT 0,"
                         " PRIMARY KEY (owner, minute)) WITHOUT ROWID;"
                         "CREATE INDEX transform_usage_minute ON transform_usage(minute);";

/* Several coordinators on one database (issue 17): the coordinator that
 * holds a queued or running job's lease, and until when (wall-clock ms);
 * NULL / 0 = nobody (store_lease.h). */
static const char v10[] = "ALTER TABLE jobs ADD COLUMN lease_owner TEXT;"
                          "ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;";
/* Idempotency keys of job submissions (issue 17; store_idempotency.h):
 * the account's key, the SHA-256 of the body it came with, the job it made
 * (NULL while its first request runs) and when. */
static const char v11[] = "CREATE TABLE idempotency_keys("
                          " owner INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
                          " idem_key TEXT NOT NULL,"
                          " request_sha TEXT NOT NULL,"
                          " job TEXT,"
                          " created INTEGER NOT NULL,"
                          " PRIMARY KEY (owner, idem_key));";
/* The coordinators sharing the database and when each last said it is
 * alive (wall-clock ms): how many share the request rate limits. */
static const char v12[] = "CREATE TABLE coordinators(id TEXT PRIMARY KEY, seen INTEGER NOT NULL);";

/* A running job's weighted percent and ETA as its runner last wrote them
 * (NULL ETA = unknown), and when (wall-clock ms), so every coordinator
 * answers what the one running it sees. */
static const char v13[] = "ALTER TABLE jobs ADD COLUMN percent REAL NOT NULL DEFAULT 0;"
                          "ALTER TABLE jobs ADD COLUMN eta_seconds REAL;"
                          "ALTER TABLE jobs ADD COLUMN progress_at INTEGER NOT NULL DEFAULT 0;";

/* A saved pipeline keeps every output setting a job takes (issue 15): the
 * frame of animated inputs (NULL = none chosen) and the AVIF/HEIC encoder
 * speed (NULL = the format's default). */
static const char v14[] = "ALTER TABLE saved_pipeline_versions ADD COLUMN frame INTEGER "
                          "CHECK (frame >= 0);"
                          "ALTER TABLE saved_pipeline_versions ADD COLUMN speed INTEGER "
                          "CHECK (speed BETWEEN 1 AND 9);";

const tsr_store_migration tsr_store_migrations[] = {
    {1, v1, v1_pg},  {2, v2, NULL},   {3, v3, NULL},   {4, v4, v4_pg},  {5, v5, NULL},
    {6, v6, NULL},   {7, v7, NULL},   {8, v8, NULL},   {9, v9, NULL},   {10, v10, NULL},
    {11, v11, NULL}, {12, v12, NULL}, {13, v13, NULL}, {14, v14, NULL},
};
const size_t tsr_store_migration_count = sizeof tsr_store_migrations / sizeof *tsr_store_migrations;

/* Every blob a database of schema `version` refers to, as rows (id, kind,
 * plaintext SHA-256 or NULL, plaintext bytes or NULL). A migration that adds
 * a blob column adds it here and to the garbage collection's lookup
 * (blobstore.c), or backups would leave its blobs out. */
const char *tsr_store_blob_refs_sql(int version) {
    static const char images[] = "SELECT blob, 'image', sha256, bytes FROM images UNION ALL "
                                 "SELECT result_blob, 'result', NULL, result_bytes FROM job_items "
                                 "WHERE result_blob IS NOT NULL";
    static const char thumbs[] = "SELECT blob, 'image', sha256, bytes FROM images UNION ALL "
                                 "SELECT result_blob, 'result', NULL, result_bytes FROM job_items "
                                 "WHERE result_blob IS NOT NULL UNION ALL "
                                 "SELECT thumb_blob, 'thumbnail', NULL, NULL FROM images "
                                 "WHERE thumb_blob IS NOT NULL";
    return version >= 3 ? thumbs : images;
}
