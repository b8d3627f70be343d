/* test_wires.c: the wire solver (runtime/wires.c, docs/noise.md 7) against
 * references that do not share its method, and physical properties.
 *
 * References: one cell in series with its two leads (Ohm's law); a single
 * row over ideal columns, a ladder network solved by its continued fraction
 * from the far end; small arrays through the whole nodal matrix, built here
 * from Kirchhoff's current law and solved by Gaussian elimination.  (The
 * random arrays of 4x4 to 64x64 against ngspice: tests/tools/wires_spice.c.)
 * Properties: superposition (the transfer matrix times a drive is the
 * solve of that drive), reciprocity (the transposed array has the transposed
 * matrix), column currents that fall as the wires' resistance grows, and a
 * larger array that loses a larger fraction of its current at the same ohms
 * (tests/unit/test_noise.c: a simulated block's far columns lose more). */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/noise.h"
#include "runtime/program.h"
#include "runtime/runtime.h"
#include "runtime/sim_mvm.h"
#include "runtime/wires.h"

static double rand_between(uint64_t *state, double lo, double hi)
{
    *state = noise_mix(*state + 0x9e3779b97f4a7c15u);
    return lo + (hi - lo) * noise_uniform(*state);
}

static double relative(double a, double b)
{
    return fabs(a - b) / fabs(b);
}

Test(wires, one_cell_is_a_series_circuit)
{
    double g = 50e-6, v = 0.7, out;
    WireArray a = {.rows = 1, .cols = 1, .g = &g, .r_row = 3, .r_col = 7, .row_lead = 2, .col_lead = 4};
    cr_assert_null(wires_solve(&a, &v, &out, NULL));
    double want = v / (2 * 3 + 1 / g + 4 * 7);
    cr_expect_lt(relative(out, want), 1e-12, "%.17g against %.17g", out, want);
}

/* One row over columns of ideal wire: a ladder.  From the far end, the
 * admittance seen at node j is Y_j = G_j + 1 / (r + 1 / Y_{j+1}); the drive
 * divides along it. */
Test(wires, a_row_is_a_ladder)
{
    enum { N = 40 };
    double g[N], out[N], y[N + 1], v = 1.0, r = 4.0;
    uint64_t s = 5;
    for (int j = 0; j < N; j++)
        g[j] = rand_between(&s, 1, 100) * 1e-6;
    WireArray a = {.rows = 1, .cols = N, .g = g, .r_row = r, .r_col = 0, .row_lead = 3, .col_lead = 1};
    cr_assert_null(wires_solve(&a, &v, out, NULL));
    y[N - 1] = g[N - 1];
    for (int j = N - 2; j >= 0; j--)
        y[j] = g[j] + 1 / (r + 1 / y[j + 1]);
    double node = v * (1 / y[0]) / (3 * r + 1 / y[0]);
    for (int j = 0; j < N; j++) {
        cr_expect_lt(relative(out[j], g[j] * node), 1e-9, "column %d: %g, ladder %g", j, out[j], g[j] * node);
        if (j + 1 < N)
            node *= (1 / y[j + 1]) / (r + 1 / y[j + 1]);
    }
}

/* The nodal matrix of an R x P array (row nodes first, then column nodes),
 * solved densely: the column currents for drives v. */
static void dense_reference(const WireArray *a, const double *v, double *out)
{
    int R = a->rows, P = a->cols, n = 2 * R * P;
    double *m = calloc((size_t)n * (n + 1), sizeof *m);
#define A(i, j) m[(size_t)(i) * (n + 1) + (j)]
#define ROW(i, j) ((i) * P + (j))
#define COL(i, j) (R * P + (i) * P + (j))
    double gr = 1 / a->r_row, gc = 1 / a->r_col;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < P; j++) {
            double g = a->g[i * P + j];
            int x = ROW(i, j), y = COL(i, j);
            A(x, x) += g, A(y, y) += g, A(x, y) -= g, A(y, x) -= g;
            if (j == 0) {               /* the lead from the driver */
                A(x, x) += gr / a->row_lead;
                A(x, n) += gr / a->row_lead * v[i];
            } else {
                int z = ROW(i, j - 1);
                A(x, x) += gr, A(z, z) += gr, A(x, z) -= gr, A(z, x) -= gr;
            }
            if (i == 0) {               /* the lead to the sense amplifier at 0 V */
                A(y, y) += gc / a->col_lead;
            } else {
                int z = COL(i - 1, j);
                A(y, y) += gc, A(z, z) += gc, A(y, z) -= gc, A(z, y) -= gc;
            }
        }
    for (int k = 0; k < n; k++) {       /* Gaussian elimination, partial pivoting */
        int best = k;
        for (int i = k + 1; i < n; i++)
            best = fabs(A(i, k)) > fabs(A(best, k)) ? i : best;
        for (int j = 0; j <= n; j++) {
            double t = A(k, j);
            A(k, j) = A(best, j), A(best, j) = t;
        }
        for (int i = k + 1; i < n; i++) {
            double f = A(i, k) / A(k, k);
            for (int j = k; j <= n; j++)
                A(i, j) -= f * A(k, j);
        }
    }
    double *x = calloc((size_t)n, sizeof *x);
    for (int k = n - 1; k >= 0; k--) {
        double sum = A(k, n);
        for (int j = k + 1; j < n; j++)
            sum -= A(k, j) * x[j];
        x[k] = sum / A(k, k);
    }
    for (int j = 0; j < P; j++)         /* what the lead of row 0 carries to 0 V */
        out[j] = x[COL(0, j)] * gc / a->col_lead;
