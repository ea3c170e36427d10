/* "Did you mean": edit distance and the closest candidate (see suggest.h). */
#include "util/suggest.h"

#include <ctype.h>
#include <string.h>

enum { MAX_LEN = 64, FAR = 1000 };

/* A byte as compared: lower case, '_' as '-'. */
static int fold(char c) {
    return c == '_' ? '-' : tolower((unsigned char)c);
}

int tsr_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > MAX_LEN || lb > MAX_LEN)
        return FAR;
    int row[MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (fold(a[i - 1]) != fold(b[j - 1]));
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Whether `needle` (folded) occurs in `hay` at `at` or, with at < 0,
 * anywhere. */
static int contains(const char *hay, const char *needle, int at) {
    size_t lh = strlen(hay), ln = strlen(needle);
    for (size_t start = 0; ln <= lh && start + ln <= lh; start++) {
        if (at >= 0 && start != (size_t)at)
            break;
        size_t k = 0;
        while (k < ln && fold(hay[start + k]) == fold(needle[k]))
            k++;
        if (k == ln)
            return 1;
    }
    return 0;
}

void tsr_suggest_init(tsr_suggest *s, const char *word) {
    s->word = word;
    s->best = NULL;
    s->score = FAR;
}

/* Score of a candidate: its edit distance when close enough; a prefix or
 * a word inside it comes after every close spelling. FAR when not close. */
static int score_of(const char *word, const char *candidate) {
    int lw = (int)strlen(word), lc = (int)strlen(candidate);
    int d = tsr_edit_distance(word, candidate);
    int allowed = lc / 3 > 1 ? lc / 3 : 1;
    if (d <= allowed && d < (lw > lc ? lw : lc))
        return d;
    if (lw >= 3 && contains(candidate, word, 0))
        return MAX_LEN + d;
    if (lw >= 4 && contains(candidate, word, -1))
        return 2 * MAX_LEN + d;
    return FAR;
}

void tsr_suggest_add(tsr_suggest *s, const char *candidate) {
    if (!s->word || !candidate)
        return;
    int score = score_of(s->word, candidate);
    if (score < s->score) {
        s->score = score;
        s->best = candidate;
    }
}
