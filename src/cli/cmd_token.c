/* tessera token issue/list/revoke: bearer tokens straight on a data folder's
 * store (see cmd_user.c). The CLI acts as an admin: whoever can open the
 * folder owns every account in it anyway. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/accounts.h"
#include "cli/cli.h"

/* The caller the store sees for CLI calls: an admin, so all tokens. */
static const tsr_store_user cli_admin = {.id = 0, .name = "cli", .role = TSR_ROLE_ADMIN};

static void token_usage(FILE *f) {
    fprintf(f, "usage: tessera token issue --user NAME [--data DIR] [--db URL]\n"
               "       tessera token list [--user NAME] [--data DIR] [--db URL] [--json]\n"
               "       tessera token revoke ID [--data DIR] [--db URL]\n"
               "Works on the data folder directly (default ./tessera-data); while a server\n"
               "runs on it, use the API instead (POST /api/v1/tokens, DELETE "
               "/api/v1/tokens/{id}).\n");
}

/* Command-line arguments of every token subcommand. */
typedef struct token_args {
    const char *sub;  /* "issue", "list" or "revoke" */
    const char *data; /* data folder */
    const char *db;   /* --db URL; NULL = the folder's tessera.db */
    const char *user; /* --user NAME, or NULL */
    const char *id;   /* revoke's ID, or NULL */
    int as_json;      /* list --json */
} token_args;

static int token_issue(tsr_ctx *ctx, tsr_store *store, const token_args *a) {
    tsr_store_user u;
    int64_t id = 0;
    char token[TSR_STORE_TOKEN_LEN + 1];
    tsr_status st = cli_accounts_find_user(store, ctx, a->user, &u);
    if (!st)
        st = tsr_store_token_create(store, ctx, u.id, token, &id);
    if (st)
        return cli_exit_code(st);
    printf("%s\n", token);
    fflush(stdout);
    cli_audit(a->data, "token_created", "user", json_string(u.name), "user_id", json_integer(u.id),
              "token_id", json_integer(id), NULL);
    fprintf(stderr, "tessera: token %lld issued for %s, printed above once: store it now\n",
            (long long)id, u.name);
    return EXIT_OK;
}

/* Writes the name of user `id` from `users` into `buf`. */
static void user_name(const tsr_store_user *users, size_t n, int64_t id, char *buf, size_t size) {
    snprintf(buf, size, "%lld", (long long)id);
    for (size_t i = 0; i < n; i++)
        if (users[i].id == id)
            snprintf(buf, size, "%s", users[i].name);
}

static int token_list(tsr_ctx *ctx, tsr_store *store, const token_args *a) {
    tsr_store_user only = {0}, *users = NULL;
    tsr_store_token *tokens = NULL;
    size_t n_users = 0, n = 0;
    char name[TSR_STORE_NAME_MAX + 1], made[32], revoked[32];
    tsr_status st = TSR_OK;
    if ((a->user && (st = cli_accounts_find_user(store, ctx, a->user, &only))) ||
        (st = tsr_store_user_list(store, ctx, &users, &n_users)) ||
        (st = tsr_store_token_list(store, ctx, &cli_admin, &tokens, &n)))
        goto out;
    json_t *arr = a->as_json ? json_array() : NULL;
    if (!a->as_json)
        printf("%-6s %-24s %-20s %s\n", "ID", "USER", "CREATED", "REVOKED");
    for (size_t i = 0; i < n; i++) {
        if (a->user && tokens[i].user != only.id)
            continue;
        user_name(users, n_users, tokens[i].user, name, sizeof name);
        cli_format_time(tokens[i].created, made, sizeof made);
        cli_format_time(tokens[i].revoked, revoked, sizeof revoked);
        if (a->as_json)
            json_array_append_new(arr, json_pack("{s:I, s:s, s:s, s:b, s:s?}", "id",
                                                 (json_int_t)tokens[i].id, "user", name, "created",
                                                 made, "revoked", tokens[i].revoked != 0,
                                                 "revoked_at", tokens[i].revoked ? revoked : NULL));
        else
            printf("%-6lld %-24s %-20s %s\n", (long long)tokens[i].id, name, made, revoked);
    }
    if (a->as_json) {
        json_t *doc = json_pack("{s:o}", "tokens", arr);
        char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(doc);
    }
out:
    free(users);
    free(tokens);
    return cli_exit_code(st);
}

static int token_revoke(tsr_ctx *ctx, tsr_store *store, const token_args *a) {
    char *end;
    long long id = strtoll(a->id, &end, 10);
    int found = 0;
    if (*end || id <= 0) {
        tsr_error(ctx, TSR_ERR_USAGE, "token ID must be a positive number, not '%s'", a->id);
        return EXIT_USAGE;
    }
    tsr_status st = tsr_store_token_revoke(store, ctx, &cli_admin, id, &found);
    if (st)
        return cli_exit_code(st);
    if (!found) {
        tsr_error(ctx, TSR_ERR_USAGE, "there is no token %lld", id);
        return EXIT_USAGE;
    }
    cli_audit(a->data, "token_revoked", "token_id", json_integer(id), NULL);
    fprintf(stderr, "tessera: token %lld revoked\n", id);
    return EXIT_OK;
}

/* Reads argv into *a; returns 0 (after printing why) when it is wrong. */
static int parse_args(int argc, char **argv, token_args *a) {
    a->sub = argc >= 2 ? argv[1] : "";
    if (strcmp(a->sub, "issue") && strcmp(a->sub, "list") && strcmp(a->sub, "revoke"))
        return 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            a->data = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            a->db = argv[++i];
        else if (strcmp(a->sub, "revoke") && !strcmp(argv[i], "--user") && i + 1 < argc)
            a->user = argv[++i];
        else if (!strcmp(a->sub, "list") && !strcmp(argv[i], "--json"))
            a->as_json = 1;
        else if (!strcmp(a->sub, "revoke") && argv[i][0] != '-' && !a->id)
            a->id = argv[i];
        else {
            fprintf(stderr, "tessera token: unexpected argument '%s'\n", argv[i]);
            return 0;
        }
    }
    if (!strcmp(a->sub, "issue") && !a->user) {
        fprintf(stderr, "tessera token issue: give --user NAME\n");
        return 0;
    }
    if (!strcmp(a->sub, "revoke") && !a->id) {
        fprintf(stderr, "tessera token revoke: give the token ID (see tessera token list)\n");
        return 0;
    }
    return 1;
}

int cmd_token(int argc, char **argv) {
    token_args a = {.data = "./tessera-data"};
    char cmd[32];
    tsr_store *store = NULL;
    if (!parse_args(argc, argv, &a)) {
        token_usage(stderr);
        return EXIT_USAGE;
    }
    snprintf(cmd, sizeof cmd, "tessera token %s", a.sub);
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    tsr_status st = cli_accounts_open(ctx, a.data, a.db, 0, &store);
    int code = cli_exit_code(st);
    if (!st && !strcmp(a.sub, "issue"))
        code = token_issue(ctx, store, &a);
    else if (!st && !strcmp(a.sub, "list"))
        code = token_list(ctx, store, &a);
    else if (!st)
        code = token_revoke(ctx, store, &a);
    if (code != EXIT_OK)
        fprintf(stderr, "%s: %s\n", cmd, tsr_ctx_message(ctx));
    tsr_store_close(store);
    tsr_ctx_free(ctx);
    return code;
}
