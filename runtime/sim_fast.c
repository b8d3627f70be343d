/* sim_fast.c: the fast path of an ideal chip with lossless ADCs (docs/crossbar.md 8).
 *
 * When every conversion of a block returns its column sum unchanged, the
 * sum over passes and cycles of +-2^(c dac_bits) chunk * cells is code *
 * cells, and the combine that follows sums the block's slices, pairs and
 * reference columns with weights 2^(s cell_bits): linear again.  So the
 * block and its combine compute code * W, with W[r][n] the weight its cells
 * spell (for a pair: sum_s 2^(s cell_bits) (G+ - G-), in levels), one
 * product of 1/slices (1/(2 slices) for a digital pair) of the work.  The
 * mvm writes that value into the column of slice 0 (the positive one of a
 * pair) of each weight column, and its combine (mvm_combine_weights) takes
 * it from there: what the full combine would give if the other slices held
 * 0, exactly, since every number is an integer,
 * float sums are exact below 2^24 (rows_per_weight_sum keeps every partial
 * sum there, see sim_mvm.c "Exactness") and double ones far beyond.
 *
 * The product is a small kernel rather than sgemm: the blocks are narrow
 * (16 weight columns for 128 physical ones) and Debian's OpenBLAS picks its
 * SSE3 kernels on CPUs it does not know.  It keeps four source rows times
 * one vector of weights in registers, with vectors of 16, 32 or 64 bytes
 * chosen at run time; products of integers and their sums being exact, every
 * version gives the same bits. */
#include "runtime/sim_mvm.h"

#include <math.h>
#include <string.h>

enum { WEIGHT_PAD = MVM_TABLE_PAD };

/* out[i][0..width) = sum_r a[i][r] * w[r][0..width), i < n, as floats; w
 * and out rows are ld floats apart, ld a multiple of the vector. */
#define DEFINE_WEIGHT_PRODUCT(NAME, ATTR, VB)                                                      \
    typedef float NAME##_vector __attribute__((vector_size(VB)));                                  \
    ATTR static void NAME(int n, int rows, const float *a, int lda, const float *w, int ld,        \
                          int width, float *out)                                                   \
    {                                                                                              \
        enum { V = VB / 4 };                                                                       \
        for (int i0 = 0; i0 < n; i0 += 4) {                                                        \
            int count = n - i0 < 4 ? n - i0 : 4;                                                   \
            const float *x[4];                                                                     \
            for (int q = 0; q < 4; q++)                                                            \
                x[q] = a + (size_t)(i0 + (q < count ? q : 0)) * lda;                               \
            for (int j0 = 0; j0 < width; j0 += V) {                                                \
                NAME##_vector sum[4] = {0};                                                        \
                for (int r = 0; r < rows; r++) {                                                   \
                    NAME##_vector y;                                                               \
                    memcpy(&y, w + (size_t)r * ld + j0, sizeof y);                                 \
                    for (int q = 0; q < 4; q++)                                                    \
                        sum[q] += x[q][r] * y;                                                     \
                }                                                                                  \
                for (int q = 0; q < count; q++)                                                    \
                    memcpy(out + (size_t)(i0 + q) * ld + j0, &sum[q], sizeof sum[q]);              \
            }                                                                                      \
        }                                                                                          \
    }

DEFINE_WEIGHT_PRODUCT(weight_product_sse, , 16)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DEFINE_WEIGHT_PRODUCT(weight_product_avx2, __attribute__((target("avx2"))), 32)
DEFINE_WEIGHT_PRODUCT(weight_product_avx512, __attribute__((target("avx512f"))), 64)
#endif
#undef DEFINE_WEIGHT_PRODUCT

static void weight_product(int n, int rows, const float *a, int lda, const float *w, int ld, int width, float *out)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (__builtin_cpu_supports("avx512f")) {
        weight_product_avx512(n, rows, a, lda, w, ld, width, out);
        return;
    }
    if (__builtin_cpu_supports("avx2")) {
        weight_product_avx2(n, rows, a, lda, w, ld, width, out);
        return;
    }
#endif
    weight_product_sse(n, rows, a, lda, w, ld, width, out);
}

/* The physical column of weight column n's slice 0 (positive), and how many
 * physical columns the block must have, per sign mapping (docs/crossbar.md 5);
 * the column of weight n, slice s, polarity (0 +, 1 -) among the block's cells. */
static int cell_column(int sign, int slices, int n, int s, int polarity)
{
    int col = n * slices + s;
    return sign == SIGN_PAIR_DIGITAL ? 2 * col + polarity : col;
}

