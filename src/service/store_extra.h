/* Store calls added for `tessera serve` beyond store.h. */
#ifndef TESSERA_SERVICE_STORE_EXTRA_H
#define TESSERA_SERVICE_STORE_EXTRA_H

#include "service/store.h"

/* Inserts a given bearer token (64 lowercase hex digits, e.g. from
 * TESSERA_ADMIN_TOKEN on first start) for user `user`; only its SHA-256 is
 * stored, as for tsr_store_token_create. A malformed token or an unknown
 * user is TSR_ERR_USAGE. *id (may be NULL) receives the token's id. */
tsr_status tsr_store_token_insert(tsr_store *store, tsr_ctx *ctx, int64_t user,
                                  const char *token_hex, int64_t *id);

#endif
