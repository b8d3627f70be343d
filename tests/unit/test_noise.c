/* test_noise.c: the non-ideal chip (runtime/noise.c, docs/noise.md).
 *
 * Each effect is checked against its formula, written here again from
 * docs/noise.md: the statistics of many drawn cells (mean and standard
 * deviation of the programming error over its sigma, stuck fractions against
 * the binomial, drift exponents), the IR drop and drift factors in closed
 * form.  Whole reads go through a one-instruction program built by hand: a
 * block of R rows at one level, all rows driven, an ADC step of 1/256 so that
 * rounding is negligible.  Its ideal column sum is R * level; the read noise
 * must have the std read_sigma * sqrt(R) * G / dG, the ADC errors the sigmas
 * of their fields, and the drift compensation must give back the programmed
 * sums.  Reproducibility: the same seed gives the same bits in any order of
 * runs; the ideal preset gives the ideal simulator's bits. */
#include "test_support.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/noise.h"
#include "runtime/program.h"
#include "runtime/runtime.h"


static Arch chip_arch(void)
{
    Arch a = arch_default();
    a.g_min_us = 1.0, a.g_max_us = 100.0, a.cell_bits = 2;   /* dG = 33 uS */
    return a;
}

/* ---- the generator ---- */

Test(noise, normal_table_is_a_standard_normal)
{
    static float table[1 << NOISE_TABLE_BITS];
    noise_normal_table(table);
    int n = 1 << NOISE_TABLE_BITS;
    Moments m = {0};
    int below_one = 0;
    for (int i = 0; i < n; i++) {
        moments_add(&m, table[i]);
        below_one += table[i] < 1.0f;
        if (i > 0)
            cr_assert_leq(table[i - 1], table[i], "quantiles in order");
    }
    cr_expect_lt(fabs(moments_mean(&m)), 1e-6);
    cr_expect_lt(fabs(m.sum_sq / n - 1), 1e-5, "variance %g", m.sum_sq / n);
    cr_expect(table[n - 1] > 3.8f && table[n - 1] < 4.1f, "largest %g", table[n - 1]);
    double phi1 = 0.5 * erfc(-1 / sqrt(2.0));       /* P(z < 1) = 0.8413 */
    cr_expect_lt(fabs((double)below_one / n - phi1), 2e-3, "P(z < 1) = %g", (double)below_one / n);
}

Test(noise, keys_are_pure_functions)
{
    uint64_t k = noise_key(7, NOISE_CELL);
    cr_expect_eq(noise_hash(k, 123), noise_hash(k, 123));
    cr_expect_neq(noise_hash(k, 123), noise_hash(k, 124));
    cr_expect_neq(noise_key(7, NOISE_CELL), noise_key(8, NOISE_CELL));
    cr_expect_neq(noise_key(7, NOISE_CELL), noise_key(7, NOISE_READ));
    Moments m = {0};
    for (uint64_t i = 0; i < 200000; i++)
        moments_add(&m, noise_uniform(noise_hash(k, i)));
    cr_expect_lt(fabs(moments_mean(&m) - 0.5), 0.003);
    cr_expect_lt(fabs(moments_sd(&m) - sqrt(1 / 12.0)), 0.003);
}

/* ---- cells ---- */

/* (g_prog - target) / sigma over many cells of one level: mean 0, std 1. */
static void check_variation(Arch a, int level, double sigma_us)
{
    Arena *arena = arena_new();
    Noise *nz = noise_new(arena, &a, 11);
    cr_assert_not_null(nz);
    double target = a.g_min_us + level * (a.g_max_us - a.g_min_us) / 3;
    Moments m = {0};
    for (int t = 0; t < 4; t++)
        for (int r = 0; r < 128; r++)
            for (int c = 0; c < 128; c++) {
                double g_prog, g_now;
                noise_cell(nz, t, r, c, level, 128, 128, &g_prog, &g_now);
                cr_assert_eq(g_prog, g_now, "no drift: the same conductance at inference");
                moments_add(&m, (g_prog - target) / sigma_us);
            }
    cr_expect_lt(fabs(moments_mean(&m)), 0.02, "model %d level %d: mean %g sigma", a.prog_model, level, moments_mean(&m));
    cr_expect_lt(fabs(moments_sd(&m) - 1), 0.02, "model %d level %d: std %g sigma", a.prog_model, level, moments_sd(&m));
    arena_free(arena);
}

Test(noise, programming_variation_has_its_sigma)
{
    Arch a = chip_arch();
    a.prog_model = PROG_PROPORTIONAL, a.prog_sigma = 0.05;
    check_variation(a, 1, 0.05 * 34.0);
    check_variation(a, 3, 0.05 * 100.0);
    a.prog_model = PROG_STATE_INDEPENDENT, a.prog_sigma = 0.03;
    check_variation(a, 1, 0.03 * 100.0);
    check_variation(a, 2, 0.03 * 100.0);
    /* PCM, aihwkit's polynomial (docs/background.md 9) on its 25 uS range */
    a = chip_arch();
    a.g_min_us = 5.0, a.g_max_us = 25.0;
    a.prog_model = PROG_PCM, a.prog_sigma = 1.0;
    for (int level = 0; level < 4; level++) {
        double g = (5.0 + level * 20.0 / 3) / 25.0;
        check_variation(a, level, 0.26348 + 1.9650 * g - 1.1731 * g * g);
    }
    /* on a 100 uS range the polynomial scales with G_max (aihwkit) */
    a.g_min_us = 20.0, a.g_max_us = 100.0;
    check_variation(a, 2, (0.26348 + 1.9650 * (220 / 3.0) / 100 - 1.1731 * pow((220 / 3.0) / 100, 2)) * 4);
}