void mvm_program_weights(Arena *arena, const Program *program, const MvmParams *mp, const CombineParams *c,
                         Block *b)
{
    const Tile *tile = &program->tiles[mp->tile];
    int slices = c->slices, n_cols = c->n_cols, sign = mp->sign;
    int want = sign == SIGN_PAIR_DIGITAL ? 2 * n_cols * slices : sign == SIGN_OFFSET ? (n_cols + 1) * slices
                                                                                      : n_cols * slices;
    if (mp->float_mode || c->float_mode || b->noise || slices < 1 || slices > 31 || b->cols != want ||
        c->cell_bits * (slices - 1) > 30)
        return;
    int ld = (n_cols + WEIGHT_PAD - 1) / WEIGHT_PAD * WEIGHT_PAD;
    float *w = arena_array(arena, (size_t)b->rows * (size_t)(ld > 0 ? ld : WEIGHT_PAD), sizeof *w);
    double max_weight = 0, slice_weight[32];
    for (int s = 0; s < slices; s++)
        slice_weight[s] = ldexp(1.0, s * c->cell_bits);
    float *cells = arena_array(arena, (size_t)(b->cols > 0 ? b->cols : 1), sizeof *cells);
    for (int r = 0; r < b->rows; r++) {
        mvm_ideal_row(tile, mp, r, cells);
        for (int n = 0; n < n_cols; n++) {
            double v = 0;
            for (int s = 0; s < slices; s++) {
                double part = cells[cell_column(sign, slices, n, s, 0)];
                if (sign == SIGN_PAIR_DIGITAL)
                    part -= cells[cell_column(sign, slices, n, s, 1)];
                else if (sign == SIGN_OFFSET)
                    part -= cells[b->cols - slices + s];
                v += slice_weight[s] * part;
            }
            w[(size_t)r * ld + n] = (float)v;      /* |v| < 2^31 * 255: see the check above */
            max_weight = fabs(v) > max_weight ? fabs(v) : max_weight;
        }
    }
    double max_code = ldexp(1.0, mp->in_signed ? mp->in_bits - 1 : mp->in_bits) - 1;
    double per_row = max_code * max_weight;
    if (per_row > 0x1p24 || (float)max_weight != max_weight)
        return;                 /* one product may not be exact: keep the slices */
    b->weights = w;
    b->weight_cols = n_cols;
    b->weight_ld = ld;
    b->weight_slices = slices;
    b->rows_per_weight_sum = per_row * b->rows <= 0x1p24 ? b->rows : (int)(0x1p24 / per_row);
}

void mvm_execute_weights(const MvmParams *mp, const Block *b, const float *src, int64_t n_rows, int64_t src_width,
                         float *dst_f, double *dst_d, MvmScratch *s)
{
    int rows = b->rows, ld = b->weight_ld, cols = b->cols;
    float top = (float)(ldexp(1.0, mp->in_signed ? mp->in_bits - 1 : mp->in_bits) - 1);
    float bottom = mp->in_signed ? -top : 0;
    for (int64_t p0 = 0; p0 < n_rows; p0 += MVM_READ_TILE) {
        int n = n_rows - p0 < MVM_READ_TILE ? (int)(n_rows - p0) : MVM_READ_TILE;
        for (int i = 0; i < n; i++) {
            const float *x = src + (p0 + i) * src_width + mp->src_col;
            float *d = s->drive + (size_t)i * rows;
            for (int r = 0; r < rows; r++) {
                float v = x[r];     /* the DACs' range; NaN goes to the bottom */
                d[r] = v > bottom ? (v < top ? v : top) : bottom;
            }
        }
        for (int r0 = 0; r0 < rows || r0 == 0; r0 += b->rows_per_weight_sum) {
            int k = rows - r0 < b->rows_per_weight_sum ? rows - r0 : b->rows_per_weight_sum;
            weight_product(n, k, s->drive + r0, rows, b->weights + (size_t)r0 * ld, ld, b->weight_cols, s->part);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < b->weight_cols; j++)
                    s->acc[(size_t)i * ld + j] = r0 == 0 ? (double)s->part[(size_t)i * ld + j]
                                                         : s->acc[(size_t)i * ld + j] + s->part[(size_t)i * ld + j];
            if (k == 0)
                break;
        }
        /* each weight column's value in its slice-0 column; mvm_combine_weights
         * reads no other */
        for (int i = 0; i < n; i++) {
            const double *v = s->acc + (size_t)i * ld;
            size_t at = (size_t)(p0 + i) * cols;
            for (int j = 0; j < b->weight_cols; j++) {
                size_t col = at + (size_t)cell_column(mp->sign, b->weight_slices, j, 0, 0);
                if (dst_d)
                    dst_d[col] = v[j];
                else
                    dst_f[col] = (float)v[j];
            }
        }
    }
}

void mvm_combine_weights(const CombineParams *c, const float *src_f, const double *src_d, int64_t width,
                         double *acc, int64_t out_width)
{
    for (int64_t p = c->row_begin; p < c->row_end; p++) {
        double *out = acc + p * out_width + (int64_t)c->group * c->n_per_group + c->n0;
        for (int n = 0; n < c->n_cols; n++) {
            int64_t at = p * width + cell_column(c->sign, c->slices, n, 0, 0);
            double v = 0;           /* the full combine's sum: 0 + 1 * value + 2^b * 0 + ... */
            v += src_d ? src_d[at] : src_f[at];
            out[n] = c->accumulate ? out[n] + v : v;
        }
    }
}
