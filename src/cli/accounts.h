/* Helpers shared by `tessera user` and `tessera token` (cmd_user.c): they
 * open a data folder's store directly, as the CLI's own admin. */
#ifndef TESSERA_CLI_ACCOUNTS_H
#define TESSERA_CLI_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "service/store.h"

/* Opens the store in folder `data` (its database: `db_url`, --db, NULL =
 * the folder's tessera.db) for an account command. Unless `create`, a
 * folder without tessera.db (with --db: without db-url) is TSR_ERR_USAGE. A folder held by
 * a running server fails with a message saying so and pointing at the API. */
tsr_status cli_accounts_open(tsr_ctx *ctx, const char *data, const char *db_url, int create,
                             tsr_store **out);
/* Finds the user called `name`; none is TSR_ERR_USAGE naming it. */
tsr_status cli_accounts_find_user(tsr_store *store, tsr_ctx *ctx, const char *name,
                                  tsr_store_user *out);
/* Records a change made offline in the audit trail: one JSON line marked
 * "msg":"audit" with `event`, the OS user and the key, json_t* pairs given
 * (ended by NULL; values stolen), on stderr and appended (fsync'ed) to
 * data/audit.log. A failed append is a warning: the change stands. */
void cli_audit(const char *data, const char *event, ...);
/* Writes `ms` (since the epoch) as ISO 8601 UTC, or "-" for 0. */
void cli_format_time(int64_t ms, char *buf, size_t size);

#endif
