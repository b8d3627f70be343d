/* fuzz_xir.c: the .xir parser and verifier, and the printer's round trip:
 * what parses and verifies must print to text that parses to the same text. */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_memory_limit();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Graph *g = ir_parse(arena, "fuzz.xir", (const char *)data, size, &diags);
    fuzz_refused_with_message(g, &diags, "the parse");
    if (g && ir_verify(g, &diags))
        fuzz_round_trip(arena, g, &diags);
    arena_free(arena);
    return 0;
}
