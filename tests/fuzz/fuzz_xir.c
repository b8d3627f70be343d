/* fuzz_xir.c: the .xir parser and verifier, and the printer's round trip:
 * what parses and verifies must print to text that parses to the same text. */
#include "ir/ir.h"

#include <stdlib.h>
#include <string.h>

static char *print_to_string(const Graph *g, size_t *length)
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("XBARC_MEMORY_LIMIT", "1G", 0);    /* below libFuzzer's -rss_limit_mb */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Graph *g = ir_parse(arena, "fuzz.xir", (const char *)data, size, &diags);
    if (!g && diags.n_errors == 0) {
        fprintf(stderr, "the parse failed without a message\n");
        abort();
    }
    if (g && ir_verify(g, &diags)) {
        size_t n1, n2;
        char *first = print_to_string(g, &n1);
        Graph *again = ir_parse(arena, "printed.xir", first, n1, &diags);
        if (!again) {
            diags_print(&diags, stderr);
            fprintf(stderr, "printed IR does not parse:\n%s", first);
            abort();
        }
        char *second = print_to_string(again, &n2);
        if (n1 != n2 || memcmp(first, second, n1) != 0) {
            fprintf(stderr, "print(parse(print(g))) != print(g):\n%s\n----\n%s", first, second);
            abort();
        }
        free(first);
        free(second);
    }
    arena_free(arena);
    return 0;
}
