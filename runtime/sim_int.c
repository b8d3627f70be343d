/* sim_int.c: exact integer products of the ideal chip's fast path
 * (docs/crossbar.md 8).
 *
 * The folded weights of a lossless block are integers (sums of 2^(s
 * cell_bits) level differences) and so are its codes: their product is done
 * in integers, as the chip's arithmetic is.  Two kinds:
 *
 * - u8 x s8, when every weight is in [-128, 127] and every code, plus
 *   code_offset, in [0, 255]: signed codes of up to 8 bits are offset by
 *   2^(bits-1) - 1 into [0, 2^bits - 2], and code_offset times the column's
 *   weight sum comes off again in the caller's double sum.  Four rows a group:
 *   `vpdpbusd` adds four u8 x s8 products into each 32-bit lane.
 * - s16 x s16 otherwise (8-bit weights of a pair are up to +-255): two rows
 *   a group, `vpdpwssd` (AVX-VNNI, AVX-512 VNNI) or `vpmaddwd` + add (AVX2).
 *
 * Exactness: the sums are 32-bit, over at most rows_per_sum rows with
 * rows_per_sum * max|code| * max|weight| <= 2^31 - 1.  Every partial sum the
 * instructions form (a pair, a quad, a lane's running sum) is a sum of a
 * subset of those products, so its magnitude is at most that bound: nothing
 * wraps or saturates, in whatever order a version adds, and every version
 * gives the integer sum itself.  AVX2 has no u8 x s8 instruction without
 * saturation (`vpmaddubsw` saturates its pair sums to 16 bits: 2 * 255 * 128
 * does not fit), so it widens codes and weights to 16 bits in registers and
 * multiplies them with `vpmaddwd` (product_u8_avx2).  Blocks with more rows sum runs of
 * rows_per_sum rows, the runs added in double (exact below 2^53). */
#include "runtime/sim_int.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define INT_PRODUCT_X86 1
#endif

enum { INT_LD_PAD = 16, INT_MIN_ROWS_PER_SUM = 64 };

IntWeights *int_weights_build(Arena *arena, const float *w, int rows, int cols, int ld_w, int in_bits,
                              bool in_signed)
{
    double max_weight = 0, min_weight = 0;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            double v = w[(size_t)r * ld_w + j];
            max_weight = v > max_weight ? v : max_weight;
            min_weight = v < min_weight ? v : min_weight;
        }
    if (in_bits < 1 || in_bits > 16)
        return NULL;
    double top = ldexp(1.0, in_signed ? in_bits - 1 : in_bits) - 1;
    IntWeights iw = {0};
    /* u8 codes: unsigned ones of up to 8 bits, signed ones offset by top */
    iw.code_offset = in_signed ? (int)top : 0;
    double max_code = top + iw.code_offset;
    if (max_code <= 255 && min_weight >= -128 && max_weight <= 127) {
        iw.kind = INT_CODES_U8;
        iw.group = 4;
    } else if (top <= 32767 && min_weight >= -32768 && max_weight <= 32767) {
        iw.kind = INT_CODES_S16;
        iw.group = 2;
        iw.code_offset = 0;
        max_code = top;
    } else {
        return NULL;
    }
    double max_product = max_code * fmax(max_weight, -min_weight);
    iw.max_product = (int64_t)max_product;
    double bound = max_product > 0 ? floor(2147483647.0 / max_product) : (double)rows;
    if (bound >= rows)
        iw.rows_per_sum = (rows + iw.group - 1) / iw.group * iw.group;   /* the padding rows weigh 0 */
    else if (bound >= INT_MIN_ROWS_PER_SUM)
        iw.rows_per_sum = (int)bound / iw.group * iw.group;
    else
        return NULL;            /* too many runs: the float product does better */
    iw.rows = rows;
    iw.cols = cols;
    iw.ld = (cols + INT_LD_PAD - 1) / INT_LD_PAD * INT_LD_PAD;
    iw.ld = iw.ld > 0 ? iw.ld : INT_LD_PAD;
    size_t groups = (size_t)(rows + iw.group - 1) / (size_t)iw.group;
    size_t count = groups * (size_t)iw.ld * (size_t)iw.group;
    size_t bytes = int_code_bytes(iw.kind);
    iw.packed = arena_array(arena, count ? count : 1, bytes);
    memset(iw.packed, 0, (count ? count : 1) * bytes);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            size_t at = ((size_t)(r / iw.group) * (size_t)iw.ld + (size_t)j) * (size_t)iw.group + (size_t)(r % iw.group);
            int v = (int)w[(size_t)r * ld_w + j];
            if (iw.kind == INT_CODES_U8)
                ((int8_t *)iw.packed)[at] = (int8_t)v;
            else
                ((int16_t *)iw.packed)[at] = (int16_t)v;
        }
    if (iw.code_offset) {
        iw.column_sum = arena_array(arena, (size_t)(cols > 0 ? cols : 1), sizeof *iw.column_sum);
        for (int j = 0; j < cols; j++) {
            int64_t sum = 0;
            for (int r = 0; r < rows; r++)
                sum += (int64_t)w[(size_t)r * ld_w + j];
            iw.column_sum[j] = sum;
        }
    }
    IntWeights *out = arena_alloc(arena, sizeof *out);
    *out = iw;
    return out;
}

