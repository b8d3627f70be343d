/* test_kernels.c: the float32 kernels and the interpreter against independent
 * references.
 *
 * Small cases are checked against values worked out by hand (in the comments);
 * larger ones against naive loop nests written here from the ONNX operator
 * definitions, which share no code with runtime/kernels*.c: one loop per index,
 * bounds tested element by element. */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "runtime/kernels.h"
#include "runtime/runtime.h"

#define TEST_SEED 12345
#include "test_support.h"

/* ---- helpers ---- */

static void expect_close(const float *got, const float *want, int64_t n, float tol)
{
    for (int64_t i = 0; i < n; i++)
        cr_expect(fabsf(got[i] - want[i]) <= tol * (1.0f + fabsf(want[i])),
                  "element %lld: got %.9g, want %.9g", (long long)i, got[i], want[i]);
}

/* ---- convolution ---- */

/* The definition, 3-D with leading extents of 1 for lower ranks. */
static void naive_conv(const ConvParams *p, const float *x, const float *w, const float *b, float *y)
{
    int s = p->spatial, lead = 3 - s;
    int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, out[3] = {1, 1, 1};
    int64_t st[3] = {1, 1, 1}, dl[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
    for (int j = 0; j < s; j++) {
        in[lead + j] = p->in[j];
        k[lead + j] = p->kernel[j];
        out[lead + j] = p->out[j];
        st[lead + j] = p->strides[j];
        dl[lead + j] = p->dilations[j];
        pb[lead + j] = p->pads[j];
    }
    int64_t cg = p->in_channels / p->group, mg = p->out_channels / p->group;
    for (int64_t n = 0; n < p->batch; n++)
    for (int64_t m = 0; m < p->out_channels; m++)
    for (int64_t o0 = 0; o0 < out[0]; o0++)
    for (int64_t o1 = 0; o1 < out[1]; o1++)
    for (int64_t o2 = 0; o2 < out[2]; o2++) {
        double sum = b ? b[m] : 0.0;
        for (int64_t c = 0; c < cg; c++)
        for (int64_t k0 = 0; k0 < k[0]; k0++)
        for (int64_t k1 = 0; k1 < k[1]; k1++)
        for (int64_t k2 = 0; k2 < k[2]; k2++) {
            int64_t i0 = o0 * st[0] - pb[0] + k0 * dl[0];
            int64_t i1 = o1 * st[1] - pb[1] + k1 * dl[1];
            int64_t i2 = o2 * st[2] - pb[2] + k2 * dl[2];
            if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 || i2 >= in[2])
                continue;
            int64_t ci = (m / mg) * cg + c;
            float xv = x[(((n * p->in_channels + ci) * in[0] + i0) * in[1] + i1) * in[2] + i2];
            float wv = w[(((m * cg + c) * k[0] + k0) * k[1] + k1) * k[2] + k2];
            sum += (double)xv * wv;
        }
        y[(((n * p->out_channels + m) * out[0] + o0) * out[1] + o1) * out[2] + o2] = (float)sum;
    }
}

static int64_t out_extent(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe)
{
    return (in + pb + pe - (d * (k - 1) + 1)) / s + 1;
}

static void check_conv(ConvParams p, bool with_bias)
{
    int64_t x_n = p.batch * p.in_channels, w_n = p.out_channels * (p.in_channels / p.group);
    int64_t y_n = p.batch * p.out_channels;
    for (int j = 0; j < p.spatial; j++) {
        p.out[j] = out_extent(p.in[j], p.kernel[j], p.strides[j], p.dilations[j], p.pads[j],
                              p.pads[p.spatial + j]);
        x_n *= p.in[j];
        w_n *= p.kernel[j];
        y_n *= p.out[j];
    }
    float *x = malloc((size_t)x_n * sizeof *x), *w = malloc((size_t)w_n * sizeof *w);
    float *b = malloc((size_t)p.out_channels * sizeof *b);
    float *y = malloc((size_t)y_n * sizeof *y), *ref = malloc((size_t)y_n * sizeof *ref);
    test_fill(x, x_n, -1.0f, 1.0f);
    test_fill(w, w_n, -1.0f, 1.0f);
    test_fill(b, p.out_channels, -1.0f, 1.0f);
    kernel_conv(&p, x, w, with_bias ? b : NULL, y);
    naive_conv(&p, x, w, with_bias ? b : NULL, ref);
    expect_close(y, ref, y_n, 1e-5f);
    free(x); free(w); free(b); free(y); free(ref);
}