Test(noise, stuck_cells_have_their_fractions)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.sa0_fraction = 0.02, a.sa1_fraction = 0.03;
    a.prog_model = PROG_PROPORTIONAL, a.prog_sigma = 0.05;
    Noise *nz = noise_new(arena, &a, 5);
    long n = 0, sa0 = 0, sa1 = 0;
    Moments varied = {0};
    for (int t = 0; t < 8; t++)
        for (int r = 0; r < 128; r++)
            for (int c = 0; c < 128; c++, n++) {
                double g_prog, g_now;
                noise_cell(nz, t, r, c, 1, 128, 128, &g_prog, &g_now);
                sa0 += g_prog == 1.0;       /* exactly G_min: varied cells never are */
                sa1 += g_prog == 100.0;
                if (g_prog != 1.0 && g_prog != 100.0)
                    moments_add(&varied, (g_prog - 34.0) / (0.05 * 34.0));
            }
    double sd0 = sqrt(n * 0.02 * 0.98), sd1 = sqrt(n * 0.03 * 0.97);
    cr_expect_lt(fabs(sa0 - n * 0.02), 5 * sd0, "SA0 %ld of %ld", sa0, n);
    cr_expect_lt(fabs(sa1 - n * 0.03), 5 * sd1, "SA1 %ld of %ld", sa1, n);
    /* one hash draws both: the cells that are not stuck keep an unbiased
     * variation of their sigma */
    cr_expect_lt(fabs(moments_mean(&varied)), 0.02, "varied cells: mean %g sigma", moments_mean(&varied));
    cr_expect_lt(fabs(moments_sd(&varied) - 1), 0.02, "varied cells: std %g sigma", moments_sd(&varied));
    arena_free(arena);
}

/* The simulator programs a row of cells at once (noise_cell_row, which has
 * a loop of its own for chips without drift or IR drop), the fine-tuner
 * reads single cells back (noise_cell): both must be the same chip, with
 * every effect on, and with each of the static ones alone. */
static void check_row(Arch a)
{
    Arena *arena = arena_new();
    Noise *nz = noise_new(arena, &a, 3);
    cr_assert_not_null(nz);
    enum { COLS = 100 };
    uint8_t levels[COLS];
    double prog[COLS], now[COLS];
    for (int c = 0; c < COLS; c++)
        levels[c] = (uint8_t)(c % 4);
    for (int row = 0; row < 20; row++) {
        uint32_t writes = (uint32_t)row % 3;    /* first programming, and rewritten tiles */
        noise_cell_row(nz, 7, writes, row, 13, COLS, levels, 128, 128, prog, now);
        for (int c = 0; c < COLS; c++) {
            double g_prog, g_now;
            noise_cell_rewritten(nz, 7, writes, row, 13 + c, levels[c], 128, 128, &g_prog, &g_now);
            cr_assert_eq(prog[c], g_prog, "row %d col %d", row, 13 + c);
            cr_assert_eq(now[c], g_now, "row %d col %d", row, 13 + c);
            if (writes == 0) {
                noise_cell(nz, 7, row, 13 + c, levels[c], 128, 128, &g_prog, &g_now);
                cr_assert_eq(prog[c], g_prog, "noise_cell is writes 0: row %d col %d", row, 13 + c);
            }
        }
    }
    arena_free(arena);
}

Test(noise, a_row_of_cells_is_its_cells)
{
    Arch a = chip_arch();
    a.prog_model = PROG_PCM, a.prog_sigma = 1.0;
    a.sa0_fraction = 0.05, a.sa1_fraction = 0.05;
    check_row(a);
    a.drift_nu_mean = 0.06, a.drift_nu_sigma = 0.02, a.drift_time_s = 3600;
    a.ir_drop = 0.1;
    check_row(a);
    a = chip_arch();
    a.prog_model = PROG_STATE_INDEPENDENT, a.prog_sigma = 0.5;   /* clamps at 0 */
    check_row(a);
    a = chip_arch();
    a.sa1_fraction = 0.1;
    check_row(a);
}