void int_product_floats(const IntWeights *iw, int n, const float *x, int64_t ldx, int rows, float bottom, float top,
                        bool accumulate, double *out, int64_t out_width)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < iw->cols; j++) {
            double sum = 0;
            for (int r = 0; r < rows; r++) {
                float v = x[i * ldx + r];
                v = v > bottom ? (v < top ? v : top) : bottom;
                size_t at = ((size_t)(r / iw->group) * (size_t)iw->ld + (size_t)j) * (size_t)iw->group +
                            (size_t)(r % iw->group);
                sum += (double)v * (iw->kind == INT_CODES_U8 ? ((const int8_t *)iw->packed)[at]
                                                             : ((const int16_t *)iw->packed)[at]);
            }
            out[i * out_width + j] = accumulate ? out[i * out_width + j] + sum : sum;
        }
}

/* ---- the product's versions ---- */

/* The scalar version, in the packed layout: the others' model. */
static void product_scalar(const IntWeights *iw, int n, int r0, int k, const void *codes, int64_t ldc, int width,
                           bool accumulate, int32_t *out)
{
    int group = iw->group, ld = iw->ld, groups = (k + group - 1) / group;
    for (int i = 0; i < n; i++) {
        int32_t *o = out + (size_t)i * (size_t)ld;
        if (!accumulate)
            memset(o, 0, (size_t)width * sizeof *o);
        for (int g = 0; g < groups; g++) {
            size_t first = ((size_t)(r0 / group + g) * (size_t)ld) * (size_t)group;
            for (int u = 0; u < group; u++) {
                int r = g * group + u;
                int32_t c;
                if (iw->kind == INT_CODES_U8) {
                    c = ((const uint8_t *)codes)[i * ldc + r];
                    const int8_t *w = (const int8_t *)iw->packed + first + (size_t)u;
                    for (int j = 0; j < width; j++)
                        o[j] += c * w[(size_t)j * 4];
                } else {
                    c = ((const int16_t *)codes)[i * ldc + r];
                    const int16_t *w = (const int16_t *)iw->packed + first + (size_t)u;
                    for (int j = 0; j < width; j++)
                        o[j] += c * w[(size_t)j * 2];
                }
            }
        }
    }
}

#ifdef INT_PRODUCT_X86
/* Rows of codes times one vector of weights (VB bytes: VB / 4 columns) in
 * registers, a group of rows (4 bytes of codes, broadcast) at a time;
 * MAC(sum, codes, weights) adds the group's products into each lane. */