Test(conv, by_hand_2x2_kernel_with_padding)
{
    /* x = [[1,2],[3,4]], w = [[1,0],[0,-1]], pads 1 all round, bias 10:
     * y[i][j] = x[i-1][j-1] - x[i][j] over the zero-padded input. */
    float x[] = {1, 2, 3, 4}, w[] = {1, 0, 0, -1}, b[] = {10};
    ConvParams p = {.spatial = 2, .batch = 1, .in_channels = 1, .out_channels = 1, .group = 1,
                    .in = {2, 2}, .kernel = {2, 2}, .out = {3, 3}, .strides = {1, 1},
                    .dilations = {1, 1}, .pads = {1, 1, 1, 1}};
    float y[9];
    kernel_conv(&p, x, w, b, y);
    float want[9] = {10 - 1, 10 - 2, 10, 10 - 3, 10 + 1 - 4, 10 + 2, 10, 10 + 3, 10 + 4};
    expect_close(y, want, 9, 0);
}

Test(conv, matches_naive_2d_strided_padded_dilated)
{
    check_conv((ConvParams){.spatial = 2, .batch = 2, .in_channels = 3, .out_channels = 4, .group = 1,
                            .in = {9, 8}, .kernel = {3, 2}, .strides = {2, 3}, .dilations = {2, 1},
                            .pads = {1, 0, 2, 1}}, true);
}

Test(conv, matches_naive_groups_and_depthwise)
{
    check_conv((ConvParams){.spatial = 2, .batch = 1, .in_channels = 4, .out_channels = 6, .group = 2,
                            .in = {7, 7}, .kernel = {3, 3}, .strides = {1, 1}, .dilations = {1, 1},
                            .pads = {1, 1, 1, 1}}, true);
    check_conv((ConvParams){.spatial = 2, .batch = 2, .in_channels = 3, .out_channels = 6, .group = 3,
                            .in = {6, 5}, .kernel = {3, 3}, .strides = {2, 2}, .dilations = {1, 1},
                            .pads = {0, 2, 1, 0}}, false);
}

Test(conv, matches_naive_1d_and_3d)
{
    check_conv((ConvParams){.spatial = 1, .batch = 2, .in_channels = 2, .out_channels = 3, .group = 1,
                            .in = {11}, .kernel = {4}, .strides = {3}, .dilations = {2},
                            .pads = {2, 3}}, true);
    check_conv((ConvParams){.spatial = 3, .batch = 1, .in_channels = 2, .out_channels = 2, .group = 2,
                            .in = {5, 4, 6}, .kernel = {2, 3, 2}, .strides = {1, 2, 2},
                            .dilations = {2, 1, 1}, .pads = {1, 0, 1, 0, 1, 1}}, true);
}

Test(conv, kernel_larger_than_input_reads_only_padding_partly)
{
    /* A 5-wide kernel over a 2-wide input padded by 2 each side. */
    check_conv((ConvParams){.spatial = 1, .batch = 1, .in_channels = 1, .out_channels = 2, .group = 1,
                            .in = {2}, .kernel = {5}, .strides = {1}, .dilations = {1},
                            .pads = {2, 2}}, true);
}

/* ---- pooling ---- */

