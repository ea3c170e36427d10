/* tessera user add/list: account administration straight on a data folder's
 * store, for the first admin and for scripts. The store locks its folder, so
 * these commands refuse while a server holds it (use the API then). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/accounts.h"

/* Whether another process holds the flock of data_dir/lock (a running
 * server); probed only after tsr_store_open failed, to explain why. */
static int folder_busy(const char *data) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/lock", data) >= (int)sizeof path)
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int busy = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return busy;
}

tsr_status cli_accounts_open(tsr_ctx *ctx, const char *data, int create, tsr_store **out) {
    char db[PATH_MAX];
    struct stat sb;
    *out = NULL;
    if (snprintf(db, sizeof db, "%s/tessera.db", data) >= (int)sizeof db)
        return tsr_error(ctx, TSR_ERR_USAGE, "data folder path too long");
    if (!create && stat(db, &sb) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "%s holds no tessera store (give the server's --data DIR)", data);
    tsr_store_options opts = {.metadata_only = true}; /* accounts never touch blobs: an
                                                          encrypted store opens without its key */
    tsr_status st = tsr_store_open_with(ctx, data, &opts, out);
    if (st && folder_busy(data)) {
        tsr_ctx_reset(ctx);
        return tsr_error(ctx, TSR_ERR_IO,
                         "the data folder %s is in use by a running tessera server; stop it, "
                         "or manage accounts through its API (POST /api/v1/users, "
                         "POST /api/v1/tokens, DELETE /api/v1/tokens/{id}, see docs/serve.md)",
                         data);
    }
    return st;
}

tsr_status cli_accounts_find_user(tsr_store *store, tsr_ctx *ctx, const char *name,
                                  tsr_store_user *out) {
    tsr_store_user *users = NULL;
    size_t n = 0;
    tsr_status st = tsr_store_user_list(store, ctx, &users, &n);
    if (st)
        return st;
    size_t i = 0;
    while (i < n && strcmp(users[i].name, name))
        i++;
    if (i < n)
        *out = users[i];
    free(users);
    return i < n ? TSR_OK : tsr_error(ctx, TSR_ERR_USAGE, "there is no user %s", name);
}

void cli_format_time(int64_t ms, char *buf, size_t size) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, size, "-");
}

static void user_usage(FILE *f) {
    fprintf(f, "usage: tessera user add NAME --role admin|user|viewer [--data DIR]\n"
               "       tessera user list [--data DIR] [--json]\n"
               "Works on the data folder directly (default ./tessera-data); while a server\n"
               "runs on it, use the API instead (POST /api/v1/users).\n");
}

/* tessera user add: creates the user and its first token, printed once on
 * stdout (alone, so scripts can capture it). */
static int user_add(tsr_ctx *ctx, const char *data, const char *name, const char *role_name) {
    tsr_store *store = NULL;
    tsr_role role;
    int64_t id = 0, token_id = 0;
    char token[TSR_STORE_TOKEN_LEN + 1];
    tsr_status st;
    if (!tsr_role_parse(role_name, &role)) {
        fprintf(stderr, "tessera user add: --role must be admin, user or viewer, not '%s'\n",
                role_name);
        return EXIT_USAGE;
    }
    if ((st = cli_accounts_open(ctx, data, 1, &store)))
        goto out;
    if ((st = tsr_store_user_create(store, ctx, name, role, &id)))
        goto out;
    if ((st = tsr_store_token_create(store, ctx, id, token, &token_id)))
        goto out;
    printf("%s\n", token);
    fflush(stdout);
    cli_audit(data, "user_created", "user", json_string(name), "user_id", json_integer(id), "role",
              json_string(tsr_role_name(role)), "token_id", json_integer(token_id), NULL);
    fprintf(stderr,
            "tessera: user %s (id %lld, role %s) created with token %lld, printed above once: "
            "store it now\n",
            name, (long long)id, tsr_role_name(role), (long long)token_id);
out:
    if (st)
        fprintf(stderr, "tessera user add: %s\n", tsr_ctx_message(ctx));
    tsr_store_close(store);
    return cli_exit_code(st);
}

static int user_list(tsr_ctx *ctx, const char *data, int as_json) {
    tsr_store *store = NULL;
    tsr_store_user *users = NULL;
    size_t n = 0;
    tsr_status st;
    char when[32];
    if ((st = cli_accounts_open(ctx, data, 0, &store)) ||
        (st = tsr_store_user_list(store, ctx, &users, &n)))
        goto out;
    json_t *arr = as_json ? json_array() : NULL;
    if (!as_json)
        printf("%-6s %-24s %-7s %s\n", "ID", "NAME", "ROLE", "CREATED");
    for (size_t i = 0; i < n; i++) {
        cli_format_time(users[i].created, when, sizeof when);
        if (as_json)
            json_array_append_new(arr,
                                  json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)users[i].id,
                                            "name", users[i].name, "role",
                                            tsr_role_name(users[i].role), "created", when));
        else
            printf("%-6lld %-24s %-7s %s\n", (long long)users[i].id, users[i].name,
                   tsr_role_name(users[i].role), when);
    }
    if (as_json) {
        json_t *doc = json_pack("{s:o}", "users", arr);
        char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(doc);
    }
out:
    if (st)
        fprintf(stderr, "tessera user list: %s\n", tsr_ctx_message(ctx));
    free(users);
    tsr_store_close(store);
    return cli_exit_code(st);
}

int cmd_user(int argc, char **argv) {
    const char *data = "./tessera-data", *role = NULL, *name = NULL;
    int as_json = 0;
    if (argc < 2 || (strcmp(argv[1], "add") && strcmp(argv[1], "list"))) {
        user_usage(stderr);
        return EXIT_USAGE;
    }
    int add = !strcmp(argv[1], "add");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (add && !strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!add && !strcmp(argv[i], "--json"))
            as_json = 1;
        else if (add && argv[i][0] != '-' && !name)
            name = argv[i];
        else {
            fprintf(stderr, "tessera user: unexpected argument '%s'\n", argv[i]);
            user_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (add && (!name || !role)) {
        fprintf(stderr, "tessera user add: give a NAME and --role admin|user|viewer\n");
        return EXIT_USAGE;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    int code = add ? user_add(ctx, data, name, role) : user_list(ctx, data, as_json);
    tsr_ctx_free(ctx);
    return code;
}
