/* sim_fast.c: the fast path of an ideal chip with lossless ADCs (docs/crossbar.md 8).
 *
 * When every conversion of a block returns its column sum unchanged, the
 * sum over passes and cycles of +-2^(c dac_bits) chunk * cells is code *
 * cells, and the combine that follows sums the block's slices, pairs and
 * reference columns with weights 2^(s cell_bits): linear again.  So the
 * block and its combine compute code * W, with W[r][n] the weight its cells
 * spell (for a pair: sum_s 2^(s cell_bits) (G+ - G-), in levels), one
 * product of 1/slices (1/(2 slices) for a digital pair) of the work.  The
 * mvm adds that value into the combine's accumulator, which is what the full
 * combine would add (1 * the value of slice 0 + 2^b * 0 + ...), exactly:
 * every number is an integer, float sums are exact below 2^24
 * (rows_per_weight_sum keeps every partial sum there, see sim_mvm.c
 * "Exactness") and double ones far beyond.
 *
 * The product is a small kernel rather than sgemm: the blocks are narrow
 * (16 weight columns for 128 physical ones) and Debian's OpenBLAS picks its
 * SSE3 kernels on CPUs it does not know.  It keeps eight source rows times
 * one vector of weights in registers, with vectors of 16, 32 or 64 bytes
 * chosen at run time; the AVX2 and AVX-512 versions multiply and add in one
 * instruction (FMA).  Every operand is an integer (codes, and weights that
 * are sums of levels) and every partial sum stays below 2^24, so each product
 * and each sum is exact whether rounded once or twice: every version gives
 * the same bits.
 *
 * The block's combine (the instruction after its mvm) is thus done by the
 * mvm itself and does nothing (sim.c); the mvm's own result buffer is never
 * written.  When the source's codes are all within the DACs' range (sim.c
 * checks each source buffer once a run), the product reads them in place
 * instead of a clamped copy. */
#include "runtime/sim_mvm.h"
#include "runtime/sim_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WEIGHT_PRODUCT_X86 1
#endif

enum { WEIGHT_PAD = MVM_TABLE_PAD, PRODUCT_ROWS = 8 };

/* out[i][0..width) = sum_r a[i][r] * w[r][0..width), i < n, as floats; w
 * and out rows are ld floats apart, ld a multiple of the vector; MADD(s, x,
 * y) is s + x * y for a scalar x. */
#define DEFINE_WEIGHT_PRODUCT(NAME, ATTR, VB, MADD)                                                \
    typedef float NAME##_vector __attribute__((vector_size(VB)));                                  \
    ATTR static void NAME(int n, int rows, const float *a, int64_t lda, const float *w, int ld,    \
                          int width, float *out)                                                   \
    {                                                                                              \
        enum { V = VB / 4, R = PRODUCT_ROWS };                                                     \
        for (int i0 = 0; i0 < n; i0 += R) {                                                        \
            int count = n - i0 < R ? n - i0 : R;                                                   \
            const float *x[R];                                                                     \
            for (int q = 0; q < R; q++)                                                            \
                x[q] = a + (size_t)(i0 + (q < count ? q : 0)) * (size_t)lda;                       \
            for (int j0 = 0; j0 < width; j0 += V) {                                                \
                NAME##_vector sum[R];                                                              \
                memset(sum, 0, sizeof sum);                                                        \
                int r = 0;                                                                         \
                for (; r + 4 <= rows; r += 4)  /* unrolled: fewer pointer steps per product */     \
                    for (int u = 0; u < 4; u++) {                                                  \
                        NAME##_vector y;                                                           \
                        memcpy(&y, w + (size_t)(r + u) * ld + j0, sizeof y);                       \
                        for (int q = 0; q < R; q++)                                                \
                            sum[q] = MADD(sum[q], x[q][r + u], y);                                 \
                    }                                                                              \
                for (; r < rows; r++) {                                                            \
                    NAME##_vector y;                                                               \
                    memcpy(&y, w + (size_t)r * ld + j0, sizeof y);                                 \
                    for (int q = 0; q < R; q++)                                                    \
                        sum[q] = MADD(sum[q], x[q][r], y);                                         \
                }                                                                                  \
                for (int q = 0; q < count; q++)                                                    \
                    memcpy(out + (size_t)(i0 + q) * ld + j0, &sum[q], sizeof sum[q]);              \
            }                                                                                      \
        }                                                                                          \
    }

