/* fuzz_results.c: the results reader (cli/results.c) from memory, and the
 * writer's round trip on what it accepts: written, read and written again,
 * the same bytes; and the rows alone (results_parse_rows) read against the
 * manifest read. */
#include "fuzz.h"

#include "cli/cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_memory_limit();
    return 0;
}

static char *fuzz_written(const ResultTable *t, size_t *length)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, length);
    if (!f)
        abort();
    results_write_jsonl(f, t);
    fclose(f);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    ResultTable t;
    bool ok = results_parse(arena, "r.jsonl", (const char *)data, size, &t, &diags);
    fuzz_refused_with_message(ok, &diags, "the read");
    if (ok) {
        size_t n1, n2;
        char *first = fuzz_written(&t, &n1);
        ResultTable again;
        if (!results_parse(arena, "written.jsonl", first, n1, &again, &diags)) {
            diags_print(&diags, stderr);
            fprintf(stderr, "the written table does not read back:\n%s", first);
            abort();
        }
        /* the rows alone, against the manifest read: the same rows */
        const char *rows = memchr(first, '\n', n1) + 1;
        bool cut;
        ResultTable alone;
        if (!results_parse_rows(arena, "rows.jsonl", rows, n1 - (size_t)(rows - first), again.manifest, &alone, &cut,
                                &diags) || cut || alone.n_rows != again.n_rows) {
            diags_print(&diags, stderr);
            fprintf(stderr, "the rows do not read alone:\n%s", first);
            abort();
        }
        char *second = fuzz_written(&again, &n2);
        if (n1 != n2 || memcmp(first, second, n1) != 0) {
            fprintf(stderr, "write(read(write(t))) != write(t):\n%s\n----\n%s", first, second);
            abort();
        }
        free(first);
        free(second);
    }
    arena_free(arena);
    return 0;
}
