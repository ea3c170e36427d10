/* Prepared statements of the SQLite backend, kept for reuse: parsing and
 * planning a statement took about 70 % of a token check (every
 * authenticated request makes one), so a finalized statement goes back,
 * reset and with its bindings cleared, to a cache of STMT_CACHE entries
 * keyed by its SQL text, and the next prepare of the same text takes it.
 * A statement in use is never handed out twice (the same text prepared
 * while its cached copy is out gets a fresh one); when the cache is full
 * the least recently used idle entry is replaced. SQLite re-prepares a
 * cached statement itself after a schema change. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "service/db_sqlite_cache.h"

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

void lite_cache_init(lite_cache *c) {
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
}

void lite_cache_free(lite_cache *c) {
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(c->entries[i].st);
        free(c->entries[i].sql);
    }
    pthread_mutex_destroy(&c->lock);
}

/* The slot to fill for a new text: a free one, else the least recently
 * used idle one (emptied); -1 when every slot is busy. Lock held. */
static int victim(lite_cache *c) {
    int best = -1;
    for (int i = 0; i < STMT_CACHE; i++) {
        lite_cache_entry *e = &c->entries[i];
        if (!e->sql)
            return i;
        if (!e->busy && (best < 0 || e->last_used < c->entries[best].last_used))
            best = i;
    }
    if (best >= 0) {
        sqlite3_finalize(c->entries[best].st);
        free(c->entries[best].sql);
        memset(&c->entries[best], 0, sizeof c->entries[best]);
    }
    return best;
}

int lite_cache_prepare(lite_cache *c, sqlite3 *db, const char *sql, sqlite3_stmt **out) {
    uint64_t hash = fnv1a(sql);
    *out = NULL;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < STMT_CACHE; i++) {
        lite_cache_entry *e = &c->entries[i];
        if (e->sql && !e->busy && e->hash == hash && !strcmp(e->sql, sql)) {
            e->busy = true;
            e->last_used = ++c->clock;
            *out = e->st;
            pthread_mutex_unlock(&c->lock);
            return i;
        }
    }
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
    int slot = rc == SQLITE_OK ? victim(c) : -1;
    char *copy = slot >= 0 ? strdup(sql) : NULL;
    if (copy)
        c->entries[slot] = (lite_cache_entry){
            .sql = copy, .hash = hash, .st = *out, .busy = true, .last_used = ++c->clock};
    pthread_mutex_unlock(&c->lock);
    if (rc != SQLITE_OK)
        return LITE_CACHE_FAILED;
    return copy ? slot : LITE_CACHE_UNCACHED;
}

void lite_cache_release(lite_cache *c, int slot, sqlite3_stmt *st) {
    if (slot < 0) {
        sqlite3_finalize(st);
        return;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_lock(&c->lock);
    c->entries[slot].busy = false;
    pthread_mutex_unlock(&c->lock);
}