#define DEFINE_INT_PRODUCT(NAME, ATTR, VEC, VB, R, ZERO, LOAD, STORE, BROADCAST, MAC)                 \
    ATTR static void NAME(const IntWeights *iw, int n, int r0, int k, const void *codes, int64_t ldc,   \
                          int width, bool accumulate, int32_t *out)                                     \
    {                                                                                                   \
        size_t code_bytes = int_code_bytes(iw->kind), group_bytes = 4;                                  \
        int group = iw->group, ld = iw->ld, groups = (k + group - 1) / group;                           \
        const char *w0 = (const char *)iw->packed + (size_t)(r0 / group) * (size_t)ld * group_bytes;   \
        for (int i0 = 0; i0 < n; i0 += R) {                                                             \
            int count = n - i0 < R ? n - i0 : R;                                                        \
            const char *x[R];                                                                           \
            for (int q = 0; q < R; q++)                                                                 \
                x[q] = (const char *)codes + (size_t)(i0 + (q < count ? q : 0)) * (size_t)ldc * code_bytes; \
            for (int j0 = 0; j0 < width; j0 += VB / 4) {                                                \
                VEC sum[R];                                                                             \
                for (int q = 0; q < R; q++)                                                             \
                    sum[q] = accumulate && q < count ? LOAD(out + (size_t)(i0 + q) * (size_t)ld + j0) : ZERO; \
                const char *w = w0 + (size_t)j0 * group_bytes;                                          \
                for (int g = 0; g < groups; g++, w += (size_t)ld * group_bytes) {                       \
                    VEC y = LOAD(w);                                                                    \
                    for (int q = 0; q < R; q++) {                                                       \
                        int32_t c;                                                                      \
                        memcpy(&c, x[q] + (size_t)g * group_bytes, sizeof c);                           \
                        sum[q] = MAC(sum[q], BROADCAST(c), y);                                          \
                    }                                                                                   \
                }                                                                                       \
                for (int q = 0; q < count; q++)                                                         \
                    STORE(out + (size_t)(i0 + q) * (size_t)ld + j0, sum[q]);                            \
            }                                                                                           \
        }                                                                                               \
    }

#define LOAD256(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define STORE256(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), v)
#define LOAD512(p) _mm512_loadu_si512((const void *)(p))
#define STORE512(p, v) _mm512_storeu_si512((void *)(p), v)

/* AVX2 has no u8 x s8 multiply-add without saturation (see the top), so
 * each group's 4 x 8 weights are widened to 16 bits in registers, once for
 * 4 rows of codes, and `vpmaddwd` multiplies them by a row's 4 codes
 * (zero-extended, repeated): each 32-bit lane holds half a column's group
 * (2 products), a column's two lanes added at the end (`vphaddd`).  Every
 * lane is a sum of a subset of a run's products: exact, as in the others.
 * Against splitting each code into its low 7 bits and top bit for
 * `vpmaddubsw` (9 instructions per 32 products, not 4 and a broadcast
 * load): ResNet-18's ideal run 70.5 to 52 ms on an AMD EPYC (Zen 3); of
 * that, widening the codes once a slice rather than in the inner loop
 * 58.3 to 52 ms.  6 rows at a time spilled (64 ms). */
/* The groups of one run of rows, 8 columns, 4 rows of 16-bit codes: GCC's
 * schedule of the same steps in intrinsics kept all four broadcasts live,
 * ran out of the 16 registers and stored a sum to the stack every group
 * (ResNet-18's ideal run: 52.0 to 50.6 ms on Zen 3, best of 15).  Written
 * out, each row's step is a broadcast load of its 4 widened codes, two
 * `vpmaddwd` by the group's widened weights and two adds: 12 registers.
 * Rows 1 to 3 of the codes are ROW1..ROW3 bytes past row 0; groups >= 1. */
#define U8_AVX2_GROUPS(W, STRIDE, CODES, ROW1, ROW2, ROW3, GROUPS, L0, H0, L1, H1, L2, H2, L3, H3)       \
    do {                                                                                                     \
        const int8_t *w_at = (W);                                                                            \
        const uint16_t *codes_at = (CODES);                                                                  \
        long groups_left = (GROUPS);                                                                         \
        __m256i w_low, w_high, four, product;                                                                \
        __asm__("1:\n\t"                                                                                    \
                "vpmovsxbw (%[w]), %[wl]\n\t"                                                               \
                "vpmovsxbw 16(%[w]), %[wh]\n\t"                                                             \
                "add %[stride], %[w]\n\t"                                                                   \
                "vpbroadcastq (%[c]), %[x]\n\t"                                                             \
                "vpmaddwd %[wl], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[l0], %[l0]\n\t"                                                             \
                "vpmaddwd %[wh], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[h0], %[h0]\n\t"                                                             \
                "vpbroadcastq (%[c],%[row1]), %[x]\n\t"                                                     \
                "vpmaddwd %[wl], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[l1], %[l1]\n\t"                                                             \
                "vpmaddwd %[wh], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[h1], %[h1]\n\t"                                                             \
                "vpbroadcastq (%[c],%[row2]), %[x]\n\t"                                                     \
                "vpmaddwd %[wl], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[l2], %[l2]\n\t"                                                             \
                "vpmaddwd %[wh], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[h2], %[h2]\n\t"                                                             \
                "vpbroadcastq (%[c],%[row3]), %[x]\n\t"                                                     \
                "vpmaddwd %[wl], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[l3], %[l3]\n\t"                                                             \
                "vpmaddwd %[wh], %[x], %[t]\n\t"                                                            \
                "vpaddd %[t], %[h3], %[h3]\n\t"                                                             \
                "add $8, %[c]\n\t"                                                                          \
                "dec %[g]\n\t"                                                                              \
                "jnz 1b"                                                                                     \
                : [l0] "+x"(L0), [h0] "+x"(H0), [l1] "+x"(L1), [h1] "+x"(H1), [l2] "+x"(L2), [h2] "+x"(H2),  \
                  [l3] "+x"(L3), [h3] "+x"(H3), [w] "+r"(w_at), [c] "+r"(codes_at), [g] "+r"(groups_left),    \
                  [wl] "=&x"(w_low), [wh] "=&x"(w_high), [x] "=&x"(four), [t] "=&x"(product)                  \
                : [stride] "r"(STRIDE), [row1] "r"((long)(ROW1)), [row2] "r"((long)(ROW2)),                  \
                  [row3] "r"((long)(ROW3))                                                                   \
                : "memory", "cc");                                                                           \
    } while (0)

