/* fuzz.h: what the libFuzzer harnesses of tests/fuzz/ share (each harness is
 * its own program and includes this once).
 *
 * A finding is a crash, a sanitizer report, or one of the invariants below
 * failing: a reader that refuses an input without saying why, or a graph
 * whose printed .xir does not parse back to the same text. */
#ifndef XBARC_FUZZ_H
#define XBARC_FUZZ_H

#include "ir/ir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sizes the memory limit lets through stay below libFuzzer's -rss_limit_mb
 * and -malloc_limit_mb (scripts/fuzz): a size the limit refuses is an error,
 * one it lets through that libFuzzer catches is a finding. */
static inline void fuzz_memory_limit(void)
{
    setenv("XBARC_MEMORY_LIMIT", "1G", 1);
}

/* A refusal must carry a message. */
static inline void fuzz_refused_with_message(bool accepted, const Diags *diags, const char *what)
{
    if (!accepted && diags->n_errors == 0) {
        fprintf(stderr, "%s failed without a message\n", what);
        abort();
    }
}

static inline char *fuzz_print(const Graph *g, size_t *length)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, length);
    if (!f)
        abort();
    PrintOptions options = {0};
    ir_print(g, f, &options);
    fclose(f);
    return text;
}

/* print(parse(print(g))) == print(g). */
static inline void fuzz_round_trip(Arena *arena, const Graph *g, Diags *diags)
{
    size_t n1, n2;
    char *first = fuzz_print(g, &n1);
    Graph *again = ir_parse(arena, "printed.xir", first, n1, diags);
    if (!again) {
        diags_print(diags, stderr);
        fprintf(stderr, "the printed graph does not parse:\n%s", first);
        abort();
    }
    char *second = fuzz_print(again, &n2);
    if (n1 != n2 || memcmp(first, second, n1) != 0) {
        fprintf(stderr, "print(parse(print(g))) != print(g):\n%s\n----\n%s", first, second);
        abort();
    }
    free(first);
    free(second);
}

#endif
