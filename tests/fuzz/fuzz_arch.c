/* fuzz_arch.c: the architecture file reader and validator from memory, and
 * the JSON writer's round trip on what it accepts (the same fields back). */
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
    Arch arch;
    bool ok = arch_parse_json("arch.json", (const char *)data, size, &arch, &diags);
    fuzz_refused_with_message(ok, &diags, "the read");
    if (ok && arch_validate(&arch, "arch.json", &diags)) {
        char *json = arch_to_json(arena, &arch);
        Arch again;
        if (!arch_parse_json("written.json", json, strlen(json), &again, &diags)) {
            diags_print(&diags, stderr);
            abort();
        }
        if (strcmp(arch_to_json(arena, &again), json) != 0) {
            fprintf(stderr, "the written architecture reads back differently:\n%s", json);
            abort();
        }
    }
    arena_free(arena);
    return 0;
}
