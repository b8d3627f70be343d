/* test_sim_fast.c: the simulator's fast path (runtime/sim_fast.c) on codes
 * that do not come from a quant.
 *
 * An mvm whose source is a quant's codes (or an im2col of them) reads them in
 * place; any other source is checked once a run and, when some value lies
 * outside the DACs' range, clamped first.  Here the mvm reads the program's
 * input directly, with codes inside the range, outside it (above, below) and
 * NaN.  The output must equal, bit for bit, the integer computation written
 * here from docs/crossbar.md 3 and 5 (codes clamped to [0, 255], NaN to 0;
 * weights sum_s 4^s (G+ - G-) from the tile's 2-bit levels; y = (float)acc *
 * out_scale), and the reads path (fast path off) too. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "runtime/program.h"
#include "runtime/runtime.h"

enum { P = 19, K = 6, N = 2, SLICES = 4, PHYS = 2 * N * SLICES, B_X = 0, B_READ, B_ACC, B_Y, N_BUFFERS };

static const float out_scale[N] = {1.5e-3f, 2.25e-3f};

static void set_buffer(Program *p, int id, BufferKind kind, bool wide, int64_t d0, int64_t d1)
{
    Buffer *b = &p->buffers[id];
    b->name = id == B_X ? "x" : id == B_Y ? "y" : id == B_READ ? "read" : "acc";
    b->kind = kind;
    b->wide = wide;
    int64_t dims[2] = {d0, d1};
    b->type = type_make(2, dims);
}

/* x [P, K] codes -> mvm (one block, 2-bit pair-analog cells, 4 slices,
 * lossless 12-bit ADCs) -> combine -> dequant y [P, N]. */
static Program *make_program(Arena *arena)
{
    Program *p = arena_alloc(arena, sizeof *p);
    p->arena = arena;
    p->arch = arch_default();
    p->n_buffers = N_BUFFERS;
    p->buffers = arena_array(arena, N_BUFFERS, sizeof(Buffer));
    set_buffer(p, B_X, BUF_INPUT, false, P, K);
    set_buffer(p, B_READ, BUF_TEMP, false, P, PHYS / 2);
    set_buffer(p, B_ACC, BUF_TEMP, true, P, N);
    set_buffer(p, B_Y, BUF_OUTPUT, false, P, N);
    p->n_tiles = 1;
    p->tiles = arena_array(arena, 1, sizeof(Tile));
    Tile *t = &p->tiles[0];
    t->rows = 8, t->cols = PHYS;
    t->levels = arena_alloc(arena, (size_t)t->rows * t->cols);
    for (int i = 0; i < t->rows * t->cols; i++)
        t->levels[i] = (uint8_t)((i * 7 + i / 5) % 4);
    p->n_instrs = 3;
    p->instrs = arena_array(arena, 3, sizeof(Instr));
    Instr *in = &p->instrs[0];
    in->opcode = INSTR_MVM, in->dst = B_READ, in->src[0] = B_X, in->src[1] = in->src[2] = -1, in->layer = "fc";
    in->mvm = (MvmParams){.tile = 0, .rows = K, .phys_cols = PHYS, .out_cols = PHYS / 2, .dac_bits = 1,
                          .in_bits = 8, .sign = SIGN_PAIR_ANALOG, .adc_bits = 12, .adc_max = 2047.0f,
                          .row_begin = 0, .row_end = P};
    in = &p->instrs[1];
    in->opcode = INSTR_COMBINE, in->dst = B_ACC, in->src[0] = B_READ, in->src[1] = in->src[2] = -1;
    in->layer = "fc";
    in->combine = (CombineParams){.n_cols = N, .n_per_group = N, .slices = SLICES, .cell_bits = 2,
                                  .sign = SIGN_PAIR_ANALOG, .row_begin = 0, .row_end = P};
    in = &p->instrs[2];
    in->opcode = INSTR_DEQUANT, in->dst = B_Y, in->src[0] = B_ACC, in->src[1] = in->src[2] = -1;
    in->layer = "fc";
    in->dequant = (DequantParams){.conv = false, .batch = 1, .channels = N, .pixels = 1,
                                  .out_scale = arena_array(arena, N, sizeof(float))};
    memcpy(in->dequant.out_scale, out_scale, sizeof out_scale);
    p->n_inputs = 1, p->inputs = arena_array(arena, 1, sizeof(int)), p->inputs[0] = B_X;
    p->n_outputs = 1, p->outputs = arena_array(arena, 1, sizeof(int)), p->outputs[0] = B_Y;
    return p;
}

/* The integer reference of docs/crossbar.md 3 and 5. */
static void reference(const Program *p, const float *x, float *y)
{
    const Tile *t = &p->tiles[0];
    for (int i = 0; i < P; i++)
        for (int n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int r = 0; r < K; r++) {
                float v = x[i * K + r];
                int64_t code = v > 0 ? (v < 255 ? (int64_t)v : 255) : 0;   /* NaN: 0 */
                int64_t w = 0;
                for (int s = 0; s < SLICES; s++) {
                    const uint8_t *pair = t->levels + r * t->cols + 2 * (n * SLICES + s);
                    w += ((int64_t)pair[0] - pair[1]) * ((int64_t)1 << (2 * s));
                }
                acc += code * w;
            }
            float a = (float)acc;
            y[i * N + n] = a * out_scale[n];
        }
}

static void check(const float *x, const char *what)
{
    Arena *arena = arena_new();
    Program *p = make_program(arena);
    float want[P * N], fast[P * N], reads[P * N];
    reference(p, x, want);
    for (int fast_path = 1; fast_path >= 0; fast_path--) {
        Sim *sim = sim_new(p);
        sim_set_fast_path(sim, fast_path);
        for (int run = 0; run < 2; run++) {     /* the second run reuses what the first learnt */
            memcpy(sim_input(sim, 0), x, sizeof(float) * P * K);
            sim_run(sim);
        }
        memcpy(fast_path ? fast : reads, sim_output(sim, 0), sizeof fast);
        sim_free(sim);
    }
    cr_expect(memcmp(fast, want, sizeof want) == 0, "%s: the fast path differs from the integer reference",
              what);
    cr_expect(memcmp(reads, want, sizeof want) == 0, "%s: the reads differ from the integer reference", what);
    arena_free(arena);
}

Test(sim_fast, codes_in_range_are_read_in_place)
{
    float x[P * K];
    for (int i = 0; i < P * K; i++)
        x[i] = (float)((i * 37) % 256);
    check(x, "in range");
}

Test(sim_fast, codes_outside_the_dacs_range_are_clamped)
{
    float x[P * K];
    for (int i = 0; i < P * K; i++)
        x[i] = (float)((i * 37) % 256);
    x[3] = 300, x[K + 1] = -7, x[2 * K] = 1e9f, x[5 * K + 5] = NAN, x[P * K - 1] = -INFINITY;
    check(x, "out of range");
}
