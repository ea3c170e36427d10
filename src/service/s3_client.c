/* The S3 client object: s3:// locations, names and keys, configuration from
 * arguments and the environment, and the pool of curl handles that lets
 * threads share one client. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/s3_internal.h"

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_result = CURLE_FAILED_INIT;

static void global_init(void) {
    global_result = curl_global_init(CURL_GLOBAL_DEFAULT);
    s3_xml_init();
    if (sodium_init() < 0)
        global_result = CURLE_FAILED_INIT;
}

/* ---- locations and names ---------------------------------------------- */

static bool is_ipv4_like(const char *s) {
    int dots = 0;
    for (; *s; s++) {
        if (*s == '.')
            dots++;
        else if (!isdigit((unsigned char)*s))
            return false;
    }
    return dots == 3;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* S3's bucket naming rules; a message naming the broken one. */
static tsr_status bucket_check(tsr_ctx *ctx, const char *b, size_t n) {
    if (n < 3 || n > TSR_S3_BUCKET_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: bucket name '%.*s' must be 3 to 63 characters",
                         (int)(n > 80 ? 80 : n), b);
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '.' || ch == '-'))
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "s3: bucket name '%.*s' may hold only a-z, 0-9, '.' and '-'", (int)n,
                             b);
    }
    if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: bucket name '%.*s' must start and end with a letter or digit", (int)n,
                         b);
    char name[TSR_S3_BUCKET_MAX + 1];
    memcpy(name, b, n);
    name[n] = '\0';
    if (strstr(name, "..") || strstr(name, ".-") || strstr(name, "-."))
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: bucket name '%s' has '..', '.-' or '-.'", name);
    if (is_ipv4_like(name))
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: bucket name '%s' looks like an IP address", name);
    if (!strncmp(name, "xn--", 4) || !strncmp(name, "sthree-", 7) || ends_with(name, "-s3alias") ||
        ends_with(name, "--ol-s3"))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: bucket name '%s' uses a reserved prefix (xn--, sthree-) or suffix "
                         "(-s3alias, --ol-s3)",
                         name);
    return TSR_OK;
}

/* A key path: no control characters, no empty, "." or ".." segment. */
static tsr_status path_check(tsr_ctx *ctx, const char *what, const char *p, size_t max) {
    size_t n = strlen(p);
    if (n == 0 || n > max)
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: %s must be 1 to %zu bytes (got %zu)", what, max,
                         n);
    const char *seg = p;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && ((unsigned char)p[i] < 0x20 || p[i] == 0x7f))
            return tsr_error(ctx, TSR_ERR_USAGE, "s3: %s '%s' has a control character", what, p);
        if (i == n || p[i] == '/') {
            size_t len = (size_t)(p + i - seg);
            if (len == 0 || (len == 1 && seg[0] == '.') ||
                (len == 2 && seg[0] == '.' && seg[1] == '.'))
                return tsr_error(ctx, TSR_ERR_USAGE,
                                 "s3: %s '%s' has an empty, '.' or '..' path segment", what, p);
            seg = p + i + 1;
        }
    }
    return TSR_OK;
}

tsr_status tsr_s3_location_parse(tsr_ctx *ctx, const char *url, tsr_s3_location *out) {
    memset(out, 0, sizeof *out);
    if (!url || strncmp(url, "s3://", 5) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: store URL must look like s3://BUCKET[/PREFIX]");
    const char *b = url + 5, *slash = strchr(b, '/');
    size_t n = slash ? (size_t)(slash - b) : strlen(b);
    tsr_status rc = bucket_check(ctx, b, n);
    if (rc)
        return rc;
    memcpy(out->bucket, b, n);
    if (!slash || !slash[1])
        return TSR_OK;
    size_t plen = strlen(slash + 1);
    while (plen && slash[plen] == '/') /* trailing slashes dropped */
        plen--;
    if (plen > TSR_S3_PREFIX_MAX)
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: prefix is longer than %d bytes",
                         TSR_S3_PREFIX_MAX);
    memcpy(out->prefix, slash + 1, plen);
    out->prefix[plen] = '\0';
    return path_check(ctx, "prefix", out->prefix, TSR_S3_PREFIX_MAX);
}

