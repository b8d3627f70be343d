/* test_sim_int.c: the integer products of the ideal fast path
 * (runtime/sim_int.c) against a plain int64 product written here.
 *
 * For each kind (u8 x s8 with unsigned and offset signed codes, s16 x s16)
 * random blocks of integer weights and codes, including blocks of K rows at
 * the 32-bit bound (rows_per_sum, every product at its largest magnitude, so
 * the sum lands next to 2^31) and beyond it (runs of rows_per_sum rows added
 * in int64, as the caller adds them in double): every version this CPU runs
 * (scalar, AVX2, AVX-VNNI, AVX-512 VNNI; forced one by one) must give
 * sum_r code[r] w[r][j] exactly. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/sim_int.h"

#define TEST_SEED 0x1e7e9e5ull
#include "test_support.h"

typedef struct {
    int in_bits;
    bool in_signed;
    int w_min, w_max;           /* the weights' range */
    IntCodeKind kind;           /* what int_weights_build must pick */
} Case;

static const Case cases[] = {
    {8, false, -128, 127, INT_CODES_U8},      /* unsigned 8-bit codes, 7-bit + sign weights */
    {8, true, -128, 127, INT_CODES_U8},       /* signed codes, offset into u8 */
    {4, false, -7, 7, INT_CODES_U8},
    {5, true, -100, 3, INT_CODES_U8},
    {8, false, -255, 255, INT_CODES_S16},     /* 8-bit pair weights */
    {8, true, -255, 255, INT_CODES_S16},
    {12, true, -255, 255, INT_CODES_S16},     /* bound 4114 rows */
    {9, false, -40, 40, INT_CODES_S16},       /* codes beyond u8 */
};

/* The caller's side of int_product (sim_fast.c add_int_product): runs of
 * rows_per_sum rows, their sums added, the offset taken off; in int64 here. */
static void product_via(IntKernel kernel, const IntWeights *iw, int n, int rows, const void *codes, int64_t *out)
{
    int32_t *part = malloc((size_t)n * (size_t)iw->ld * sizeof *part);
    memset(out, 0, (size_t)n * (size_t)iw->cols * sizeof *out);
    for (int r0 = 0; r0 < rows || r0 == 0; r0 += iw->rows_per_sum) {
        int k = rows - r0 < iw->rows_per_sum ? rows - r0 : iw->rows_per_sum;
        int_product(kernel, iw, n, r0, k, (const char *)codes + (size_t)r0 * int_code_bytes(iw->kind), rows, iw->ld,
                    false, part);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < iw->cols; j++)
                out[(size_t)i * iw->cols + j] += part[(size_t)i * iw->ld + j];
        if (k == 0)
            break;
    }
    for (int i = 0; i < n && iw->code_offset; i++)
        for (int j = 0; j < iw->cols; j++)
            out[(size_t)i * iw->cols + j] -= (int64_t)iw->code_offset * iw->column_sum[j];
    free(part);
}

/* extreme: every code at the top (offset u8 codes: 2 top) and every weight
 * at its range's larger end: the 32-bit sums as large as they can be. */
static void check_block(const Case *c, int rows, int cols, int n, bool extreme, int *kernels_run)
{
    Arena *arena = arena_new();
    int ld_w = cols + 3;
    float *w = calloc((size_t)rows * (size_t)ld_w + 1, sizeof *w);
    int big = -c->w_min > c->w_max ? c->w_min : c->w_max;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++)
            w[(size_t)r * ld_w + j] = extreme ? (float)big : (float)test_uniform(c->w_min, c->w_max);
    if (!extreme && rows > 0) {     /* the range's ends appear: the kind is decided by them */
        w[0] = (float)c->w_min;
        w[(size_t)(rows - 1) * ld_w + cols - 1] = (float)c->w_max;
    }
    IntWeights *iw = int_weights_build(arena, w, rows, cols, ld_w, c->in_bits, c->in_signed);
    cr_assert(iw, "no int weights for %d-bit %s codes, weights [%d, %d]", c->in_bits,
              c->in_signed ? "signed" : "unsigned", c->w_min, c->w_max);
    cr_assert_eq(iw->kind, c->kind);
    /* the bound: rows_per_sum products of the largest magnitude fit 31 bits */
    double top = ldexp(1.0, c->in_signed ? c->in_bits - 1 : c->in_bits) - 1;
    double max_code = top + iw->code_offset, max_w = fmax(-c->w_min, c->w_max);
    cr_assert(iw->rows_per_sum >= rows || (double)iw->rows_per_sum * max_code * max_w <= 2147483647.0);
    cr_assert(iw->rows_per_sum % iw->group == 0);

    float *x = malloc(((size_t)n * (size_t)rows + 1) * sizeof *x);
    for (int64_t i = 0; i < (int64_t)n * rows; i++)
        x[i] = extreme ? (float)top : (float)test_uniform(c->in_signed ? -(int64_t)top : 0, (int64_t)top);
    void *codes = malloc(((size_t)n * (size_t)rows + INT_CODES_PAD) * int_code_bytes(iw->kind));
    cr_assert(int_codes_convert(iw, x, rows, n, rows, c->in_signed ? (float)-top : 0, (float)top, codes));

    int64_t *want = calloc((size_t)n * (size_t)cols + 1, sizeof *want);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < cols; j++) {
            int64_t sum = 0;
            for (int r = 0; r < rows; r++)
                sum += (int64_t)x[(size_t)i * rows + r] * (int64_t)w[(size_t)r * ld_w + j];
            want[(size_t)i * cols + j] = sum;
        }
    int64_t *got = calloc((size_t)n * (size_t)cols + 1, sizeof *got);
    for (int v = 0; v < INT_KERNEL_COUNT; v++) {
        if (!int_kernel_supported((IntKernel)v))
            continue;
        kernels_run[v]++;
        product_via((IntKernel)v, iw, n, rows, codes, got);
        for (int i = 0; i < n * cols; i++)
            cr_assert_eq(got[i], want[i],
                         "%s, %d-bit %s codes, weights [%d, %d], K %d (%d a sum), N %d: row %d col %d: %lld, want %lld",
                         int_kernel_name((IntKernel)v), c->in_bits, c->in_signed ? "signed" : "unsigned", c->w_min,
                         c->w_max, rows, iw->rows_per_sum, cols, i / cols, i % cols, (long long)got[i],
                         (long long)want[i]);
    }
    free(got);
    free(want);
    free(codes);
    free(x);
    free(w);
    arena_free(arena);
}