Test(noise, drift_follows_the_power_law)
{
    cr_expect_eq(noise_drift_factor(0, 20, 0.06), 1.0);
    cr_expect_lt(fabs(noise_drift_factor(3600, 20, 0.06) - exp(-0.06 * log(3620 / 20.0))), 1e-12);
    cr_expect_lt(fabs(noise_drift_factor(20, 20, 0.1) - pow(2.0, -0.1)), 1e-12);

    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.drift_nu_mean = 0.06, a.drift_nu_sigma = 0.0, a.drift_time_s = 86400;
    Noise *nz = noise_new(arena, &a, 3);
    double g_prog, g_now;
    noise_cell(nz, 0, 5, 7, 2, 128, 128, &g_prog, &g_now);
    cr_expect_eq(g_prog, 67.0);
    cr_expect_lt(fabs(g_now / g_prog - pow(86420 / 20.0, -0.06)), 1e-12);

    /* per-device exponents: nu = -log(G(t) / G(0)) / log((t + t0) / t0) */
    a.drift_nu_sigma = 0.02;
    nz = noise_new(arena, &a, 3);
    Moments m = {0};
    for (int r = 0; r < 256; r++)
        for (int c = 0; c < 256; c++) {
            noise_cell(nz, 1, r, c, 3, 256, 256, &g_prog, &g_now);
            moments_add(&m, -log(g_now / g_prog) / log(86420 / 20.0));
        }
    /* |N(0.06, 0.02)|: the fold at 0 is 3 sigma away, no visible effect */
    cr_expect_lt(fabs(moments_mean(&m) - 0.06), 0.0005, "nu mean %g", moments_mean(&m));
    cr_expect_lt(fabs(moments_sd(&m) - 0.02), 0.0005, "nu std %g", moments_sd(&m));
    arena_free(arena);
}

Test(noise, ir_drop_attenuates_far_cells)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.ir_drop = 0.2;
    Noise *nz = noise_new(arena, &a, 1);
    double g_prog, g_now;
    noise_cell(nz, 0, 0, 0, 3, 128, 64, &g_prog, &g_now);
    cr_expect_eq(g_now, 100.0, "the cell next to the drivers and the ADC");
    noise_cell(nz, 0, 100, 50, 3, 128, 64, &g_prog, &g_now);
    cr_expect_lt(fabs(g_now - 100.0 / (1 + 0.2 * 150 / 192.0)), 1e-12);
    arena_free(arena);
}

/* ---- options ---- */

Test(noise, times_and_assignments)
{
    double s;
    cr_expect(noise_parse_time("20s", &s) && s == 20);
    cr_expect(noise_parse_time("1h", &s) && s == 3600);
    cr_expect(noise_parse_time("1.5d", &s) && s == 1.5 * 86400);
    cr_expect(noise_parse_time("1y", &s) && s == 365 * 86400.0);
    cr_expect(noise_parse_time("42", &s) && s == 42);
    cr_expect_not(noise_parse_time("1x", &s));
    cr_expect_not(noise_parse_time("-1h", &s));
    cr_expect_not(noise_parse_time("h", &s));
    cr_expect_not(noise_parse_time("1hh", &s));

    Arch a = arch_default();
    cr_expect_null(noise_set(&a, "read_sigma=0.02"));
    cr_expect_eq(a.read_sigma, 0.02);
    cr_expect_null(noise_set(&a, "prog_model=pcm"));
    cr_expect_eq(a.prog_model, PROG_PCM);
    cr_expect_null(noise_set(&a, "g_min_us=0.5"));
    cr_expect_eq(a.g_min_us, 0.5);
    cr_expect_null(noise_set(&a, "drift_compensation=1"));
    cr_expect_eq(a.drift_compensation, 1);
    cr_expect_not_null(noise_set(&a, "rows=64"));
    cr_expect_eq(a.rows, 128);
    cr_expect_not_null(noise_set(&a, "rowz=64"));
    cr_expect_not_null(noise_set(&a, "prog_model=gaussian"));
    cr_expect_not_null(noise_set(&a, "read_sigma=lots"));
    cr_expect_not_null(noise_set(&a, "read_sigma"));
}

Test(noise, presets)
{
    Arch a = arch_default();
    cr_expect_not(noise_enabled(&a));
    cr_assert(noise_preset(&a, "rram"));
    cr_expect(noise_enabled(&a));
    cr_expect(a.prog_model == PROG_PROPORTIONAL && a.prog_sigma == 0.03);
    cr_expect(a.sa0_fraction == 0.001 && a.sa1_fraction == 0.001 && a.read_sigma == 0.01);
    cr_assert(noise_preset(&a, "pcm"));
    /* aihwkit 0.9's InferenceRPUConfig: out_noise 0.06 of out_bound 12 */
    cr_expect(a.prog_model == PROG_PCM && a.prog_sigma == 1 && a.sa0_fraction == 0 && a.read_sigma == 0);
    cr_expect(a.drift_nu_pcm == 1 && a.drift_t0_s == 20 && a.drift_compensation == 1);
    cr_expect(a.read_1f_scale == 1 && a.out_noise == 0.005 && a.inp_noise == 0);
    cr_assert(noise_preset(&a, "neurram"));
    cr_expect(a.prog_model == PROG_RRAM_WAN && a.prog_sigma == 1 && a.g_max_us == 39.26 && a.out_noise == 0);
    cr_assert(noise_preset(&a, "ideal"));
    cr_expect_not(noise_enabled(&a));
    cr_expect_eq(a.drift_t0_s, 20.0);
    cr_expect_not(noise_preset(&a, "mram"));
    /* drift without time is no drift */
    a.drift_nu_mean = 0.1;
    cr_expect_not(noise_enabled(&a));
    a.drift_time_s = 1;
    cr_expect(noise_enabled(&a));
}