tsr_status s3_full_key(const tsr_s3_client *c, tsr_ctx *ctx, const char *name,
                       char out[TSR_S3_KEY_MAX + 1]) {
    tsr_status rc = path_check(ctx, "object name", name ? name : "", TSR_S3_NAME_MAX);
    if (rc)
        return rc;
    if (c->loc.prefix[0])
        snprintf(out, TSR_S3_KEY_MAX + 1, "%s/%s", c->loc.prefix, name);
    else
        snprintf(out, TSR_S3_KEY_MAX + 1, "%s", name);
    return TSR_OK;
}

tsr_status s3_uri_append(tsr_buffer *out, const char *text, bool keep_slash) {
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        char enc[3] = {(char)*p, 0, 0};
        size_t n = 1;
        if (!(isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~' ||
              (keep_slash && *p == '/'))) {
            enc[0] = '%';
            enc[1] = hex[*p >> 4];
            enc[2] = hex[*p & 15];
            n = 3;
        }
        tsr_status rc = tsr_buffer_append(out, enc, n);
        if (rc)
            return rc;
    }
    return TSR_OK;
}

/* ---- configuration ------------------------------------------------------ */

static const char *pick(const char *given, const char *env) {
    if (given && *given)
        return given;
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}

static tsr_status endpoint_check(tsr_ctx *ctx, const char *e) {
    if (strncmp(e, "http://", 7) != 0 && strncmp(e, "https://", 8) != 0)
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: endpoint '%s' must start with http:// or https://", e);
    const char *host = strstr(e, "://") + 3;
    if (!*host || *host == '/' || strpbrk(e, "?#@ \t\r\n"))
        return tsr_error(ctx, TSR_ERR_USAGE,
                         "s3: endpoint '%s' must be http[s]://HOST[:PORT][/PATH] (no user, query "
                         "or fragment)",
                         e);
    return TSR_OK;
}

static void defaults(tsr_s3_config *cfg) {
    if (cfg->connect_timeout_ms <= 0)
        cfg->connect_timeout_ms = TSR_S3_CONNECT_TIMEOUT_MS;
    if (cfg->low_speed_bytes <= 0)
        cfg->low_speed_bytes = TSR_S3_LOW_SPEED_BYTES;
    const char *stall = getenv("TESSERA_S3_STALL_SECONDS");
    long stall_s = stall ? strtol(stall, NULL, 10) : 0;
    if (cfg->low_speed_seconds <= 0)
        cfg->low_speed_seconds =
            stall_s >= 1 && stall_s <= 3600 ? stall_s : TSR_S3_LOW_SPEED_SECONDS;
    if (cfg->request_timeout_ms < 0)
        cfg->request_timeout_ms = 0;
    if (cfg->max_attempts <= 0)
        cfg->max_attempts = TSR_S3_ATTEMPTS;
    if (cfg->backoff_base_ms <= 0)
        cfg->backoff_base_ms = TSR_S3_BACKOFF_BASE_MS;
    if (cfg->backoff_max_ms <= 0)
        cfg->backoff_max_ms = TSR_S3_BACKOFF_MAX_MS;
    if (!cfg->single_put_max)
        cfg->single_put_max = TSR_S3_SINGLE_PUT_MAX;
    if (!cfg->part_bytes)
        cfg->part_bytes = TSR_S3_PART_BYTES;
    if (cfg->list_page <= 0 || cfg->list_page > TSR_S3_LIST_PAGE)
        cfg->list_page = TSR_S3_LIST_PAGE;
    cfg->endpoint = cfg->region = cfg->access_key = cfg->secret_key = NULL;
    cfg->session_token = cfg->ca_file = NULL;
}

