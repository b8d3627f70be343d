/* test_train.c: the in-memory training engine's array (study/train_array.c,
 * docs/train.md) and the cost of training (backend/perf_train.c).
 *
 * References, each independent of the code under test:
 *   - the pulse-train outer product: over many trials (other keys), the mean
 *     of the coincidence counts times the device step must be -lr x[k] d[n]
 *     (Gokmen and Vlasov 2016's expectation, what update management aims
 *     at) within five standard errors of a binomial count; at the cap the
 *     largest |x| and |d| meet in every one of the BL slots;
 *   - applying the counts to constant-step devices moves each weight by
 *     count x dw_min exactly (the device model's closed form);
 *   - forward and transposed reads without noise and ADC against a direct
 *     double product; with an ADC against each block's sum rounded by the
 *     transfer of docs/crossbar.md 7, written here; with read noise, the
 *     variance of an output over many reads against per-cell noise drawn
 *     cell by cell in the test (read_sigma |x w| N(0, 1) each), which the
 *     engine replaces by one normal of the summed variance;
 *   - the costs: hand-counted events priced by hand. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "runtime/device.h"
#include "runtime/noise.h"
#include "study/train_array.h"

static DeviceModel idealized(void)
{
    DeviceModel m;
    cr_assert(device_preset(&m, "idealized"));
    return m;
}

Test(train, pulse_train_mean_update)
{
    enum { K = 4, N = 3, TRIALS = 40000, BL = 31 };
    const double x[K] = {0.8, -0.3, 0.5, 0}, d[N] = {0.02, -0.07, 0.05};
    const double lr = 0.05, dw_min = 0.002;
    uint64_t xb[K], db[N];
    PulseStreams s = {.bl = BL, .words = 1, .x_bits = xb, .d_bits = db};
    double sum[K][N] = {{0}};
    for (int t = 0; t < TRIALS; t++) {
        pulse_streams(&s, x, K, d, N, lr, dw_min, noise_hash(12345, (uint64_t)t));
        for (int k = 0; k < K; k++)
            for (int n = 0; n < N; n++)
                sum[k][n] += pulse_count(&s, k, n, x[k] * d[n] > 0 ? 1 : -1);
    }
    cr_assert(s.cap < 1, "this case is below the cap (sqrt(m) = %g)", s.cap);
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++) {
            double mean = sum[k][n] / TRIALS * dw_min, expect = -lr * x[k] * d[n];
            /* a count is binomial(BL, p): variance at most BL / 4 */
            double tolerance = 5 * dw_min * sqrt(BL * 0.25 / TRIALS);
            cr_expect(fabs(mean - expect) <= tolerance, "weight (%d, %d): mean update %g, expected %g (+-%g)", k,
                      n, mean, expect, tolerance);
        }
}

Test(train, pulse_train_cap)
{
    enum { K = 2, N = 2, BL = 31 };
    const double x[K] = {1, 0.25}, d[N] = {-4, 1};
    uint64_t xb[K], db[N];
    PulseStreams s = {.bl = BL, .words = 1, .x_bits = xb, .d_bits = db};
    pulse_streams(&s, x, K, d, N, 10.0, 0.002, 99);
    cr_assert(s.cap > 1);
    /* probability 1 on both: every slot a coincidence, direction -sign(x d) = up */
    cr_expect_eq(pulse_count(&s, 0, 0, -1), BL);
    cr_expect_eq(__builtin_popcountll(xb[0]), BL);
}

Test(train, pulses_move_constant_step_devices)
{
    enum { K = 5, N = 4, BL = 64 };
    DeviceModel m = idealized();
    double w0[K * N], x[K] = {0.9, -0.4, 0, 0.7, -1}, d[N] = {0.3, -0.1, 0.2, 0};
    for (int i = 0; i < K * N; i++)
        w0[i] = 0.05 * (i % 7) - 0.15;
    TrainBlock block = {0, K, 0, N, 0};
    Arena *arena = arena_new();
    TrainArray a;
    train_array_init(&a, &m, K, N, false, 7, w0, &block, 1, arena);
    uint64_t xb[K * 1], db[N * 1];
    PulseStreams s = {.bl = BL, .words = 1, .x_bits = xb, .d_bits = db};
    pulse_streams(&s, x, K, d, N, 0.5, m.dw_min, 42);
    int counts[K * N];
    for (int k = 0; k < K; k++)
        for (int n = 0; n < N; n++)
            counts[k * N + n] = x[k] == 0 || d[n] == 0 ? 0 : pulse_count(&s, k, n, x[k] * d[n] > 0 ? 1 : -1);
    uint64_t pulses = pulse_apply(&a, &s, x, d, 0, K), total = 0;
    for (int i = 0; i < K * N; i++) {
        total += (uint64_t)abs(counts[i]);
        cr_expect(fabs(a.w[i] - (w0[i] + counts[i] * m.dw_min)) < 2e-6, "weight %d: %g, expected %g", i, a.w[i],
                  w0[i] + counts[i] * m.dw_min);
        cr_expect_eq(a.cells[i].pulses, (uint32_t)abs(counts[i]));
    }
    cr_expect_eq(pulses, total);
    cr_expect(total > 0);
    arena_free(arena);
}

