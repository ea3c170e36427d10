/* tsr_store_token_insert: a token chosen by the operator (first start with
 * TESSERA_ADMIN_TOKEN), stored exactly like a random one (its SHA-256). */
#include <sodium.h>
#include <string.h>

#include "service/store_extra.h"
#include "service/store_internal.h"

tsr_status tsr_store_token_insert(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                  const char *token_hex, int64_t *id) {
    unsigned char hash[crypto_hash_sha256_BYTES];
    sqlite3_stmt *st = NULL;
    size_t n = token_hex ? strlen(token_hex) : 0;
    if (n != TSR_STORE_TOKEN_LEN || strspn(token_hex, "0123456789abcdef") != n)
        return tsr_error(ctx, TSR_ERR_USAGE, "a token must be %d lowercase hex digits",
                         TSR_STORE_TOKEN_LEN);
    crypto_hash_sha256(hash, (const unsigned char *)token_hex, TSR_STORE_TOKEN_LEN);
    pthread_mutex_lock(&store->lock);
    tsr_status rc = tsr_store_prepare(
        store, ctx, "INSERT INTO tokens(hash, user, created) VALUES(?, ?, ?)", &st);
    if (rc)
        goto out;
    sqlite3_bind_blob(st, 1, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, user);
    sqlite3_bind_int64(st, 3, tsr_store_now_ms());
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(store->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
            rc = tsr_error(ctx, TSR_ERR_USAGE, "token: there is no user %lld", (long long)user);
        else
            rc = tsr_store_sql_error(store, ctx, "insert a token");
        goto out;
    }
    if (id)
        *id = sqlite3_last_insert_rowid(store->db);
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&store->lock);
    return rc;
}
