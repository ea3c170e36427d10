/* The route table: every method and path the server answers, who may call
 * it and what body it takes. docs/openapi.yaml documents the same list
 * (tests/service/test_spec.py checks both ways). */
#include <stdio.h>
#include <string.h>

#include "server/server_internal.h"

const route server_routes[] = {
    {"POST", "/api/v1/images", h_images_upload, ACCESS_USER, BODY_UPLOAD},
    {"GET", "/api/v1/images", h_images_list, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/images/{id}", h_image_get, ACCESS_VIEWER, BODY_NONE},
    {"DELETE", "/api/v1/images/{id}", h_image_delete, ACCESS_USER, BODY_NONE},
    {"GET", "/api/v1/images/{id}/content", h_image_content, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/images/{id}/thumbnail", h_image_thumbnail, ACCESS_VIEWER, BODY_NONE},
    {"POST", "/api/v1/images/{id}/preview", h_image_preview, ACCESS_USER, BODY_JSON},
    {"POST", "/api/v1/images/delete", h_images_delete_many, ACCESS_USER, BODY_JSON},
    {"POST", "/api/v1/transform", h_transform, ACCESS_USER, BODY_IMAGE},
    {"GET", "/api/v1/operations", h_operations, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/presets", h_presets, ACCESS_VIEWER, BODY_NONE},
    {"POST", "/api/v1/pipelines/validate", h_pipeline_validate, ACCESS_USER, BODY_JSON},
    {"GET", "/api/v1/pipelines/saved", h_saved_list, ACCESS_VIEWER, BODY_NONE},
    {"POST", "/api/v1/pipelines/saved", h_saved_create, ACCESS_USER, BODY_JSON},
    {"GET", "/api/v1/pipelines/saved/{name}", h_saved_get, ACCESS_VIEWER, BODY_NONE},
    {"PUT", "/api/v1/pipelines/saved/{name}", h_saved_update, ACCESS_USER, BODY_JSON},
    {"DELETE", "/api/v1/pipelines/saved/{name}", h_saved_delete, ACCESS_USER, BODY_NONE},
    {"GET", "/api/v1/pipelines/saved/{name}/versions", h_saved_versions, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/pipelines/saved/{name}/versions/{version}", h_saved_version_get, ACCESS_VIEWER,
     BODY_NONE},
    {"POST", "/api/v1/pipelines/saved/{name}/rollback", h_saved_rollback, ACCESS_USER, BODY_JSON},
    {"POST", "/api/v1/jobs", h_jobs_create, ACCESS_USER, BODY_JSON},
    {"GET", "/api/v1/jobs", h_jobs_list, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/jobs/{id}", h_job_get, ACCESS_VIEWER, BODY_NONE},
    {"DELETE", "/api/v1/jobs/{id}", h_job_delete, ACCESS_USER, BODY_NONE},
    {"POST", "/api/v1/jobs/{id}/rerun", h_job_rerun, ACCESS_USER, BODY_JSON},
    {"POST", "/api/v1/jobs/{id}/feedback", h_job_feedback, ACCESS_USER, BODY_JSON},
    {"GET", "/api/v1/jobs/{id}/events", h_job_events, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/jobs/{id}/result", h_job_result, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/jobs/{id}/result/{image}", h_job_item_result, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/jobs/{id}/result/{image}/dzi", h_job_item_dzi, ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/jobs/{id}/result/{image}/dzi/{level}/{tile}.{ext}", h_job_item_dzi_tile,
     ACCESS_VIEWER, BODY_NONE},
    {"GET", "/api/v1/feedback", h_feedback_list, ACCESS_ADMIN, BODY_NONE},
    {"GET", "/api/v1/workers", h_workers, ACCESS_ADMIN, BODY_NONE},
    {"GET", "/api/v1/usage", h_usage, ACCESS_VIEWER, BODY_NONE},
    {"POST", "/api/v1/users", h_users_create, ACCESS_ADMIN, BODY_JSON},
    {"GET", "/api/v1/users", h_users_list, ACCESS_ADMIN, BODY_NONE},
    {"GET", "/api/v1/users/{id}", h_user_get, ACCESS_VIEWER, BODY_NONE},
    {"PATCH", "/api/v1/users/{id}", h_user_patch, ACCESS_ADMIN, BODY_JSON},
    {"POST", "/api/v1/tokens", h_tokens_create, ACCESS_USER, BODY_JSON},
    {"GET", "/api/v1/tokens", h_tokens_list, ACCESS_VIEWER, BODY_NONE},
    {"DELETE", "/api/v1/tokens/{id}", h_token_revoke, ACCESS_USER, BODY_NONE},
    {"GET", "/metrics", h_metrics, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/healthz", h_healthz, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/readyz", h_readyz, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/", h_web, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/app.js", h_web, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/js/{name}.js", h_web, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/style.css", h_web, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/favicon.svg", h_web, ACCESS_PUBLIC, BODY_NONE},
    {"GET", "/favicon.ico", h_web, ACCESS_PUBLIC, BODY_NONE}, /* the same SVG */
};
const int server_route_count = (int)(sizeof server_routes / sizeof server_routes[0]);

/* Whether `c` may appear in an id segment: [A-Za-z0-9_-]. */
static int id_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Matches `path` against `pattern`, capturing each {name} into params in
 * order: the longest run of id characters (1..64 of them), after which the
 * rest of the pattern must match ("/js/{name}.js" takes "api" from
 * "/js/api.js"). */
static int pattern_match(const char *pattern, const char *path, char params[5][65]) {
    int n = 0;
    while (*pattern && *path) {
        if (*pattern == '{') {
            const char *end = strchr(pattern, '}');
            size_t len = 0;
            while (id_char(path[len]))
                len++;
            if (len == 0 || len > 64 || n >= 5)
                return 0;
            memcpy(params[n], path, len);
            params[n++][len] = '\0';
            path += len;
            pattern = end + 1;
            continue;
        }
        if (*pattern++ != *path++)
            return 0;
    }
    return *pattern == '\0' && *path == '\0';
}

int route_match(const char *method, const char *path, char params[5][65], int *path_known) {
    *path_known = 0;
    for (int i = 0; i < server_route_count; i++) {
        if (!pattern_match(server_routes[i].pattern, path, params))
            continue;
        if (!strcmp(server_routes[i].method, method))
            return i;
        *path_known = 1;
    }
    return -1;
}

void route_allowed(const char *path, char *buf, size_t size) {
    char params[5][65];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < server_route_count; i++) {
        if (pattern_match(server_routes[i].pattern, path, params) && len < size)
            len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? ", " : "",
                                    server_routes[i].method);
    }
}

void tsr_server_print_routes(FILE *f) {
    for (int i = 0; i < server_route_count; i++)
        fprintf(f, "%s %s\n", server_routes[i].method, server_routes[i].pattern);
}