/* The sums of 4 rows (low: columns 0 to 3, high: 4 to 7, two lanes a
 * column) into the first `rows` rows of out (ld apart), added to what they
 * hold when add. */
static inline __attribute__((always_inline, target("avx2"))) void
u8_avx2_store(__m256i low0, __m256i high0, __m256i low1, __m256i high1, __m256i low2, __m256i high2, __m256i low3,
              __m256i high3, int rows, bool add, int32_t *out, int ld)
{
    /* hadd: columns 0 1 4 5 | 2 3 6 7; the 64-bit permute puts them in order */
    __m256i sums[4] = {_mm256_hadd_epi32(low0, high0), _mm256_hadd_epi32(low1, high1),
                       _mm256_hadd_epi32(low2, high2), _mm256_hadd_epi32(low3, high3)};
    for (int q = 0; q < rows; q++) {
        __m256i sum = _mm256_permute4x64_epi64(sums[q], 0xd8);
        int32_t *o = out + (size_t)q * (size_t)ld;
        if (add)
            sum = _mm256_add_epi32(sum, _mm256_loadu_si256((const __m256i *)(const void *)o));
        _mm256_storeu_si256((__m256i *)(void *)o, sum);
    }
}

/* Rows of codes widened at a time: 4 rows of U8_AVX2_SLICE codes as 16 bits. */
enum { U8_AVX2_SLICE = 512, U8_AVX2_ROW_BYTES = U8_AVX2_SLICE * 2 };

/* 8 sums, 2 weight vectors and the codes in the 16 registers (named
 * variables: GCC kept arrays of sums on the stack).  The codes of 4 rows
 * are widened once a slice of rows, not once a slice per 8 columns. */
