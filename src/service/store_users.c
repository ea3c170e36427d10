/* Users and bearer tokens. A token is 256 random bits shown once as hex; the
 * store keeps only its SHA-256, and verification compares hashes in constant
 * time. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "service/store_internal.h"
#include "util/clock.h"
#include "util/hex.h"
#include "util/random.h"

#define USER_COLUMNS "u.id, u.name, u.role, u.created, u.quota_bytes, u.quota_jobs"

/* Whether `name` is 1..64 bytes of letters, digits, '.', '_' or '-'. */
static bool name_valid(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TSR_STORE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* Reads a nullable quota override column: NULL = not set. */
static tsr_store_quota read_quota(tsr_db_stmt *st, int col) {
    tsr_store_quota q = {0};
    if (!tsr_db_column_is_null(st, col)) {
        int64_t v = tsr_db_column_int64(st, col);
        q.set = true;
        q.value = v > 0 ? (uint64_t)v : 0;
    }
    return q;
}

/* Reads USER_COLUMNS starting at column `col`. An unknown role reads as
 * viewer, the least privileged. */
static void read_user(tsr_db_stmt *st, int col, tsr_store_user *u) {
    memset(u, 0, sizeof *u);
    u->id = tsr_db_column_int64(st, col);
    tsr_store_column_text(st, col + 1, u->name, sizeof u->name);
    if (!tsr_role_parse(tsr_db_column_text(st, col + 2), &u->role))
        u->role = TSR_ROLE_VIEWER;
    u->created = tsr_db_column_int64(st, col + 3);
    u->quota_bytes = read_quota(st, col + 4);
    u->quota_jobs = read_quota(st, col + 5);
}

tsr_status tsr_store_user_create(tsr_store *store, tsr_ctx *ctx, const char *name, tsr_role role,
                                 int64_t *id) {
    tsr_db_stmt *st = NULL;
    tsr_status rc = TSR_OK;
    if (!name_valid(name))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "user name must be 1 to %d letters, digits, '.', '_' or '-'",
                         TSR_STORE_NAME_MAX);
    if ((unsigned)role > TSR_ROLE_VIEWER)
        return tsr_error(ctx, TSR_ERR_USAGE, "user %s: unknown role %d", name, (int)role);
    pthread_mutex_lock(&store->lock);
    if ((rc = tsr_store_prepare(
             store, ctx, "INSERT INTO users(name, role, created) VALUES(?, ?, ?) RETURNING id",
             &st)))
        goto out;
    tsr_db_bind_text(st, 1, name);
    tsr_db_bind_text(st, 2, tsr_role_name(role));
    tsr_db_bind_int64(st, 3, tsr_clock_wall_ms());
    if (tsr_db_step(st) != TSR_DB_ROW) {
        if (tsr_db_error(store->db) == TSR_DB_UNIQUE)
            rc = tsr_error(ctx, TSR_ERR_USAGE, "user %s already exists", name);
        else
            rc = tsr_store_sql_error(store, ctx, "create a user");
        goto out;
    }
    *id = tsr_db_column_int64(st, 0);
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_user_get(tsr_store *store, tsr_ctx *ctx, int64_t id, tsr_store_user *out,
                              int *found) {
    tsr_db_stmt *st = NULL;
    *found = 0;
    pthread_mutex_lock(&store->lock);
    tsr_status rc =
        tsr_store_prepare(store, ctx, "SELECT " USER_COLUMNS " FROM users u WHERE u.id = ?", &st);
    if (rc)
        goto out;
    tsr_db_bind_int64(st, 1, id);
    int step = tsr_db_step(st);
    if (step == TSR_DB_ROW) {
        read_user(st, 0, out);
        *found = 1;
    } else if (step != TSR_DB_DONE) {
        rc = tsr_store_sql_error(store, ctx, "read a user");
    }
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_user_list(tsr_store *store, tsr_ctx *ctx, tsr_store_user **out,
                               size_t *count) {
    tsr_db_stmt *st = NULL;
    tsr_store_user *list = NULL;
    size_t n = 0, cap = 0;
    int step = TSR_DB_DONE;
    *out = NULL;
    *count = 0;
    pthread_mutex_lock(&store->lock);
    tsr_status rc =
        tsr_store_prepare(store, ctx, "SELECT " USER_COLUMNS " FROM users u ORDER BY u.id", &st);
    while (!rc && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        if (n == cap) {
            size_t grown = cap ? cap * 2 : 16;
            tsr_store_user *more = realloc(list, grown * sizeof *list);
            if (!more) {
                rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory listing users");
                break;
            }
            list = more;
            cap = grown;
        }
        read_user(st, 0, &list[n++]);
    }
    if (!rc && step != TSR_DB_DONE)
        rc = tsr_store_sql_error(store, ctx, "list users");
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return TSR_OK;
}

tsr_status tsr_store_user_count(tsr_store *store, tsr_ctx *ctx, int64_t *count) {
    tsr_db_stmt *st = NULL;
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx, "SELECT count(*) FROM users", &st);
    if (!rc) {
        if (tsr_db_step(st) == TSR_DB_ROW)
            *count = tsr_db_column_int64(st, 0);
        else
            rc = tsr_store_sql_error(store, ctx, "count users");
    }
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

/* SHA-256 of the token's text, the form stored and looked up. */
static void token_hash(const char *token, unsigned char hash[crypto_hash_sha256_BYTES]) {
    crypto_hash_sha256(hash, (const unsigned char *)token, TSR_STORE_TOKEN_LEN);
}

tsr_status tsr_store_token_insert(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                  const char *token_hex, int64_t *id) {
    unsigned char hash[crypto_hash_sha256_BYTES];
    tsr_db_stmt *st = NULL;
    if (!tsr_hex_is_lower(token_hex, TSR_STORE_TOKEN_LEN))
        return tsr_error(ctx, TSR_ERR_USAGE, "a token must be %d lowercase hex digits",
                         TSR_STORE_TOKEN_LEN);
    token_hash(token_hex, hash);
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "INSERT INTO tokens(hash, user, created) VALUES(?, ?, ?) RETURNING id", &st);
    if (rc)
        goto out;
    tsr_db_bind_blob(st, 1, hash, sizeof hash);
    tsr_db_bind_int64(st, 2, user);
    tsr_db_bind_int64(st, 3, tsr_clock_wall_ms());
    if (tsr_db_step(st) != TSR_DB_ROW) {
        if (tsr_db_error(store->db) == TSR_DB_FOREIGN_KEY)
            rc = tsr_error(ctx, TSR_ERR_USAGE, "token: there is no user %lld", (long long)user);
        else
            rc = tsr_store_sql_error(store, ctx, "store a token");
        goto out;
    }
    if (id)
        *id = tsr_db_column_int64(st, 0);
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_token_create(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                  char token[TSR_STORE_TOKEN_LEN + 1], int64_t *id) {
    tsr_status rc = tsr_random_hex(ctx, token, TSR_STORE_TOKEN_LEN);
    if (!rc)
        rc = tsr_store_token_insert(store, ctx, user, token, id);
    if (rc)
        sodium_memzero(token, TSR_STORE_TOKEN_LEN + 1);
    return rc;
}

tsr_status tsr_store_token_verify(tsr_store *store, tsr_ctx *ctx, const char *token,
                                  tsr_store_user *out, int *found) {
    unsigned char hash[crypto_hash_sha256_BYTES];
    tsr_db_stmt *st = NULL;
    *found = 0;
    if (!tsr_hex_is_lower(token, TSR_STORE_TOKEN_LEN))
        return TSR_OK;
    token_hash(token, hash);
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT t.hash, " USER_COLUMNS " FROM tokens t "
                                      "JOIN users u ON u.id = t.user "
                                      "WHERE t.hash = ? AND t.revoked IS NULL",
                                      &st);
    if (rc)
        goto out;
    tsr_db_bind_blob(st, 1, hash, sizeof hash);
    int step = tsr_db_step(st);
    if (step == TSR_DB_ROW) {
        size_t size = 0;
        const void *stored = tsr_db_column_blob(st, 0, &size);
        if (stored && size == sizeof hash && sodium_memcmp(stored, hash, sizeof hash) == 0) {
            read_user(st, 1, out);
            *found = 1;
        }
    } else if (step != TSR_DB_DONE) {
        rc = tsr_store_sql_error(store, ctx, "verify a token");
    }
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_token_revoke(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                  int64_t id, int *found) {
    tsr_db_stmt *st = NULL;
    if (found)
        *found = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "token revoke: no caller");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "UPDATE tokens SET revoked = coalesce(revoked, ?3) "
                                      "WHERE id = ?1 AND (?2 < 0 OR user = ?2)",
                                      &st);
    if (rc)
        goto out;
    tsr_db_bind_int64(st, 1, id);
    tsr_db_bind_int64(st, 2, tsr_store_owner_filter(caller));
    tsr_db_bind_int64(st, 3, tsr_clock_wall_ms());
    if (!(rc = tsr_store_step_done(store, ctx, st, "revoke a token")) && found)
        *found = tsr_db_changes(store->db) > 0;
out:
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}

