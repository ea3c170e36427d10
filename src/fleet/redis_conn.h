/*
 * Redis URLs and connections shared by the worker side (heartbeat) and the
 * coordinator side (workers monitor): redis://[[user]:password@]host[:port][/db]
 * (rediss:// is refused: TLS is not built in), unix:///path/to.sock[?db=N].
 * Percent-escapes in user and password are decoded, so a password with '@'
 * or ':' is written %40 / %3A. IPv6 hosts go in brackets: redis://[::1]:6379.
 */
#ifndef TESSERA_FLEET_REDIS_CONN_H
#define TESSERA_FLEET_REDIS_CONN_H

#include <hiredis/hiredis.h>

#include "tessera/status.h"

/* A parsed Redis URL. */
typedef struct tsr_redis_url {
    char host[256];     /* TCP host name or address; "" for a unix socket */
    int port;           /* TCP port (default 6379) */
    char path[256];     /* unix socket path; "" for TCP */
    char user[128];     /* ACL user name; "" = default user */
    char password[256]; /* password; "" = no AUTH */
    int db;             /* database number (SELECT), default 0 */
} tsr_redis_url;

/* Parses `url` into *out. TSR_ERR_USAGE saying what is wrong when it is
 * malformed (the message never repeats the URL: it may hold a password). */
tsr_status tsr_redis_url_parse(tsr_ctx *ctx, const char *url, tsr_redis_url *out);

/* Connects with a `timeout_ms` connect and command timeout, then AUTH and
 * SELECT as the URL asks. TSR_ERR_IO naming the host when Redis cannot be
 * reached or refuses the login. The caller frees *out with redisFree. */
tsr_status tsr_redis_connect(tsr_ctx *ctx, const tsr_redis_url *url, int timeout_ms,
                             redisContext **out);

/* Whether a command reply is usable: non-NULL and not an error reply. */
int tsr_redis_reply_ok(const redisReply *reply);

#endif