/* The chip fields share the field table but not the compiled architecture. */
Test(noise, chip_fields_in_the_arch_table)
{
    cr_expect_eq(arch_field_count(), 13);
    cr_expect_gt(arch_field_count_all(), arch_field_count());
    for (int i = arch_field_count() + 1; i < arch_field_count_all(); i++)
        cr_expect_lt(strcmp(arch_field_name(i - 1), arch_field_name(i)), 0);
    int f = arch_field_find("prog_model");
    cr_assert_geq(f, arch_field_count());
    Arena *arena = arena_new();
    Arch a = arch_default();
    cr_expect_str_eq(arch_field_format(arena, &a, f), "\"none\"");
    cr_expect_null(arch_field_parse(&a, f, "state-independent", true));
    cr_expect_str_eq(arch_field_format(arena, &a, f), "\"state-independent\"");
    cr_expect_null(strstr(arch_to_json(arena, &a), "prog_model"), "not in the compiled architecture");

    char path[] = "/tmp/xbarc-noise-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    FILE *file = fdopen(fd, "w");
    fputs("{\"read_sigma\": 0.01}", file);
    fclose(file);
    Diags diags;
    diags_init(&diags, arena);
    cr_expect_not(arch_read_json(path, &a, &diags));
    cr_expect(diags.first && strstr(diags.first->text, "--set read_sigma="), "%s",
              diags.first ? diags.first->text : "no message");
    unlink(path);

    diags_init(&diags, arena);
    a = arch_default();
    a.sa0_fraction = 0.7, a.sa1_fraction = 0.5;
    cr_expect_not(arch_validate(&a, NULL, &diags));
    a = arch_default();
    a.read_sigma = -0.1;
    cr_expect_not(arch_validate(&a, NULL, &diags));
    a = arch_default();
    a.drift_nu_mean = 0.06, a.drift_t0_s = 0;
    cr_expect_not(arch_validate(&a, NULL, &diags));
    arena_free(arena);
}

/* ---- whole reads ---- */

enum { R = 100, C = 64, P = 40 };

/* One mvm of P rows over an R x C block of `level` cells on a tile of
 * 128 x 128 (pair-digital: C columns, C ADC results, unsigned), 1-bit inputs
 * (one read per row), ADC step 1/256 over 24 bits. */
static Program *one_block(Arena *arena, int level, const Arch *arch)
{
    Program *pg = arena_alloc(arena, sizeof *pg);
    pg->arena = arena;
    pg->arch = *arch;
    pg->n_buffers = 2;
    pg->buffers = arena_array(arena, 2, sizeof *pg->buffers);
    pg->buffers[0] = (Buffer){.name = "x", .kind = BUF_INPUT, .type = type_make(2, (int64_t[]){P, R})};
    pg->buffers[1] = (Buffer){.name = "y", .kind = BUF_OUTPUT, .type = type_make(2, (int64_t[]){P, C})};
    pg->n_inputs = pg->n_outputs = 1;
    pg->inputs = arena_array(arena, 1, sizeof(int));
    pg->outputs = arena_array(arena, 1, sizeof(int));
    pg->inputs[0] = 0, pg->outputs[0] = 1;
    pg->n_tiles = 1;
    pg->tiles = arena_array(arena, 1, sizeof *pg->tiles);
    Tile *t = &pg->tiles[0];
    t->rows = t->cols = 128;
    t->levels = arena_array(arena, 128 * 128, 1);
    memset(t->levels, level, 128 * 128);
    pg->n_instrs = 1;
    pg->instrs = arena_array(arena, 1, sizeof *pg->instrs);
    Instr *in = &pg->instrs[0];
    in->opcode = INSTR_MVM;
    in->dst = 1;
    in->src[0] = 0, in->src[1] = in->src[2] = -1;
    in->layer = "block";
    in->mvm = (MvmParams){
        .rows = R, .phys_cols = C, .out_cols = C, .dac_bits = 1, .in_bits = 1, .sign = SIGN_PAIR_DIGITAL,
        .adc_bits = 24, .adc_max = (float)((16777215.0) / 256), .row_begin = 0, .row_end = P,
    };
    return pg;
}

/* Runs the program with all inputs 1 on stream `stream`; y holds P x C floats. */
static void run_ones(Sim *sim, uint64_t stream, float *y)
{
    for (int i = 0; i < P * R; i++)
        sim_input(sim, 0)[i] = 1;
    sim_set_stream(sim, stream);
    sim_run(sim);
    memcpy(y, sim_output(sim, 0), sizeof(float) * P * C);
}

Test(noise, ideal_preset_is_the_ideal_simulator)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    cr_assert(noise_preset(&a, "ideal"));
    Program *pg = one_block(arena, 3, &a);
    Sim *sim = sim_new_seeded(pg, 99);
    static float y[P * C];
    run_ones(sim, 5, y);
    for (int k = 0; k < P * C; k++)
        cr_assert_eq(y[k], 3.0f * R, "y[%d] = %g", k, y[k]);
    cr_expect_eq(sim_counters(sim).saturated, 0);
    sim_free(sim);
    arena_free(arena);
}