Test(pool, avgpool_count_include_pad_changes_the_divisor)
{
    /* x = 1..9 in 3x3, kernel 2x2, stride 2, pads 1 all round: output 2x2
     * windows {1}, {2,3}, {4,7}, {5,6,8,9}.  Excluding pads the divisors are
     * 1, 2, 2, 4; including them every window covers 4 padded cells. */
    float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, y[4];
    PoolParams p = {.spatial = 2, .planes = 1, .in = {3, 3}, .kernel = {2, 2}, .out = {2, 2},
                    .strides = {2, 2}, .dilations = {1, 1}, .pads = {1, 1, 1, 1}};
    kernel_avgpool(&p, x, y);
    float excl[4] = {1, 2.5f, 5.5f, 7};
    expect_close(y, excl, 4, 1e-6f);
    p.count_include_pad = true;
    kernel_avgpool(&p, x, y);
    float incl[4] = {1 / 4.0f, 5 / 4.0f, 11 / 4.0f, 28 / 4.0f};
    expect_close(y, incl, 4, 1e-6f);
}

Test(pool, avgpool_ceil_mode_window_past_the_end)
{
    /* 1-D x = [1,2,3,4,5], kernel 2, stride 2, no pads, ceil_mode: 3 outputs,
     * the last window holds only 5; with count_include_pad it is still clipped
     * to the (unpadded) input, as in ONNX's reference and PyTorch. */
    float x[5] = {1, 2, 3, 4, 5}, y[3];
    PoolParams p = {.spatial = 1, .planes = 1, .in = {5}, .kernel = {2}, .out = {3},
                    .strides = {2}, .dilations = {1}, .pads = {0, 0}};
    kernel_avgpool(&p, x, y);
    float want[3] = {1.5f, 3.5f, 5};
    expect_close(y, want, 3, 1e-6f);
    p.count_include_pad = true;
    kernel_avgpool(&p, x, y);
    expect_close(y, want, 3, 1e-6f);
}

Test(pool, maxpool_dilated_and_padded)
{
    /* 1-D x = [3,-1,4,1,-5,9,2,-6], kernel 2, dilation 3, stride 2, pad 1 left:
     * window at o covers inputs 2o-1 and 2o+2.
     * o=0: inputs -1 (pad) and 2 -> 4; o=1: inputs 1 and 4 -> max(-1, -5) = -1;
     * o=2: {1, 2} -> 2 (inputs 3 and 6); o=3: {9, -} (inputs 5 and 8) -> 9. */
    float x[8] = {3, -1, 4, 1, -5, 9, 2, -6}, y[4];
    PoolParams p = {.spatial = 1, .planes = 1, .in = {8}, .kernel = {2}, .out = {4},
                    .strides = {2}, .dilations = {3}, .pads = {1, 0}};
    kernel_maxpool(&p, x, y);
    float want[4] = {4, -1, 2, 9};
    expect_close(y, want, 4, 0);
}

Test(pool, maxpool_2d_planes_and_global_pools)
{
    /* Two planes of 2x3; 2x2 windows with stride 1. */
    float x[12] = {1, 5, 2, 7, 0, 3, /* plane 1 */ -1, -2, -3, -4, -5, -6}, y[4];
    PoolParams p = {.spatial = 2, .planes = 2, .in = {2, 3}, .kernel = {2, 2}, .out = {1, 2},
                    .strides = {1, 1}, .dilations = {1, 1}};
    kernel_maxpool(&p, x, y);
    float want[4] = {7, 5, -1, -2};
    expect_close(y, want, 4, 0);

    float avg[2], max[2];
    kernel_global_avgpool(2, 6, x, avg);
    kernel_global_maxpool(2, 6, x, max);
    float want_avg[2] = {18 / 6.0f, -21 / 6.0f}, want_max[2] = {7, -1};
    expect_close(avg, want_avg, 2, 1e-6f);
    expect_close(max, want_max, 2, 0);
}

/* ---- matrix products ---- */