__attribute__((target("avx2"))) static void product_u8_avx2(const IntWeights *iw, int n, int r0, int k,
                                                            const void *codes, int64_t ldc, int width, bool accumulate,
                                                            int32_t *out)
{
    int ld = iw->ld;
    uint16_t wide_codes[4][U8_AVX2_SLICE];      /* [row][code]: a slice's codes as 16 bits */
    for (int i0 = 0; i0 < n; i0 += 4) {
        int count = n - i0 < 4 ? n - i0 : 4;
        for (int k0 = 0; k0 < k || k0 == 0; k0 += U8_AVX2_SLICE) {     /* k 0: zero sums stored */
            int groups = ((k - k0 < U8_AVX2_SLICE ? k - k0 : U8_AVX2_SLICE) + 3) / 4;
            for (int q = 0; q < 4; q++) {   /* rows past n widen row 0 again (their sums are not stored) */
                const uint8_t *x = (const uint8_t *)codes + (size_t)(i0 + (q < count ? q : 0)) * (size_t)ldc + k0;
                uint16_t *to = wide_codes[q];
                int c = 0;
                for (; c + 16 <= 4 * groups; c += 16)
                    _mm256_storeu_si256((__m256i *)(void *)(to + c),
                                        _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(x + c))));
                for (; c < 4 * groups; c++)     /* the group's last codes, as the 4-byte loads read them */
                    to[c] = x[c];
            }
            const int8_t *w0 = (const int8_t *)iw->packed + (size_t)((r0 + k0) / 4) * (size_t)ld * 4;
            bool add = accumulate || k0 > 0;
            for (int j0 = 0; j0 < width; j0 += 8) {
                /* columns j0 .. j0 + 3 (low) and j0 + 4 .. j0 + 7 (high) of rows 0 to 3, two lanes a column */
                __m256i low0 = _mm256_setzero_si256(), high0 = low0, low1 = low0, high1 = low0;
                __m256i low2 = low0, high2 = low0, low3 = low0, high3 = low0;
                if (groups > 0)
                    U8_AVX2_GROUPS(w0 + (size_t)j0 * 4, (size_t)ld * 4, wide_codes[0], U8_AVX2_ROW_BYTES,
                                   2 * U8_AVX2_ROW_BYTES, 3 * U8_AVX2_ROW_BYTES, groups, low0, high0, low1,
                                   high1, low2, high2, low3, high3);
                u8_avx2_store(low0, high0, low1, high1, low2, high2, low3, high3, count, add,
                              out + (size_t)i0 * (size_t)ld + j0, ld);
            }
        }
    }
}

/* int_chain_product_wide on AVX2: for 4 rows and 8 columns, every block's
 * groups in turn into the same sums, stored once. */
__attribute__((target("avx2"))) static void chain_u8_wide_avx2(const IntWeights *const *weights, const int *src_cols,
                                                               int count, int n, const uint16_t *codes, int64_t ldc,
                                                               int32_t *out)
{
    int ld = weights[0]->ld;
    long row_bytes = (long)ldc * (long)sizeof *codes;
    for (int i0 = 0; i0 < n; i0 += 4) {
        int rows = n - i0 < 4 ? n - i0 : 4;
        /* rows past n read row 0 again (their sums are not stored) */
        long row1 = rows > 1 ? row_bytes : 0, row2 = rows > 2 ? 2 * row_bytes : 0, row3 = rows > 3 ? 3 * row_bytes : 0;
        const uint16_t *x = codes + (size_t)i0 * (size_t)ldc;
        for (int j0 = 0; j0 < ld; j0 += 8) {
            __m256i low0 = _mm256_setzero_si256(), high0 = low0, low1 = low0, high1 = low0;
            __m256i low2 = low0, high2 = low0, low3 = low0, high3 = low0;
            for (int b = 0; b < count; b++) {
                int groups = (weights[b]->rows + 3) / 4;
                if (groups > 0)
                    U8_AVX2_GROUPS((const int8_t *)weights[b]->packed + (size_t)j0 * 4, (size_t)ld * 4,
                                   x + src_cols[b], row1, row2, row3, groups, low0, high0, low1, high1, low2, high2,
                                   low3, high3);
            }
            u8_avx2_store(low0, high0, low1, high1, low2, high2, low3, high3, rows, false,
                          out + (size_t)i0 * (size_t)ld + j0, ld);
        }
    }
}
#undef U8_AVX2_GROUPS
#define MAC_S16_AVX2(s, c, w) _mm256_add_epi32(s, _mm256_madd_epi16(c, w))

DEFINE_INT_PRODUCT(product_s16_avx2, __attribute__((target("avx2"))), __m256i, 32, 8, _mm256_setzero_si256(),
                   LOAD256, STORE256, _mm256_set1_epi32, MAC_S16_AVX2)
DEFINE_INT_PRODUCT(product_u8_avx_vnni, __attribute__((target("avx2,avxvnni"))), __m256i, 32, 12,
                   _mm256_setzero_si256(), LOAD256, STORE256, _mm256_set1_epi32, _mm256_dpbusd_avx_epi32)
DEFINE_INT_PRODUCT(product_s16_avx_vnni, __attribute__((target("avx2,avxvnni"))), __m256i, 32, 12,
                   _mm256_setzero_si256(), LOAD256, STORE256, _mm256_set1_epi32, _mm256_dpwssd_avx_epi32)
DEFINE_INT_PRODUCT(product_u8_avx512_vnni, __attribute__((target("avx512f,avx512vnni"))), __m512i, 64, 16,
                   _mm512_setzero_si512(), LOAD512, STORE512, _mm512_set1_epi32, _mm512_dpbusd_epi32)
