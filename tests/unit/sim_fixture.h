/* sim_fixture.h: hand-built programs for the simulator tests.
 *
 * Programs are built here (arena + the structs of runtime/program.h), with
 * their own slicing of weights into cell levels written from docs/crossbar.md
 * 5 (sharing no code with the compiler passes or the simulator), plus the
 * integer computation of docs/crossbar.md 3 done directly: acc = sum x_q *
 * w_q in int64, y = (float)acc * out_scale + bias.  Included by test_sim.c and
 * test_sim_adc.c (one Criterion binary each). */
#ifndef XBARC_TEST_SIM_FIXTURE_H
#define XBARC_TEST_SIM_FIXTURE_H

#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "runtime/kernels.h"
#include "runtime/program.h"
#include "runtime/runtime.h"

#define TEST_SEED 0x9e3779b97f4a7c15ull
#include "test_support.h"
#include "program_builder.h"

/* ---- helpers ---- */

enum { CAP = 4096 };

static inline Program *program_new(Arena *arena)
{
    return builder_program(arena, CAP);
}

static inline int add_buffer(Program *pg, BufferKind kind, bool wide, int rank, const int64_t *dims)
{
    cr_assert(pg->n_buffers < CAP);
    return builder_buffer(pg, kind, wide, rank, dims);
}

static inline int add_buffer2(Program *pg, BufferKind kind, bool wide, int64_t d0, int64_t d1)
{
    cr_assert(pg->n_buffers < CAP);
    return builder_buffer2(pg, kind, wide, d0, d1);
}

static inline Instr *add_instr(Program *pg, Opcode opcode, int dst, int src0, int src1)
{
    cr_assert(pg->n_instrs < CAP);
    Instr *in = builder_instr(pg, opcode, "layer", dst, src0);
    in->src[1] = src1;
    return in;
}

/* A tile full of random junk: the simulator must read only its block. */
static inline int add_tile(Program *pg, int rows, int cols, int cell_bits, bool float_mode)
{
    cr_assert(pg->n_tiles < CAP);
    int id = pg->n_tiles++;
    Tile *t = &pg->tiles[id];
    t->rows = rows;
    t->cols = cols;
    t->cells = arena_array(pg->arena, (size_t)rows * cols, sizeof(float));
    for (int i = 0; i < rows * cols; i++)
        t->cells[i] = float_mode ? test_uniform_float(-9, 9) : (float)test_uniform(0, (1 << cell_bits) - 1);
    return id;
}

static inline void expect_bits_equal(const float *got, const float *want, int64_t n, const char *what)
{
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&got[i], &want[i], sizeof(float)) != 0) {
            if (first < 0)
                first = i;
            bad++;
        }
    }
    cr_expect(bad == 0, "%s: %lld of %lld elements differ; first at %lld: got %.9g, want %.9g",
              what, (long long)bad, (long long)n, (long long)first,
              first >= 0 ? got[first] : 0.0, first >= 0 ? want[first] : 0.0);
}

/* ---- mapping weights onto tiles (docs/crossbar.md 5-7), written independently ---- */

typedef struct {
    SignMapping sign;
    int cell_bits, weight_bits, in_bits, dac_bits;
    bool in_signed;
    int xbar_rows, xbar_cols;   /* tile size; blocks sit at (1, 2) in a tile one row and two columns bigger */
    int row_block;              /* rows per row block */
    int col_block;              /* weight columns per column block (0: as many as fit) */
    bool half_step;             /* lossless in effect but with step 1/2: exercises the ADC loop */
    bool float_mode;
    bool narrow_results;        /* every mvm result buffer declared f32 */
} Mapping;

typedef struct {
    uint64_t reads, conversions;
} Expected;

static inline int slices_of(const Mapping *m)
{
    if (m->float_mode)
        return 1;
    int mag = m->sign == SIGN_OFFSET ? m->weight_bits : m->weight_bits - 1;
    return (mag + m->cell_bits - 1) / m->cell_bits;
}

static inline int slice_level(int u, int s, int cell_bits)
{
    return (u >> (s * cell_bits)) & ((1 << cell_bits) - 1);
}

/* Lossless bits and full scale of docs/crossbar.md 7 for R rows. */
static inline void lossless_adc(const Mapping *m, int rows, int *bits, float *adc_max)
{
    int64_t v = (int64_t)rows * ((1 << m->dac_bits) - 1) * ((1 << m->cell_bits) - 1);
    int b = 0;
    while (((int64_t)1 << b) < v + 1)
        b++;
    bool is_signed = m->sign == SIGN_PAIR_ANALOG;
    if (is_signed)
        b++;
    if (m->half_step)
        b++;        /* twice the codes, each worth 1/2 */
    int64_t levels = is_signed ? ((int64_t)1 << (b - 1)) - 1 : ((int64_t)1 << b) - 1;
    *bits = b;
    *adc_max = m->half_step ? (float)levels / 2 : (float)levels;
}

/* Appends one mvm + combine per block of a [G, K, N] weight (w_q integers, or
 * floats in float mode) read from src (rows of G*K) into the wide acc [P, G*N]. */
