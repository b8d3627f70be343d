/* test_sim.c: the crossbar simulator against independent references.
 *
 * Programs are built by hand here (arena + the structs of runtime/program.h),
 * with their own slicing of weights into cell levels written from
 * docs/crossbar.md 5 (it shares no code with the compiler passes or the
 * simulator).  With lossless ADCs the output must equal, bit for bit, the
 * integer computation of docs/crossbar.md 3 done here directly:
 * acc = sum x_q * w_q in int64, y = (float)acc * out_scale + bias.  The lossy
 * ADC cases were worked out by hand (comments); float mode is checked against
 * kernel_gemm; the counters against their formula. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "runtime/kernels.h"
#include "runtime/program.h"
#include "runtime/runtime.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd_u32(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int rnd_int(int lo, int hi)      /* [lo, hi] */
{
    return lo + (int)(rnd_u32() % (uint32_t)(hi - lo + 1));
}

static float rnd_float(float lo, float hi)
{
    return lo + (hi - lo) * (float)(rnd_u32() & 0xffffff) / 16777216.0f;
}

enum { CAP = 4096 };

static Program *program_new(Arena *arena)
{
    Program *pg = arena_alloc(arena, sizeof *pg);
    pg->arena = arena;
    pg->buffers = arena_array(arena, CAP, sizeof *pg->buffers);
    pg->tiles = arena_array(arena, CAP, sizeof *pg->tiles);
    pg->instrs = arena_array(arena, CAP, sizeof *pg->instrs);
    pg->inputs = arena_array(arena, 8, sizeof(int));
    pg->outputs = arena_array(arena, 8, sizeof(int));
    return pg;
}

static int add_buffer(Program *pg, BufferKind kind, bool wide, int rank, const int64_t *dims)
{
    cr_assert(pg->n_buffers < CAP);
    int id = pg->n_buffers++;
    Buffer *b = &pg->buffers[id];
    b->name = arena_printf(pg->arena, "b%d", id);
    b->kind = kind;
    b->wide = wide;
    b->type = type_make(rank, dims);
    if (kind == BUF_CONST)
        b->data = arena_array(pg->arena, (size_t)type_numel(&b->type), sizeof(float));
    if (kind == BUF_INPUT)
        pg->inputs[pg->n_inputs++] = id;
    if (kind == BUF_OUTPUT)
        pg->outputs[pg->n_outputs++] = id;
    return id;
}

static int add_buffer2(Program *pg, BufferKind kind, bool wide, int64_t d0, int64_t d1)
{
    int64_t dims[2] = {d0, d1};
    return add_buffer(pg, kind, wide, 2, dims);
}

static Instr *add_instr(Program *pg, Opcode opcode, int dst, int src0, int src1)
{
    cr_assert(pg->n_instrs < CAP);
    Instr *in = &pg->instrs[pg->n_instrs++];
    in->opcode = opcode;
    in->dst = dst;
    in->src[0] = src0;
    in->src[1] = src1;
    in->src[2] = -1;
    in->layer = "layer";
    return in;
}

/* A tile full of random junk: the simulator must read only its block. */
static int add_tile(Program *pg, int rows, int cols, int cell_bits, bool float_mode)
{
    cr_assert(pg->n_tiles < CAP);
    int id = pg->n_tiles++;
    Tile *t = &pg->tiles[id];
    t->rows = rows;
    t->cols = cols;
    t->cells = arena_array(pg->arena, (size_t)rows * cols, sizeof(float));
    for (int i = 0; i < rows * cols; i++)
        t->cells[i] = float_mode ? rnd_float(-9, 9) : (float)rnd_int(0, (1 << cell_bits) - 1);
    return id;
}

static void expect_bits_equal(const float *got, const float *want, int64_t n, const char *what)
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

static int slices_of(const Mapping *m)
{
    if (m->float_mode)
        return 1;
    int mag = m->sign == SIGN_OFFSET ? m->weight_bits : m->weight_bits - 1;
    return (mag + m->cell_bits - 1) / m->cell_bits;
}

static int slice_level(int u, int s, int cell_bits)
{
    return (u >> (s * cell_bits)) & ((1 << cell_bits) - 1);
}

