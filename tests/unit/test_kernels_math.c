/* test_kernels_math.c: the math kernels (runtime/kernels_math.c) where their
 * edge cases matter, against references written here: Round's halves in any
 * rounding mode, Erf against double precision, log-sum-exp far beyond float's
 * exp range, every reduction over every set of axes against a naive loop nest,
 * broadcasting of many inputs, NaN propagation, normalization of a flat row. */
#include <criterion/criterion.h>

#include <fenv.h>
#include <math.h>

#include "runtime/kernels.h"

#define TEST_SEED 0x6d617468ull
#include "test_support.h"

static float unary1(UnaryOp op, float v)
{
    float y;
    kernel_unary(op, 1, 1.0f, 1.0f, &v, &y);
    return y;
}

/* ---- Round ---- */

static void expect_rounds(float v, float want)
{
    float got = unary1(UNARY_ROUND, v);
    cr_expect(got == want && signbit(got) == signbit(want), "round(%.9g) = %.9g, want %.9g", v, got, want);
}

static void check_round_table(void)
{
    expect_rounds(0.5f, 0.0f);
    expect_rounds(1.5f, 2.0f);
    expect_rounds(2.5f, 2.0f);
    expect_rounds(3.5f, 4.0f);
    expect_rounds(-0.5f, -0.0f);
    expect_rounds(-1.5f, -2.0f);
    expect_rounds(-2.5f, -2.0f);
    expect_rounds(-0.4f, -0.0f);
    expect_rounds(0.49999997f, 0.0f);           /* the float below 0.5: not a half */
    expect_rounds(2.5000002f, 3.0f);
    expect_rounds(8388607.5f, 8388608.0f);      /* 2^23 - 0.5, the largest float half: to even */
    expect_rounds(8388609.0f, 8388609.0f);      /* above 2^23 every float is an integer */
    expect_rounds(1e30f, 1e30f);
    expect_rounds(-INFINITY, -INFINITY);
    cr_expect(isnan(unary1(UNARY_ROUND, NAN)));
}

Test(round, halves_to_even)
{
    check_round_table();
}

Test(round, whatever_the_rounding_mode)
{
    static const int modes[] = {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        cr_assert(fesetround(modes[i]) == 0);
        check_round_table();
    }
    fesetround(FE_TONEAREST);
}

/* ---- Erf ---- */

/* Within 2 float ulps of the double-precision erf over [-6, 6], odd, and
 * saturated to +-1 in the tails. */
Test(erf, accurate_to_two_ulps)
{
    float worst = 0;
    for (int i = -60000; i <= 60000; i++) {
        float v = (float)i * 1e-4f;
        double want = erf((double)v);
        float got = unary1(UNARY_ERF, v);
        float ulp = nextafterf(fabsf((float)want), INFINITY) - fabsf((float)want);
        float err = (float)fabs(got - want) / ulp;
        worst = err > worst ? err : worst;
        cr_expect(unary1(UNARY_ERF, -v) == -got, "erf is odd at %.9g", v);
    }
    cr_expect(worst <= 2.0f, "worst error %.3g ulps", worst);
    cr_expect(unary1(UNARY_ERF, 10.0f) == 1.0f && unary1(UNARY_ERF, -INFINITY) == -1.0f);
}

/* ---- the other element-wise functions at their edges ---- */

Test(unary, softplus_and_elu_do_not_overflow_or_cancel)
{
    cr_expect(unary1(UNARY_SOFTPLUS, 100.0f) == 100.0f);
    cr_expect(unary1(UNARY_SOFTPLUS, 1000.0f) == 1000.0f);
    float tiny = unary1(UNARY_SOFTPLUS, -80.0f);               /* log(1 + e^-80) = e^-80 */
    cr_expect(fabsf(tiny - expf(-80.0f)) <= 1e-6f * expf(-80.0f), "softplus(-80) = %g", tiny);
    float small = unary1(UNARY_ELU, -1e-6f);                   /* expm1: no cancellation */
    cr_expect(fabsf(small + 1e-6f) < 1e-12f, "elu(-1e-6) = %.9g", small);
    cr_expect(unary1(UNARY_HARDSWISH, -3.0f) == 0.0f && unary1(UNARY_HARDSWISH, 3.0f) == 3.0f);
    cr_expect(fabsf(unary1(UNARY_HARDSWISH, 1.0f) - 1.0f * (1.0f / 6.0f + 0.5f)) < 1e-7f);
}

