/*
 * User feedback on finished jobs (issue 14): one rating of 1..5 and an
 * optional plain-text comment per job and user, given by the job's owner
 * once the job succeeded or failed; posting again replaces it. Each row
 * carries a copy of what the job ran (pipeline text, op versions, output
 * settings, name, final state) taken when the rating is given, so admins'
 * lists and exports keep it after the job is deleted. Every rating given
 * (a new one, or a changed value; not a change of the comment alone) also
 * counts once for each op of the job in feedback_counts, which only grows:
 * /metrics reads it. Design notes:
 * docs/internals/store.md (Feedback).
 *
 * Threads and errors as in store.h. Role policy (who may list) is the HTTP
 * layer's: the list call shows every user's feedback.
 */
#ifndef TESSERA_SERVICE_STORE_FEEDBACK_H
#define TESSERA_SERVICE_STORE_FEEDBACK_H

#include "service/store.h"

#define TSR_FEEDBACK_RATING_MIN  1
#define TSR_FEEDBACK_RATING_MAX  5
#define TSR_FEEDBACK_COMMENT_MAX 2000 /* characters (code points) in a comment */
#define TSR_FEEDBACK_OP_NAME_MAX 63   /* bytes of an op name in feedback_counts */

/* One user's feedback on one job. */
typedef struct tsr_store_feedback {
    int64_t id;                                   /* row id; export order (oldest first) */
    char job[TSR_STORE_ID_LEN + 1];               /* the rated job (may since be deleted) */
    int64_t user;                                 /* who gave it: the job's owner */
    char user_name[TSR_STORE_NAME_MAX + 1];       /* that account's name */
    int rating;                                   /* 1..5 */
    char *comment;                                /* owned; plain text, "" when none */
    char job_name[TSR_STORE_FILE_NAME_MAX + 1];   /* the job's display name; "" when none */
    tsr_job_state job_state;                      /* TSR_JOB_SUCCEEDED or TSR_JOB_FAILED */
    char *pipeline_text;                          /* owned; the job's normalized pipeline */
    char *op_versions;                            /* owned; JSON object op name -> version */
    char output_format[TSR_STORE_FORMAT_MAX + 1]; /* the job's output format */
    int quality;                                  /* the job's output quality */
    int64_t created;                              /* first given, ms since epoch */
    int64_t updated;                              /* last given (= created until replaced) */
} tsr_store_feedback;

/* Which feedback a search returns (every user's). */
typedef struct tsr_store_feedback_query {
    int64_t from;     /* only given (updated) at or after this ms time; 0 = no bound */
    int64_t to;       /* only given at or before this ms time; 0 = no bound */
    int rating;       /* only this rating (1..5); 0 = any */
    const char *op;   /* only jobs that ran this op; NULL / "" = any. Borrowed */
    size_t limit;     /* at most this many (0 or over TSR_STORE_LIST_MAX: that many) */
    size_t offset;    /* newest first: skip this many matches (ignored with by_id) */
    bool by_id;       /* export pages instead: oldest row first, ids above after_id */
    int64_t after_id; /* with by_id: the last id of the previous page (0 = from the start) */
} tsr_store_feedback_query;

/* Ratings given so far of one op and one rating value. */
typedef struct tsr_store_feedback_count {
    char op[TSR_FEEDBACK_OP_NAME_MAX + 1]; /* op name */
    int rating;                            /* 1..5 */
    uint64_t count;                        /* ratings given (changed ratings included) */
} tsr_store_feedback_count;

/* Records `rating` (1..5) and `comment` (NULL = "", at most
 * TSR_FEEDBACK_COMMENT_MAX characters of valid UTF-8, borrowed) of user
 * `user` on job `job_id`, replacing that user's earlier feedback on it, and
 * counts the rating for each op of the job, all in one transaction. Only
 * the job's owner rates it, and only once it succeeded or failed: for any
 * other job (unknown, another owner's, not finished, cancelled) nothing is
 * written and *found = 0. *replaced says whether feedback was there before
 * (then the counts grow only when the rating value changed).
 * A rating or comment out of bounds is TSR_ERR_USAGE. The caller frees
 * `out` (may be NULL) with tsr_store_feedback_clear. */
tsr_status tsr_store_feedback_put(tsr_store *store, tsr_ctx *ctx, int64_t user, const char *job_id,
                                  int rating, const char *comment, int *found, int *replaced,
                                  tsr_store_feedback *out);
/* User `user`'s feedback on job `job_id`; *found = 0 when there is none.
 * The caller frees *out with tsr_store_feedback_clear. */
tsr_status tsr_store_feedback_get(tsr_store *store, tsr_ctx *ctx, int64_t user, const char *job_id,
                                  tsr_store_feedback *out, int *found);
/* Every user's feedback matching `query`: newest (updated) first with
 * offset and *total (how many match in all), or export pages (by_id; *total
 * is then not counted and set to -1). The caller frees *out with
 * tsr_store_feedback_list_free. */
tsr_status tsr_store_feedback_search(tsr_store *store, tsr_ctx *ctx,
                                     const tsr_store_feedback_query *query,
                                     tsr_store_feedback **out, size_t *count, int64_t *total);
/* The ratings given so far by op and rating value (only pairs given at
 * least once), by op name then rating. The caller frees *out with free(). */
tsr_status tsr_store_feedback_counts(tsr_store *store, tsr_ctx *ctx, tsr_store_feedback_count **out,
                                     size_t *count);

/* Frees the strings of `fb` and zeroes it. Accepts NULL. */
void tsr_store_feedback_clear(tsr_store_feedback *fb);
/* Frees an array of `count` rows from tsr_store_feedback_search. Accepts NULL. */
void tsr_store_feedback_list_free(tsr_store_feedback *list, size_t count);

#endif