Test(gemm, all_transposes_and_bias_shapes_match_naive)
{
    enum { M = 3, N = 5, K = 4 };
    float a[M * K], b[K * N], c[M * N], y[M * N], ref[M * N];
    test_fill(a, M * K, -1.0f, 1.0f);
    test_fill(b, K * N, -1.0f, 1.0f);
    test_fill(c, M * N, -1.0f, 1.0f);
    int64_t c_shapes[][2] = {{1, 1}, {1, N}, {M, 1}, {M, N}};
    for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
    for (int cs = 0; cs < 5; cs++) {
        GemmParams p = {.m = M, .n = N, .k = K, .trans_a = ta, .trans_b = tb, .alpha = 0.5f,
                        .beta = -2.0f, .c_rows = 1, .c_cols = 1};
        if (cs < 4) {
            p.c_rows = c_shapes[cs][0];
            p.c_cols = c_shapes[cs][1];
        }
        kernel_gemm(&p, a, b, cs < 4 ? c : NULL, y);
        for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++)
                s += (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
            double cv = cs < 4 ? c[(p.c_rows == 1 ? 0 : i) * p.c_cols + (p.c_cols == 1 ? 0 : j)] : 0;
            ref[i * N + j] = (float)(0.5 * s - 2.0 * cv);
        }
        expect_close(y, ref, M * N, 1e-5f);
    }
}

Test(matmul, batch_broadcasting_matches_naive)
{
    /* [2,1,3,4] x [5,4,2] -> [2,5,3,2] */
    int64_t ad[] = {2, 1, 3, 4}, bd[] = {5, 4, 2};
    float a[24], b[40], y[60], ref[60];
    test_fill(a, 24, -1.0f, 1.0f);
    test_fill(b, 40, -1.0f, 1.0f);
    kernel_matmul(a, 4, ad, b, 3, bd, y);
    for (int i = 0; i < 2; i++)
    for (int j = 0; j < 5; j++)
    for (int r = 0; r < 3; r++)
    for (int c = 0; c < 2; c++) {
        double s = 0;
        for (int k = 0; k < 4; k++)
            s += (double)a[(i * 3 + r) * 4 + k] * b[(j * 4 + k) * 2 + c];
        ref[((i * 5 + j) * 3 + r) * 2 + c] = (float)s;
    }
    expect_close(y, ref, 60, 1e-5f);
}

Test(matmul, vectors_are_promoted)
{
    /* [3] x [2,3,2] -> [2,2]; [2,3] x [3] -> [2]; [3] x [3] -> scalar. */
    float v[3] = {1, 2, 3}, m[12] = {1, 0, 0, 1, 1, 1, /* */ 2, 0, 0, 2, -1, 1};
    int64_t vd[] = {3}, md[] = {2, 3, 2}, m2d[] = {2, 3};
    float y[4];
    kernel_matmul(v, 1, vd, m, 3, md, y);
    float want[4] = {1 + 3, 2 + 3, 2 - 3, 4 + 3};
    expect_close(y, want, 4, 0);
    float mv[2], m2[6] = {1, 1, 1, 0, -1, 2};
    kernel_matmul(m2, 2, m2d, v, 1, vd, mv);
    float want_mv[2] = {6, 4};
    expect_close(mv, want_mv, 2, 0);
    float dotv;
    kernel_matmul(v, 1, vd, v, 1, vd, &dotv);
    cr_expect_eq(dotv, 14.0f);
}

/* ---- broadcasting binary ops ---- */