/* A 9 x 7 array in four blocks, weights in (-0.9, 0.9). */
static TrainArray blocked_array(const DeviceModel *m, const TrainBlock *blocks, Arena *arena, double *w0)
{
    for (int i = 0; i < 63; i++)
        w0[i] = 0.9 * sin(1.7 * i + 0.3);
    TrainArray a;
    train_array_init(&a, m, 9, 7, false, 3, w0, blocks, 4, arena);
    return a;
}

static const TrainBlock four_blocks[4] = {
    {0, 5, 0, 3, 6}, {0, 5, 3, 4, 6}, {5, 4, 0, 3, 6}, {5, 4, 3, 4, 6},
};

Test(train, reads_against_direct_products)
{
    DeviceModel m = idealized();
    Arena *arena = arena_new();
    double w0[63], x[9], dv[7], y[9], direct[9];
    TrainArray a = blocked_array(&m, four_blocks, arena, w0);
    for (int k = 0; k < 9; k++)
        x[k] = cos(0.9 * k);
    for (int n = 0; n < 7; n++)
        dv[n] = sin(2.1 * n + 1);
    float *normal = arena_array(arena, (size_t)1 << NOISE_TABLE_BITS, sizeof(float));
    noise_normal_table(normal);
    TrainRead exact = {.read_sigma = 0, .out_bound = 12, .adc_bits = 0, .normal = normal};
    /* no ADC: the products */
    TrainBlock none[4];
    memcpy(none, four_blocks, sizeof none);
    for (int b = 0; b < 4; b++)
        none[b].adc_bits = 0;
    a.blocks = none;
    train_array_read(&a, &exact, false, x, y, 1, 0, -1);
    for (int n = 0; n < 7; n++) {
        double s = 0;
        for (int k = 0; k < 9; k++)
            s += x[k] * (float)w0[k * 7 + n];
        cr_expect(fabs(y[n] - s) < 1e-9, "forward %d: %.12g, direct %.12g", n, y[n], s);
    }
    train_array_read(&a, &exact, true, dv, y, 1, 0, -1);
    for (int k = 0; k < 9; k++) {
        direct[k] = 0;
        for (int n = 0; n < 7; n++)
            direct[k] += dv[n] * (float)w0[k * 7 + n];
        cr_expect(fabs(y[k] - direct[k]) < 1e-9, "transposed %d: %.12g, direct %.12g", k, y[k], direct[k]);
    }
    /* 6-bit ADCs over +-out_bound = 2: each block's sum rounded on its own */
    a.blocks = four_blocks;
    TrainRead adc = exact;
    adc.out_bound = 2;
    train_array_read(&a, &adc, true, dv, y, 1, 0, -1);
    double step = 2.0 / 31;
    for (int k = 0; k < 9; k++) {
        double expect = 0;
        for (int half = 0; half < 2; half++) {
            double s = 0;
            for (int n = half ? 3 : 0; n < (half ? 7 : 3); n++)
                s += dv[n] * (float)w0[k * 7 + n];
            double code = rint(s / step);
            expect += fmax(-31, fmin(31, code)) * step;
        }
        cr_expect(fabs(y[k] - expect) < 1e-9, "transposed %d with ADC: %.12g, expected %.12g", k, y[k], expect);
    }
    /* the per-worker share reads the same outputs */
    double part[9] = {0};
    train_array_read(&a, &adc, true, dv, part, 1, 2, 6);
    for (int k = 2; k < 6; k++)
        cr_expect_eq(part[k], y[k]);
    arena_free(arena);
}