#define MADD_SEPARATE(s, x, y) ((s) + (x) * (y))
DEFINE_WEIGHT_PRODUCT(weight_product_sse, , 16, MADD_SEPARATE)
#ifdef WEIGHT_PRODUCT_X86
#define MADD_AVX2(s, x, y) ((weight_product_avx2_vector)_mm256_fmadd_ps((__m256)(y), _mm256_set1_ps(x), (__m256)(s)))
#define MADD_AVX512(s, x, y) \
    ((weight_product_avx512_vector)_mm512_fmadd_ps((__m512)(y), _mm512_set1_ps(x), (__m512)(s)))
DEFINE_WEIGHT_PRODUCT(weight_product_avx2, __attribute__((target("avx2,fma"))), 32, MADD_AVX2)
DEFINE_WEIGHT_PRODUCT(weight_product_avx512, __attribute__((target("avx512f"))), 64, MADD_AVX512)
#undef MADD_AVX2
#undef MADD_AVX512
#endif
#undef MADD_SEPARATE
#undef DEFINE_WEIGHT_PRODUCT

static void weight_product(int n, int rows, const float *a, int64_t lda, const float *w, int ld, int width,
                           float *out)
{
#ifdef WEIGHT_PRODUCT_X86
    if (__builtin_cpu_supports("avx512f")) {
        weight_product_avx512(n, rows, a, lda, w, ld, width, out);
        return;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        weight_product_avx2(n, rows, a, lda, w, ld, width, out);
        return;
    }
#endif
    weight_product_sse(n, rows, a, lda, w, ld, width, out);
}

/* The weights of `count` analog pairs of `slices` slices from their levels
 * (G+ and G- side by side, slice 0 first) into w, in integers: sum_s
 * 2^(s cell_bits) (G+ - G-); *max_weight grows to the largest magnitude. */
static void fold_pairs(const uint8_t *level, int count, int slices, int cell_bits, float *w, double *max_weight)
{
    for (int n = 0; n < count; n++, level += 2 * slices) {
        int64_t v = 0;
        for (int s = 0; s < slices; s++)
            v += (int64_t)(level[2 * s] - level[2 * s + 1]) * ((int64_t)1 << (s * cell_bits));
        w[n] = (float)v;
        *max_weight = fabs((double)v) > *max_weight ? fabs((double)v) : *max_weight;
    }
}