/* y = a OP b by the definition: each output index mapped into each operand. */
static void naive_binary(BinaryOp op, const float *a, int ar, const int64_t *ad, const float *b,
                         int br, const int64_t *bd, float *y, int yr, const int64_t *yd)
{
    int64_t n = 1;
    for (int i = 0; i < yr; i++)
        n *= yd[i];
    for (int64_t t = 0; t < n; t++) {
        int64_t rest = t, ai = 0, bi = 0, as = 1, bs = 1;
        for (int i = yr - 1; i >= 0; i--) {
            int64_t c = rest % yd[i];
            rest /= yd[i];
            int ka = i - (yr - ar), kb = i - (yr - br);
            if (ka >= 0) {
                ai += (ad[ka] == 1 ? 0 : c) * as;
                as *= ad[ka];
            }
            if (kb >= 0) {
                bi += (bd[kb] == 1 ? 0 : c) * bs;
                bs *= bd[kb];
            }
        }
        float u = a[ai], v = b[bi];
        y[t] = op == BINARY_ADD ? u + v : op == BINARY_SUB ? u - v : op == BINARY_MUL ? u * v : u / v;
    }
}

Test(binary, broadcasting_cases_match_naive)
{
    struct { int ar; int64_t ad[4]; int br; int64_t bd[4]; int yr; int64_t yd[4]; } cases[] = {
        {3, {2, 3, 4}, 3, {2, 3, 4}, 3, {2, 3, 4}},     /* equal shapes */
        {3, {2, 3, 4}, 0, {0}, 3, {2, 3, 4}},           /* scalar b */
        {1, {1}, 3, {2, 3, 4}, 3, {2, 3, 4}},           /* [1] a */
        {3, {2, 3, 4}, 2, {3, 1}, 3, {2, 3, 4}},        /* column broadcast */
        {4, {2, 3, 4, 5}, 4, {1, 3, 1, 1}, 4, {2, 3, 4, 5}},   /* per-channel bias */
        {3, {2, 1, 4}, 3, {1, 3, 1}, 3, {2, 3, 4}},     /* both stretch */
        {2, {3, 1}, 1, {4}, 2, {3, 4}},                 /* outer product */
        {4, {1, 3, 1, 5}, 4, {2, 1, 4, 1}, 4, {2, 3, 4, 5}},
    };
    float a[120], b[120], y[120], ref[120];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        test_fill(a, 120, -1.0f, 1.0f);
        test_fill(b, 120, -1.0f, 1.0f);
        for (int i = 0; i < 120; i++)
            b[i] += b[i] >= 0 ? 0.5f : -0.5f;   /* keep divisors away from 0 */
        int64_t n = 1;
        for (int i = 0; i < cases[c].yr; i++)
            n *= cases[c].yd[i];
        for (int op = BINARY_ADD; op <= BINARY_DIV; op++) {
            kernel_binary((BinaryOp)op, a, cases[c].ar, cases[c].ad, b, cases[c].br, cases[c].bd, y);
            naive_binary((BinaryOp)op, a, cases[c].ar, cases[c].ad, b, cases[c].br, cases[c].bd, ref,
                         cases[c].yr, cases[c].yd);
            for (int64_t i = 0; i < n; i++)
                cr_expect(y[i] == ref[i], "case %zu op %d element %lld: %g vs %g", c, op,
                          (long long)i, y[i], ref[i]);
        }
    }
}

Test(binary, scalars_both_sides)
{
    float a = 6, b = 4, y;
    kernel_binary(BINARY_DIV, &a, 0, NULL, &b, 0, NULL, &y);
    cr_expect_eq(y, 1.5f);
}

/* ---- data movement ---- */

Test(transpose, every_permutation_of_three_axes)
{
    int64_t dims[3] = {2, 3, 4};
    int64_t perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    float x[24], y[24];
    for (int i = 0; i < 24; i++)
        x[i] = (float)i;   /* x[i][j][k] = 12 i + 4 j + k */
    for (int p = 0; p < 6; p++) {
        kernel_transpose(x, 3, dims, perms[p], y);
        int64_t od[3] = {dims[perms[p][0]], dims[perms[p][1]], dims[perms[p][2]]};
        for (int64_t u = 0; u < od[0]; u++)
        for (int64_t v = 0; v < od[1]; v++)
        for (int64_t w = 0; w < od[2]; w++) {
            int64_t idx[3];
            idx[perms[p][0]] = u;
            idx[perms[p][1]] = v;
            idx[perms[p][2]] = w;
            float want = (float)(12 * idx[0] + 4 * idx[1] + idx[2]);
            cr_expect_eq(y[(u * od[1] + v) * od[2] + w], want, "perm %d", p);
        }
    }
}