/* ---- reductions ---- */

static float lse_of(const float *x, int n)
{
    bool reduced[1] = {true};
    int64_t dims[1] = {n};
    float y;
    kernel_reduce(REDUCE_LOG_SUM_EXP, x, 1, dims, reduced, &y);
    return y;
}

Test(reduce, log_sum_exp_is_stable)
{
    float big[3] = {1000.0f, 1000.0f, 1000.0f};              /* exp(1000) overflows even double */
    cr_expect(fabsf(lse_of(big, 3) - (1000.0f + logf(3.0f))) < 1e-3f, "%.9g", lse_of(big, 3));
    float low[2] = {-1000.0f, -1000.0f};                      /* and exp(-1000) underflows to 0 */
    cr_expect(fabsf(lse_of(low, 2) - (-1000.0f + logf(2.0f))) < 1e-3f, "%.9g", lse_of(low, 2));
    float mixed[3] = {88.0f, 100.0f, -50.0f};                 /* 100 + log(1 + e^-12 + e^-150) */
    cr_expect(fabsf(lse_of(mixed, 3) - (float)(100.0 + log1p(exp(-12.0)))) < 1e-4f);
    float neg_inf[2] = {-INFINITY, -INFINITY};
    cr_expect(lse_of(neg_inf, 2) == -INFINITY);
    float pos_inf[2] = {-INFINITY, INFINITY};
    cr_expect(lse_of(pos_inf, 2) == INFINITY);
    float with_nan[3] = {1.0f, NAN, 2.0f};
    cr_expect(isnan(lse_of(with_nan, 3)));
}

Test(reduce, max_and_min_propagate_nan)
{
    float x[4] = {1.0f, NAN, 3.0f, -2.0f}, y;
    int64_t dims[1] = {4};
    bool reduced[1] = {true};
    kernel_reduce(REDUCE_MAX, x, 1, dims, reduced, &y);
    cr_expect(isnan(y));
    kernel_reduce(REDUCE_MIN, x, 1, dims, reduced, &y);
    cr_expect(isnan(y));
}

/* The definition: for each output position (x's index with reduced axes at 0),
 * every element of x that agrees with it on the kept axes, in double. */