void mvm_program_weights(Arena *arena, const Program *program, const MvmParams *mp, const CombineParams *c,
                         Block *b)
{
    const Tile *tile = &program->tiles[mp->tile];
    int slices = c->slices, n_cols = c->n_cols;
    SignMapping sign = mp->sign;
    /* the columns its ADCs see: an analog pair is one */
    int want = (sign == SIGN_PAIR_ANALOG ? 1 : cell_polarities(sign)) * n_cols * slices + cell_ref_cols(sign, slices);
    if (mp->float_mode || c->float_mode || b->noise || slices < 1 || slices > CELL_MAX_SLICES || b->cols != want ||
        c->cell_bits * (slices - 1) > 30)
        return;
    int ld = (n_cols + WEIGHT_PAD - 1) / WEIGHT_PAD * WEIGHT_PAD;
    size_t count = (size_t)b->rows * (size_t)(ld > 0 ? ld : WEIGHT_PAD);
    float *w = calloc(count, sizeof *w);    /* kept only when the product stays in float */
    if (!w)
        return;
    double max_weight = 0;
    /* the common case straight from the levels, in integers: the same values */
    bool direct = sign == SIGN_PAIR_ANALOG && (tile->levels || tile->packed);
    uint8_t unpacked[2 * CELL_MAX_SLICES * 64];
    for (int r = 0; r < b->rows && direct; r++) {
        size_t first = (size_t)(mp->tile_row + r) * tile->cols + mp->tile_col;
        for (int n0 = 0; n0 < n_cols; n0 += 64) {   /* 64 weights' cells at a time */
            int pairs = n_cols - n0 < 64 ? n_cols - n0 : 64;
            const uint8_t *level = tile_levels(tile, first + (size_t)(2 * slices * n0), (size_t)(2 * slices * pairs),
                                               unpacked);
            fold_pairs(level, pairs, slices, c->cell_bits, w + (size_t)r * ld + n0, &max_weight);
        }
    }
    /* else each weight from its cells and the block's reference columns */
    double levels[2 * CELL_MAX_SLICES], ref[CELL_MAX_SLICES];
    int per_weight = slices * cell_polarities(sign), refs = cell_ref_cols(sign, slices);
    for (int r = 0; r < b->rows && !direct; r++) {
        size_t first = (size_t)(mp->tile_row + r) * tile->cols + mp->tile_col;
        for (int s = 0; s < refs; s++)
            ref[s] = tile_cell(tile, first + (size_t)(mp->phys_cols - refs + s));
        for (int n = 0; n < n_cols; n++) {
            for (int i = 0; i < per_weight; i++)
                levels[i] = tile_cell(tile, first + (size_t)(n * per_weight + i));
            double v = cell_decode(sign, slices, c->cell_bits, levels, ref, 0);
            w[(size_t)r * ld + n] = (float)v;      /* |v| < 2^31 * 255: see the check above */
            max_weight = fabs(v) > max_weight ? fabs(v) : max_weight;
        }
    }
    double max_code = ldexp(1.0, mp->in_signed ? mp->in_bits - 1 : mp->in_bits) - 1;
    double per_row = max_code * max_weight;
    if (per_row > 0x1p24 || (float)max_weight != max_weight) {
        free(w);
        return;                 /* one product may not be exact: keep the slices */
    }
    b->weight_cols = n_cols;
    b->weight_ld = ld;
    b->weight_slices = slices;
    b->rows_per_weight_sum = per_row * b->rows <= 0x1p24 ? b->rows : (int)(0x1p24 / per_row);
    if (int_products_enabled())
        b->int_weights = int_weights_build(arena, w, b->rows, n_cols, ld, mp->in_bits, mp->in_signed);
    if (!b->int_weights) {
        b->weights = arena_array(arena, count, sizeof *w);
        memcpy(b->weights, w, count * sizeof *w);
    }
    free(w);
}

/* out[i][j] (+)= part[i][j] - offset * column_sum[j], i < n, j < width:
 * one run's integer sums into the combine's double accumulator. */
#ifdef WEIGHT_PRODUCT_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void add_int_rows(int n, int width, const int32_t *part, int ld, int offset, const int64_t *column_sum,
                         bool accumulate, double *out, int64_t out_width)
{
    double shift[MVM_TABLE_PAD];
    for (int j0 = 0; j0 < width; j0 += MVM_TABLE_PAD) {
        int w = width - j0 < MVM_TABLE_PAD ? width - j0 : MVM_TABLE_PAD;
        for (int j = 0; j < w; j++)
            shift[j] = offset ? (double)offset * (double)column_sum[j0 + j] : 0;
        for (int i = 0; i < n; i++) {
            const int32_t *x = part + (size_t)i * ld + j0;
            double *y = out + i * out_width + j0;
            if (accumulate)
                for (int j = 0; j < w; j++)
                    y[j] += (double)x[j] - shift[j];
            else
                for (int j = 0; j < w; j++)
                    y[j] = (double)x[j] - shift[j];
        }
    }
}

/* The integer product of n source rows, codes [n x ldc] (u8 or s16, as the
 * block's int weights), with the block's combine: out[i][j] (+)= sum_r
 * code[i][r] w[r][j], exactly (sim_int.c); the offset of signed u8 codes
 * comes off here, in double. */
