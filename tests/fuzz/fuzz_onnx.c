/* fuzz_onnx.c: the ONNX importer (protobuf decoding, operator import, shape
 * inference, verification) and the default graph pipeline on what it accepts. */
#include "frontend/frontend.h"
#include "passes/passes.h"
#include "tests/fuzz/fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size, "model.onnx");
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Graph *g = onnx_import(arena, path, NULL, 0, &diags);
    if (g)
        ir_verify(g, &diags);
    arena_free(arena);
    return 0;
}