#undef A
#undef ROW
#undef COL
    free(x);
    free(m);
}

Test(wires, small_arrays_match_the_nodal_matrix)
{
    uint64_t s = 11;
    for (int trial = 0; trial < 12; trial++) {
        int R = 1 + (int)rand_between(&s, 0, 7), P = 1 + (int)rand_between(&s, 0, 7);
        double g[64], v[8], out[8], want[8], m[64];
        for (int e = 0; e < R * P; e++)
            g[e] = rand_between(&s, 1, 100) * 1e-6;
        for (int i = 0; i < R; i++)
            v[i] = rand_between(&s, -1, 1);
        double r_big = trial % 3 == 0 ? 200 : 20;   /* some where the wires dominate */
        WireArray a = {.rows = R, .cols = P, .g = g, .r_row = rand_between(&s, 0.1, r_big),
                       .r_col = rand_between(&s, 0.1, r_big), .row_lead = 1 + trial % 3, .col_lead = 1 + trial % 2};
        dense_reference(&a, v, want);
        cr_assert_null(wires_solve(&a, v, out, NULL));
        cr_assert_null(wires_transfer(&a, m, NULL));
        double scale = 0;
        for (int j = 0; j < P; j++)
            scale = fmax(scale, fabs(want[j]));
        for (int j = 0; j < P; j++) {
            double product = 0;             /* superposition: M v */
            for (int i = 0; i < R; i++)
                product += m[i * P + j] * v[i];
            cr_expect_lt(fabs(out[j] - want[j]) / scale, 1e-8, "trial %d (%d x %d) column %d: %g, nodal %g", trial,
                         R, P, j, out[j], want[j]);
            cr_expect_lt(fabs(product - want[j]) / scale, 1e-8, "trial %d column %d: M v %g, nodal %g", trial, j,
                         product, want[j]);
        }
    }
}

Test(wires, currents_fall_as_the_wires_grow)
{
    enum { R = 16, P = 24 };
    static double g[R * P], v[R], before[P], out[P];
    uint64_t s = 3;
    for (int e = 0; e < R * P; e++)
        g[e] = rand_between(&s, 1, 100) * 1e-6;
    for (int i = 0; i < R; i++)
        v[i] = rand_between(&s, 0.1, 1);
    for (int j = 0; j < P; j++) {
        before[j] = 0;
        for (int i = 0; i < R; i++)
            before[j] += g[i * P + j] * v[i];   /* ideal wires: Ohm's law cell by cell */
    }
    const double ohms[] = {0.1, 0.5, 1, 2, 5, 10, 50};
    for (size_t k = 0; k < sizeof ohms / sizeof ohms[0]; k++) {
        WireArray a = {.rows = R, .cols = P, .g = g, .r_row = ohms[k], .r_col = ohms[k], .row_lead = 1, .col_lead = 1};
        cr_assert_null(wires_solve(&a, v, out, NULL));
        for (int j = 0; j < P; j++) {
            cr_expect_lt(out[j], before[j], "%g ohm, column %d: %g, not below %g", ohms[k], j, out[j], before[j]);
            before[j] = out[j];
        }
    }
}

Test(wires, a_larger_array_loses_more)
{
    double previous = 1;
    for (int n = 8; n <= 128; n *= 2) {
        double *g = malloc((size_t)n * n * sizeof *g), *v = malloc((size_t)n * sizeof *v);
        double *out = malloc((size_t)n * sizeof *out);
        for (int e = 0; e < n * n; e++)
            g[e] = 50e-6;
        for (int i = 0; i < n; i++)
            v[i] = 1;
        WireArray a = {.rows = n, .cols = n, .g = g, .r_row = 2, .r_col = 2, .row_lead = 1, .col_lead = 1};
        cr_assert_null(wires_solve(&a, v, out, NULL));
        double total = 0;
        for (int j = 0; j < n; j++)
            total += out[j];
        double kept = total / (n * n * 50e-6);  /* of the ideal current */
        cr_expect_lt(kept, previous, "%d x %d keeps %g of its current, %d x %d kept %g", n, n, kept, n / 2, n / 2,
                     previous);
        previous = kept;
        free(g), free(v), free(out);
    }
}