Test(pad, positive_and_negative_pads)
{
    /* x = [[1,2,3],[4,5,6]]; pads: rows +1 before, -1 after; columns -1 before,
     * +2 after; value 9:  result 2 x 4:
     *   [9 9 9 9]
     *   [2 3 9 9]   (row 1 of x is cropped away) */
    float x[6] = {1, 2, 3, 4, 5, 6}, y[8];
    int64_t dims[2] = {2, 3}, pads[4] = {1, -1, -1, 2};
    kernel_pad(x, 2, dims, pads, 9, y);
    float want[8] = {9, 9, 9, 9, 2, 3, 9, 9};
    expect_close(y, want, 8, 0);
}

Test(pad, crop_more_than_the_pad_on_one_side)
{
    /* 1-D x = [1,2,3,4], pads {2, -3}: [0,0,1] */
    float x[4] = {1, 2, 3, 4}, y[3];
    int64_t dims[1] = {4}, pads[2] = {2, -3};
    kernel_pad(x, 1, dims, pads, 0, y);
    float want[3] = {0, 0, 1};
    expect_close(y, want, 3, 0);
}

Test(concat, middle_axis)
{
    /* a [2,1,2] and b [2,2,2] along axis 1. */
    float a[4] = {1, 2, 3, 4}, b[8] = {10, 11, 12, 13, 14, 15, 16, 17}, y[12];
    const float *xs[2] = {a, b};
    int64_t sizes[2] = {1, 2};
    kernel_concat(2, xs, sizes, 2, 2, y);
    float want[12] = {1, 2, 10, 11, 12, 13, 3, 4, 14, 15, 16, 17};
    expect_close(y, want, 12, 0);
}

/* ---- softmax and elementwise ---- */

Test(softmax, sums_to_one_and_matches_exp_formula)
{
    /* x viewed as [2, 3, 4], softmax over the middle axis. */
    float x[24], y[24], ly[24];
    test_fill(x, 24, -1.0f, 1.0f);
    x[5] = 1000.0f;    /* would overflow exp() without subtracting the max */
    x[9] = 1001.0f;
    kernel_softmax(2, 3, 4, false, x, y);
    kernel_softmax(2, 3, 4, true, x, ly);
    for (int o = 0; o < 2; o++)
    for (int j = 0; j < 4; j++) {
        double max = -INFINITY, sum = 0, total = 0;
        for (int i = 0; i < 3; i++)
            max = fmax(max, x[(o * 3 + i) * 4 + j]);
        for (int i = 0; i < 3; i++)
            sum += exp(x[(o * 3 + i) * 4 + j] - max);
        for (int i = 0; i < 3; i++) {
            int at = (o * 3 + i) * 4 + j;
            double want = exp(x[at] - max) / sum;
            cr_expect(fabs(y[at] - want) < 1e-6, "softmax %d: %g vs %g", at, y[at], want);
            double want_log = x[at] - max - log(sum);   /* log(want), without underflow */
            cr_expect(fabs(ly[at] - want_log) < 1e-5 * (1 + fabs(want_log)), "logsoftmax %d: %g vs %g",
                      at, ly[at], want_log);
            total += y[at];
        }
        cr_expect(fabs(total - 1.0) < 1e-6);
    }
    cr_expect(fabsf(y[9] - 1.0f / (1.0f + expf(-1.0f))) < 1e-6f);
}