static void add_int_product(const IntWeights *iw, int n, int rows, const void *codes, int64_t ldc, bool accumulate,
                            double *out, int64_t out_width, MvmScratch *s)
{
    int32_t *part = (int32_t *)(void *)s->part;     /* n x iw->ld: fits, see mvm_scratch_init */
    IntKernel kernel = int_kernel();
    int ld = iw->ld, width = iw->cols;
    bool one_sum = rows <= iw->rows_per_sum;
    for (int r0 = 0; r0 < rows || r0 == 0; r0 += iw->rows_per_sum) {
        int k = rows - r0 < iw->rows_per_sum ? rows - r0 : iw->rows_per_sum;
        int_product(kernel, iw, n, r0, k, (const char *)codes + (size_t)r0 * int_code_bytes(iw->kind), ldc, ld,
                    false, part);
        if (one_sum)
            break;
        for (int i = 0; i < n; i++)     /* runs of rows_per_sum rows add up in double */
            for (int j = 0; j < width; j++)
                s->acc[(size_t)i * ld + j] = (r0 == 0 ? 0 : s->acc[(size_t)i * ld + j]) + part[(size_t)i * ld + j];
        if (k == 0)
            break;
    }
    if (one_sum)
        add_int_rows(n, width, part, ld, iw->code_offset, iw->column_sum, accumulate, out, out_width);
    else
        for (int i = 0; i < n; i++) {
            double *y = out + i * out_width;
            for (int j = 0; j < width; j++) {
                double v = s->acc[(size_t)i * ld + j];
                if (iw->code_offset)
                    v -= (double)iw->code_offset * (double)iw->column_sum[j];
                y[j] = accumulate ? y[j] + v : v;
            }
        }
}

/* n rows of a chain's sums, part[i][j] - offset * column_sum[j] in double
 * as add_int_rows makes them, through the Dequant (direct) to its output:
 * accumulator row direct->row + i, column direct->col + j. */
static void dequant_int_rows(int n, int width, const int32_t *part, int ld, int offset, const int64_t *column_sum,
                             const DequantOut *direct)
{
    for (int j = 0; j < width; j++) {
        double shift = offset ? (double)offset * (double)column_sum[j] : 0;
        int64_t channel = direct->col + j;
        float scale = direct->scale ? direct->scale[channel] : 1.0f;
        for (int i = 0, count; i < n; i += count) {     /* a run of pixels of one image */
            int64_t p = direct->row + i, image = p / direct->pixels, pixel = p % direct->pixels;
            count = direct->pixels - pixel < n - i ? (int)(direct->pixels - pixel) : n - i;
            float *y = direct->y + (image * direct->channels + channel) * direct->pixels + pixel;
            for (int e = 0; e < count; e++)
                y[e] = dequant_value((double)part[(size_t)(i + e) * (size_t)ld + (size_t)j] - shift, scale,
                                     direct->bias, channel);
        }
    }
}

void mvm_execute_int_chain(const Block *const *blocks, const int *src_cols, int count, const int64_t *column_sum,
                           int64_t n_rows, int64_t src_width, const void *codes, const uint16_t *wide,
                           const IntWeights *const *weights, bool accumulate, double *out, int64_t out_width,
                           const DequantOut *direct, MvmScratch *s)
{
    const IntWeights *first = blocks[0]->int_weights;
    int32_t *part = (int32_t *)(void *)s->part;     /* n x ld: fits, see mvm_scratch_init */
    IntKernel kernel = int_kernel();
    size_t bytes = int_code_bytes(first->kind);
    for (int64_t p0 = 0; p0 < n_rows; p0 += MVM_READ_TILE) {
        int n = n_rows - p0 < MVM_READ_TILE ? (int)(n_rows - p0) : MVM_READ_TILE;
        if (wide)
            int_chain_product_wide(weights, src_cols, count, n, wide + p0 * src_width, src_width, part);
        for (int b = 0; !wide && b < count; b++)
            int_product(kernel, blocks[b]->int_weights, n, 0, blocks[b]->rows,
                        (const char *)codes + (size_t)(p0 * src_width + src_cols[b]) * bytes, src_width, first->ld,
                        b > 0, part);
        if (direct) {
            DequantOut rows = *direct;
            rows.row += p0;
            dequant_int_rows(n, first->cols, part, first->ld, first->code_offset, column_sum, &rows);
        } else {
            add_int_rows(n, first->cols, part, first->ld, first->code_offset, column_sum, accumulate,
                         out + p0 * out_width, out_width);
        }
    }
}

