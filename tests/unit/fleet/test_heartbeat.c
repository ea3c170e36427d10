/* Redis URLs, the worker heartbeat and the coordinator's workers monitor
 * against a real redis-server on a random loopback port (skipped, with a
 * message, when redis-server is not installed). */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "util/random.h"
#include "fleet/workers_monitor.h"
#include "fleet/heartbeat.h"
#include "fleet/redis_conn.h"

extern char **environ;

static int port;           /* the test server's port */
static pid_t redis_pid;    /* its process */
static char url[64];       /* redis://127.0.0.1:<port> */
static char redis_dir[64]; /* its working folder */

static void sleep_ms(int ms) {
    nanosleep(&(struct timespec){ms / 1000, (long)(ms % 1000) * 1000000L}, NULL);
}

/* Starts redis-server on `port`; waits until it answers PING. */
static int redis_start(void) {
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    char *argv[] = {"redis-server", "--port", p,       "--bind",  "127.0.0.1",  "--save",  "",
                    "--appendonly", "no",     "--dir", redis_dir, "--loglevel", "warning", NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int err = posix_spawnp(&redis_pid, "redis-server", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err)
        return 0;
    for (int i = 0; i < 100; i++) {
        redisContext *c = redisConnect("127.0.0.1", port);
        redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
        int ok = r && r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        redisFree(c);
        if (ok)
            return 1;
        sleep_ms(50);
    }
    return 0;
}

static void redis_kill(void) {
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
        redis_pid = 0;
    }
}

/* A direct connection for checks. */
static redisContext *direct(void) {
    return redisConnect("127.0.0.1", port);
}

static long long hash_int(redisContext *c, const char *key, const char *field) {
    redisReply *r = redisCommand(c, "HGET %s %s", key, field);
    long long v = r && r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;
    freeReplyObject(r);
    return v;
}

static void test_url_parse(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_redis_url u;
    CHECK_EQ_INT(tsr_redis_url_parse(ctx, "redis://10.0.0.5", &u), TSR_OK);
    CHECK(!strcmp(u.host, "10.0.0.5") && u.port == 6379 && u.db == 0 && !u.password[0]);
    CHECK_EQ_INT(tsr_redis_url_parse(ctx, "redis://:p%40ss%3Aw@redis.local:6380/3", &u), TSR_OK);
    CHECK(!strcmp(u.host, "redis.local") && u.port == 6380 && u.db == 3);
    CHECK(!strcmp(u.password, "p@ss:w") && !u.user[0]);
    CHECK_EQ_INT(tsr_redis_url_parse(ctx, "redis://alice:secret@[::1]:7000/", &u), TSR_OK);
    CHECK(!strcmp(u.host, "::1") && u.port == 7000 && !strcmp(u.user, "alice"));
    CHECK(!strcmp(u.password, "secret"));
    CHECK_EQ_INT(tsr_redis_url_parse(ctx, "unix:///run/redis.sock?db=2", &u), TSR_OK);
    CHECK(!strcmp(u.path, "/run/redis.sock") && u.db == 2);
    const char *bad[] = {"",
                         "http://x",
                         "redis://",
                         "redis://h:0",
                         "redis://h:x",
                         "redis://h:6379/x",
                         "redis://:%4@h",
                         "rediss://h",
                         "unix://rel",
                         "redis://[::1",
                         "redis://h:70000"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tsr_ctx_reset(ctx);
        CHECK_EQ_INT(tsr_redis_url_parse(ctx, bad[i], &u), TSR_ERR_USAGE);
        CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "redis URL");
    }
    tsr_ctx_free(ctx);
}

static void test_unreachable_is_an_error(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_heartbeat *hb = NULL;
    char bad_url[64];
    snprintf(bad_url, sizeof bad_url, "redis://127.0.0.1:%d", port + 1);
    tsr_worker_info info = {.threads = 1};
    CHECK_EQ_INT(tsr_heartbeat_start(ctx, bad_url, NULL, &info, &hb), TSR_ERR_IO);
    CHECK_STR_CONTAINS(tsr_ctx_message(ctx), "cannot connect");
    CHECK(hb == NULL);
    tsr_ctx_reset(ctx);
    info.id = "bad id!";
    CHECK_EQ_INT(tsr_heartbeat_start(ctx, url, NULL, &info, &hb), TSR_ERR_USAGE);
    tsr_ctx_free(ctx);
}

