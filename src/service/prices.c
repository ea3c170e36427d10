/* The price table and job costs (prices.h). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "service/prices.h"
#include "tessera/tessera.h"

#define MAX_FILE (64 * 1024)

/* A currency is 1..15 letters or digits ("USD", "EUR", "credits"): it
 * appears in answers and as a metric label. */
static int currency_ok(const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return n >= 1 && n < sizeof((tsr_prices *)0)->currency;
}

tsr_status tsr_prices_load(tsr_ctx *ctx, const char *path, tsr_prices *out) {
    memset(out, 0, sizeof *out);
    snprintf(out->currency, sizeof out->currency, "USD");
    tsr_buffer file = {0};
    tsr_status st = tsr_file_read(ctx, path, MAX_FILE, &file);
    if (st)
        return st;
    json_error_t err;
    json_t *j = json_loadb((const char *)file.data, file.len, 0, &err);
    tsr_buffer_free(&file);
    if (!json_is_object(j)) {
        json_decref(j);
        return tsr_error(ctx, TSR_ERR_USAGE, "%s: not a JSON object of prices (%s)", path,
                         err.text);
    }
    struct {
        const char *name;
        double *value;
    } fields[] = {{"cpu_hour", &out->cpu_hour},
                  {"gpu_hour", &out->gpu_hour},
                  {"gb_month", &out->gb_month},
                  {"gb_transfer", &out->gb_transfer}};
    const char *key;
    json_t *v;
    json_object_foreach(j, key, v) {
        size_t i = 0;
        while (i < sizeof fields / sizeof fields[0] && strcmp(key, fields[i].name))
            i++;
        if (!strcmp(key, "currency") && json_is_string(v) && currency_ok(json_string_value(v))) {
            snprintf(out->currency, sizeof out->currency, "%s", json_string_value(v));
        } else if (i < sizeof fields / sizeof fields[0] && json_is_number(v) &&
                   json_number_value(v) >= 0) {
            *fields[i].value = json_number_value(v);
        } else {
            json_decref(j);
            return tsr_error(ctx, TSR_ERR_USAGE,
                             "%s: '%s' is not a price (currency: 1 to 15 letters or digits; "
                             "cpu_hour, gpu_hour, gb_month, gb_transfer: numbers >= 0)",
                             path, key);
        }
    }
    json_decref(j);
    return TSR_OK;
}

tsr_job_cost tsr_prices_cost(const tsr_prices *p, const tsr_job_usage *u) {
    tsr_job_cost c;
    c.compute = u->cpu_seconds / 3600.0 * p->cpu_hour + u->gpu_seconds / 3600.0 * p->gpu_hour;
    c.transfer = (double)u->network_bytes / 1e9 * p->gb_transfer;
    c.storage_month = (double)u->written_bytes / 1e9 * p->gb_month;
    c.total = c.compute + c.transfer + c.storage_month;
    return c;
}