tsr_status tsr_store_token_list(tsr_store *store, tsr_ctx *ctx, const tsr_store_user *caller,
                                tsr_store_token **out, size_t *count) {
    tsr_db_stmt *st = NULL;
    tsr_store_token *list = NULL;
    size_t n = 0, cap = 0;
    int step = TSR_DB_DONE;
    *out = NULL;
    *count = 0;
    if (!caller)
        return tsr_error(ctx, TSR_ERR_USAGE, "token list: no caller");
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(store, ctx,
                                      "SELECT id, user, created, coalesce(revoked, 0) FROM tokens "
                                      "WHERE ?1 < 0 OR user = ?1 ORDER BY id",
                                      &st);
    if (!rc)
        tsr_db_bind_int64(st, 1, tsr_store_owner_filter(caller));
    while (!rc && (step = tsr_db_step(st)) == TSR_DB_ROW) {
        if (n == cap) {
            size_t grown = cap ? cap * 2 : 16;
            tsr_store_token *more = realloc(list, grown * sizeof *list);
            if (!more) {
                rc = tsr_error(ctx, TSR_ERR_NOMEM, "store: out of memory listing tokens");
                break;
            }
            list = more;
            cap = grown;
        }
        tsr_store_token *t = &list[n++];
        t->id = tsr_db_column_int64(st, 0);
        t->user = tsr_db_column_int64(st, 1);
        t->created = tsr_db_column_int64(st, 2);
        t->revoked = tsr_db_column_int64(st, 3);
    }
    if (!rc && step != TSR_DB_DONE)
        rc = tsr_store_sql_error(store, ctx, "list tokens");
    tsr_db_finalize(st);
    pthread_mutex_unlock(&store->lock);
    if (rc) {
        free(list);
        return rc;
    }
    *out = list;
    *count = n;
    return TSR_OK;
}