Test(noise, same_seed_same_bits_in_any_order)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    cr_assert(noise_preset(&a, "rram"));
    a.adc_offset_sigma = 0.3, a.adc_gain_sigma = 0.01;
    Program *pg = one_block(arena, 2, &a);
    enum { RUNS = 4 };
    static float forward[RUNS][P * C], backward[RUNS][P * C], other[P * C];
    Sim *s1 = sim_new_seeded(pg, 7), *s2 = sim_new_seeded(pg, 7), *s3 = sim_new_seeded(pg, 8);
    for (int i = 0; i < RUNS; i++)
        run_ones(s1, (uint64_t)i, forward[i]);
    for (int i = RUNS - 1; i >= 0; i--)
        run_ones(s2, (uint64_t)i, backward[i]);
    for (int i = 0; i < RUNS; i++)
        cr_expect(memcmp(forward[i], backward[i], sizeof forward[i]) == 0, "stream %d differs", i);
    cr_expect(memcmp(forward[0], forward[1], sizeof forward[0]) != 0, "streams must differ (read noise)");
    run_ones(s3, 0, other);
    cr_expect(memcmp(forward[0], other, sizeof other) != 0, "seeds must differ");
    bool moved = false;
    for (int k = 0; k < P * C; k++)
        moved |= forward[0][k] != 2.0f * R;
    cr_expect(moved, "the noise must change something");
    sim_free(s1);
    sim_free(s2);
    sim_free(s3);
    arena_free(arena);
}

Test(noise, read_noise_std_of_a_column_sum)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.read_sigma = 0.05;
    Program *pg = one_block(arena, 3, &a);
    Sim *sim = sim_new_seeded(pg, 1);
    static float y[P * C];
    Moments m = {0};
    for (uint64_t run = 0; run < 40; run++) {
        run_ones(sim, run, y);
        for (int k = 0; k < P * C; k++)
            moments_add(&m, y[k] - 3.0 * R);
    }
    /* a non-ideal chip's blocks (cells and read variances) within the bound */
    cr_expect_leq(sim_arena_bytes(sim), sim_memory_bound(pg));
    /* every cell at G_max = 100 uS, dG = 33 uS: std = sigma sqrt(R) G / dG */
    double want = 0.05 * sqrt((double)R) * 100.0 / 33.0;
    cr_expect_lt(fabs(moments_mean(&m)), 0.02 * want, "mean %g", moments_mean(&m));
    cr_expect_lt(fabs(moments_sd(&m) / want - 1), 0.02, "std %g, formula %g", moments_sd(&m), want);
    sim_free(sim);
    arena_free(arena);
}

Test(noise, adc_gain_and_offset_per_adc)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.cols_per_adc = 1;
    a.adc_gain_sigma = 0.02;
    Program *pg = one_block(arena, 1, &a);
    static float y[P * C];
    Moments gain = {0}, offset = {0};
    for (uint64_t seed = 0; seed < 40; seed++) {     /* 40 chips of C ADCs */
        Sim *sim = sim_new_seeded(pg, seed);
        run_ones(sim, 0, y);
        for (int j = 0; j < C; j++) {
            moments_add(&gain, y[j] / R);
            cr_expect_eq(y[j], y[(P - 1) * C + j], "an ADC's gain is the same at every read");
        }
        sim_free(sim);
    }
    cr_expect_lt(fabs(moments_mean(&gain) - 1), 0.001, "gain mean %g", moments_mean(&gain));
    cr_expect_lt(fabs(moments_sd(&gain) / 0.02 - 1), 0.05, "gain std %g", moments_sd(&gain));

    a.adc_gain_sigma = 0, a.adc_offset_sigma = 2.0, a.cols_per_adc = 8;
    pg = one_block(arena, 1, &a);
    for (uint64_t seed = 0; seed < 40; seed++) {
        Sim *sim = sim_new_seeded(pg, seed);
        run_ones(sim, 0, y);
        for (int j = 0; j < C; j++) {
            /* offsets in LSB of 1/256: y = R + offset / 256 */
            if (j % 8 == 0)
                moments_add(&offset, (y[j] - R) * 256);
            cr_expect_eq(y[j], y[j - j % 8], "columns %d and %d share an ADC", j, j - j % 8);
        }
        sim_free(sim);
    }
    cr_expect_lt(fabs(moments_mean(&offset)), 0.35, "offset mean %g", moments_mean(&offset));
    cr_expect_lt(fabs(moments_sd(&offset) / 2.0 - 1), 0.1, "offset std %g", moments_sd(&offset));
    arena_free(arena);
}

/* INL (docs/noise.md 8): an 8-bit unsigned ADC at step 1 (codes 0..255,
 * mid-scale 127.5) with a peak of A LSB converts q to round(q + A (3 sqrt(3)
 * / 2) x (1 - x^2)), x = (q - 127.5) / 127.5.  By hand: q = 100 gives x =
 * -0.21569 and an error of -0.5343 A, q = 200 x = 0.56863 and +0.99968 A;
 * q = 0 is an end, no error. */