static void test_heartbeat_fields(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_heartbeat *hb = NULL;
    tsr_worker_info info = {.id = "w-fields", .host = "box1", .threads = 3, .interval_ms = 100};
    CHECK_EQ_INT(tsr_heartbeat_start(ctx, url, "unit", &info, &hb), TSR_OK);
    CHECK(!strcmp(tsr_heartbeat_id(hb), "w-fields"));
    redisContext *c = direct();
    const char *key = "tessera:unit:workers:w-fields";
    CHECK_EQ_INT(hash_int(c, key, "threads"), 3);
    CHECK_EQ_INT(hash_int(c, key, "pid"), getpid());
    CHECK_EQ_INT(hash_int(c, key, "tiles_done"), 0);
    redisReply *r = redisCommand(c, "PTTL %s", key);
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 300);
    freeReplyObject(r);
    r = redisCommand(c, "SISMEMBER tessera:unit:workers w-fields");
    CHECK(r && r->integer == 1);
    freeReplyObject(r);
    r = redisCommand(c, "HMGET %s host backends version state", key);
    CHECK(r && r->elements == 4 && r->element[0]->str && !strcmp(r->element[0]->str, "box1"));
    CHECK(r && r->element[1]->str && !strcmp(r->element[1]->str, "cpu"));
    CHECK(r && r->element[2]->str && r->element[2]->len > 0);
    CHECK(r && r->element[3]->str && !strcmp(r->element[3]->str, "running"));
    freeReplyObject(r);
    tsr_heartbeat_add_tiles(hb, 40);
    tsr_heartbeat_add_tiles(hb, 2);
    tsr_heartbeat_add_failure(hb);
    tsr_heartbeat_set_inflight(hb, 2);
    sleep_ms(350);
    CHECK_EQ_INT(hash_int(c, key, "tiles_done"), 42);
    CHECK_EQ_INT(hash_int(c, key, "failures"), 1);
    CHECK_EQ_INT(hash_int(c, key, "inflight"), 2);
    tsr_heartbeat_set_state(hb, "draining");
    sleep_ms(50);
    r = redisCommand(c, "HGET %s state", key);
    CHECK(r && r->str && !strcmp(r->str, "draining"));
    freeReplyObject(r);
    tsr_heartbeat_stop(hb);
    r = redisCommand(c, "EXISTS %s", key);
    CHECK(r && r->integer == 0);
    freeReplyObject(r);
    r = redisCommand(c, "SISMEMBER tessera:unit:workers w-fields");
    CHECK(r && r->integer == 0);
    freeReplyObject(r);
    redisFree(c);
    tsr_ctx_free(ctx);
}

/* The entry of `id` in the monitor's list, or NULL. */
static json_t *find_worker(json_t *list, const char *id) {
    size_t i;
    json_t *w;
    json_array_foreach(list, i, w) {
        if (!strcmp(json_string_value(json_object_get(w, "id")), id))
            return w;
    }
    return NULL;
}

/* Polls the monitor until `id` has `state` ("absent" = not listed). */
static int wait_state(tsr_workers_monitor *mon, const char *id, const char *state, int ms) {
    for (int t = 0; t < ms; t += 50) {
        json_t *list = tsr_workers_monitor_json(mon);
        json_t *w = find_worker(list, id);
        const char *s = w ? json_string_value(json_object_get(w, "state")) : "absent";
        int ok = s && !strcmp(s, state);
        json_decref(list);
        if (ok)
            return 1;
        sleep_ms(50);
    }
    return 0;
}

