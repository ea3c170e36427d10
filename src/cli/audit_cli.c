/* The audit trail of offline commands: `tessera user`, `token` and `data`
 * change accounts and keys without a server, so no request log sees them.
 * Each change is one JSON line like the server's audit lines ("msg":"audit",
 * docs/security.md), written on stderr and appended to DATA/audit.log. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/accounts.h"
#include "util/clock.h"

/* Appends `text` and a newline to DATA/audit.log (created 0600) and syncs
 * it. Returns 0 on failure (errno set). */
static int append_line(const char *data, const char *text) {
    char path[4096];
    if (snprintf(path, sizeof path, "%s/audit.log", data) >= (int)sizeof path)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return 0;
    size_t len = strlen(text);
    char *line = malloc(len + 1);
    int ok = line != NULL;
    if (ok) {
        memcpy(line, text, len);
        line[len] = '\n';
        ok = write(fd, line, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0;
    }
    free(line);
    close(fd);
    return ok;
}

void cli_audit(const char *data, const char *event, ...) {
    const struct passwd *pw = getpwuid(geteuid());
    json_t *line = json_object();
    char now[TSR_CLOCK_ISO_SIZE];
    tsr_clock_format_iso(tsr_clock_wall_ms(), now);
    json_object_set_new(line, "ts", json_string(now));
    json_object_set_new(line, "level", json_string("info"));
    json_object_set_new(line, "msg", json_string("audit"));
    json_object_set_new(line, "event", json_string(event));
    json_object_set_new(line, "source", json_string("cli"));
    json_object_set_new(line, "os_user", pw ? json_string(pw->pw_name) : json_null());
    json_object_set_new(line, "uid", json_integer((json_int_t)geteuid()));
    va_list ap;
    va_start(ap, event);
    for (const char *key; (key = va_arg(ap, const char *));) {
        json_t *v = va_arg(ap, json_t *);
        json_object_set_new(line, key, v ? v : json_null());
    }
    va_end(ap);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        fprintf(stderr, "%s\n", text);
        if (!append_line(data, text))
            fprintf(stderr, "tessera: warning: could not append to %s/audit.log: %s\n", data,
                    strerror(errno));
    }
    free(text);
    json_decref(line);
}