Test(elementwise, activations)
{
    float x[6] = {-1000, -2, -0.5f, 0, 1.5f, 1000}, y[6];
    kernel_sigmoid(6, x, y);
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(y[i] - (float)(1.0 / (1.0 + exp(-(double)x[i])))) < 1e-7f, "sigmoid %d", i);
    kernel_relu(6, x, y);
    float relu[6] = {0, 0, 0, 0, 1.5f, 1000};
    expect_close(y, relu, 6, 0);
    kernel_leakyrelu(6, 0.1f, x, y);
    float leaky[6] = {-100, -0.2f, -0.05f, 0, 1.5f, 1000};
    expect_close(y, leaky, 6, 1e-7f);
    kernel_clip(6, -1, 1, x, y);
    float clip[6] = {-1, -1, -0.5f, 0, 1, 1};
    expect_close(y, clip, 6, 0);
    kernel_hardsigmoid(6, 0.2f, 0.5f, x, y);
    float hs[6] = {0, 0.1f, 0.4f, 0.5f, 0.8f, 1};
    expect_close(y, hs, 6, 1e-7f);
    kernel_tanh(6, x, y);
    for (int i = 0; i < 6; i++)
        cr_expect(fabsf(y[i] - (float)tanh(x[i])) < 1e-7f, "tanh %d", i);
}

Test(elementwise, batchnorm_formula)
{
    /* x [2, 2, 3]; channel c: (x - mean) / sqrt(var + eps) * scale + bias. */
    float x[12], y[12];
    test_fill(x, 12, -1.0f, 1.0f);
    float scale[2] = {2, -1}, bias[2] = {0.5f, 3}, mean[2] = {0.25f, -1}, var[2] = {4, 0.0625f};
    kernel_batchnorm(2, 2, 3, x, scale, bias, mean, var, 1e-5f, y);
    for (int i = 0; i < 12; i++) {
        int c = (i / 3) % 2;
        double want = (x[i] - mean[c]) / sqrt(var[c] + 1e-5) * scale[c] + bias[c];
        cr_expect(fabs(y[i] - want) < 1e-5, "element %d: %g vs %g", i, y[i], want);
    }
}

/* ---- the interpreter on a small graph ---- */

Test(interp, conv_relu_reshape_gemm_graph)
{
    /* input [1,1,3,3] -> conv with a 2x2 all-ones kernel, bias -10 -> relu
     * -> reshape [1,4] -> gemm with w [4,1] = 1,2,3,4, no bias.
     * x = 1..9: window sums 12, 16, 24, 28; minus 10 -> 2, 6, 14, 18;
     * the gemm gives 2 + 12 + 42 + 72 = 128. */
    Arena *arena = arena_new();
    Graph *g = ir_graph_new(arena, "t");
    int64_t xd[] = {1, 1, 3, 3}, wd[] = {1, 1, 2, 2}, bd[] = {1}, cd[] = {1, 1, 2, 2};
    int64_t rd[] = {1, 4}, gd[] = {4, 1}, yd[] = {1, 1};
    float w[4] = {1, 1, 1, 1}, b[1] = {-10}, gw[4] = {1, 2, 3, 4};
    Value *x = ir_add_input(g, "x", type_make(4, xd));
    Value *wv = ir_add_const(g, "w", type_make(4, wd), w);
    Value *bv = ir_add_const(g, "b", type_make(1, bd), b);
    Value *gv = ir_add_const(g, "gw", type_make(2, gd), gw);
    Loc loc = {0};
    Value *conv_in[] = {x, wv, bv};
    Op *conv = ir_add_op(g, OP_CONV, conv_in, 3, "c", type_make(4, cd), loc);
    Op *relu = ir_add_op(g, OP_RELU, &conv->result, 1, "r", type_make(4, cd), loc);
    Op *reshape = ir_add_op(g, OP_RESHAPE, &relu->result, 1, "s", type_make(2, rd), loc);
    ir_set_ints(g, reshape, "shape", rd, 2);
    Value *gemm_in[] = {reshape->result, gv};
    Op *gemm = ir_add_op(g, OP_GEMM, gemm_in, 2, "y", type_make(2, yd), loc);
    ir_add_output(g, gemm->result);
    ir_add_output(g, reshape->result);

    Interp *in = interp_new(g);
    for (int i = 0; i < 9; i++)
        interp_input(in, 0)[i] = (float)(i + 1);
    interp_run(in);
    cr_expect_eq(interp_output(in, 0)[0], 128.0f);
    float want[4] = {2, 6, 14, 18};
    expect_close(interp_output(in, 1), want, 4, 0);
    expect_close(interp_value(in, conv->result), (float[]){2, 6, 14, 18}, 4, 0);
    /* A second run with other data must not see stale values. */
    for (int i = 0; i < 9; i++)
        interp_input(in, 0)[i] = 0;
    interp_run(in);
    cr_expect_eq(interp_output(in, 0)[0], 0.0f);
    interp_free(in);
    arena_free(arena);
}

