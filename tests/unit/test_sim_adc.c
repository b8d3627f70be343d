/* test_sim_adc.c: lossy ADCs and row ranges in the simulator.
 *
 * The small cases were worked out by hand (comments); the random ones are
 * read bit plane by bit plane by a reference written here; the counters of
 * saturated conversions are checked against the same reference. */
#include "sim_fixture.h"

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

Test(sim_adc, adc_lossy_rounds_half_even)
{
    /* 3 bits signed: codes -3..3, step 6 / 3 = 2.  Cycle 0: 3/2 = 1.5 -> 2 -> 4,
     * -2/2 = -1 -> -2.  Cycle 1: 4/2 = 2 -> 4, 1/2 = 0.5 -> 0 -> 0.
     * y = c0 + 2 c1 = [4 + 8, -2 + 0]. */
    run_lossy(3, 6.0f, 12.0f, -2.0f, 0);
}

Test(sim_adc, adc_lossy_clips)
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

Test(sim_adc, adc_lossy_random_reads)
{
    check_lossy_matmul(100, 130, 12);
    check_lossy_matmul(10, 37, 7);
}

/* A replica's share (docs/crossbar.md 6): with every mvm and combine limited
 * to rows [2, 5) of 7, those rows come out as the integer computation says,
 * the reads and conversions are 3/7 of the full layer's, and the other rows,
 * which nothing wrote, hold the NaNs the simulator starts its shared memory
 * with (so a replica reading rows it does not own could not pass unnoticed). */
Test(sim_adc, row_range_processes_only_its_rows)
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
        out_scale[n] = test_uniform_float(1e-4f, 1e-2f), bias[n] = test_uniform_float(-1, 1);
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

Test(sim_adc, adc_lossless_bound_is_exact)
{
    /* 4 bits signed, step 1: range [-7, 7] covers 2 rows * 1 * 3 = 6. */
    run_lossy(4, 7.0f, 11.0f, 0.0f, 0);
}
