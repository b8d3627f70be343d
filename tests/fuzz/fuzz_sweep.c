/* fuzz_sweep.c: a sweep file (docs/sweep.md 2) from memory, through the
 * option parser and the definition's checks, as `xbarc sweep --file` reads
 * it: nothing may crash, and a definition the checks accept must give a
 * manifest that is JSON and a grid whose every unit maps to a point and seed
 * in range (sweep_unit).  Usage errors go to stderr. */
#include "fuzz.h"

#include "cli/sweep.h"

#include <cJSON.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_memory_limit();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Arena *arena = arena_new();
    Args a = {.command = "sweep"};
    char **argv = NULL;
    int argc = 0, cap = 0;
    SweepSpec s = sweep_spec_default();
    if (sweep_file_parse(&a, "sweep.json", (const char *)data, size, arena, &argv, &argc, &cap)) {
        Args sub = {.argc = argc, .argv = argv, .command = "sweep"};
        while (sub.i < sub.argc && !sub.failed)
            if (!sweep_spec_option(&sub, &s, arena))
                usage_error(&sub, "--file: %s is not an option of the definition", sub.argv[sub.i++]);
        sweep_spec_check(&sub, &s, arena);
        if (!sub.failed) {
            cJSON *manifest = cJSON_Parse(sweep_manifest(&s, arena));
            if (!manifest) {
                fprintf(stdout, "the manifest is not JSON\n");
                abort();
            }
            cJSON_Delete(manifest);
            int64_t units = s.n_points * s.seeds;
            for (int64_t u = 0; u < units && u < 4096; u++) {
                int64_t point;
                int seed;
                sweep_unit(&s, u, &point, &seed);
                if (point < 0 || point >= s.n_points || seed < 1 || seed > s.seeds) {
                    fprintf(stdout, "unit %lld maps to point %lld seed %d\n", (long long)u, (long long)point, seed);
                    abort();
                }
            }
        }
    }
    arena_free(arena);
    return 0;
}