static void test_monitor_lifecycle(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_workers_monitor *mon = NULL;
    tsr_heartbeat *hb = NULL;
    CHECK_EQ_INT(tsr_workers_monitor_start(ctx, url, "mon", &mon), TSR_OK);
    tsr_workers_monitor_set_timing(mon, 600, 100);
    tsr_worker_info info = {.id = "w-good", .threads = 4, .interval_ms = 100};
    CHECK_EQ_INT(tsr_heartbeat_start(ctx, url, "mon", &info, &hb), TSR_OK);
    tsr_heartbeat_set_inflight(hb, 2);
    CHECK(wait_state(mon, "w-good", "running", 3000));
    /* A worker that dies: its hash expires, it is lost, then dropped. */
    redisContext *c = direct();
    freeReplyObject(redisCommand(c, "HSET tessera:mon:workers:w-dead id w-dead host h2 "
                                    "threads 2 tiles_done 7 state running last_seen 1"));
    freeReplyObject(redisCommand(c, "PEXPIRE tessera:mon:workers:w-dead 300"));
    freeReplyObject(redisCommand(c, "SADD tessera:mon:workers w-dead"));
    freeReplyObject(redisCommand(c, "XADD tessera:mon:tasks * k v"));
    freeReplyObject(redisCommand(c, "XADD tessera:mon:tasks * k v"));
    freeReplyObject(redisCommand(c, "XGROUP CREATE tessera:mon:tasks workers 0"));
    freeReplyObject(redisCommand(c, "XREADGROUP GROUP workers w-dead COUNT 1 STREAMS "
                                    "tessera:mon:tasks >"));
    freeReplyObject(redisCommand(c, "XADD tessera:mon:dead * key x"));
    freeReplyObject(redisCommand(c, "HINCRBY tessera:mon:stats reclaims 3"));
    CHECK(wait_state(mon, "w-dead", "running", 3000));
    CHECK(wait_state(mon, "w-dead", "lost", 3000));
    json_t *list = tsr_workers_monitor_json(mon);
    json_t *w = find_worker(list, "w-dead");
    CHECK(w && json_integer_value(json_object_get(w, "tiles_done")) == 7);
    CHECK(w && !strcmp(json_string_value(json_object_get(w, "host")), "h2"));
    CHECK(w && json_integer_value(json_object_get(w, "lost_since_ms")) > 0);
    json_t *g = find_worker(list, "w-good");
    CHECK(g && json_real_value(json_object_get(g, "load")) == 0.5);
    CHECK(g && json_is_array(json_object_get(g, "backends")));
    json_decref(list);
    tsr_workers_counts n;
    tsr_workers_monitor_counts(mon, &n);
    CHECK_EQ_INT(n.running, 1);
    CHECK_EQ_INT(n.lost, 1);
    CHECK_EQ_INT(n.tasks, 2);
    CHECK_EQ_INT(n.pending, 1);
    CHECK_EQ_INT(n.undelivered, 1);
    CHECK_EQ_INT(n.dead, 1);
    CHECK_EQ_INT(n.reclaims, 3);
    CHECK_EQ_INT(n.redis_up, 1);
    CHECK(wait_state(mon, "w-dead", "absent", 3000));
    redisReply *r = redisCommand(c, "SISMEMBER tessera:mon:workers w-dead");
    CHECK(r && r->integer == 0);
    freeReplyObject(r);
    /* Draining is shown; a clean stop leaves the list at once. */
    tsr_heartbeat_set_state(hb, "draining");
    CHECK(wait_state(mon, "w-good", "draining", 3000));
    tsr_workers_monitor_counts(mon, &n);
    CHECK_EQ_INT(n.draining, 1);
    tsr_heartbeat_stop(hb);
    CHECK(wait_state(mon, "w-good", "absent", 1000));
    redisFree(c);
    tsr_workers_monitor_stop(mon);
    tsr_ctx_free(ctx);
}

static void test_redis_restart(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_workers_monitor *mon = NULL;
    tsr_heartbeat *hb = NULL;
    CHECK_EQ_INT(tsr_workers_monitor_start(ctx, url, NULL, &mon), TSR_OK);
    tsr_workers_monitor_set_timing(mon, 600, 100);
    tsr_worker_info info = {.id = "w-restart", .threads = 1, .interval_ms = 100};
    CHECK_EQ_INT(tsr_heartbeat_start(ctx, url, NULL, &info, &hb), TSR_OK);
    CHECK(wait_state(mon, "w-restart", "running", 3000));
    redis_kill();
    sleep_ms(400);
    tsr_workers_counts n;
    tsr_workers_monitor_counts(mon, &n);
    CHECK_EQ_INT(n.redis_up, 0);
    /* Redis' own outage marks nobody lost. */
    CHECK(wait_state(mon, "w-restart", "running", 100));
    CHECK(redis_start());
    /* The new (empty) Redis gets the worker back from its heartbeat. */
    redisContext *c = direct();
    int back = 0;
    for (int i = 0; i < 60 && !back; i++) {
        back = hash_int(c, "tessera:default:workers:w-restart", "threads") == 1;
        sleep_ms(50);
    }
    CHECK(back);
    CHECK(wait_state(mon, "w-restart", "running", 3000));
    tsr_workers_monitor_counts(mon, &n);
    CHECK_EQ_INT(n.redis_up, 1);
    redisFree(c);
    tsr_heartbeat_stop(hb);
    tsr_workers_monitor_stop(mon);
    tsr_ctx_free(ctx);
}

int main(void) {
    RUN(test_url_parse);
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        fprintf(stderr, "FAIL redis_server: redis-server is not installed (Debian package "
                        "redis-server: run scripts/install-deps.sh test)\n");
        return 1;
    }
    unsigned short r = 0;
    if (tsr_random_bytes(NULL, &r, sizeof r))
        r = (unsigned short)getpid();
    port = 20000 + r % 20000;
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", port);
    snprintf(redis_dir, sizeof redis_dir, "/tmp/tessera-redis-XXXXXX");
    if (!mkdtemp(redis_dir) || !redis_start()) {
        fprintf(stderr, "cannot start redis-server on port %d\n", port);
        redis_kill();
        return 1;
    }
    RUN(test_unreachable_is_an_error);
    RUN(test_heartbeat_fields);
    RUN(test_monitor_lifecycle);
    RUN(test_redis_restart);
    redis_kill();
    rmdir(redis_dir);
    return check_finish();
}