Test(noise, adc_inl_bends_the_transfer)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    static float y[P * C];
    const struct {
        double peak;
        int level;
        float want;
    } cases[] = {
        {1.0, 1, 99}, {1.0, 2, 201}, {1.0, 0, 0},   /* 99.466, 200.9997 */
        {0.4, 1, 100}, {0.4, 2, 200},               /* 99.786, 200.3999: within half an LSB */
        {2.0, 1, 99}, {2.0, 2, 202},                /* 98.931, 201.9994 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        a.adc_inl_lsb = cases[c].peak;
        Program *pg = one_block(arena, cases[c].level, &a);
        pg->instrs[0].mvm.adc_bits = 8, pg->instrs[0].mvm.adc_max = 255;
        Sim *sim = sim_new_seeded(pg, 5);
        run_ones(sim, 0, y);
        for (int k = 0; k < P * C; k++)
            cr_assert_eq(y[k], cases[c].want, "peak %g, sum %d: y[%d] = %g, not %g", cases[c].peak,
                         R * cases[c].level, k, y[k], cases[c].want);
        sim_free(sim);
    }
    arena_free(arena);
}

Test(noise, drift_compensation_restores_the_sums)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.drift_nu_mean = 0.08, a.drift_time_s = 365 * 86400.0;
    static float y[P * C];
    double f = pow((a.drift_time_s + 20) / 20, -0.08);
    Sim *sim = sim_new_seeded(one_block(arena, 2, &a), 1);
    run_ones(sim, 0, y);
    /* drifted: each cell (67 f - 1) / 33 level units */
    cr_expect_lt(fabs(y[0] - R * (67 * f - 1) / 33), 0.01, "y %g", y[0]);
    sim_free(sim);
    a.drift_compensation = 1;
    sim = sim_new_seeded(one_block(arena, 2, &a), 1);
    run_ones(sim, 0, y);
    /* aihwkit's readout: the mean |ADC output| of one-row reads, each cell
     * rounded to the step 1/256: off by at most half a step of a cell */
    double cell = (67 * f - 1) / 33, bound = 2.0 * R * (0.5 / 256) / cell;
    for (int k = 0; k < P * C; k++)
        cr_assert_leq(fabs(y[k] - 2.0 * R), bound, "y[%d] = %g", k, y[k]);
    sim_free(sim);
    arena_free(arena);
}

/* The nodal model of docs/noise.md 7 on a block of equal cells, every row
 * driven: each column below its ideal sum, the columns farther from the
 * drivers lower still, more ohms lower everywhere, the same block farther
 * into its tile lower again; no ohms is the ideal chip. */
Test(noise, wires_attenuate_far_cells_more)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    static float y1[P * C], y5[P * C], far[P * C];
    a.wire_r_ohm = 1;
    Sim *sim = sim_new_seeded(one_block(arena, 3, &a), 1);
    cr_assert_null(sim_chip_error(sim));
    run_ones(sim, 0, y1);
    sim_free(sim);
    a.wire_r_ohm = 5;
    sim = sim_new_seeded(one_block(arena, 3, &a), 1);
    run_ones(sim, 0, y5);
    sim_free(sim);
    Program *moved = one_block(arena, 3, &a);
    moved->instrs[0].mvm.tile_row = 20, moved->instrs[0].mvm.tile_col = 60;
    sim = sim_new_seeded(moved, 1);
    run_ones(sim, 0, far);
    sim_free(sim);
    for (int j = 0; j < C; j++) {
        cr_expect_lt(y1[j], 3.0 * R, "column %d: %g", j, y1[j]);
        cr_expect_lt(y5[j], y1[j], "column %d: %g ohm 5, %g ohm 1", j, y5[j], y1[j]);
        cr_expect_lt(far[j], y5[j], "column %d: %g moved, %g", j, far[j], y5[j]);
        if (j > 0)
            cr_expect_lt(y5[j], y5[j - 1], "column %d: %g, column %d: %g", j, y5[j], j - 1, y5[j - 1]);
        cr_expect_eq(y5[j], y5[(P - 1) * C + j], "the same at every read");
    }
    /* zero ohms in every direction: the ideal chip */
    a.wire_r_ohm = 0;
    cr_expect_not(noise_enabled(&a));
    a.wire_r_col_ohm = 2;
    cr_expect(noise_enabled(&a), "one direction is enough");
    arena_free(arena);
}

Test(noise, saturations_are_counted)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.adc_gain_sigma = 0.05;
    Program *pg = one_block(arena, 3, &a);
    pg->instrs[0].mvm.adc_bits = 9, pg->instrs[0].mvm.adc_max = 300;     /* step 300/511, top at 300 */
    Sim *sim = sim_new_seeded(pg, 2);
    static float y[P * C];
    run_ones(sim, 0, y);
    uint64_t clipped = 0;
    for (int k = 0; k < P * C; k++) {
        cr_assert_leq(y[k], 300.0f);
        clipped += y[k] == 300.0f;
    }
    /* sums of exactly 300 times a gain above 1: about half the columns */
    cr_expect(clipped > P * C / 4 && clipped < 3 * P * C / 4, "%llu clipped", (unsigned long long)clipped);
    cr_expect_leq(sim_counters(sim).saturated, clipped);
    cr_expect_gt(sim_counters(sim).saturated, 0);
    sim_free(sim);
    arena_free(arena);
}

/* ---- aihwkit's PCM model, output and input noise, the NeuRRAM fit ---- */