Test(sim_int, random_blocks_every_version)
{
    int kernels_run[INT_KERNEL_COUNT] = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int t = 0; t < 12; t++)
            check_block(&cases[c], (int)test_log_uniform(1, 700), (int)test_log_uniform(1, 70),
                        (int)test_uniform(1, 40), false, kernels_run);
    cr_assert(kernels_run[INT_KERNEL_SCALAR] > 0);
    for (int v = 0; v < INT_KERNEL_COUNT; v++)
        printf("test_sim_int: %s %s\n", int_kernel_name((IntKernel)v), kernels_run[v] ? "checked" : "not on this CPU");
}

/* K at the bound and beyond it, at the largest magnitudes. */
Test(sim_int, bound_on_rows)
{
    int kernels_run[INT_KERNEL_COUNT] = {0};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        Arena *arena = arena_new();
        float w[2] = {(float)cases[c].w_min, (float)cases[c].w_max};
        IntWeights *iw = int_weights_build(arena, w, 1, 2, 2, cases[c].in_bits, cases[c].in_signed);
        cr_assert(iw);
        float *many = calloc(200000 * 2, sizeof *many);
        for (int r = 0; r < 200000; r++)
            many[2 * r] = w[0], many[2 * r + 1] = w[1];
        IntWeights *big = int_weights_build(arena, many, 200000, 2, 2, cases[c].in_bits, cases[c].in_signed);
        cr_assert(big);
        int bound = big->rows_per_sum;
        free(many);
        arena_free(arena);
        if (bound > 70000)
            continue;           /* the u8 cases' bound (65792) is tested below, 2 columns only */
        check_block(&cases[c], bound, 2, 3, true, kernels_run);
        check_block(&cases[c], bound + 1, 2, 3, true, kernels_run);
        check_block(&cases[c], 2 * bound + 7, 2, 2, true, kernels_run);
        check_block(&cases[c], 2 * bound + 7, 3, 2, false, kernels_run);
    }
    /* u8 x s8: 255 * -128 per product, the bound 65792 rows */
    check_block(&cases[0], 65792, 2, 2, true, kernels_run);
    check_block(&cases[0], 65792 + 5, 2, 2, true, kernels_run);
    check_block(&cases[1], 65792 * 2 + 1, 1, 1, true, kernels_run);
    cr_assert(kernels_run[INT_KERNEL_SCALAR] > 0);
}

/* The conversion clamps to the DACs' range as the float path does (NaN to
 * the bottom) and reports codes that are not integers. */
Test(sim_int, codes_convert)
{
    Arena *arena = arena_new();
    float w[1] = {3};
    IntWeights *u8 = int_weights_build(arena, w, 1, 1, 1, 8, true);
    cr_assert(u8 && u8->kind == INT_CODES_U8 && u8->code_offset == 127);
    float x[6] = {-200, 200, NAN, 5, -5, 0};
    uint8_t out[6 + INT_CODES_PAD];
    cr_assert(int_codes_convert(u8, x, 6, 1, 6, -127, 127, out));
    uint8_t want[6] = {0, 254, 0, 132, 122, 127};
    cr_assert(memcmp(out, want, sizeof want) == 0);
    x[3] = 0.5f;
    cr_assert(!int_codes_convert(u8, x, 6, 1, 6, -127, 127, out));
    float wide[1] = {300};
    IntWeights *s16 = int_weights_build(arena, wide, 1, 1, 1, 8, false);
    cr_assert(s16 && s16->kind == INT_CODES_S16 && s16->code_offset == 0);
    float y[3] = {-1, 256, NAN};
    int16_t out16[3 + INT_CODES_PAD];
    cr_assert(int_codes_convert(s16, y, 3, 1, 3, 0, 255, out16));
    cr_assert(out16[0] == 0 && out16[1] == 255 && out16[2] == 0);
    /* weights beyond 16 bits, or too few rows a sum: no integer product */
    float huge[1] = {40000};
    cr_assert_null(int_weights_build(arena, huge, 1, 1, 1, 8, false));
    float most[1] = {32767};
    cr_assert_null(int_weights_build(arena, most, 100, 1, 0, 16, true));
    arena_free(arena);
}

