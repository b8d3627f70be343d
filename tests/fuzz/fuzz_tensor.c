/* fuzz_tensor.c: the tensor readers, .npy and .pb (the first byte of the
 * input chooses which; the rest is the file). */
#include "frontend/frontend.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = fuzz_input_file(data + 1, size - 1, data[0] & 1 ? "t.pb" : "t.npy");
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Tensor t;
    tensor_read(arena, path, &t, &diags);
    arena_free(arena);
    return 0;
}
