/* Prepared statements of the SQLite backend kept for reuse
 * (db_sqlite_cache.c); internal to db_sqlite.c. */
#ifndef TESSERA_DB_SQLITE_CACHE_H
#define TESSERA_DB_SQLITE_CACHE_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define STMT_CACHE          64 /* statements kept per connection */
#define LITE_CACHE_UNCACHED (-1)
#define LITE_CACHE_FAILED   (-2)

typedef struct lite_cache_entry lite_cache_entry;

typedef struct lite_cache {
    pthread_mutex_t lock; /* the connection may be shared by threads */
    struct lite_cache_entry {
        char *sql;          /* the statement's text (owned); NULL = free slot */
        uint64_t hash;      /* FNV-1a of sql */
        sqlite3_stmt *st;   /* the prepared statement */
        bool busy;          /* handed out, not released yet */
        uint64_t last_used; /* `clock` when last handed out */
    } entries[STMT_CACHE];
    uint64_t clock; /* counts hand-outs */
} lite_cache;

void lite_cache_init(lite_cache *c);
/* Finalizes every cached statement; none may be out. */
void lite_cache_free(lite_cache *c);
/* A statement for `sql` on `db` into *out: the slot it holds (pass it to
 * lite_cache_release), LITE_CACHE_UNCACHED (every slot busy: a statement
 * of its own), or LITE_CACHE_FAILED (SQLite's error is on `db`). */
int lite_cache_prepare(lite_cache *c, sqlite3 *db, const char *sql, sqlite3_stmt **out);
/* Gives back a statement of lite_cache_prepare: reset and kept, or
 * finalized when it was not cached. */
void lite_cache_release(lite_cache *c, int slot, sqlite3_stmt *st);

#endif
