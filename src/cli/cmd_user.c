/* tessera user add/list/quota: account administration straight on a data
 * folder's store, for the first admin and for scripts. The store locks its folder, so
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
#include "server/server.h"

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

tsr_status cli_accounts_open(tsr_ctx *ctx, const char *data, const char *db_url, int create,
                             tsr_store **out) {
    char db[PATH_MAX];
    struct stat sb;
    *out = NULL;
    /* a folder opened with --db keeps that in db-url, else it has tessera.db */
    if (snprintf(db, sizeof db, "%s/%s", data, db_url ? "db-url" : "tessera.db") >= (int)sizeof db)
        return tsr_error(ctx, TSR_ERR_USAGE, "data folder path too long");
    if (!create && stat(db, &sb) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "%s holds no tessera store (give the server's --data DIR and --db URL)",
                         data);
    tsr_store_options opts = {.metadata_only = true, /* accounts never touch blobs: an encrypted
                                                        store opens without its key */
                              .db_url = db_url};
    tsr_status st = tsr_store_open_with(ctx, data, &opts, out);
    if (st && folder_busy(data)) {
        tsr_ctx_reset(ctx);
        return tsr_error(ctx, TSR_ERR_IO,
                         "the data folder %s is in use by a running tessera server; stop it, "
                         "or manage accounts through its API (POST /api/v1/users, "
                         "PATCH /api/v1/users/{id}, POST /api/v1/tokens, "
                         "DELETE /api/v1/tokens/{id}, see docs/serve.md)",
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
    fprintf(f,
            "usage: tessera user add NAME --role admin|user|viewer [--data DIR] [--db URL]\n"
            "       tessera user list [--data DIR] [--db URL] [--json]\n"
            "       tessera user quota NAME [--bytes N|default] [--jobs N|default] [--data DIR]\n"
            "                          [--db URL]\n"
            "Works on the data folder directly (default ./tessera-data); while a server\n"
            "runs on it, use the API instead (POST /api/v1/users, PATCH /api/v1/users/{id}).\n"
            "quota: N = that account's own limit (0 = unlimited), default = the server's\n"
            "--quota-bytes / --quota-jobs.\n");
}

/* tessera user add: creates the user and its first token, printed once on
 * stdout (alone, so scripts can capture it). */
static int user_add(tsr_ctx *ctx, const char *data, const char *db, const char *name,
                    const char *role_name) {
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
    if ((st = cli_accounts_open(ctx, data, db, 1, &store)))
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

/* An override for the list: its value, or "default". */
static void override_text(const tsr_store_quota *q, char *buf, size_t size) {
    if (q->set)
        snprintf(buf, size, "%llu", (unsigned long long)q->value);
    else
        snprintf(buf, size, "default");
}

/* An override as JSON: its value, or null for the server's default. */
static json_t *override_json(const tsr_store_quota *q) {
    return q->set ? json_integer((json_int_t)q->value) : json_null();
}

static int user_list(tsr_ctx *ctx, const char *data, const char *db, int as_json) {
    tsr_store *store = NULL;
    tsr_store_user *users = NULL;
    size_t n = 0;
    tsr_status st;
    char when[32], qb[24], qj[24];
    if ((st = cli_accounts_open(ctx, data, db, 0, &store)) ||
        (st = tsr_store_user_list(store, ctx, &users, &n)))
        goto out;
    json_t *arr = as_json ? json_array() : NULL;
    if (!as_json)
        printf("%-6s %-24s %-7s %-20s %-12s %s\n", "ID", "NAME", "ROLE", "CREATED", "QUOTA_BYTES",
               "QUOTA_JOBS");
    for (size_t i = 0; i < n; i++) {
        const tsr_store_user *u = &users[i];
        cli_format_time(u->created, when, sizeof when);
        override_text(&u->quota_bytes, qb, sizeof qb);
        override_text(&u->quota_jobs, qj, sizeof qj);
        if (as_json)
            json_array_append_new(
                arr, json_pack("{s:I, s:s, s:s, s:s, s:o, s:o}", "id", (json_int_t)u->id, "name",
                               u->name, "role", tsr_role_name(u->role), "created", when,
                               "quota_bytes_override", override_json(&u->quota_bytes),
                               "quota_jobs_override", override_json(&u->quota_jobs)));
        else
            printf("%-6lld %-24s %-7s %-20s %-12s %s\n", (long long)u->id, u->name,
                   tsr_role_name(u->role), when, qb, qj);
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

/* A quota argument: "default" clears the override, a non-negative decimal
 * integer up to `max` sets it. Returns 0 for anything else. */
static int parse_override(const char *text, uint64_t max, tsr_store_quota *out) {
    if (!strcmp(text, "default")) {
        *out = (tsr_store_quota){.set = false};
        return 1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (!text[0] || text[strspn(text, "0123456789")] || *end || errno || v > max)
        return 0;
    *out = (tsr_store_quota){.set = true, .value = v};
    return 1;
}

/* Prints one effective quota after a change: the account's own value, or
 * the server's default (which an offline command cannot see: the flag's
 * default is named). */
static void print_quota(const char *key, const tsr_store_quota *q, const char *flag,
                        unsigned long long flag_default) {
    if (!q->set)
        printf("%-12s default (the server's %s; %llu unless it gives another)\n", key, flag,
               flag_default);
    else if (q->value == 0)
        printf("%-12s unlimited (this account's own)\n", key);
    else
        printf("%-12s %llu (this account's own)\n", key, (unsigned long long)q->value);
}

/* tessera user quota: sets or clears user `name`'s overrides (`bytes` and
 * `jobs` NULL = leave as is) and prints the values then in force. A change
 * writes an offline audit line quota_changed with the old and new values. */
static int user_quota(tsr_ctx *ctx, const char *data, const char *db, const char *name,
                      const char *bytes_arg, const char *jobs_arg) {
    tsr_store *store = NULL;
    tsr_store_user u;
    tsr_store_quota bytes, jobs;
    tsr_status st;
    if ((st = cli_accounts_open(ctx, data, db, 0, &store)) ||
        (st = cli_accounts_find_user(store, ctx, name, &u)))
        goto out;
    bytes = u.quota_bytes;
    jobs = u.quota_jobs;
    if ((bytes_arg && !parse_override(bytes_arg, INT64_MAX, &bytes)) ||
        (jobs_arg && !parse_override(jobs_arg, TSR_STORE_QUOTA_JOBS_MAX, &jobs))) {
        st = tsr_error(ctx, TSR_ERR_USAGE,
                       "--bytes takes 0..%lld or 'default', --jobs 0..%d or 'default' (0 = "
                       "unlimited)",
                       (long long)INT64_MAX, TSR_STORE_QUOTA_JOBS_MAX);
        goto out;
    }
    if (bytes_arg || jobs_arg) {
        if ((st = tsr_store_user_set_quota(store, ctx, u.id, bytes.set, bytes.value, jobs.set,
                                           jobs.value, NULL)))
            goto out;
        cli_audit(data, "quota_changed", "user", json_string(u.name), "user_id", json_integer(u.id),
                  "old",
                  json_pack("{s:o, s:o}", "quota_bytes", override_json(&u.quota_bytes),
                            "quota_jobs", override_json(&u.quota_jobs)),
                  "new",
                  json_pack("{s:o, s:o}", "quota_bytes", override_json(&bytes), "quota_jobs",
                            override_json(&jobs)),
                  NULL);
    }
    printf("user %s (id %lld)\n", u.name, (long long)u.id);
    print_quota("quota_bytes", &bytes, "--quota-bytes", TSR_SERVER_QUOTA_BYTES_DEFAULT);
    print_quota("quota_jobs", &jobs, "--quota-jobs", TSR_SERVER_QUOTA_JOBS_DEFAULT);
out:
    if (st)
        fprintf(stderr, "tessera user quota: %s\n", tsr_ctx_message(ctx));
    tsr_store_close(store);
    return cli_exit_code(st);
}

int cmd_user(int argc, char **argv) {
    const char *data = "./tessera-data", *db = NULL, *role = NULL, *name = NULL, *bytes = NULL,
               *jobs = NULL;
    int as_json = 0;
    const char *sub = argc >= 2 ? argv[1] : "";
    int add = !strcmp(sub, "add"), quota = !strcmp(sub, "quota");
    if (!add && !quota && strcmp(sub, "list")) {
        user_usage(stderr);
        return EXIT_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            data = argv[++i];
        else if (!strcmp(argv[i], "--db") && i + 1 < argc)
            db = argv[++i];
        else if (add && !strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (quota && !strcmp(argv[i], "--bytes") && i + 1 < argc)
            bytes = argv[++i];
        else if (quota && !strcmp(argv[i], "--jobs") && i + 1 < argc)
            jobs = argv[++i];
        else if (!add && !quota && !strcmp(argv[i], "--json"))
            as_json = 1;
        else if ((add || quota) && argv[i][0] != '-' && !name)
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
    if (quota && !name) {
        fprintf(stderr, "tessera user quota: give a NAME (and --bytes N|default, --jobs "
                        "N|default to change)\n");
        return EXIT_USAGE;
    }
    tsr_ctx *ctx = tsr_ctx_new();
    if (!ctx)
        return EXIT_INTERNAL;
    int code = add     ? user_add(ctx, data, db, name, role)
               : quota ? user_quota(ctx, data, db, name, bytes, jobs)
                       : user_list(ctx, data, db, as_json);
    tsr_ctx_free(ctx);
    return code;
}
