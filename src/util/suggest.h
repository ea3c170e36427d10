/* "Did you mean": the known name closest to a misspelt one (an unknown
 * operation, parameter or choice), by edit distance and prefix. */
#ifndef TESSERA_UTIL_SUGGEST_H
#define TESSERA_UTIL_SUGGEST_H

/* Collects candidates for one misspelt word. Usage:
 *   tsr_suggest s;
 *   tsr_suggest_init(&s, word);
 *   for each known name: tsr_suggest_add(&s, name);
 *   if (s.best) ... "did you mean '%s'?", s.best */
typedef struct tsr_suggest {
    const char *word; /* what was written (borrowed) */
    const char *best; /* the closest candidate so far; NULL while none is close (borrowed) */
    int score;        /* best's score: lower is closer */
} tsr_suggest;

void tsr_suggest_init(tsr_suggest *s, const char *word);
/* Offers `candidate` (borrowed; must outlive s.best's use). It is kept when
 * it is close to the word (few edits for its length, ignoring case and
 * '-' versus '_', or the word begins it or lies inside it) and closer than
 * the candidates before it; ties keep the first. */
void tsr_suggest_add(tsr_suggest *s, const char *candidate);

/* Levenshtein distance between a and b, ignoring case and treating '-' and
 * '_' alike; strings over 64 bytes count as far from everything (a large
 * number). */
int tsr_edit_distance(const char *a, const char *b);

#endif
