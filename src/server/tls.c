/* TLS for the HTTP listener: reading the PEM certificate chain and key
 * (size-capped) and checking with GnuTLS that they form a usable pair, so
 * a bad file fails at start with a clear message instead of inside MHD. */
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_internal.h"

#define TLS_FILE_MAX (1u << 20) /* bytes of one PEM file */

/* Reads PEM file `path` (given as option `flag`) into a malloc'ed string;
 * it must hold a "-----BEGIN ...`marker`-----" block. */
static tsr_status read_pem(tsr_ctx *ctx, const char *flag, const char *path, const char *marker,
                           char **out) {
    tsr_status st = TSR_OK;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return tsr_error(ctx, TSR_ERR_IO, "serve: %s %s: %s", flag, path, strerror(errno));
    if (!(buf = malloc(TLS_FILE_MAX + 1))) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "serve: out of memory reading %s", path);
        goto out;
    }
    size_t n = fread(buf, 1, TLS_FILE_MAX + 1, f);
    if (ferror(f)) {
        st = tsr_error(ctx, TSR_ERR_IO, "serve: %s %s: cannot read it", flag, path);
        goto out;
    }
    if (n > TLS_FILE_MAX) {
        st = tsr_error(ctx, TSR_ERR_LIMIT, "serve: %s %s is over %u bytes; expected a PEM file",
                       flag, path, TLS_FILE_MAX);
        goto out;
    }
    buf[n] = '\0';
    if (strlen(buf) != n || !strstr(buf, "-----BEGIN ") || !strstr(buf, marker)) {
        st = tsr_error(ctx, TSR_ERR_FORMAT, "serve: %s %s is not a PEM file with a %s block", flag,
                       path, marker);
        goto out;
    }
    *out = buf;
    buf = NULL;
out:
    free(buf);
    fclose(f);
    return st;
}

tsr_status tsr_server_tls_load(tsr_ctx *ctx, const char *cert_path, const char *key_path,
                               char **cert, char **key) {
    gnutls_certificate_credentials_t cred = NULL;
    *cert = *key = NULL;
    tsr_status st = read_pem(ctx, "--tls-cert", cert_path, "CERTIFICATE-----", cert);
    if (!st)
        st = read_pem(ctx, "--tls-key", key_path, "PRIVATE KEY-----", key);
    if (st)
        goto out;
    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        st = tsr_error(ctx, TSR_ERR_NOMEM, "serve: out of memory setting up TLS");
        goto out;
    }
    gnutls_datum_t c = {(unsigned char *)*cert, (unsigned)strlen(*cert)};
    gnutls_datum_t k = {(unsigned char *)*key, (unsigned)strlen(*key)};
    int rc = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
    if (rc < 0)
        st = tsr_error(ctx, TSR_ERR_FORMAT,
                       "serve: --tls-cert %s with --tls-key %s is not a usable pair: %s", cert_path,
                       key_path, gnutls_strerror(rc));
out:
    if (cred)
        gnutls_certificate_free_credentials(cred);
    if (st) {
        free(*cert);
        free(*key);
        *cert = *key = NULL;
    }
    return st;
}