/* ---- kernel_product: every variant has the plain loop's bits ---- */

/* The definition: each sum from 0, in k order, a rounding per product and per
 * add (the test is built for baseline x86-64: no fused multiply-add). */
static void product_reference(int64_t I, int64_t J, int64_t K, const float *a, int64_t a_row, int64_t a_col,
                              const float *b, int64_t ldb, float *y, int64_t ldy)
{
    for (int64_t i = 0; i < I; i++)
        for (int64_t j = 0; j < J; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) {
                float p = a[i * a_row + k * a_col] * b[k * ldb + j];
                s = s + p;
            }
            y[i * ldy + j] = s;
        }
}

Test(kernels, product_variants_give_the_plain_loops_bits)
{
    /* shapes around the tiles: rows not a multiple of 4 or 8, columns not of
     * 32, k past one chunk of 128, a read transposed (a_col > 1) and not */
    const int64_t shapes[][3] = {{13, 37, 300}, {8, 64, 128}, {1, 5, 1}, {9, 33, 129}, {3, 100, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t I = shapes[s][0], J = shapes[s][1], K = shapes[s][2], ldy = J + 3, ldb = J + 1;
        float *a = malloc((size_t)(I * K + 1) * sizeof *a), *b = malloc((size_t)(K * ldb + 1) * sizeof *b);
        float *want = malloc((size_t)(I * ldy) * sizeof *want), *got = malloc((size_t)(I * ldy) * sizeof *got);
        for (int64_t i = 0; i < I * K; i++)
            a[i] = test_uniform_float(-1.0f, 1.0f);
        for (int64_t i = 0; i < K * ldb; i++)
            b[i] = test_uniform_float(-1.0f, 1.0f);
        for (int transposed = 0; transposed < 2; transposed++) {
            int64_t a_row = transposed ? 1 : K, a_col = transposed ? I : 1;
            memset(want, 0xff, (size_t)(I * ldy) * sizeof *want);
            product_reference(I, J, K, a, a_row, a_col, b, ldb, want, ldy);
            for (int v = KERNEL_PRODUCT_AVX512; v <= KERNEL_PRODUCT_SCALAR; v++) {
                if ((v == KERNEL_PRODUCT_AVX512 && !__builtin_cpu_supports("avx512f")) ||
                    (v == KERNEL_PRODUCT_AVX2 && !__builtin_cpu_supports("avx2")))
                    continue;
                kernel_product_force(v);
                memset(got, 0xff, (size_t)(I * ldy) * sizeof *got);   /* NaNs: the gaps past J stay so */
                kernel_product(I, J, K, a, a_row, a_col, b, ldb, got, ldy);
                cr_assert_eq(memcmp(got, want, (size_t)(I * ldy) * sizeof *got), 0,
                             "variant %d, %lldx%lldx%lld, transposed %d: bits differ", v, (long long)I,
                             (long long)J, (long long)K, transposed);
            }
            kernel_product_force(0);
        }
        free(a);
        free(b);
        free(want);
        free(got);
    }
}