/* Lossless bits and full scale of docs/crossbar.md 7 for R rows. */
static void lossless_adc(const Mapping *m, int rows, int *bits, float *adc_max)
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
static void append_blocks(Program *pg, const Mapping *m, int G, int K, int N, const float *w,
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
        bool wide = !m->narrow_results && rnd_int(0, 1);
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
static int code_of(float x, float scale, int bits, bool is_signed)
{
    float hi = is_signed ? (float)((1 << (bits - 1)) - 1) : (float)((1 << bits) - 1);
    float lo = is_signed ? -hi : 0;
    float c = rintf(x / scale);
    return (int)(c < lo ? lo : c > hi ? hi : c);
}

static float dequant(int64_t acc, float out_scale, float bias)
{
    float scaled = (float)acc * out_scale;
    return scaled + bias;
}

/* Inputs covering the code range, past both ends, and exact ties. */
static void random_inputs(float *x, int64_t n, float scale, int bits, bool is_signed)
{
    float top = (float)((1 << (is_signed ? bits - 1 : bits)) + 2) * scale;
    for (int64_t i = 0; i < n; i++) {
        if (i % 7 == 3)
            x[i] = ((float)rnd_int(is_signed ? -(1 << (bits - 1)) : 0, 1 << (bits - 1)) + 0.5f) * scale;
        else
            x[i] = rnd_float(is_signed ? -top : -3 * scale, top);
    }
}

static void random_weights(float *w, int64_t n, int weight_bits)
{
    int qmax = (1 << (weight_bits - 1)) - 1;
    for (int64_t i = 0; i < n; i++) {
        int r = rnd_int(0, 9);
        w[i] = (float)(r == 0 ? qmax : r == 1 ? -qmax : r == 2 ? 0 : rnd_int(-qmax, qmax));
    }
}

/* ---- a quantized matmul layer ---- */

typedef struct {
    Program *pg;
    int x, y;
    Expected expect;
} Layer;

static Layer build_matmul(Arena *arena, const Mapping *m, int M, int K, int N, const float *w,
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
static void check_matmul(const Mapping *m, int M, int K, int N)
{
    Arena *arena = arena_new();
    float *w = arena_array(arena, (size_t)K * N, sizeof(float));
    float *x = arena_array(arena, (size_t)M * K, sizeof(float));
    float *out_scale = arena_array(arena, (size_t)N, sizeof(float));
    float *bias = arena_array(arena, (size_t)N, sizeof(float));
    float *want = arena_array(arena, (size_t)M * N, sizeof(float));
    float in_scale = rnd_int(0, 1) ? 0.25f : rnd_float(0.01f, 0.1f);
    random_weights(w, (int64_t)K * N, m->weight_bits);
    random_inputs(x, (int64_t)M * K, in_scale, m->in_bits, m->in_signed);
    for (int n = 0; n < N; n++) {
        out_scale[n] = rnd_float(1e-4f, 1e-2f);
        bias[n] = rnd_float(-1, 1);
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

Test(sim, matmul_bit_exact_all_mappings)
{
    static const SignMapping signs[] = {SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET};
    int cases = 0;
    for (int si = 0; si < 3; si++)
    for (int cell_bits = 1; cell_bits <= 4; cell_bits++)
    for (int dac_bits = 1; dac_bits <= 8; dac_bits++)
    for (int in_signed = 0; in_signed <= 1; in_signed++) {
        Mapping m = {
            .sign = signs[si], .cell_bits = cell_bits, .dac_bits = dac_bits,
            .weight_bits = cases % 3 == 0 ? rnd_int(2, 8) : 8,
            .in_bits = cases % 4 == 0 ? rnd_int(2, 8) : 8, .in_signed = in_signed,
            .xbar_rows = 32 << rnd_int(0, 2), .xbar_cols = 64,
            .col_block = rnd_int(0, 3), .half_step = cases % 5 == 0,
        };
        m.row_block = rnd_int(m.xbar_rows / 2, m.xbar_rows);
        check_matmul(&m, rnd_int(1, 6), rnd_int(1, 300), rnd_int(1, 40));
        cases++;
    }
    cr_expect_eq(cases, 192);
}

/* Sums past 2^24 in one MVM (8-bit cells, 8-bit DACs, 2048 rows per block)
 * with result buffers declared f32; and 28- and 29-bit lossless ADCs, whose
 * full scale 2^bits - 1 a float cannot hold. */
Test(sim, matmul_bit_exact_large_sums)
{
    Mapping m = {
        .sign = SIGN_OFFSET, .cell_bits = 8, .dac_bits = 8, .weight_bits = 8,
        .in_bits = 8, .xbar_rows = 2048, .xbar_cols = 16, .row_block = 2048,
        .narrow_results = true,
    };
    check_matmul(&m, 3, 3000, 5);
    m.sign = SIGN_PAIR_ANALOG;
    m.in_signed = true;
    check_matmul(&m, 3, 2100, 5);
}

/* ---- a lossy ADC, worked out by hand ---- */

/* w = [[3, -2], [1, 3]] (K = 2, N = 2) on pair-analog 2-bit cells, weight_bits 3
 * (one slice: the pair difference is w itself); codes x = [3, 2], 2-bit unsigned
 * inputs, 1-bit DAC.  Cycle 0 drives bit 0 = [1, 0]: sums [3, -2]; cycle 1
 * drives bit 1 = [1, 1]: sums [4, 1].  Exact: [11, 0]. */
static Program *lossy_program(Arena *arena, int adc_bits, float adc_max)
{
    static const float w[] = {3, -2, 1, 3};
    Mapping m = {
        .sign = SIGN_PAIR_ANALOG, .cell_bits = 2, .weight_bits = 3, .in_bits = 2, .dac_bits = 1,
        .xbar_rows = 4, .xbar_cols = 4, .row_block = 4,
    };
    float ones[2] = {1, 1}, zeros[2] = {0, 0};
    Layer L = build_matmul(arena, &m, 1, 2, 2, w, 1.0f, ones, zeros);
    for (int k = 0; k < L.pg->n_instrs; k++)
        if (L.pg->instrs[k].opcode == INSTR_MVM) {
            L.pg->instrs[k].mvm.adc_bits = adc_bits;
            L.pg->instrs[k].mvm.adc_max = adc_max;
        }
    return L.pg;
}

static void run_lossy(int adc_bits, float adc_max, float want0, float want1, uint64_t saturated)
{
    Arena *arena = arena_new();
    Program *pg = lossy_program(arena, adc_bits, adc_max);
    for (int fast = 0; fast <= 1; fast++) {
        Sim *sim = sim_new(pg);
        sim_set_fast_path(sim, fast);
        sim_input(sim, 0)[0] = 3;
        sim_input(sim, 0)[1] = 2;
        sim_run(sim);
        const float *y = sim_output(sim, 0);
        cr_expect_eq(y[0], want0, "adc %d bits max %g: y[0] = %g, want %g", adc_bits, adc_max, y[0], want0);
        cr_expect_eq(y[1], want1, "adc %d bits max %g: y[1] = %g, want %g", adc_bits, adc_max, y[1], want1);
        SimCounters c = sim_counters(sim);
        cr_expect_eq(c.reads, 2);           /* 1 row, 1 pass, 2 cycles */
        cr_expect_eq(c.conversions, 4);     /* 2 pairs each read */
        cr_expect_eq(c.saturated, saturated);
        sim_free(sim);
    }
    arena_free(arena);
}

Test(sim, adc_lossy_rounds_half_even)
{
    /* 3 bits signed: codes -3..3, step 6 / 3 = 2.  Cycle 0: 3/2 = 1.5 -> 2 -> 4,
     * -2/2 = -1 -> -2.  Cycle 1: 4/2 = 2 -> 4, 1/2 = 0.5 -> 0 -> 0.
     * y = c0 + 2 c1 = [4 + 8, -2 + 0]. */
    run_lossy(3, 6.0f, 12.0f, -2.0f, 0);
}

Test(sim, adc_lossy_clips)
{
    /* 3 bits signed, step 3 / 3 = 1, range [-3, 3].  Cycle 0: [3, -2] pass;
     * cycle 1: 4 clips to 3 (one saturation), 1 passes.  y = [3 + 6, -2 + 2]. */
    run_lossy(3, 3.0f, 9.0f, 0.0f, 1);
}

/* ---- a lossy ADC on random data, read by read ---- */

/* Every read of a pair-analog matmul through 4-bit ADCs of step 2 (codes
 * -7..7: sums past +-14 saturate), computed here from docs/crossbar.md 4-7
 * one bit plane at a time: sum_r bit_r (L+ - L-), code = clamp(rint(sum / 2)),
 * 2^c * 2 code, slices recombined.  All of it is integers, so the order of the
 * sums does not matter and the output must match bit for bit, as must the
 * count of saturated conversions.  Some source rows are all zero (the reads
 * the simulator skips); 100 rows take 8-row tables, 10 rows 4-row ones. */
static void check_lossy_matmul(int M, int K, int N)
{
    Arena *arena = arena_new();
    Mapping m = {
        .sign = SIGN_PAIR_ANALOG, .cell_bits = 2, .dac_bits = 1, .weight_bits = 8, .in_bits = 8,
        .xbar_rows = 64, .xbar_cols = 64, .row_block = 50, .col_block = 5,
    };
    int S = slices_of(&m);
    float *w = arena_array(arena, (size_t)K * N, sizeof(float));
    float *x = arena_array(arena, (size_t)M * K, sizeof(float));
    float *out_scale = arena_array(arena, (size_t)N, sizeof(float));
    float *bias = arena_array(arena, (size_t)N, sizeof(float));
    float *want = arena_array(arena, (size_t)M * N, sizeof(float));
    float in_scale = 0.25f;
    random_weights(w, (int64_t)K * N, m.weight_bits);
    random_inputs(x, (int64_t)M * K, in_scale, m.in_bits, false);
    for (int p = 0; p < M; p += 3)
        memset(x + (size_t)p * K, 0, (size_t)K * sizeof(float));
    for (int n = 0; n < N; n++)
        out_scale[n] = 1, bias[n] = 0;

    uint64_t saturated = 0;
    for (int p = 0; p < M; p++) {
        for (int n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int k0 = 0; k0 < K; k0 += m.row_block) {
                int R = K - k0 < m.row_block ? K - k0 : m.row_block;
                for (int s = 0; s < S; s++) {
                    int64_t slice = 0;
                    for (int c = 0; c < m.in_bits; c++) {
                        int64_t sum = 0;
                        for (int r = 0; r < R; r++) {
                            int code = code_of(x[(size_t)p * K + k0 + r], in_scale, m.in_bits, false);
                            int wi = (int)w[(size_t)(k0 + r) * N + n];
                            int diff = slice_level(wi > 0 ? wi : 0, s, m.cell_bits) -
                                       slice_level(wi < 0 ? -wi : 0, s, m.cell_bits);
                            sum += ((code >> c) & 1) * diff;
                        }
                        int64_t q = (int64_t)rint((double)sum / 2);
                        saturated += q > 7 || q < -7;
                        q = q > 7 ? 7 : q < -7 ? -7 : q;
                        slice += ((int64_t)1 << c) * 2 * q;
                    }
                    acc += ((int64_t)1 << (s * m.cell_bits)) * slice;
                }
            }
            want[(size_t)p * N + n] = dequant(acc, out_scale[n], bias[n]);
        }
    }

    Layer L = build_matmul(arena, &m, M, K, N, w, in_scale, out_scale, bias);
    for (int k = 0; k < L.pg->n_instrs; k++)
        if (L.pg->instrs[k].opcode == INSTR_MVM)
            L.pg->instrs[k].mvm.adc_bits = 4, L.pg->instrs[k].mvm.adc_max = 14;
    Sim *sim = sim_new(L.pg);
    memcpy(sim_input(sim, 0), x, (size_t)M * K * sizeof(float));
    sim_run(sim);
    char *what = arena_printf(arena, "lossy M %d K %d N %d", M, K, N);
    expect_bits_equal(sim_output(sim, 0), want, (int64_t)M * N, what);
    cr_expect_eq(sim_counters(sim).saturated, saturated, "%s: %llu saturated, want %llu", what,
                 (unsigned long long)sim_counters(sim).saturated, (unsigned long long)saturated);
    cr_expect_gt(saturated, 0, "the case must saturate some conversions");
    sim_free(sim);
    arena_free(arena);
}

Test(sim, adc_lossy_random_reads)
{
    check_lossy_matmul(100, 130, 12);
    check_lossy_matmul(10, 37, 7);
}

/* A replica's share (docs/crossbar.md 6): with every mvm and combine limited
 * to rows [2, 5) of 7, those rows come out as the integer computation says,
 * the reads and conversions are 3/7 of the full layer's, and the other rows,
 * which nothing wrote, hold the NaNs the simulator starts its shared memory
 * with (so a replica reading rows it does not own could not pass unnoticed). */
Test(sim, row_range_processes_only_its_rows)
{
    Arena *arena = arena_new();
    Mapping m = {
        .sign = SIGN_PAIR_DIGITAL, .cell_bits = 2, .dac_bits = 2, .weight_bits = 6, .in_bits = 6,
        .xbar_rows = 32, .xbar_cols = 64, .row_block = 20,
    };
    enum { M = 7, K = 45, N = 9 };
    float w[K * N], x[M * K], out_scale[N], bias[N], want[M * N];
    float in_scale = 0.125f;
    random_weights(w, K * N, m.weight_bits);
    random_inputs(x, M * K, in_scale, m.in_bits, false);
    for (int n = 0; n < N; n++)
        out_scale[n] = rnd_float(1e-4f, 1e-2f), bias[n] = rnd_float(-1, 1);
    for (int p = 0; p < M; p++)
        for (int n = 0; n < N; n++) {
            int64_t acc = 0;
            for (int k = 0; k < K; k++)
                acc += (int64_t)code_of(x[p * K + k], in_scale, m.in_bits, false) * (int64_t)w[k * N + n];
            want[p * N + n] = dequant(acc, out_scale[n], bias[n]);
        }
    Layer L = build_matmul(arena, &m, M, K, N, w, in_scale, out_scale, bias);
    for (int k = 0; k < L.pg->n_instrs; k++) {
        Instr *in = &L.pg->instrs[k];
        if (in->opcode == INSTR_MVM)
            in->mvm.row_begin = 2, in->mvm.row_end = 5;
        if (in->opcode == INSTR_COMBINE)
            in->combine.row_begin = 2, in->combine.row_end = 5;
    }
    for (int fast = 0; fast <= 1; fast++) {
        Sim *sim = sim_new(L.pg);
        sim_set_fast_path(sim, fast);
        memcpy(sim_input(sim, 0), x, sizeof x);
        sim_run(sim);
        const float *y = sim_output(sim, 0);
        expect_bits_equal(y + 2 * N, want + 2 * N, 3 * N, "rows 2..5");
        for (int i = 0; i < M * N; i++)
            if (i < 2 * N || i >= 5 * N)
                cr_expect(isnan(y[i]), "row %d, written by nobody, is %g", i / N, y[i]);
        SimCounters c = sim_counters(sim);
        cr_expect_eq(c.reads * M, L.expect.reads * 3);
        cr_expect_eq(c.conversions * M, L.expect.conversions * 3);
        sim_free(sim);
    }
    arena_free(arena);
}

Test(sim, adc_lossless_bound_is_exact)
{
    /* 4 bits signed, step 1: range [-7, 7] covers 2 rows * 1 * 3 = 6. */
    run_lossy(4, 7.0f, 11.0f, 0.0f, 0);
}

/* ---- a quantized conv layer through im2col ---- */

typedef struct {
    int spatial, batch, channels, group, cout;
    int64_t in[3], kernel[3], strides[3], dilations[3], pads[6];
} ConvCase;

static int64_t conv_out(const ConvCase *cc, int i)
{
    int64_t span = cc->dilations[i] * (cc->kernel[i] - 1) + 1;
    return (cc->in[i] + cc->pads[i] + cc->pads[cc->spatial + i] - span) / cc->strides[i] + 1;
}

/* Direct convolution of codes by w_q ([G, K, N] with K ordered (c, taps)), in
 * int64, with every index bounds-tested: a 3-D loop nest with unit leading
 * extents for 1-D and 2-D. */
static void naive_conv(const ConvCase *cc, const int *codes, const float *w, int64_t *acc)
{
    int lead = 3 - cc->spatial;
    int64_t in[3] = {1, 1, 1}, ker[3] = {1, 1, 1}, out[3] = {1, 1, 1}, st[3] = {1, 1, 1},
            dil[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
    for (int i = 0; i < cc->spatial; i++) {
        in[lead + i] = cc->in[i];
        ker[lead + i] = cc->kernel[i];
        out[lead + i] = conv_out(cc, i);
        st[lead + i] = cc->strides[i];
        dil[lead + i] = cc->dilations[i];
        pb[lead + i] = cc->pads[i];
    }
    int cg = cc->channels / cc->group, ng = cc->cout / cc->group;
    int64_t taps = ker[0] * ker[1] * ker[2], K = cg * taps;
    int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
    for (int b = 0; b < cc->batch; b++)
    for (int oc = 0; oc < cc->cout; oc++) {
        int g = oc / ng;
        for (int64_t o0 = 0; o0 < out[0]; o0++)
        for (int64_t o1 = 0; o1 < out[1]; o1++)
        for (int64_t o2 = 0; o2 < out[2]; o2++) {
            int64_t sum = 0;
            for (int c = 0; c < cg; c++)
            for (int64_t k0 = 0; k0 < ker[0]; k0++)
            for (int64_t k1 = 0; k1 < ker[1]; k1++)
            for (int64_t k2 = 0; k2 < ker[2]; k2++) {
                int64_t i0 = o0 * st[0] - pb[0] + k0 * dil[0];
                int64_t i1 = o1 * st[1] - pb[1] + k1 * dil[1];
                int64_t i2 = o2 * st[2] - pb[2] + k2 * dil[2];
                if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                    continue;
                int64_t x = codes[((int64_t)b * cc->channels + g * cg + c) * in_plane +
                                  (i0 * in[1] + i1) * in[2] + i2];
                int64_t k = c * taps + (k0 * ker[1] + k1) * ker[2] + k2;
                sum += x * (int64_t)w[((int64_t)g * K + k) * ng + oc % ng];
            }
            acc[((int64_t)b * cc->cout + oc) * out_plane + (o0 * out[1] + o1) * out[2] + o2] = sum;
        }
    }
}

static void check_conv(const Mapping *m, const ConvCase *cc)
{
    Arena *arena = arena_new();
    int G = cc->group, N = cc->cout / G;
    int64_t taps = 1, pixels = 1, in_plane = 1;
    for (int i = 0; i < cc->spatial; i++) {
        taps *= cc->kernel[i];
        pixels *= conv_out(cc, i);
        in_plane *= cc->in[i];
    }
    int K = (int)(cc->channels / G * taps);
    int64_t P = cc->batch * pixels, n_in = cc->batch * cc->channels * in_plane;
    int64_t n_out = cc->batch * cc->cout * pixels;
    float *w = arena_array(arena, (size_t)G * K * N, sizeof(float));
    float *x = arena_array(arena, (size_t)n_in, sizeof(float));
    int *codes = arena_array(arena, (size_t)n_in, sizeof(int));
    int64_t *acc = arena_array(arena, (size_t)n_out, sizeof(int64_t));
    float *want = arena_array(arena, (size_t)n_out, sizeof(float));
    float in_scale = 0.125f;
    random_weights(w, (int64_t)G * K * N, m->weight_bits);
    random_inputs(x, n_in, in_scale, m->in_bits, m->in_signed);
    for (int64_t i = 0; i < n_in; i++)
        codes[i] = code_of(x[i], in_scale, m->in_bits, m->in_signed);
    naive_conv(cc, codes, w, acc);

    Program *pg = program_new(arena);
    int64_t in_dims[5] = {cc->batch, cc->channels}, out_dims[5] = {cc->batch, cc->cout};
    for (int i = 0; i < cc->spatial; i++) {
        in_dims[2 + i] = cc->in[i];
        out_dims[2 + i] = conv_out(cc, i);
    }
    int xb = add_buffer(pg, BUF_INPUT, false, 2 + cc->spatial, in_dims);
    int cb = add_buffer(pg, BUF_TEMP, false, 2 + cc->spatial, in_dims);
    int rows = add_buffer2(pg, BUF_TEMP, false, P, (int64_t)G * K);
    int accb = add_buffer2(pg, BUF_TEMP, true, P, cc->cout);
    int bias = add_buffer(pg, BUF_CONST, false, 1, (int64_t[]){cc->cout});
    int yb = add_buffer(pg, BUF_OUTPUT, false, 2 + cc->spatial, out_dims);
    float *out_scale = arena_array(arena, (size_t)cc->cout, sizeof(float));
    for (int n = 0; n < cc->cout; n++) {
        out_scale[n] = rnd_float(1e-3f, 1e-1f);
        pg->buffers[bias].data[n] = rnd_float(-2, 2);
    }
    for (int b = 0; b < cc->batch; b++)
        for (int n = 0; n < cc->cout; n++)
            for (int64_t q = 0; q < pixels; q++) {
                int64_t i = ((int64_t)b * cc->cout + n) * pixels + q;
                want[i] = dequant(acc[i], out_scale[n], pg->buffers[bias].data[n]);
            }

    Instr *q = add_instr(pg, INSTR_QUANT, cb, xb, -1);
    q->quant = (QuantParams){.scale = in_scale, .bits = m->in_bits, .is_signed = m->in_signed};
    Instr *ic = add_instr(pg, INSTR_IM2COL, rows, cb, -1);
    Im2colParams *ip = &ic->im2col;
    *ip = (Im2colParams){.spatial = cc->spatial, .batch = cc->batch, .channels = cc->channels,
                         .group = G};
    for (int i = 0; i < cc->spatial; i++) {
        ip->in[i] = cc->in[i];
        ip->kernel[i] = cc->kernel[i];
        ip->out[i] = conv_out(cc, i);
        ip->strides[i] = cc->strides[i];
        ip->dilations[i] = cc->dilations[i];
        ip->pads[i] = cc->pads[i];
        ip->pads[cc->spatial + i] = cc->pads[cc->spatial + i];
    }
    Expected expect = {0};
    append_blocks(pg, m, G, K, N, w, rows, P, accb, &expect);
    Instr *d = add_instr(pg, INSTR_DEQUANT, yb, accb, bias);
    d->dequant = (DequantParams){.conv = true, .batch = cc->batch, .channels = cc->cout,
                                 .pixels = pixels, .out_scale = out_scale};

    for (int fast = 0; fast <= 1; fast++) {
        Sim *sim = sim_new(pg);
        sim_set_fast_path(sim, fast);
        memcpy(sim_input(sim, 0), x, (size_t)n_in * sizeof(float));
        sim_run(sim);
        expect_bits_equal(sim_output(sim, 0), want, n_out, sign_mapping_name(m->sign));
        SimCounters c = sim_counters(sim);
        cr_expect_eq(c.reads, expect.reads);
        cr_expect_eq(c.conversions, expect.conversions);
        sim_free(sim);
    }
    arena_free(arena);
}

Test(sim, conv_bit_exact)
{
    static const SignMapping signs[] = {SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET};
    ConvCase cases[] = {
        /* 2-D, groups, strides, asymmetric pads, dilation */
        {.spatial = 2, .batch = 2, .channels = 4, .group = 2, .cout = 6, .in = {7, 6},
         .kernel = {3, 2}, .strides = {2, 1}, .dilations = {1, 2}, .pads = {1, 0, 1, 1}},
        /* depthwise */
        {.spatial = 2, .batch = 1, .channels = 5, .group = 5, .cout = 10, .in = {6, 6},
         .kernel = {3, 3}, .strides = {1, 1}, .dilations = {1, 1}, .pads = {1, 1, 1, 1}},
        /* LeNet-like: K = 150 over several row blocks */
        {.spatial = 2, .batch = 1, .channels = 6, .group = 1, .cout = 16, .in = {9, 9},
         .kernel = {5, 5}, .strides = {1, 1}, .dilations = {1, 1}, .pads = {2, 2, 0, 0}},
        /* 1-D */
        {.spatial = 1, .batch = 3, .channels = 3, .group = 1, .cout = 4, .in = {11},
         .kernel = {3}, .strides = {2}, .dilations = {2}, .pads = {2, 1}},
        /* 3-D */
        {.spatial = 3, .batch = 1, .channels = 2, .group = 2, .cout = 4, .in = {4, 5, 3},
         .kernel = {2, 3, 2}, .strides = {1, 2, 1}, .dilations = {1, 1, 1}, .pads = {1, 0, 1, 0, 1, 0}},
    };
    int n = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int si = 0; si < 3; si++) {
            Mapping m = {
                .sign = signs[si], .cell_bits = rnd_int(1, 4), .dac_bits = rnd_int(1, 8),
                .weight_bits = 8, .in_bits = 8, .in_signed = (i + si) % 2 == 1,
                .xbar_rows = 32, .xbar_cols = 64, .row_block = rnd_int(16, 32),
            };
            check_conv(&m, &cases[i]);
            n++;
        }
    cr_expect_eq(n, 15);
}

/* ---- float mode against kernel_gemm ---- */

Test(sim, float_mode_matches_gemm)
{
    static const SignMapping signs[] = {SIGN_PAIR_ANALOG, SIGN_PAIR_DIGITAL, SIGN_OFFSET};
    enum { M = 5, K = 37, N = 11 };
    for (int si = 0; si < 3; si++) {
        Arena *arena = arena_new();
        float *w = arena_array(arena, K * N, sizeof(float));
        float *x = arena_array(arena, M * K, sizeof(float));
        float *bias = arena_array(arena, N, sizeof(float));
        float *ones = arena_array(arena, N, sizeof(float));
        float want[M * N];
        for (int i = 0; i < K * N; i++)
            w[i] = rnd_float(-1, 1);
        for (int i = 0; i < M * K; i++)
            x[i] = rnd_float(-2, 2);
        for (int n = 0; n < N; n++) {
            bias[n] = rnd_float(-1, 1);
            ones[n] = 1;
        }
        GemmParams gp = {.m = M, .n = N, .k = K, .alpha = 1, .beta = 1, .c_rows = 1, .c_cols = N};
        kernel_gemm(&gp, x, w, bias, want);

        Mapping m = {.sign = signs[si], .float_mode = true, .xbar_rows = 16, .xbar_cols = 8,
                     .row_block = 16, .weight_bits = 8, .in_bits = 8, .dac_bits = 1, .cell_bits = 1};
        Layer L = build_matmul(arena, &m, M, K, N, w, 1.0f, ones, bias);
        Sim *sim = sim_new(L.pg);
        memcpy(sim_input(sim, 0), x, sizeof(float) * M * K);
        sim_run(sim);
        const float *y = sim_output(sim, 0);
        for (int i = 0; i < M * N; i++)
            cr_expect(fabsf(y[i] - want[i]) <= 1e-5f * (1 + fabsf(want[i])) * (si == 2 ? 4 : 1),
                      "%s element %d: got %.9g, want %.9g", sign_mapping_name(m.sign), i, y[i], want[i]);
        SimCounters c = sim_counters(sim);
        cr_expect_eq(c.reads, L.expect.reads);
        cr_expect_eq(c.conversions, 0);
        sim_free(sim);
        arena_free(arena);
    }
}

/* ---- digital ops after a layer ---- */

/* y = relu(layer(x)); out = concat(y, z) on axis 1.  The graph's value ids are
 * the program's buffer ids 0..3, as program.h requires of digital ops. */
Test(sim, digital_relu_concat)
{
    enum { M = 3, K = 20, N = 4, Z = 2 };
    Arena *arena = arena_new();
    Graph *g = ir_graph_new(arena, "t");
    Value *lin = ir_add_input(g, "lin", type_make(2, (int64_t[]){M, N}));
    Value *relu = ir_add_op(g, OP_RELU, &lin, 1, "relu", lin->type, (Loc){0})->result;
    Value *z = ir_add_input(g, "z", type_make(2, (int64_t[]){M, Z}));
    Value *parts[2] = {relu, z};
    Op *cat = ir_add_op(g, OP_CONCAT, parts, 2, "cat", type_make(2, (int64_t[]){M, N + Z}), (Loc){0});
    ir_set_int(g, cat, "axis", 1);
    cr_assert(lin->id == 0 && relu->id == 1 && z->id == 2 && cat->result->id == 3);

    Program *pg = program_new(arena);
    int lin_b = add_buffer2(pg, BUF_TEMP, false, M, N);
    int relu_b = add_buffer2(pg, BUF_TEMP, false, M, N);
    int z_b = add_buffer2(pg, BUF_INPUT, false, M, Z);
    int cat_b = add_buffer2(pg, BUF_OUTPUT, false, M, N + Z);
    cr_assert(lin_b == 0 && relu_b == 1 && z_b == 2 && cat_b == 3);

    /* the layer: unsigned 4-bit inputs, 2-bit cells, offset mapping */
    Mapping m = {.sign = SIGN_OFFSET, .cell_bits = 2, .dac_bits = 2, .weight_bits = 6, .in_bits = 4,
                 .xbar_rows = 8, .xbar_cols = 32, .row_block = 8};
    float w[K * N], xin[M * K], ones[N], zeros[N], want[M * (N + Z)], zin[M * Z];
    random_weights(w, K * N, m.weight_bits);
    random_inputs(xin, M * K, 1.0f, m.in_bits, false);
    for (int n = 0; n < N; n++) {
        ones[n] = 0.5f;
        zeros[n] = -3.0f;
    }
    for (int i = 0; i < M * Z; i++)
        zin[i] = rnd_float(-5, 5);
    int x_b = add_buffer2(pg, BUF_INPUT, false, M, K);
    int codes = add_buffer2(pg, BUF_TEMP, false, M, K);
    int acc = add_buffer2(pg, BUF_TEMP, true, M, N);
    int bias = add_buffer(pg, BUF_CONST, false, 1, (int64_t[]){N});
    memcpy(pg->buffers[bias].data, zeros, sizeof zeros);
    Instr *q = add_instr(pg, INSTR_QUANT, codes, x_b, -1);
    q->quant = (QuantParams){.scale = 1.0f, .bits = m.in_bits};
    Expected expect = {0};
    append_blocks(pg, &m, 1, K, N, w, codes, M, acc, &expect);
    Instr *d = add_instr(pg, INSTR_DEQUANT, lin_b, acc, bias);
    d->dequant = (DequantParams){.batch = M, .channels = N, .pixels = 1, .out_scale = ones};
    add_instr(pg, INSTR_DIGITAL, relu_b, lin_b, -1)->op = relu->def;
    add_instr(pg, INSTR_DIGITAL, cat_b, relu_b, z_b)->op = cat;
    /* inputs in graph order: x (the layer's) first, then z */
    pg->inputs[0] = x_b;
    pg->inputs[1] = z_b;

    for (int p = 0; p < M; p++) {
        for (int n = 0; n < N; n++) {
            int64_t a = 0;
            for (int k = 0; k < K; k++)
                a += (int64_t)code_of(xin[p * K + k], 1.0f, m.in_bits, false) * (int64_t)w[k * N + n];
            float v = dequant(a, 0.5f, -3.0f);
            want[p * (N + Z) + n] = v > 0 ? v : 0;
        }
        for (int j = 0; j < Z; j++)
            want[p * (N + Z) + N + j] = zin[p * Z + j];
    }
    Sim *sim = sim_new(pg);
    memcpy(sim_input(sim, 0), xin, sizeof xin);
    memcpy(sim_input(sim, 1), zin, sizeof zin);
    sim_run(sim);
    expect_bits_equal(sim_output(sim, 0), want, M * (N + Z), "relu + concat");
    cr_expect_eq(sim_counters(sim).reads, expect.reads);
    cr_expect_eq(sim_counters(sim).reads, (uint64_t)M * 3 * 2);  /* 3 row blocks, 2 cycles */
    sim_free(sim);
    arena_free(arena);
}