/* E|X| and sd|X| of X ~ N(mu, sigma): the folded normal. */
static void folded_normal(double mu, double sigma, double *m, double *sd)
{
    *m = sigma * sqrt(2 / 3.14159265358979323846) * exp(-mu * mu / (2 * sigma * sigma)) + mu * erf(mu / (sigma * sqrt(2.0)));
    *sd = sqrt(mu * mu + sigma * sigma - *m * *m);
}

Test(noise, pcm_drift_exponent_follows_its_fit_of_g)
{
    /* docs/noise.md 4, from aihwkit's PCMLikeNoiseModel: at g = G_target / G_max */
    double mu, sd;
    noise_pcm_nu(0.5, &mu, &sd);    /* -0.0155 ln 0.5 + 0.0244 = 0.03514: clipped up to 0.049 */
    cr_expect_eq(mu, 0.049);
    cr_expect_eq(sd, 0.008);        /* 0.00277, clipped up */
    noise_pcm_nu(0.05, &mu, &sd);   /* 0.07083; 0.03155 */
    cr_expect_lt(fabs(mu - (-0.0155 * log(0.05) + 0.0244)), 1e-15);
    cr_expect_lt(fabs(sd - (-0.0125 * log(0.05) - 0.0059)), 1e-15);
    noise_pcm_nu(0.0, &mu, &sd);    /* aihwkit clips g at 1e-7: both at their tops */
    cr_expect(mu == 0.1 && sd == 0.045);

    /* many devices per level, 8-bit cells from 0.01 uS to 25 uS: nu from G(t) / G(0) */
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.cell_bits = 8, a.g_min_us = 0.01, a.g_max_us = 25.0;
    a.drift_nu_pcm = 1, a.drift_time_s = 86400;
    Noise *nz = noise_new(arena, &a, 5);
    const int levels[] = {0, 10, 80, 255};
    for (int i = 0; i < 4; i++) {
        double g = (0.01 + levels[i] * (25.0 - 0.01) / 255) / 25.0, m_want, sd_want;
        noise_pcm_nu(g, &mu, &sd);
        folded_normal(mu, sd, &m_want, &sd_want);
        Moments m = {0};
        for (int r = 0; r < 200; r++)
            for (int c = 0; c < 200; c++) {
                double g_prog, g_now;
                noise_cell(nz, 2, r, c, levels[i], 256, 256, &g_prog, &g_now);
                moments_add(&m, -log(g_now / g_prog) / log(86420 / 20.0));
            }
        cr_expect_lt(fabs(moments_mean(&m) - m_want), 0.01 * m_want, "g %g: nu mean %g, |N| %g", g, moments_mean(&m), m_want);
        cr_expect_lt(fabs(moments_sd(&m) / sd_want - 1), 0.02, "g %g: nu std %g, |N| %g", g, moments_sd(&m), sd_want);
    }
    arena_free(arena);
}

Test(noise, pcm_one_over_f_noise_has_its_sigma)
{
    cr_expect_eq(noise_pcm_q(1.0), 0.0088);
    cr_expect_lt(fabs(noise_pcm_q(0.25) - 0.0088 / pow(0.25, 0.65)), 1e-15);
    cr_expect_eq(noise_pcm_q(1e-6), 0.2);       /* clipped */
    Arena *arena = arena_new();
    Arch a = chip_arch();                       /* 2-bit cells, 1 to 100 uS: g = 0.34, 0.67, 1 */
    a.read_1f_scale = 1;
    const double times[] = {0, 3600, 365 * 86400.0};
    for (int ti = 0; ti < 3; ti++) {
        a.drift_time_s = times[ti];             /* no drift exponent: the noise alone */
        Noise *nz = noise_new(arena, &a, 11);
        /* aihwkit's t is the time plus t0 = 20 s */
        double t = times[ti] + 20, root = sqrt(log((t + 250e-9) / (2 * 250e-9)));
        for (int level = 1; level <= 3; level++) {
            double g_target = 1 + level * 33.0, sigma = g_target * noise_pcm_q(g_target / 100) * root;
            Moments m = {0};
            for (int r = 0; r < 200; r++)
                for (int c = 0; c < 100; c++) {
                    double g_prog, g_now;
                    noise_cell(nz, 0, r, c, level, 256, 256, &g_prog, &g_now);
                    moments_add(&m, g_now - g_prog);
                }
            cr_expect_lt(fabs(moments_mean(&m)), 0.03 * sigma, "t %g level %d: mean %g", t, level, moments_mean(&m));
            cr_expect_lt(fabs(moments_sd(&m) / sigma - 1), 0.02, "t %g level %d: std %g, formula %g", t, level,
                         moments_sd(&m), sigma);
        }
    }
    /* drawn once per time: another time, other draws */
    double g1, g2, p;
    a.drift_time_s = 3600;
    noise_cell(noise_new(arena, &a, 11), 0, 1, 1, 2, 256, 256, &p, &g1);
    a.drift_time_s = 3601;
    noise_cell(noise_new(arena, &a, 11), 0, 1, 1, 2, 256, 256, &p, &g2);
    cr_expect_neq(g1 - p, (g2 - p) * sqrt(log(3621.0 / 5e-7) / log(3620.0 / 5e-7)));
    arena_free(arena);
}