/* Reciprocity (a property of every linear resistive network): M of the
 * transposed array, rows and columns and their resistances swapped, is M
 * transposed.  wires_transfer solves a wide array by its rows and a tall one
 * by its columns, so this also holds the two ways against each other. */
Test(wires, reciprocity)
{
    enum { R = 6, P = 13 };
    static double g[R * P], g_t[R * P], m[R * P], m_t[R * P];
    uint64_t s = 21;
    for (int i = 0; i < R; i++)
        for (int j = 0; j < P; j++)
            g_t[j * R + i] = g[i * P + j] = rand_between(&s, 1, 100) * 1e-6;
    WireArray a = {.rows = R, .cols = P, .g = g, .r_row = 3, .r_col = 8, .row_lead = 2, .col_lead = 5};
    WireArray t = {.rows = P, .cols = R, .g = g_t, .r_row = 8, .r_col = 3, .row_lead = 5, .col_lead = 2};
    cr_assert_null(wires_transfer(&a, m, NULL));
    cr_assert_null(wires_transfer(&t, m_t, NULL));
    for (int i = 0; i < R; i++)
        for (int j = 0; j < P; j++)
            cr_expect_lt(relative(m_t[j * R + i], m[i * P + j]), 1e-7, "(%d, %d): %g, transposed %g", i, j,
                         m[i * P + j], m_t[j * R + i]);
}

/* Wires of a teraohm a segment: the lines barely conduct, the iteration
 * crawls, and the solver must say so rather than stop on small updates. */
Test(wires, no_convergence_is_an_error)
{
    double g[4] = {50e-6, 60e-6, 70e-6, 80e-6}, v[2] = {1, 0.5}, out[2];
    WireArray a = {.rows = 2, .cols = 2, .g = g, .r_row = 1e12, .r_col = 1e12, .row_lead = 1, .col_lead = 1};
    WireStats stats = {0};
    const char *error = wires_solve(&a, v, out, &stats);
    cr_assert_not_null(error);
    cr_expect(strstr(error, "did not converge"), "%s", error);
    cr_expect_eq(stats.max_sweeps, WIRES_MAX_SWEEPS);
}

/* ---- a block's layout (runtime/wires.c wires_program_block) ---- */

/* The currents of a ladder's cells g[0 .. n) (siemens, to ground) fed with
 * 1 V behind `lead` segments of r ohms at node 0: from the far end the
 * admittance at node j is Y_j = g_j + 1 / (r + 1 / Y_{j+1}), and the drive
 * divides along it. */
static void ladder_currents(int n, const double *g, double r, int lead, double *current)
{
    double y[64];
    cr_assert_leq(n, 64);
    y[n - 1] = g[n - 1];
    for (int j = n - 2; j >= 0; j--)
        y[j] = g[j] + 1 / (r + 1 / y[j + 1]);
    double node = (1 / y[0]) / (lead * r + 1 / y[0]);
    for (int j = 0; j < n; j++) {
        current[j] = g[j] * node;
        if (j + 1 < n)
            node *= (1 / y[j + 1]) / (r + 1 / y[j + 1]);
    }
}

/* A block's cells through wires_program_block, level units: (M - G_min) / dG,
 * pair-analog pairs subtracted. */
static void block_levels(const Arch *a, const MvmParams *mp, const double *g_us, float *cells)
{
    Arena *arena = arena_new();
    Noise *nz = noise_new(arena, a, 1);
    cr_assert_null(wires_program_block(mp, nz, g_us, NULL, cells, mp->out_cols, NULL));
    arena_free(arena);
}

/* One row of pair-analog cells over ideal column wires.  Interleaved, the
 * row wire is one ladder of all 2K cells, G+ and G- alternating; with
 * wire_split_pairs each polarity is a ladder of its own K cells, whose
 * lead counts half the physical columns before the block.  Fewer cells on
 * each wire: with every G+ at G_max and every G- at G_min, the pairs'
 * differences lose less, the farthest pair most. */