/* An independent normal: Box-Muller on a 64-bit LCG. */
static double lcg_normal(uint64_t *state)
{
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    double u1 = ((double)(*state >> 11) + 0.5) * 0x1p-53;
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    double u2 = (double)(*state >> 11) * 0x1p-53;
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Zero-shifting (docs/train.md 4): a one-device array of reram devices (their
 * spread, no cycle-to-cycle or write noise) programmed to its symmetry
 * points reads 0, and alternating pulses keep it within two steps of 0,
 * where an array started at 0 without the shift ends at its devices'
 * symmetry points (the preset's mean device: -0.045, docs/devices.md). */
Test(train, zero_shift_centres_the_reads_on_the_symmetry_point)
{
    enum { K = 6, N = 5, PAIRS = 3000 };
    DeviceModel m;
    cr_assert(device_preset(&m, "reram"));
    m.dw_min_std = m.write_noise_std = 0;
    double zero[K * N] = {0};
    TrainBlock block = {0, K, 0, N, 0};
    Arena *arena = arena_new();
    TrainArray shifted, plain;
    train_array_init(&shifted, &m, K, N, false, 21, zero, &block, 1, arena);
    train_array_init(&plain, &m, K, N, false, 21, zero, &block, 1, arena);
    train_array_zero_shift(&shifted, arena);
    double plain_mean = 0;
    for (int i = 0; i < K * N; i++) {
        cr_expect_eq(shifted.w[i], 0, "weight %d reads %g after the shift", i, shifted.w[i]);
        for (int p = 0; p < PAIRS; p++) {
            train_array_pulse(&shifted, i, 1);
            train_array_pulse(&shifted, i, -1);
            train_array_pulse(&plain, i, 1);
            train_array_pulse(&plain, i, -1);
        }
        double step = device_mean_step(&m, &shifted.cells[i], 1);
        cr_expect(fabs(shifted.w[i]) < 2 * step, "weight %d: %g after alternating pulses", i, shifted.w[i]);
        double sp = device_symmetry_point(&m, &plain.cells[i]);
        cr_expect(fabs(plain.w[i] - sp) < 2 * step, "weight %d without the shift: %g, its point %g", i, plain.w[i], sp);
        plain_mean += plain.w[i] / (K * N);
    }
    cr_expect(plain_mean < -0.02, "without the shift the reads drift to the points below 0 (mean %g)", plain_mean);
    arena_free(arena);
}

Test(train, read_noise_variance)
{
    enum { READS = 20000 };
    DeviceModel m = idealized();
    Arena *arena = arena_new();
    double w0[63], x[9], y[7];
    TrainBlock none[4];
    memcpy(none, four_blocks, sizeof none);
    for (int b = 0; b < 4; b++)
        none[b].adc_bits = 0;
    TrainArray a = blocked_array(&m, none, arena, w0);
    for (int k = 0; k < 9; k++)
        x[k] = 1 - 0.2 * k;
    float *normal = arena_array(arena, (size_t)1 << NOISE_TABLE_BITS, sizeof(float));
    noise_normal_table(normal);
    TrainRead r = {.read_sigma = 0.05, .out_bound = 12, .normal = normal};
    double mean[7] = {0}, sq[7] = {0}, ref_mean[7] = {0}, ref_sq[7] = {0};
    uint64_t state = 2024;
    for (int t = 0; t < READS; t++) {
        train_array_read(&a, &r, false, x, y, noise_hash(77, (uint64_t)t), 0, -1);
        for (int n = 0; n < 7; n++) {
            double ref = 0;
            for (int k = 0; k < 9; k++) {
                double g = (float)w0[k * 7 + n];
                ref += x[k] * g * (1 + r.read_sigma * lcg_normal(&state));
            }
            mean[n] += y[n], sq[n] += y[n] * y[n];
            ref_mean[n] += ref, ref_sq[n] += ref * ref;
        }
    }
    for (int n = 0; n < 7; n++) {
        double v = sq[n] / READS - pow(mean[n] / READS, 2), rv = ref_sq[n] / READS - pow(ref_mean[n] / READS, 2);
        cr_expect(fabs(v / rv - 1) < 0.1, "output %d: variance %g, per-cell noise %g", n, v, rv);
        cr_expect(fabs(mean[n] - ref_mean[n]) / READS < 5 * sqrt(rv / READS) + 1e-9, "output %d: mean", n);
    }
    arena_free(arena);
}

Test(train, cost_by_hand)
{
    PerfParams p = perf_params_default();
    TrainCounters c = {0};
    c.steps = 10;
    c.cells[0] = 1000, c.drives[0] = 50, c.conversions[0][8] = 40, c.read_steps[0] = 10, c.read_turns[0][8] = 80;
    c.pulses = 500, c.update_slots = 310, c.digital_ops = 700, c.buffer_bytes = 64;
    TrainCost k;
    perf_train_cost(&p, 2.0, 10.0, &c, &k);
    double read = 1000 * p.cell_pj + 50 * p.dac_pj + 40 * p.sh_pj, adc = 40 * perf_adc_pj(&p, 8);
    double energy = read + adc + 500 * 2.0 + 700 * p.digital_pj + 64 * p.buffer_pj_per_byte;
    double time = 10 * p.read_ns + 80 * perf_adc_ns(&p, 8) + 310 * 10.0 + 700 / p.digital_gops;
    cr_expect(fabs(k.energy_pj - energy) < 1e-9 * energy, "energy %g, by hand %g", k.energy_pj, energy);
    cr_expect(fabs(k.time_ns - time) < 1e-9 * time, "time %g, by hand %g", k.time_ns, time);
    cr_expect(fabs(k.pj_per_step - energy / 10) < 1e-9 * energy);
    cr_expect_eq(perf_train_epochs_to_wear(1e6, 1e3), 1e3);
    cr_expect(isinf(perf_train_epochs_to_wear(1e6, 0)));
}