/* out[i][j] (+)= part[i][j], i < n, j < width: the combine's sums in double. */
#ifdef WEIGHT_PRODUCT_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void add_part_rows(int n, int width, const float *part, int ld, bool accumulate, double *out,
                          int64_t out_width)
{
    for (int i = 0; i < n; i++) {
        const float *x = part + (size_t)i * ld;
        double *y = out + i * out_width;
        if (accumulate)
            for (int j = 0; j < width; j++)
                y[j] += x[j];
        else
            for (int j = 0; j < width; j++)
                y[j] = x[j];
    }
}

void mvm_execute_weights(const MvmParams *mp, const Block *b, const float *src, int64_t n_rows, int64_t src_width,
                         bool src_in_range, const void *codes_at, const CombineParams *c, double *acc,
                         int64_t out_width, MvmScratch *s)
{
    int rows = b->rows, ld = b->weight_ld, width = b->weight_cols;
    float top = (float)(ldexp(1.0, mp->in_signed ? mp->in_bits - 1 : mp->in_bits) - 1);
    float bottom = mp->in_signed ? -top : 0;
    bool one_sum = rows <= b->rows_per_weight_sum;
    for (int64_t p0 = 0; p0 < n_rows; p0 += MVM_READ_TILE) {
        int n = n_rows - p0 < MVM_READ_TILE ? (int)(n_rows - p0) : MVM_READ_TILE;
        double *out = acc + (mp->row_begin + p0) * out_width + (int64_t)c->group * c->n_per_group + c->n0;
        if (b->int_weights) {   /* integer codes (all of them, as sources are): the integer product */
            const void *codes = codes_at ? (const char *)codes_at + (size_t)(p0 * src_width) * int_code_bytes(
                                                                       b->int_weights->kind)
                                         : (const void *)s->drive;
            if (codes_at || int_codes_convert(b->int_weights, src + p0 * src_width + mp->src_col, src_width, n,
                                              rows, bottom, top, s->drive))
                add_int_product(b->int_weights, n, rows, codes, codes_at ? src_width : rows, c->accumulate, out,
                                out_width, s);
            else        /* codes that are not integers (no quant makes them): in double */
                int_product_floats(b->int_weights, n, src + p0 * src_width + mp->src_col, src_width, rows, bottom,
                                   top, c->accumulate, out, out_width);
            continue;
        }
        const float *drive = src + p0 * src_width + mp->src_col;
        int64_t ld_drive = src_width;
        if (!src_in_range) {
            for (int i = 0; i < n; i++) {
                const float *x = src + (p0 + i) * src_width + mp->src_col;
                float *d = s->drive + (size_t)i * rows;
                for (int r = 0; r < rows; r++) {
                    float v = x[r];     /* the DACs' range; NaN goes to the bottom */
                    d[r] = v > bottom ? (v < top ? v : top) : bottom;
                }
            }
            drive = s->drive;
            ld_drive = rows;
        }
        /* with more rows than one float sum holds exactly, the sums of row
         * chunks add up in double */
        for (int r0 = 0; r0 < rows || r0 == 0; r0 += b->rows_per_weight_sum) {
            int k = rows - r0 < b->rows_per_weight_sum ? rows - r0 : b->rows_per_weight_sum;
            weight_product(n, k, drive + r0, ld_drive, b->weights + (size_t)r0 * ld, ld, width, s->part);
            if (one_sum)
                break;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < width; j++)
                    s->acc[(size_t)i * ld + j] = r0 == 0 ? (double)s->part[(size_t)i * ld + j]
                                                         : s->acc[(size_t)i * ld + j] + s->part[(size_t)i * ld + j];
            if (k == 0)
                break;
        }
        /* the combine */
        if (one_sum)
            add_part_rows(n, width, s->part, ld, c->accumulate, out, out_width);
        else
            for (int i = 0; i < n; i++)
                for (int j = 0; j < width; j++)
                    out[i * out_width + j] = c->accumulate ? out[i * out_width + j] + s->acc[(size_t)i * ld + j]
                                                           : s->acc[(size_t)i * ld + j];
    }
}