static inline void append_blocks(Program *pg, const Mapping *m, int G, int K, int N, const float *w,
                          int src, int64_t P, int acc, Expected *expect)
{
    int S = slices_of(m);
    int qmax = (1 << (m->weight_bits - 1)) - 1;
    bool pair = m->sign != SIGN_OFFSET;
    int per_weight = pair ? 2 * S : S;
    int fit = pair ? m->xbar_cols / per_weight : (m->xbar_cols - S) / S;
    int col_block = m->col_block > 0 && m->col_block < fit ? m->col_block : fit;
    cr_assert(col_block >= 1 && m->row_block <= m->xbar_rows);
    float offset = 0;
    if (m->float_mode)
        for (int i = 0; i < G * K * N; i++)
            offset = fmaxf(offset, fabsf(w[i]));

    for (int g = 0; g < G; g++)
    for (int k0 = 0; k0 < K; k0 += m->row_block)
    for (int n0 = 0; n0 < N; n0 += col_block) {
        int R = K - k0 < m->row_block ? K - k0 : m->row_block;
        int nc = N - n0 < col_block ? N - n0 : col_block;
        int phys = nc * per_weight + (pair ? 0 : S);
        int tile = add_tile(pg, m->xbar_rows + 1, m->xbar_cols + 2, m->cell_bits, m->float_mode);
        Tile *t = &pg->tiles[tile];
        for (int r = 0; r < R; r++) {
            float *row = t->cells + (size_t)(1 + r) * t->cols + 2;
            for (int n = 0; n < nc; n++) {
                float wv = w[((size_t)g * K + k0 + r) * N + n0 + n];
                for (int s = 0; s < S; s++) {
                    if (m->float_mode && pair) {
                        row[2 * n] = fmaxf(wv, 0);
                        row[2 * n + 1] = fmaxf(-wv, 0);
                    } else if (m->float_mode) {
                        row[n] = wv + offset;
                    } else if (pair) {
                        int wi = (int)wv;
                        row[(n * S + s) * 2] = (float)slice_level(wi > 0 ? wi : 0, s, m->cell_bits);
                        row[(n * S + s) * 2 + 1] = (float)slice_level(wi < 0 ? -wi : 0, s, m->cell_bits);
                    } else {
                        row[n * S + s] = (float)slice_level((int)wv + qmax, s, m->cell_bits);
                    }
                }
            }
            if (!pair)
                for (int s = 0; s < S; s++)
                    row[phys - S + s] = m->float_mode ? offset : (float)slice_level(qmax, s, m->cell_bits);
        }

        int out_cols = m->sign == SIGN_PAIR_ANALOG ? phys / 2 : phys;
        /* f32 or f64 results at random: the simulator must widen them itself
         * when its sums may pass 2^24 */
        bool wide = !m->narrow_results && test_uniform(0, 1);
        int tmp = add_buffer2(pg, BUF_TEMP, wide, P, out_cols);
        Instr *mv = add_instr(pg, INSTR_MVM, tmp, src, -1);
        mv->mvm = (MvmParams){
            .tile = tile, .tile_row = 1, .tile_col = 2, .rows = R, .src_col = g * K + k0,
            .phys_cols = phys, .out_cols = out_cols, .dac_bits = m->dac_bits,
            .in_bits = m->in_bits, .in_signed = m->in_signed, .sign = m->sign,
            .float_mode = m->float_mode, .row_begin = 0, .row_end = P,
        };
        if (!m->float_mode)
            lossless_adc(m, R, &mv->mvm.adc_bits, &mv->mvm.adc_max);
        Instr *cb = add_instr(pg, INSTR_COMBINE, acc, tmp, -1);
        cb->combine = (CombineParams){
            .group = g, .n0 = n0, .n_cols = nc, .n_per_group = N, .slices = S,
            .cell_bits = m->cell_bits, .sign = m->sign, .accumulate = k0 > 0,
            .float_mode = m->float_mode, .offset_scale = offset, .row_begin = 0, .row_end = P,
        };

        int passes = m->in_signed && !m->float_mode ? 2 : 1;
        int mag = m->in_signed ? m->in_bits - 1 : m->in_bits;
        int cycles = m->float_mode ? 1 : (mag + m->dac_bits - 1) / m->dac_bits;
        uint64_t reads = (uint64_t)P * passes * cycles;
        expect->reads += reads;
        expect->conversions += m->float_mode ? 0 : reads * out_cols;
    }
}

/* Codes of docs/crossbar.md 3, the test's own way: rintf rounds half to even
 * in the default mode; the clamp is spelled out. */
static inline int code_of(float x, float scale, int bits, bool is_signed)
{
    float hi = is_signed ? (float)((1 << (bits - 1)) - 1) : (float)((1 << bits) - 1);
    float lo = is_signed ? -hi : 0;
    float c = rintf(x / scale);
    return (int)(c < lo ? lo : c > hi ? hi : c);
}

static inline float dequant(int64_t acc, float out_scale, float bias)
{
    float scaled = (float)acc * out_scale;
    return scaled + bias;
}

