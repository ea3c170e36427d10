/*
 * Replays a fuzz target's corpus without libFuzzer: runs the target over
 * every file of the folders given on the command line (built with the
 * normal compiler; under ASan + UBSan in the sanitizer build). Prints
 * "ok   replay_<target> (N inputs)" or "FAIL replay_<target>: why".
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_TARGET
#error "FUZZ_TARGET must name the target"
#endif
#define STR2(x) #x
#define STR(x)  STR2(x)

/* Runs the target on one file; 0 on success, -1 when it cannot be read. */
static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *data = NULL;
    size_t len = 0, cap = 0, n;
    uint8_t chunk[65536];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            uint8_t *grown = realloc(data, cap);
            if (!grown) {
                free(data);
                fclose(f);
                return -1;
            }
            data = grown;
        }
        memcpy(data + len, chunk, n);
        len += n;
    }
    fclose(f);
    /* An exact-size copy, so ASan sees reads one past the end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (len)
        memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    long inputs = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (!d) {
            fprintf(stderr, "FAIL replay_%s: cannot open %s\n", STR(FUZZ_TARGET), argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char path[4096];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (stat(path, &st) || !S_ISREG(st.st_mode))
                continue;
            if (replay_file(path)) {
                fprintf(stderr, "FAIL replay_%s: cannot read %s\n", STR(FUZZ_TARGET), path);
                closedir(d);
                return 1;
            }
            inputs++;
        }
        closedir(d);
    }
    if (inputs == 0) {
        fprintf(stderr, "FAIL replay_%s: empty corpus\n", STR(FUZZ_TARGET));
        return 1;
    }
    printf("ok   replay_%s (%ld inputs)\n", STR(FUZZ_TARGET), inputs);
    return 0;
}