/* Copies the strings of the configuration into c, from cfg or the environment. */
static tsr_status take_strings(tsr_s3_client *c, tsr_ctx *ctx, const tsr_s3_config *cfg) {
    const char *region = pick(cfg->region, "AWS_REGION");
    const char *key = pick(cfg->access_key, "AWS_ACCESS_KEY_ID");
    const char *secret = pick(cfg->secret_key, "AWS_SECRET_ACCESS_KEY");
    const char *token = pick(cfg->session_token, "AWS_SESSION_TOKEN");
    const char *endpoint = pick(cfg->endpoint, TSR_S3_ENV_ENDPOINT);
    if (!key || !secret)
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: no credentials: set %s",
                         !key && !secret ? "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                         : !key          ? "AWS_ACCESS_KEY_ID"
                                         : "AWS_SECRET_ACCESS_KEY");
    if (!region)
        region = TSR_S3_DEFAULT_REGION;
    for (const char *p = region; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-') || p - region > 40)
            return tsr_error(ctx, TSR_ERR_USAGE, "s3: region '%s' is not a region name", region);
    if (strchr(key, ':') || strpbrk(key, "\r\n") || strpbrk(secret, "\r\n") ||
        (token && strpbrk(token, "\r\n")))
        return tsr_error(ctx, TSR_ERR_USAGE, "s3: credentials hold a ':' or a line break");
    if (endpoint) {
        tsr_status rc = endpoint_check(ctx, endpoint);
        if (rc)
            return rc;
        c->endpoint = strdup(endpoint);
    } else if (asprintf(&c->endpoint, "https://s3.%s.amazonaws.com", region) < 0) {
        c->endpoint = NULL;
    }
    if (c->endpoint)
        for (size_t n = strlen(c->endpoint); n > 0 && c->endpoint[n - 1] == '/'; n--)
            c->endpoint[n - 1] = '\0';
    c->region = strdup(region);
    c->access_key = strdup(key);
    c->secret_key = strdup(secret);
    c->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    if (token && asprintf(&c->token_header, "x-amz-security-token: %s", token) < 0)
        c->token_header = NULL;
    if (!c->endpoint || !c->region || !c->access_key || !c->secret_key ||
        (cfg->ca_file && !c->ca_file) || (token && !c->token_header))
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    snprintf(c->sigv4, sizeof c->sigv4, "aws:amz:%s:s3", c->region);
    return TSR_OK;
}

tsr_status tsr_s3_client_new(tsr_ctx *ctx, const tsr_s3_config *cfg, const tsr_s3_location *loc,
                             tsr_s3_client **out) {
    *out = NULL;
    pthread_once(&global_once, global_init);
    if (global_result != CURLE_OK)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "s3: libcurl/libsodium failed to initialise");
    tsr_s3_config zero = {0};
    tsr_s3_client *c = calloc(1, sizeof *c);
    if (!c)
        return tsr_error(ctx, TSR_ERR_NOMEM, "s3: out of memory");
    pthread_mutex_init(&c->lock, NULL);
    atomic_init(&c->retries, 0);
    c->loc = *loc;
    c->cfg = cfg ? *cfg : zero;
    tsr_status rc = take_strings(c, ctx, cfg ? cfg : &zero);
    defaults(&c->cfg);
    if (!rc && c->cfg.part_bytes < TSR_S3_PART_MIN)
        rc = tsr_error(ctx, TSR_ERR_USAGE, "s3: part size must be at least %llu bytes",
                       (unsigned long long)TSR_S3_PART_MIN);
    if (!rc && (c->cfg.single_put_max > TSR_S3_SINGLE_PUT_LIMIT ||
                c->cfg.part_bytes > TSR_S3_SINGLE_PUT_LIMIT))
        rc = tsr_error(ctx, TSR_ERR_USAGE, "s3: one PUT or part may carry at most %llu bytes",
                       (unsigned long long)TSR_S3_SINGLE_PUT_LIMIT);
    if (rc) {
        tsr_s3_client_free(c);
        return rc;
    }
    *out = c;
    return TSR_OK;
}

void tsr_s3_client_free(tsr_s3_client *c) {
    if (!c)
        return;
    for (int i = 0; i < c->idle_count; i++)
        curl_easy_cleanup(c->idle[i]);
    if (c->secret_key)
        sodium_memzero(c->secret_key, strlen(c->secret_key));
    free(c->endpoint);
    free(c->region);
    free(c->access_key);
    free(c->secret_key);
    free(c->token_header);
    free(c->ca_file);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *tsr_s3_client_endpoint(const tsr_s3_client *c) {
    return c->endpoint;
}

const char *tsr_s3_client_region(const tsr_s3_client *c) {
    return c->region;
}

uint64_t tsr_s3_retries(const tsr_s3_client *c) {
    return atomic_load(&((tsr_s3_client *)c)->retries);
}

/* ---- the handle pool ---------------------------------------------------- */

CURL *s3_handle_take(tsr_s3_client *c) {
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->idle_count > 0)
        h = c->idle[--c->idle_count];
    pthread_mutex_unlock(&c->lock);
    if (!h)
        h = curl_easy_init(); /* a pooled handle keeps its connections and caches */
    return h;
}

void s3_handle_give(tsr_s3_client *c, CURL *h) {
    if (!h)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->idle_count < TSR_S3_POOL) {
        c->idle[c->idle_count++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}
