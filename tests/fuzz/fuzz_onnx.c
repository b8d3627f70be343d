/* fuzz_onnx.c: the ONNX importer (protobuf decoding, operator import, shape
 * inference, verification) from memory, and on what it accepts the default
 * graph pipeline and the printer's round trip: an imported graph must print
 * to .xir that parses back to the same text. */
#include "frontend/frontend.h"
#include "passes/passes.h"
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
    Graph *g = onnx_import_memory(arena, "model.onnx", data, size, NULL, 0, &diags);
    fuzz_refused_with_message(g, &diags, "the import");
    PassOptions quiet = {0};
    if (g && pass_run_pipeline(g, default_pipeline, &quiet, &diags))
        fuzz_round_trip(arena, g, &diags);
    arena_free(arena);
    return 0;
}
