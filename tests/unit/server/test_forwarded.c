/* Trusted proxies and X-Forwarded-For (src/server/forwarded.c): list
 * parsing and its refusals, CIDR matching on both families, and the client
 * chosen from the header: from the right, past trusted proxies, never from
 * an untrusted peer, stopping at a malformed entry. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "server/forwarded.h"

static tsr_proxies parsed(const char *list) {
    tsr_proxies p;
    tsr_ctx *ctx = tsr_ctx_new();
    CHECK_EQ_INT(tsr_proxies_parse(ctx, list, &p), TSR_OK);
    tsr_ctx_free(ctx);
    return p;
}

static void test_parse(void) {
    tsr_ctx *ctx = tsr_ctx_new();
    tsr_proxies p;
    CHECK_EQ_INT(tsr_proxies_parse(ctx, NULL, &p), TSR_OK);
    CHECK_EQ_INT(p.count, 0);
    CHECK_EQ_INT(tsr_proxies_parse(ctx, "", &p), TSR_OK);
    CHECK_EQ_INT(p.count, 0);
    CHECK_EQ_INT(tsr_proxies_parse(ctx, "127.0.0.1, 10.0.0.0/8,fd00::/8,::1", &p), TSR_OK);
    CHECK_EQ_INT(p.count, 4);
    CHECK_EQ_INT(p.nets[1].bits, 8);
    CHECK_EQ_INT(p.nets[3].bits, 128);
    static const char *const bad[] = {"10.0.0.0/33", "fd00::/129",   "10.0.0.1/",
                                      "10.0.0/8",    "host.example", "1.2.3.4,,5.6.7.8",
                                      "1.2.3.4:80",  "10.0.0.0/-1",  "10.0.0.0/8x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ_INT(tsr_proxies_parse(ctx, bad[i], &p), TSR_ERR_USAGE);
        CHECK(strstr(tsr_ctx_message(ctx), "--trusted-proxies") != NULL);
        tsr_ctx_reset(ctx);
    }
    char many[33 * 12] = "";
    for (int i = 0; i < 33; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s10.0.0.%d", i ? "," : "", i);
    CHECK_EQ_INT(tsr_proxies_parse(ctx, many, &p), TSR_ERR_USAGE);
    tsr_ctx_free(ctx);
}

static void test_match(void) {
    tsr_proxies p = parsed("10.1.0.0/16,192.168.7.5,fd00::/8,0.0.0.0/0");
    CHECK(tsr_proxies_match(&p, "10.1.255.3"));
    CHECK(tsr_proxies_match(&p, "192.168.7.5"));
    CHECK(tsr_proxies_match(&p, "fdab::1"));
    CHECK(!tsr_proxies_match(&p, "fe80::1"));
    CHECK(!tsr_proxies_match(&p, "not an address"));
    tsr_proxies q = parsed("10.1.0.0/17,192.168.7.5");
    CHECK(tsr_proxies_match(&q, "10.1.127.255"));
    CHECK(!tsr_proxies_match(&q, "10.1.128.0"));
    CHECK(!tsr_proxies_match(&q, "192.168.7.6"));
    tsr_proxies none = parsed(NULL);
    CHECK(!tsr_proxies_match(&none, "127.0.0.1"));
}

static void client_is(const tsr_proxies *p, const char *peer, const char *xff, const char *want) {
    char out[64];
    tsr_proxies_client(p, peer, xff, out, sizeof out);
    if (strcmp(out, want) != 0)
        fprintf(stderr, "peer %s, X-Forwarded-For \"%s\": got %s, want %s\n", peer,
                xff ? xff : "(none)", out, want);
    CHECK(strcmp(out, want) == 0);
}

static void test_client(void) {
    tsr_proxies p = parsed("127.0.0.1,10.0.0.0/8");
    /* untrusted peer: the header is the client's own word, ignored */
    client_is(&p, "198.51.100.9", "203.0.113.5", "198.51.100.9");
    /* a trusted peer without the header is the client */
    client_is(&p, "127.0.0.1", NULL, "127.0.0.1");
    client_is(&p, "127.0.0.1", "203.0.113.5", "203.0.113.5");
    client_is(&p, "127.0.0.1", " 203.0.113.5 ", "203.0.113.5");
    /* a spoofed entry on the left stays behind the untrusted hop */
    client_is(&p, "127.0.0.1", "1.2.3.4, 203.0.113.5", "203.0.113.5");
    /* chained trusted proxies are skipped from the right */
    client_is(&p, "127.0.0.1", "203.0.113.5,10.2.3.4", "203.0.113.5");
    client_is(&p, "10.9.9.9", "2001:db8::7, 10.0.0.1, 127.0.0.1", "2001:db8::7");
    /* all trusted: the leftmost */
    client_is(&p, "127.0.0.1", "10.0.0.1,10.0.0.2", "10.0.0.1");
    /* malformed: the last good address to its right stands */
    client_is(&p, "127.0.0.1", "garbage", "127.0.0.1");
    client_is(&p, "127.0.0.1", "203.0.113.5, unknown, 10.0.0.3", "10.0.0.3");
    client_is(&p, "127.0.0.1", "203.0.113.5:4711", "127.0.0.1");
    client_is(&p, "127.0.0.1", "", "127.0.0.1");
    client_is(&p, "127.0.0.1", ",", "127.0.0.1");
    char longest[200];
    memset(longest, '1', sizeof longest - 1);
    longest[sizeof longest - 1] = '\0';
    client_is(&p, "127.0.0.1", longest, "127.0.0.1");
}

int main(void) {
    RUN(test_parse);
    RUN(test_match);
    RUN(test_client);
    return check_finish();
}