Test(wires, split_pairs_are_two_ladders)
{
    enum { K = 24 };
    double g_us[2 * K], plus[K], minus[K], both[2 * K], want_plus[K], want_minus[K], want_both[2 * K], r = 4;
    uint64_t s = 11;
    for (int j = 0; j < 2 * K; j++) {
        g_us[j] = rand_between(&s, 1, 100);
        both[j] = g_us[j] * 1e-6;
        (j % 2 ? minus : plus)[j / 2] = both[j];
    }
    Arch a = arch_default();
    a.cell_bits = 7, a.g_min_us = 1, a.g_max_us = 100, a.wire_r_row_ohm = r;    /* ideal columns */
    double dg = 99.0 / 127;
    MvmParams mp = {.rows = 1, .phys_cols = 2 * K, .out_cols = K, .sign = SIGN_PAIR_ANALOG, .tile_col = 8};
    float split[K], interleaved[K];
    a.wire_split_pairs = 1;
    block_levels(&a, &mp, g_us, split);
    ladder_currents(K, plus, r, 8 / 2 + 1, want_plus);
    ladder_currents(K, minus, r, 8 / 2 + 1, want_minus);
    a.wire_split_pairs = 0;
    block_levels(&a, &mp, g_us, interleaved);
    ladder_currents(2 * K, both, r, 8 + 1, want_both);
    for (int j = 0; j < K; j++) {
        double want = (want_plus[j] - want_minus[j]) * 1e6 / dg;
        cr_expect_lt(fabs(split[j] - want), 1e-4, "pair %d: %g, ladders %g", j, split[j], want);
        want = (want_both[2 * j] - want_both[2 * j + 1]) * 1e6 / dg;
        cr_expect_lt(fabs(interleaved[j] - want), 1e-4, "pair %d: %g, ladder %g", j, interleaved[j], want);
    }

    for (int j = 0; j < 2 * K; j++)
        g_us[j] = j % 2 ? 1 : 100;
    mp.tile_col = 0;
    block_levels(&a, &mp, g_us, interleaved);
    a.wire_split_pairs = 1;
    block_levels(&a, &mp, g_us, split);
    double sum_split = 0, sum_interleaved = 0;
    for (int j = 0; j < K; j++) {
        cr_expect_lt(split[j], 127, "pair %d: %g, ideal 127", j, split[j]);
        sum_split += split[j], sum_interleaved += interleaved[j];
    }
    /* (the first pair alone can lose a hair more split: interleaved, its G-
     * cell sits right after the G+ one, as attenuated, and subtracts a
     * little less than its G_min) */
    cr_expect_gt(split[K - 1], interleaved[K - 1], "last pair: %g split, %g interleaved", split[K - 1],
                 interleaved[K - 1]);
    cr_expect_gt(sum_split, sum_interleaved, "all pairs: %g split, %g interleaved", sum_split, sum_interleaved);
}

/* One column over ideal row wires, its sense amplifier tile_row + 1
 * segments from the block.  By reciprocity the current that 1 V on row i
 * sends into the sense amplifier is the current cell i takes when 1 V
 * drives the column from the sense amplifier's end: a ladder from row 0,
 * or with wire_sense_far from the last row (the ladder of the reversed
 * cells). */
Test(wires, far_sense_amplifiers_reverse_the_column_ladder)
{
    enum { N = 30 };
    double g_us[N], g[N], reversed[N], want[N], want_far[N], r = 3;
    uint64_t s = 12;
    for (int i = 0; i < N; i++) {
        g_us[i] = rand_between(&s, 1, 100);
        g[i] = reversed[N - 1 - i] = g_us[i] * 1e-6;
    }
    Arch a = arch_default();
    a.cell_bits = 7, a.g_min_us = 1, a.g_max_us = 100, a.wire_r_col_ohm = r;    /* ideal rows */
    double dg = 99.0 / 127;
    MvmParams mp = {.rows = N, .phys_cols = 1, .out_cols = 1, .sign = SIGN_OFFSET, .tile_row = 4};
    float near[N], far[N];
    block_levels(&a, &mp, g_us, near);
    a.wire_sense_far = 1;
    a.wire_split_pairs = 1;     /* no pairs: no effect */
    block_levels(&a, &mp, g_us, far);
    ladder_currents(N, g, r, 5, want);
    ladder_currents(N, reversed, r, 5, want_far);
    for (int i = 0; i < N; i++) {
        double w = (want[i] * 1e6 - 1) / dg, w_far = (want_far[N - 1 - i] * 1e6 - 1) / dg;
        cr_expect_lt(fabs(near[i] - w), 1e-4, "row %d: %g, ladder %g", i, near[i], w);
        cr_expect_lt(fabs(far[i] - w_far), 1e-4, "row %d: %g, ladder %g", i, far[i], w_far);
    }
}
