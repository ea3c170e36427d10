/* The price table (`serve --prices FILE`) and what a job costs under it
 * (docs/operations.md, "Costs"). */
#ifndef TESSERA_SERVICE_PRICES_H
#define TESSERA_SERVICE_PRICES_H

#include "service/store.h"

typedef struct tsr_prices {
    char currency[16];  /* "USD", "EUR"...: shown, never converted */
    double cpu_hour;    /* per CPU-hour (one core busy for an hour) */
    double gpu_hour;    /* per GPU-hour (a device busy for an hour) */
    double gb_month;    /* per GB (1e9 bytes) stored for a month */
    double gb_transfer; /* per GB through the network to and from workers */
} tsr_prices;

/* What one job costs. */
typedef struct tsr_job_cost {
    double compute;       /* CPU and GPU time */
    double transfer;      /* network bytes */
    double storage_month; /* keeping its results for a month */
    double total;         /* the three together */
} tsr_job_cost;

/* Reads a JSON price table: {"currency":"USD","cpu_hour":0.04,
 * "gpu_hour":2.5,"gb_month":0.023,"gb_transfer":0.09}; every price is a
 * number >= 0 (missing ones are 0), at most 64 KiB. Errors name the file
 * and the field. */
tsr_status tsr_prices_load(tsr_ctx *ctx, const char *path, tsr_prices *out);
/* The cost of `usage` under `prices`. */
tsr_job_cost tsr_prices_cost(const tsr_prices *prices, const tsr_job_usage *usage);

#endif