/* Inputs covering the code range, past both ends, and exact ties. */
static inline void random_inputs(float *x, int64_t n, float scale, int bits, bool is_signed)
{
    float top = (float)((1 << (is_signed ? bits - 1 : bits)) + 2) * scale;
    for (int64_t i = 0; i < n; i++) {
        if (i % 7 == 3)
            x[i] = ((float)test_uniform(is_signed ? -(1 << (bits - 1)) : 0, 1 << (bits - 1)) + 0.5f) * scale;
        else
            x[i] = test_uniform_float(is_signed ? -top : -3 * scale, top);
    }
}

static inline void random_weights(float *w, int64_t n, int weight_bits)
{
    int qmax = (1 << (weight_bits - 1)) - 1;
    for (int64_t i = 0; i < n; i++) {
        int r = (int)test_uniform(0, 9);
        w[i] = (float)(r == 0 ? qmax : r == 1 ? -qmax : r == 2 ? 0 : (int)test_uniform(-qmax, qmax));
    }
}

/* ---- a quantized matmul layer ---- */

typedef struct {
    Program *pg;
    int x, y;
    Expected expect;
} Layer;

static inline Layer build_matmul(Arena *arena, const Mapping *m, int M, int K, int N, const float *w,
                          float in_scale, const float *out_scale, const float *bias)
{
    Layer L = {.pg = program_new(arena)};
    Program *pg = L.pg;
    pg->float_weights = m->float_mode;
    L.x = add_buffer2(pg, BUF_INPUT, false, M, K);
    int codes = add_buffer2(pg, BUF_TEMP, false, M, K);
    int acc = add_buffer2(pg, BUF_TEMP, true, M, N);
    int b = add_buffer(pg, BUF_CONST, false, 1, (int64_t[]){N});
    memcpy(pg->buffers[b].data, bias, (size_t)N * sizeof(float));
    L.y = add_buffer2(pg, BUF_OUTPUT, false, M, N);

    Instr *q = add_instr(pg, INSTR_QUANT, codes, L.x, -1);
    q->quant = (QuantParams){.scale = in_scale, .bits = m->in_bits, .is_signed = m->in_signed,
                             .float_mode = m->float_mode};
    append_blocks(pg, m, 1, K, N, w, codes, M, acc, &L.expect);
    Instr *d = add_instr(pg, INSTR_DEQUANT, L.y, acc, b);
    d->dequant = (DequantParams){.conv = false, .batch = M, .channels = N, .pixels = 1,
                                 .out_scale = arena_array(arena, (size_t)N, sizeof(float))};
    memcpy(d->dequant.out_scale, out_scale, (size_t)N * sizeof(float));
    return L;
}

/* Runs one random matmul case through the simulator, with and without the
 * fast path, and compares against the integer computation. */
static inline void check_matmul(const Mapping *m, int M, int K, int N)
{
    Arena *arena = arena_new();
    float *w = arena_array(arena, (size_t)K * N, sizeof(float));
    float *x = arena_array(arena, (size_t)M * K, sizeof(float));
    float *out_scale = arena_array(arena, (size_t)N, sizeof(float));
    float *bias = arena_array(arena, (size_t)N, sizeof(float));
    float *want = arena_array(arena, (size_t)M * N, sizeof(float));
    float in_scale = test_uniform(0, 1) ? 0.25f : test_uniform_float(0.01f, 0.1f);
    random_weights(w, (int64_t)K * N, m->weight_bits);
    random_inputs(x, (int64_t)M * K, in_scale, m->in_bits, m->in_signed);
    for (int n = 0; n < N; n++) {
        out_scale[n] = test_uniform_float(1e-4f, 1e-2f);
        bias[n] = test_uniform_float(-1, 1);
    }
    for (int p = 0; p < M; p++)
        for (int n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int64_t)code_of(x[p * K + k], in_scale, m->in_bits, m->in_signed) *
                       (int64_t)w[k * N + n];
            want[p * N + n] = dequant(acc, out_scale[n], bias[n]);
        }

    Layer L = build_matmul(arena, m, M, K, N, w, in_scale, out_scale, bias);
    char *what = arena_printf(arena, "%s cell %d dac %d w %d in %d%s K %d N %d rows %d",
                              sign_mapping_name(m->sign), m->cell_bits, m->dac_bits, m->weight_bits,
                              m->in_bits, m->in_signed ? " signed" : "", K, N, m->row_block);
    for (int fast = 0; fast <= 1; fast++) {
        Sim *sim = sim_new(L.pg);
        sim_set_fast_path(sim, fast);
        memcpy(sim_input(sim, 0), x, (size_t)M * K * sizeof(float));
        sim_run(sim);
        expect_bits_equal(sim_output(sim, 0), want, (int64_t)M * N, what);
        SimCounters c = sim_counters(sim);
        cr_expect_eq(c.reads, L.expect.reads, "%s: reads", what);
        cr_expect_eq(c.conversions, L.expect.conversions, "%s: conversions", what);
        cr_expect_eq(c.saturated, 0, "%s: saturated", what);
        sim_free(sim);
    }
    arena_free(arena);
}

#endif