DEFINE_INT_PRODUCT(product_s16_avx512_vnni, __attribute__((target("avx512f,avx512vnni"))), __m512i, 64, 16,
                   _mm512_setzero_si512(), LOAD512, STORE512, _mm512_set1_epi32, _mm512_dpwssd_epi32)
#undef MAC_S16_AVX2
#undef LOAD256
#undef STORE256
#undef LOAD512
#undef STORE512
#undef DEFINE_INT_PRODUCT

static bool cpu_has_avx_vnni(void)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __builtin_cpu_supports("avx2") && __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a >> 4 & 1);
}
#endif

bool int_kernel_supported(IntKernel kernel)
{
    switch (kernel) {
    case INT_KERNEL_SCALAR:
        return true;
#ifdef INT_PRODUCT_X86
    case INT_KERNEL_AVX2:
        return __builtin_cpu_supports("avx2");
    case INT_KERNEL_AVX_VNNI:
        return cpu_has_avx_vnni();
    case INT_KERNEL_AVX512_VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
#endif
    default:
        return false;
    }
}

static const char *const kernel_names[INT_KERNEL_COUNT] = {"scalar", "avx2", "avx-vnni", "avx512-vnni"};

const char *int_kernel_name(IntKernel kernel)
{
    return kernel >= 0 && kernel < INT_KERNEL_COUNT ? kernel_names[kernel] : "?";
}

static IntKernel forced = INT_KERNEL_COUNT;

void int_kernel_force(IntKernel kernel)
{
    forced = kernel;
}

IntKernel int_kernel(void)
{
    if (forced != INT_KERNEL_COUNT)
        return forced;
    static int chosen = -1;     /* the same answer every call: a benign race */
    if (chosen < 0) {
        const char *name = getenv("XBARC_INT_KERNEL");
        int best = INT_KERNEL_SCALAR;
        for (int v = INT_KERNEL_COUNT - 1; v > INT_KERNEL_SCALAR && best == INT_KERNEL_SCALAR; v--)
            if (int_kernel_supported((IntKernel)v))
                best = v;
        for (int v = 0; name && *name && v < INT_KERNEL_COUNT; v++)
            if (strcmp(name, kernel_names[v]) == 0 && int_kernel_supported((IntKernel)v))
                best = v;
        chosen = best;
    }
    return (IntKernel)chosen;
}

bool int_products_enabled(void)
{
    const char *name = getenv("XBARC_INT_KERNEL");
    return !(name && strcmp(name, "float") == 0);
}

void int_product(IntKernel kernel, const IntWeights *iw, int n, int r0, int k, const void *codes, int64_t ldc,
                 int width, bool accumulate, int32_t *out)
{
    bool u8 = iw->kind == INT_CODES_U8;
    switch (kernel) {
#ifdef INT_PRODUCT_X86
    case INT_KERNEL_AVX2:
        (u8 ? product_u8_avx2 : product_s16_avx2)(iw, n, r0, k, codes, ldc, width, accumulate, out);
        return;
    case INT_KERNEL_AVX_VNNI:
        (u8 ? product_u8_avx_vnni : product_s16_avx_vnni)(iw, n, r0, k, codes, ldc, width, accumulate, out);
        return;
    case INT_KERNEL_AVX512_VNNI:
        (u8 ? product_u8_avx512_vnni : product_s16_avx512_vnni)(iw, n, r0, k, codes, ldc, width, accumulate, out);
        return;
#endif
    default:
        product_scalar(iw, n, r0, k, codes, ldc, width, accumulate, out);
        return;
    }
}

bool int_wide_chains(IntKernel kernel, IntCodeKind kind)
{
    return kernel == INT_KERNEL_AVX2 && kind == INT_CODES_U8;
}

void int_chain_product_wide(const IntWeights *const *weights, const int *src_cols, int count, int n,
                            const uint16_t *codes, int64_t ldc, int32_t *out)
{
#ifdef INT_PRODUCT_X86
    assert(int_wide_chains(int_kernel(), weights[0]->kind));
    chain_u8_wide_avx2(weights, src_cols, count, n, codes, ldc, out);
#else
    (void)weights, (void)src_cols, (void)count, (void)n, (void)codes, (void)ldc, (void)out;
    abort();    /* int_wide_chains is false */
#endif
}
