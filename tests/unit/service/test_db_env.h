/* Which database the store's unit tests run on: SQLite in the data folder
 * (the default), or, when TSR_TEST_PG_ADMIN names a PostgreSQL maintenance
 * database (tests/pg/pgcluster.py sets it; meson's `store_pg` test runs
 * them so), a PostgreSQL database of its own per data folder, created at
 * its first open, so that a reopen of the folder finds its rows again. */
#ifndef TESSERA_TEST_DB_ENV_H
#define TESSERA_TEST_DB_ENV_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/db.h"
#include "service/store.h"

/* The PostgreSQL URL for data folder `dir` (creating its database), or
 * NULL for SQLite. */
static inline const char *test_db_url(tsr_ctx *ctx, const char *dir, char *url, size_t size) {
    const char *admin = getenv("TSR_TEST_PG_ADMIN");
    if (!admin || !*admin)
        return NULL;
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the folder's path */
    for (const char *p = dir; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    char name[32], sql[128];
    snprintf(name, sizeof name, "t_%016llx", (unsigned long long)h);
    const char *slash = strrchr(admin, '/');
    snprintf(url, size, "%.*s/%s", (int)(slash - admin), admin, name);
    tsr_db *db = NULL;
    tsr_db_stmt *st = NULL;
    if (tsr_db_open(ctx, admin, 0, &db) ||
        tsr_db_prepare(db, "SELECT 1 FROM pg_database WHERE datname = ?1", &st)) {
        fprintf(stderr, "test_db_url: %s\n", tsr_ctx_message(ctx));
        exit(2);
    }
    tsr_db_bind_text(st, 1, name);
    int exists = tsr_db_step(st) == TSR_DB_ROW;
    tsr_db_finalize(st);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (!exists && tsr_db_exec(db, sql)) {
        fprintf(stderr, "test_db_url: %s\n", tsr_db_message(db));
        exit(2);
    }
    tsr_db_close(db);
    return url;
}

/* tsr_store_open_with on data folder `dir` and the test's database. */
static inline tsr_status test_store_open_with(tsr_ctx *ctx, const char *dir,
                                              const tsr_store_options *opts, tsr_store **out) {
    char url[512];
    tsr_store_options o = opts ? *opts : (tsr_store_options){0};
    o.db_url = test_db_url(ctx, dir, url, sizeof url);
    return tsr_store_open_with(ctx, dir, &o, out);
}

/* tsr_store_open on data folder `dir` and the test's database. */
static inline tsr_status test_store_open(tsr_ctx *ctx, const char *dir, tsr_store **out) {
    return test_store_open_with(ctx, dir, NULL, out);
}

#endif