/* A chain of blocks from codes widened to 16 bits (int_chain_product_wide,
 * AVX2's u8 product): random chains of 2 to 6 blocks of any rows over one
 * source row, n not a multiple of 4, and a chain at the 32-bit bound (every
 * code at the top, every weight -128), against the int64 sum over blocks. */
static void check_chain(const Case *c, int count, int cols, int n, const int *block_rows, bool extreme)
{
    Arena *arena = arena_new();
    int src_cols[8], total = 0;
    const IntWeights *weights[8];
    float *w[8];
    for (int b = 0; b < count; b++) {
        src_cols[b] = total;
        total += block_rows[b];
        w[b] = malloc(((size_t)block_rows[b] * (size_t)cols + 1) * sizeof *w[b]);
        for (int e = 0; e < block_rows[b] * cols; e++)
            w[b][e] = extreme ? (float)c->w_min : (float)test_uniform(c->w_min, c->w_max);
        w[b][0] = (float)c->w_min;      /* the range's ends: the kind is decided by them */
        w[b][block_rows[b] * cols - 1] = extreme ? (float)c->w_min : (float)c->w_max;
        weights[b] = int_weights_build(arena, w[b], block_rows[b], cols, cols, c->in_bits, c->in_signed);
        cr_assert(weights[b] && weights[b]->kind == INT_CODES_U8 && weights[b]->ld == weights[0]->ld);
    }
    double top = ldexp(1.0, c->in_signed ? c->in_bits - 1 : c->in_bits) - 1;
    float *x = malloc(((size_t)n * (size_t)total + 1) * sizeof *x);
    for (int64_t i = 0; i < (int64_t)n * total; i++)
        x[i] = extreme ? (float)top : (float)test_uniform(c->in_signed ? -(int64_t)top : 0, (int64_t)top);
    uint8_t *codes = malloc((size_t)n * (size_t)total + INT_CODES_PAD);
    cr_assert(int_codes_convert(weights[0], x, total, n, total, c->in_signed ? (float)-top : 0, (float)top, codes));
    uint16_t *wide = malloc(((size_t)n * (size_t)total + INT_CODES_PAD) * sizeof *wide);
    int_codes_widen(codes, (int64_t)n * total + INT_CODES_PAD, wide);
    int ld = weights[0]->ld;
    int32_t *got = malloc((size_t)n * (size_t)ld * sizeof *got);
    int_chain_product_wide(weights, src_cols, count, n, wide, total, got);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < cols; j++) {
            int64_t want = 0;     /* with the codes as the kernel sees them: offset added */
            for (int b = 0; b < count; b++)
                for (int r = 0; r < block_rows[b]; r++)
                    want += (int64_t)codes[(size_t)i * total + src_cols[b] + r] * (int64_t)w[b][r * cols + j];
            cr_assert_eq(got[(size_t)i * ld + j], want, "chain of %d blocks, %d rows, N %d: row %d col %d: %d, want %lld",
                         count, total, cols, i, j, got[(size_t)i * ld + j], (long long)want);
        }
    for (int b = 0; b < count; b++)
        free(w[b]);
    free(got);
    free(wide);
    free(codes);
    free(x);
    arena_free(arena);
}

Test(sim_int, chains_of_wide_codes)
{
    if (!int_kernel_supported(INT_KERNEL_AVX2) || !int_wide_chains(INT_KERNEL_AVX2, INT_CODES_U8)) {
        printf("test_sim_int: wide chains not on this CPU\n");
        return;
    }
    int_kernel_force(INT_KERNEL_AVX2);
    for (int t = 0; t < 40; t++) {
        int count = (int)test_uniform(2, 6), block_rows[8];
        for (int b = 0; b < count; b++)
            block_rows[b] = (int)test_log_uniform(1, 200);
        check_chain(&cases[t % 4], count, (int)test_log_uniform(1, 40), (int)test_uniform(1, 23), block_rows, false);
    }
    /* 255 * -128 per product: 65792 rows reach -2^31 + 0 (within int32) */
    int at_bound[4] = {16448, 16448, 16448, 16448};
    check_chain(&cases[0], 4, 3, 5, at_bound, true);
    int_kernel_force(INT_KERNEL_COUNT);
}
