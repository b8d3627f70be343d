/* fuzz_arch.c: the architecture file reader and validator, and the JSON
 * writer's round trip on what it accepts. */
#include "ir/ir.h"
#include "tests/fuzz/fuzz_input.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size, "arch.json");
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Arch arch;
    if (arch_read_json(path, &arch, &diags) && arch_validate(&arch, path, &diags)) {
        char *json = arch_to_json(arena, &arch);
        fuzz_input_file((const uint8_t *)json, strlen(json), "arch.json");
        Arch again;
        if (!arch_read_json(path, &again, &diags)) {
            diags_print(&diags, stderr);
            abort();
        }
    }
    arena_free(arena);
    return 0;
}
