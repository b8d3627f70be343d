/* fuzz_tensor.c: the tensor readers from memory, .npy and .pb (the first
 * byte of the input chooses which; the rest is the file). */
#include "frontend/frontend.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_memory_limit();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Tensor t;
    bool ok = tensor_read_memory(arena, data[0] & 1 ? "t.pb" : "t.npy", data + 1, size - 1, &t, &diags);
    fuzz_refused_with_message(ok, &diags, "the read");
    arena_free(arena);
    return 0;
}
