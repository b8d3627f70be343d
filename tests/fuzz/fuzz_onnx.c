/* fuzz_onnx.c: the ONNX importer (protobuf decoding, operator import, shape
 * inference, verification) from memory, and on what it accepts the default
 * graph pipeline and the printer's round trip: an imported graph must print
 * to .xir that parses back to the same text. */
#include "frontend/frontend.h"
#include "passes/passes.h"

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
    Graph *g = onnx_import_memory(arena, "model.onnx", data, size, NULL, 0, &diags);
    if (!g && diags.n_errors == 0) {
        fprintf(stderr, "the import failed without a message\n");
        abort();
    }
    PassOptions quiet = {0};
    if (g && pass_run_pipeline(g, default_pipeline, &quiet, &diags)) {
        size_t n1, n2;
        char *first = print_to_string(g, &n1);
        Graph *again = ir_parse(arena, "printed.xir", first, n1, &diags);
        if (!again) {
            diags_print(&diags, stderr);
            fprintf(stderr, "the imported graph's IR does not parse:\n%s", first);
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
