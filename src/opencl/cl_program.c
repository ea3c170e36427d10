/* Building the program once per device, with an on-disk cache of binaries
 * keyed by device, driver, build options and source. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "opencl/cl_internal.h"
#include "util/hex.h"
#include "util/log.h"

/* OpenCL C 1.2; the sources also say `#pragma OPENCL FP_CONTRACT OFF`, so no
 * a * b + c becomes a fused multiply-add (the CPU build uses
 * -ffp-contract=off for the same reason); no -cl-fast-relaxed-math, no
 * -cl-mad-enable: float results stay IEEE, as on the CPU. */
#define BUILD_OPTIONS  "-cl-std=CL1.2"
#define MAX_CACHE_FILE (64u << 20)

void tsr_cl_cache_dir(char *buf, size_t size) {
    const char *dir = getenv("TESSERA_CL_CACHE"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (dir && dir[0])
        snprintf(buf, size, "%s", dir);
    else if (xdg && xdg[0])
        snprintf(buf, size, "%s/tessera/opencl", xdg);
    else if (home && home[0])
        snprintf(buf, size, "%s/.cache/tessera/opencl", home);
    else
        buf[0] = 0;
}

/* mkdir -p for the cache directory; 0 on success. */
static int make_dirs(const char *path) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0700) && errno != EEXIST ? -1 : 0;
}

/* The cache file for this device and source: DIR/<hash>.bin. */
static int cache_path(cl_device_id device, char *path, size_t size) {
    char dir[3000], part[256];
    tsr_cl_cache_dir(dir, sizeof dir);
    if (!dir[0])
        return -1;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    const cl_device_info keys[] = {CL_DEVICE_NAME, CL_DEVICE_VENDOR, CL_DRIVER_VERSION,
                                   CL_DEVICE_VERSION};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        tsr_cl_device_string(device, keys[i], part, sizeof part);
        crypto_generichash_update(&h, (const unsigned char *)part, strlen(part) + 1);
    }
    crypto_generichash_update(&h, (const unsigned char *)BUILD_OPTIONS, sizeof BUILD_OPTIONS);
    crypto_generichash_update(&h, (const unsigned char *)tsr_cl_program_source,
                              strlen(tsr_cl_program_source));
    unsigned char digest[32];
    crypto_generichash_final(&h, digest, sizeof digest);
    char hex[65];
    tsr_hex_encode(hex, digest, sizeof digest);
    snprintf(path, size, "%s/%s.bin", dir, hex);
    return 0;
}

/* The cached binary at `path` (malloc'd) or NULL. */
static unsigned char *cache_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    struct stat st;
    if (!fstat(fileno(f), &st) && st.st_size > 0 && st.st_size <= MAX_CACHE_FILE &&
        (buf = malloc((size_t)st.st_size)) &&
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)st.st_size : 0;
    return buf;
}

/* Writes the program's binary to `path` (temp file + rename, so a reader
 * never sees half of one). Failures only cost a rebuild next time. */
static void cache_write(cl_program program, const char *path) {
    size_t len = 0;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES, sizeof len, &len, NULL) != CL_SUCCESS ||
        len == 0 || len > MAX_CACHE_FILE)
        return;
    unsigned char *bin = malloc(len);
    char dir[4096], temp[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!bin || !slash) {
        free(bin);
        return;
    }
    *slash = 0;
    snprintf(temp, sizeof temp, "%s.XXXXXX", path);
    int fd = -1;
    if (clGetProgramInfo(program, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL) == CL_SUCCESS &&
        !make_dirs(dir) && (fd = mkstemp(temp)) >= 0) {
        int ok = write(fd, bin, len) == (ssize_t)len;
        ok = !close(fd) && ok;
        if (!ok || rename(temp, path))
            unlink(temp);
    }
    free(bin);
}

/* Builds `program`, putting the build log into the error on failure. */
static tsr_status build(tsr_ctx *ctx, cl_program program, cl_device_id device, const char *what) {
    cl_int err = clBuildProgram(program, 1, &device, BUILD_OPTIONS, NULL, NULL);
    if (err == CL_SUCCESS)
        return TSR_OK;
    char log[2048] = "";
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, NULL);
    log[sizeof log - 1] = 0;
    return tsr_error(ctx, TSR_ERR_INTERNAL, "OpenCL program %s failed (%d): %.1500s", what,
                     (int)err, log);
}

tsr_status tsr_cl_program_build(tsr_ctx *ctx, cl_context context, cl_device_id device,
                                cl_program *out, int *from_cache) {
    char path[4096];
    size_t len = 0;
    *from_cache = 0;
    int cached = !cache_path(device, path, sizeof path);
    unsigned char *bin = cached ? cache_read(path, &len) : NULL;
    if (bin) {
        cl_int status = 0, err = 0;
        const unsigned char *bins[1] = {bin};
        cl_program p = clCreateProgramWithBinary(context, 1, &device, &len, bins, &status, &err);
        free(bin);
        if (p && err == CL_SUCCESS && status == CL_SUCCESS &&
            clBuildProgram(p, 1, &device, BUILD_OPTIONS, NULL, NULL) == CL_SUCCESS) {
            *out = p;
            *from_cache = 1;
            return TSR_OK;
        }
        if (p)
            clReleaseProgram(p);
        tsr_log_field f = TSR_LOG_FIELD_STRING("path", path);
        tsr_log(TSR_LOG_WARN, "OpenCL cache entry unusable; rebuilding", &f, 1);
    }
    const char *src = tsr_cl_program_source;
    cl_int err = 0;
    cl_program p = clCreateProgramWithSource(context, 1, &src, NULL, &err);
    if (!p || err != CL_SUCCESS)
        return tsr_error(ctx, TSR_ERR_INTERNAL, "OpenCL program could not be created (%d)",
                         (int)err);
    tsr_status st = build(ctx, p, device, "build");
    if (st) {
        clReleaseProgram(p);
        return st;
    }
    if (cached)
        cache_write(p, path);
    *out = p;
    return TSR_OK;
}
