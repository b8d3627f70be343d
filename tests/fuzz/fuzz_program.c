/* fuzz_program.c: the program reader and checker, then the simulator on
 * what they accept (ideal chip, inputs from a fixed pattern), when the
 * program is small enough to run many times a second. */
#include "runtime/program.h"
#include "tests/fuzz/fuzz_input.h"

enum { RUN_LIMIT = 1 << 20 };   /* elements of all buffers, and cells of all tiles */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_input_file(data, size, "p.xbp");
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    Program *p = program_read(arena, path, &diags);
    if (p) {
        int64_t work = 0;
        for (int i = 0; i < p->n_buffers; i++)
            work += type_numel(&p->buffers[i].type);
        for (int t = 0; t < p->n_tiles; t++)
            work += (int64_t)p->tiles[t].rows * p->tiles[t].cols;
        if (work <= RUN_LIMIT) {
            Sim *sim = sim_new(p);
            for (int i = 0; i < p->n_inputs; i++) {
                float *x = sim_input(sim, i);
                int64_t n = type_numel(&p->buffers[p->inputs[i]].type);
                for (int64_t j = 0; j < n; j++)
                    x[j] = (float)((j * 37 + i) % 17) / 8.0f - 0.5f;
            }
            sim_run(sim);
            sim_free(sim);
        }
    }
    arena_free(arena);
    return 0;
}