Test(noise, rram_wan_programming_sigma)
{
    /* Wan et al. 2022 through CrossSim's cubic, in uS: 1.536e-4 G^3 - 1.167e-2 G^2 + 0.2374 G + 1.053 */
    Arch a = chip_arch();
    a.prog_model = PROG_RRAM_WAN, a.prog_sigma = 1;
    cr_expect_lt(fabs(noise_prog_sigma(&a, 0) - 1.053), 1e-12);
    cr_expect_lt(fabs(noise_prog_sigma(&a, 20) - 2.3618), 1e-9);
    a.prog_sigma = 0.5;
    cr_expect_lt(fabs(noise_prog_sigma(&a, 39.26) - 0.5 * (1.536e-4 * 60514.0 - 1.167e-2 * 1541.3476 +
                                                        0.2374 * 39.26 + 1.053)), 1e-3);
    Arena *arena = arena_new();
    Diags diags;
    diags_init(&diags, arena);
    cr_expect_not(arch_validate(&a, NULL, &diags), "G_max 100 uS is beyond the fit");
    a.g_max_us = 39.26;
    cr_expect(arch_validate(&a, NULL, &diags));
    arena_free(arena);
}

Test(noise, output_noise_per_conversion)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.out_noise = 1e-4;
    Program *pg = one_block(arena, 3, &a);
    Sim *sim = sim_new_seeded(pg, 4);
    static float y[P * C];
    /* full scale (2^24 - 1) / 256: sigma = 1e-4 of it, on every conversion,
     * of reads that drive no row too, whose negative half the unsigned ADC
     * clips to 0: mean sigma / sqrt(2 pi), second moment sigma^2 / 2 */
    double want = 1e-4 * 16777215.0 / 256;
    for (int zero = 0; zero < 2; zero++) {
        Moments m = {0};
        for (uint64_t run = 0; run < 20; run++) {
            for (int i = 0; i < P * R; i++)
                sim_input(sim, 0)[i] = zero ? 0 : 1;
            sim_set_stream(sim, run);
            sim_run(sim);
            memcpy(y, sim_output(sim, 0), sizeof y);
            for (int k = 0; k < P * C; k++)
                moments_add(&m, y[k] - (zero ? 0 : 3.0 * R));
        }
        if (zero) {
            double half = want / sqrt(2 * 3.14159265358979323846);
            cr_expect_lt(fabs(moments_mean(&m) / half - 1), 0.03, "mean %g, want %g", moments_mean(&m), half);
            cr_expect_lt(fabs(m.sum_sq / m.n / (want * want / 2) - 1), 0.03, "second moment %g", m.sum_sq / m.n);
        } else {
            cr_expect_lt(fabs(moments_mean(&m)), 0.03 * want, "mean %g", moments_mean(&m));
            cr_expect_lt(fabs(moments_sd(&m) / want - 1), 0.02, "std %g, want %g", moments_sd(&m), want);
        }
    }
    sim_free(sim);
    arena_free(arena);
}

Test(noise, input_noise_per_read_and_row)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    a.inp_noise = 0.02;
    Program *pg = one_block(arena, 3, &a);
    Sim *sim = sim_new_seeded(pg, 6);
    static float y[P * C];
    /* each row's drive 1 + 0.02 z: a column sum of R cells at level 3 has
     * std 0.02 * 3 sqrt(R), the same noise on every column (one z a row;
     * float sums in other orders may round to the next ADC step) */
    double want = 0.02 * 3 * sqrt((double)R);
    Moments m = {0};
    for (uint64_t run = 0; run < 100; run++) {
        run_ones(sim, run, y);
        for (int p = 0; p < P; p++) {
            moments_add(&m, y[p * C] - 3.0 * R);
            for (int j = 1; j < C; j++)
                cr_assert_leq(fabs(y[p * C + j] - y[p * C]), 1.0 / 256, "p %d col %d: %g, col 0 %g", p, j, y[p * C + j], y[p * C]);
        }
    }
    cr_expect_lt(fabs(moments_mean(&m)), 0.05 * want, "mean %g", moments_mean(&m));
    cr_expect_lt(fabs(moments_sd(&m) / want - 1), 0.03, "std %g, want %g", moments_sd(&m), want);
    sim_free(sim);
    arena_free(arena);
}

Test(noise, pcm_preset_same_seed_same_bits)
{
    Arena *arena = arena_new();
    Arch a = chip_arch();
    cr_assert(noise_preset(&a, "pcm"));
    a.drift_time_s = 86400, a.inp_noise = 0.01;
    Program *pg = one_block(arena, 2, &a);
    static float y1[P * C], y2[P * C], y3[P * C];
    Sim *s1 = sim_new_seeded(pg, 3), *s2 = sim_new_seeded(pg, 3), *s3 = sim_new_seeded(pg, 4);
    run_ones(s1, 1, y1);
    run_ones(s2, 1, y2);
    run_ones(s3, 1, y3);
    cr_expect(memcmp(y1, y2, sizeof y1) == 0, "same seed, same bits");
    cr_expect(memcmp(y1, y3, sizeof y1) != 0, "seeds must differ");
    sim_free(s1);
    sim_free(s2);
    sim_free(s3);
    arena_free(arena);
}