static double naive_reduce(ReduceOp op, const float *x, const int64_t *dims, const bool *reduced, int64_t out)
{
    int64_t idx[4], rest = out;
    for (int i = 3; i >= 0; i--) {     /* out counts the kept axes only */
        if (reduced[i]) {
            idx[i] = 0;
        } else {
            idx[i] = rest % dims[i];
            rest /= dims[i];
        }
    }
    double sum = 0, abs_sum = 0, sq = 0, exp_sum = 0, prod = 1, mx = -INFINITY, mn = INFINITY, count = 0;
    for (int64_t a = 0; a < dims[0]; a++)
    for (int64_t b = 0; b < dims[1]; b++)
    for (int64_t c = 0; c < dims[2]; c++)
    for (int64_t d = 0; d < dims[3]; d++) {
        int64_t at[4] = {a, b, c, d};
        bool in = true;
        for (int i = 0; i < 4; i++)
            in &= reduced[i] || at[i] == idx[i];
        if (!in)
            continue;
        double v = x[((a * dims[1] + b) * dims[2] + c) * dims[3] + d];
        sum += v, abs_sum += fabs(v), sq += v * v, exp_sum += exp(v), prod *= v, count++;
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    switch (op) {
    case REDUCE_MEAN: return sum / count;
    case REDUCE_SUM: return sum;
    case REDUCE_MAX: return mx;
    case REDUCE_MIN: return mn;
    case REDUCE_PROD: return prod;
    case REDUCE_L1: return abs_sum;
    case REDUCE_L2: return sqrt(sq);
    case REDUCE_SUM_SQUARE: return sq;
    case REDUCE_LOG_SUM: return log(abs_sum);       /* the test feeds positive x */
    case REDUCE_LOG_SUM_EXP: return log(exp_sum);   /* small x: exp cannot overflow */
    }
    return NAN;
}

/* Every reduction over each of the 16 sets of axes of a 2x1x3x4 tensor (a unit
 * axis in the middle, so merging is exercised) equals the definition. */
Test(reduce, every_op_every_axis_set_matches_naive)
{
    int64_t dims[4] = {2, 1, 3, 4};
    float x[24], y[24];
    test_fill(x, 24, 0.5f, 1.5f);
    for (int op = REDUCE_MEAN; op <= REDUCE_LOG_SUM_EXP; op++) {
        for (int set = 0; set < 16; set++) {
            bool reduced[4];
            int64_t n_out = 1;
            for (int i = 0; i < 4; i++) {
                reduced[i] = (set >> i) & 1;
                n_out *= reduced[i] ? 1 : dims[i];
            }
            kernel_reduce((ReduceOp)op, x, 4, dims, reduced, y);
            for (int64_t o = 0; o < n_out; o++) {
                double want = naive_reduce((ReduceOp)op, x, dims, reduced, o);
                cr_expect(fabs(y[o] - want) <= 1e-6 * (1 + fabs(want)), "op %d axes %#x out %lld: got %.9g want %.9g",
                          op, set, (long long)o, y[o], want);
            }
        }
    }
}

/* ---- broadcasting many inputs ---- */

Test(variadic, max_mean_sum_broadcast_three_shapes)
{
    float a[3] = {1, -2, 3}, b[2] = {0, 5}, c[1] = {-1}, y[6];
    const float *xs[3] = {a, b, c};
    int ranks[3] = {2, 1, 0};
    int64_t da[2] = {3, 1}, db[1] = {2};
    const int64_t *dims[3] = {da, db, NULL};
    int64_t dy[2] = {3, 2};
    kernel_variadic(BINARY_MAX, false, 3, xs, ranks, dims, 2, dy, y);
    float want_max[6] = {1, 5, 0, 5, 3, 5};
    for (int i = 0; i < 6; i++)
        cr_expect(y[i] == want_max[i], "max[%d] = %g", i, y[i]);
    kernel_variadic(BINARY_ADD, true, 3, xs, ranks, dims, 2, dy, y);
    float want_mean[6] = {0, 5.0f / 3, -1, 2.0f / 3, 2.0f / 3, 7.0f / 3};
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(y[i] - want_mean[i]) < 1e-6f, "mean[%d] = %g", i, y[i]);
    float n[1] = {NAN};
    xs[2] = n;
    kernel_variadic(BINARY_MIN, false, 3, xs, ranks, dims, 2, dy, y);
    for (int i = 0; i < 6; i++)
        cr_expect(isnan(y[i]), "min[%d] = %g: a NaN input wins", i, y[i]);
}

/* ---- normalization ---- */

Test(normalize, flat_row_is_zero_and_others_unit_variance)
{
    float x[8] = {3, 3, 3, 3, 1, 2, 3, 6}, y[8];
    kernel_normalize_rows(2, 4, 1e-5f, x, y);
    for (int i = 0; i < 4; i++)
        cr_expect(y[i] == 0.0f);
    double mean = 0, var = 0;
    for (int i = 4; i < 8; i++)
        mean += y[i] / 4.0;
    for (int i = 4; i < 8; i++)
        var += (y[i] - mean) * (y[i] - mean) / 4.0;
    cr_expect(fabs(mean) < 1e-6 && fabs(var - 3.5 / (3.5 + 1e-5)) < 1e-5, "mean %g var %g", mean, var);
}
