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
#include "runtime/quant.h"

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

#ifdef INT_PRODUCT_X86
/* convert_codes with AVX-512, 16 codes a step and the tail masked: rows of
 * a few dozen codes (a padded convolution's lines) are too short for the
 * compiler's vectors of 64.  The same clamp, test and codes, lane by lane. */
__attribute__((target("avx512f,avx512bw"))) static bool
convert_codes_avx512(const IntWeights *iw, const float *x, int64_t ldx, int n, int rows, float bottom, float top,
                     void *out, int64_t ldo)
{
    __m512 low = _mm512_set1_ps(bottom), high = _mm512_set1_ps(top);
    __m512i offset = _mm512_set1_epi32(iw->code_offset);
    bool u8 = iw->kind == INT_CODES_U8;
    __mmask16 fraction = 0;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * ldx;
        for (int r = 0; r < rows; r += 16) {
            __mmask16 lanes = rows - r >= 16 ? 0xffff : (__mmask16)((1u << (rows - r)) - 1);
            __m512 v = _mm512_maskz_loadu_ps(lanes, xi + r);
            /* v > bottom ? (v < top ? v : top) : bottom: NaN goes to the bottom */
            __m512 inner = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, high, _CMP_LT_OQ), high, v);
            v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, low, _CMP_GT_OQ), low, inner);
            __m512i c = _mm512_cvttps_epi32(v);
            fraction |= _mm512_mask_cmp_ps_mask(lanes, _mm512_cvtepi32_ps(c), v, _CMP_NEQ_UQ);
            if (u8)
                _mm512_mask_cvtepi32_storeu_epi8((uint8_t *)out + (size_t)i * (size_t)ldo + r, lanes,
                                                 _mm512_add_epi32(c, offset));
            else
                _mm512_mask_cvtepi32_storeu_epi16((int16_t *)out + (size_t)i * (size_t)ldo + r, lanes, c);
        }
    }
    return fraction == 0;
}
#endif

/* The codes of n rows (convert_codes_any), u8 or s16 as iw->kind (u8);
 * inlined with u8 a constant, so each loop is plain. */
static inline __attribute__((always_inline)) bool convert_rows(const IntWeights *iw, const float *x, int64_t ldx,
                                                              int n, int rows, float bottom, float top, void *out,
                                                              int64_t ldo, bool u8)
{
    int whole = 1, offset = iw->code_offset;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * ldx;
        for (int r = 0; r < rows; r++) {
            float v = xi[r];        /* the DACs' range; NaN goes to the bottom */
            v = v > bottom ? (v < top ? v : top) : bottom;
            int c = (int)v;
            whole &= (float)c == v;
            if (u8)
                ((uint8_t *)out)[(size_t)i * (size_t)ldo + (size_t)r] = (uint8_t)(c + offset);
            else
                ((int16_t *)out)[(size_t)i * (size_t)ldo + (size_t)r] = (int16_t)c;
        }
    }
    return whole;
}

enum { QUANT_RUN = 256 };       /* activations quantized at a time (convert_codes_any) */

/* int_codes_convert's loops, vectorized for each CPU (a static function:
 * Clang 14 emits the resolver of an extern one only where it is called).
 * With quant, each row's activations are quantized a run at a time into
 * floats on the stack, then converted: GCC left the two steps in one loop
 * scalar (a vdivss a code). */
#ifdef INT_PRODUCT_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static bool convert_codes_any(const IntWeights *iw, const float *x, int64_t ldx, int n, int rows, float bottom,
                              float top, void *out, int64_t ldo, const CodeQuant *quant)
{
    bool u8 = iw->kind == INT_CODES_U8;
    size_t bytes = u8 ? 1 : 2;
    if (!quant)
        return u8 ? convert_rows(iw, x, ldx, n, rows, bottom, top, out, ldo, true)
                  : convert_rows(iw, x, ldx, n, rows, bottom, top, out, ldo, false);
    float codes[QUANT_RUN], scale = quant->scale, code_bottom = quant->bottom, code_top = quant->top;
    bool whole = true;
    for (int i = 0; i < n; i++)
        for (int r0 = 0; r0 < rows; r0 += QUANT_RUN) {
            int count = rows - r0 < QUANT_RUN ? rows - r0 : QUANT_RUN;
            const float *xi = x + (int64_t)i * ldx + r0;
            for (int r = 0; r < count; r++)
                codes[r] = quant_code_float(xi[r], scale, code_bottom, code_top);
            char *o = (char *)out + ((size_t)i * (size_t)ldo + (size_t)r0) * bytes;
            whole &= u8 ? convert_rows(iw, codes, QUANT_RUN, 1, count, bottom, top, o, ldo, true)
                        : convert_rows(iw, codes, QUANT_RUN, 1, count, bottom, top, o, ldo, false);
        }
    return whole;
}

#ifdef INT_PRODUCT_X86
/* convert_codes_any's quantizing loop for u8 codes in AVX2, 8 activations a
 * step and the tail masked: GCC's vectors of 32 left most of a line of 56
 * (ResNet-18's layer1) to its scalar tail.  Lane by lane the operations of
 * quant_code_float and of convert_rows' clamp; `vmaxps` and `vminps` pick
 * the other operand where the two are equal, the same value (a zero's sign
 * is lost to the rounding by 1.5 * 2^23 anyway), and NaN goes to the
 * bottom as there: the same codes. */
__attribute__((target("avx2"))) static bool quant_codes_u8_avx2(const float *x, int64_t ldx, int n, int rows,
                                                                float bottom, float top, int offset,
                                                                const CodeQuant *quant, uint8_t *out, int64_t ldo)
{
    __m256 scale = _mm256_set1_ps(quant->scale), code_bottom = _mm256_set1_ps(quant->bottom);
    __m256 code_top = _mm256_set1_ps(quant->top), round = _mm256_set1_ps(0x1.8p23f);
    __m256 low = _mm256_set1_ps(bottom), high = _mm256_set1_ps(top);
    __m256i shift = _mm256_set1_epi32(offset);
    int fraction = 0;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * ldx;
        uint8_t *oi = out + (size_t)i * (size_t)ldo;
        for (int r = 0; r < rows; r += 8) {
            int left = rows - r < 8 ? rows - r : 8;
            __m256i lanes = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
            __m256 q = _mm256_div_ps(_mm256_maskload_ps(xi + r, lanes), scale);
            __m256 c = _mm256_min_ps(_mm256_max_ps(q, code_bottom), code_top);
            c = _mm256_sub_ps(_mm256_add_ps(c, round), round);
            c = _mm256_andnot_ps(_mm256_cmp_ps(q, q, _CMP_UNORD_Q), c);
            __m256 v = _mm256_min_ps(_mm256_max_ps(c, low), high);
            __m256i codes = _mm256_cvttps_epi32(v);
            fraction |= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_cvtepi32_ps(codes), v, _CMP_NEQ_UQ));
            codes = _mm256_add_epi32(codes, shift);
            __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(codes), _mm256_extracti128_si256(codes, 1));
            __m128i bytes = _mm_packus_epi16(words, words);
            if (left == 8) {
                _mm_storel_epi64((__m128i *)(void *)(oi + r), bytes);
            } else {
                uint8_t eight[8];
                _mm_storel_epi64((__m128i *)(void *)eight, bytes);
                memcpy(oi + r, eight, (size_t)left);
            }
        }
    }
    return fraction == 0;
}
#endif

/* n rows of codes from x (ldx floats apart) into out (ldo codes apart). */
static bool convert_codes(const IntWeights *iw, const float *x, int64_t ldx, int n, int rows, float bottom, float top,
                          void *out, int64_t ldo, const CodeQuant *quant)
{
#ifdef INT_PRODUCT_X86
    if (int_kernel() == INT_KERNEL_AVX512_VNNI && !quant)
        return convert_codes_avx512(iw, x, ldx, n, rows, bottom, top, out, ldo);
    if (quant && iw->kind == INT_CODES_U8 && __builtin_cpu_supports("avx2"))
        return quant_codes_u8_avx2(x, ldx, n, rows, bottom, top, iw->code_offset, quant, out, ldo);
#endif
    return convert_codes_any(iw, x, ldx, n, rows, bottom, top, out, ldo, quant);
}

const void *int_codes_cached(IntCodesCache *cache, int id, const float *x, int64_t numel, const IntWeights *iw,
                             float bottom, float top)
{
    if (cache->id != id || cache->kind != iw->kind || cache->offset != iw->code_offset || cache->bottom != bottom ||
        cache->top != top) {
        assert((size_t)(numel + INT_CODES_PAD) * int_code_bytes(iw->kind) <= cache->max_bytes);
        cache->whole = int_codes_convert(iw, x, numel, 1, (int)numel, bottom, top, cache->data);
        cache->id = id;
        cache->kind = iw->kind;
        cache->offset = iw->code_offset;
        cache->bottom = bottom;
        cache->top = top;
    }
    return cache->whole ? cache->data : NULL;
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

bool int_codes_convert(const IntWeights *iw, const float *x, int64_t ldx, int n, int rows, float bottom, float top,
                       void *out)
{
    bool whole = convert_codes(iw, x, ldx, n, rows, bottom, top, out, rows, NULL);
    memset((char *)out + (size_t)n * (size_t)rows * int_code_bytes(iw->kind), 0,
           INT_CODES_PAD * int_code_bytes(iw->kind));
    return whole;
}

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

#ifdef INT_PRODUCT_X86
__attribute__((target("avx2"))) static void widen_avx2(const uint8_t *codes, int64_t count, uint16_t *wide)
{
    int64_t i = 0;
    for (; i + 16 <= count; i += 16)
        _mm256_storeu_si256((__m256i *)(void *)(wide + i),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(codes + i))));
    for (; i < count; i++)
        wide[i] = codes[i];
}
#endif

void int_codes_widen(const uint8_t *codes, int64_t count, uint16_t *wide)
{
#ifdef INT_PRODUCT_X86
    if (__builtin_cpu_supports("avx2")) {
        widen_avx2(codes, count, wide);
        return;
    }
#endif
    for (int64_t i = 0; i < count; i++)
        wide[i] = codes[i];
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

/* ---- a convolution's patches from its source's codes ---- */

/* Six pixels of a line of a 3 x 3 window, stride 1 along the line, every
 * window inside: each channel's 3 rows of 8 codes loaded once, each
 * pixel's 9 codes shuffled out of them (`pshufb`) and stored by one
 * 16-byte store, its extra bytes overwritten by the next channel's (the
 * last channel stores 9).  The copies of 8 bytes a tap row did 3 loads and
 * 3 stores a pixel and channel: ResNet-18's 3 x 3 layers spent most of
 * their gather there.  x: the first pixel's window, line codes a row. */
#ifdef INT_PRODUCT_X86
static bool gather_six_runs(void)
{
    return __builtin_cpu_supports("ssse3");
}

__attribute__((target("ssse3"))) static void gather_six(const uint8_t *x, int64_t plane, int64_t line,
                                                       int64_t channels, uint8_t *out, int64_t width)
{
    static const int8_t rows01[6][16] = {
        {0, 1, 2, 8, 9, 10, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {1, 2, 3, 9, 10, 11, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {2, 3, 4, 10, 11, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {3, 4, 5, 11, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {4, 5, 6, 12, 13, 14, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
        {5, 6, 7, 13, 14, 15, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    };
    static const int8_t row2[6][16] = {
        {-1, -1, -1, -1, -1, -1, 0, 1, 2, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, 1, 2, 3, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, 2, 3, 4, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, 3, 4, 5, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, 4, 5, 6, -1, -1, -1, -1, -1, -1, -1},
        {-1, -1, -1, -1, -1, -1, 5, 6, 7, -1, -1, -1, -1, -1, -1, -1},
    };
    __m128i mask01[6], mask2[6];
    for (int j = 0; j < 6; j++) {
        mask01[j] = _mm_loadu_si128((const __m128i *)(const void *)rows01[j]);
        mask2[j] = _mm_loadu_si128((const __m128i *)(const void *)row2[j]);
    }
    for (int64_t c = 0; c < channels; c++, x += plane, out += 9) {
        __m128i r01 = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(const void *)x),
                                         _mm_loadl_epi64((const __m128i *)(const void *)(x + line)));
        __m128i r2 = _mm_loadl_epi64((const __m128i *)(const void *)(x + 2 * line));
        for (int j = 0; j < 6; j++) {
            __m128i codes = _mm_or_si128(_mm_shuffle_epi8(r01, mask01[j]), _mm_shuffle_epi8(r2, mask2[j]));
            uint8_t *o = out + j * width;
            if (c + 1 < channels) {
                _mm_storeu_si128((__m128i *)(void *)o, codes);
            } else {
                _mm_storel_epi64((__m128i *)(void *)o, codes);
                o[8] = (uint8_t)_mm_extract_epi16(codes, 4);
            }
        }
    }
}
#else
static bool gather_six_runs(void)
{
    return false;
}

static void gather_six(const uint8_t *x, int64_t plane, int64_t line, int64_t channels, uint8_t *out, int64_t width)
{
    (void)x, (void)plane, (void)line, (void)channels, (void)out, (void)width;
}
#endif

void int_patches_gather(const Im2colParams *q, IntCodeKind kind, const void *x, int pad, int64_t p0, int64_t n,
                        void *out)
{
    /* the axes as kernel_im2col takes them: 1-D and 2-D padded to 3-D in front */
    int64_t in[3] = {1, 1, 1}, ker[3] = {1, 1, 1}, outs[3] = {1, 1, 1}, stride[3] = {1, 1, 1}, dil[3] = {1, 1, 1},
            pad_begin[3] = {0, 0, 0};
    for (int j = 0, lead = 3 - q->spatial; j < q->spatial; j++) {
        in[lead + j] = q->in[j];
        ker[lead + j] = q->kernel[j];
        outs[lead + j] = q->out[j];
        stride[lead + j] = q->strides[j];
        dil[lead + j] = q->dilations[j];
        pad_begin[lead + j] = q->pads[j];
    }
    int64_t plane = in[0] * in[1] * in[2], pixels = outs[0] * outs[1] * outs[2];
    int64_t taps = ker[0] * ker[1] * ker[2], width = q->channels * taps;
    int64_t offset[INT_PATCH_TAPS];
    assert(taps <= INT_PATCH_TAPS);
    /* A window's taps along the last axis are a run of contiguous codes
     * (dilation 1): u8 runs of up to 8 are copied 8 bytes at a time, in
     * order, each copy's extra bytes overwritten by the next run's (or the
     * next channel's); the last channel copies byte by byte.  A copy then
     * reaches at most 8 - 2 ker[2] <= 4 bytes past its row or its source
     * image: the next row (written after) or the INT_CODES_PAD codes. */
    bool wide_runs = dil[2] == 1 && ker[2] >= 2 && ker[2] <= 8;
    bool six = kind == INT_CODES_U8 && gather_six_runs() && ker[0] == 1 && ker[1] == 3 && ker[2] == 3 &&
               stride[2] == 1 && dil[1] == 1 && dil[2] == 1 && pad_begin[0] == 0 && pad_begin[1] == 0 &&
               pad_begin[2] == 0 && (outs[0] - 1) * stride[0] < in[0] && (outs[1] - 1) * stride[1] + 3 <= in[1] &&
               outs[2] + 2 <= in[2];
    for (int64_t r = 0; r < n; r++) {
        int64_t p = p0 + r, image = p / pixels, o = p % pixels;
        int64_t od = o / (outs[1] * outs[2]), oh = o / outs[2] % outs[1], ow = o % outs[2];
        if (six && ow + 6 <= outs[2] && r + 6 <= n) {   /* 6 pixels of a line, windows inside */
            gather_six((const uint8_t *)x + image * q->channels * plane +
                           (od * stride[0] * in[1] + oh * stride[1]) * in[2] + ow,
                       plane, in[2], q->channels, (uint8_t *)out + r * width, width);
            r += 5;
            continue;
        }
        bool inside = true;     /* the window's input offsets, -1 outside */
        for (int64_t kd = 0, t = 0; kd < ker[0]; kd++)
            for (int64_t kh = 0; kh < ker[1]; kh++)
                for (int64_t kw = 0; kw < ker[2]; kw++, t++) {
                    int64_t id = od * stride[0] - pad_begin[0] + kd * dil[0];
                    int64_t ih = oh * stride[1] - pad_begin[1] + kh * dil[1];
                    int64_t iw = ow * stride[2] - pad_begin[2] + kw * dil[2];
                    bool in_window = id >= 0 && id < in[0] && ih >= 0 && ih < in[1] && iw >= 0 && iw < in[2];
                    offset[t] = in_window ? (id * in[1] + ih) * in[2] + iw : -1;
                    inside &= in_window;
                }
        int64_t base = image * q->channels * plane;
        if (kind == INT_CODES_U8) {
            const uint8_t *xn = (const uint8_t *)x + base;
            uint8_t *o8 = (uint8_t *)out + r * width;
            int64_t ch = 0;
            if (inside && wide_runs)    /* all channels but the last: see wide_runs */
                for (; ch + 1 < q->channels; ch++, o8 += taps, xn += plane)
                    for (int64_t t = 0; t < taps; t += ker[2]) {
                        uint64_t run;
                        memcpy(&run, xn + offset[t], sizeof run);
                        memcpy(o8 + t, &run, sizeof run);
                    }
            for (; ch < q->channels; ch++, o8 += taps, xn += plane)
                if (inside)
                    for (int64_t t = 0; t < taps; t++)
                        o8[t] = xn[offset[t]];
                else
                    for (int64_t t = 0; t < taps; t++)
                        o8[t] = offset[t] >= 0 ? xn[offset[t]] : (uint8_t)pad;
        } else {
            const int16_t *xn = (const int16_t *)x + base;
            int16_t *o16 = (int16_t *)out + r * width;
            for (int64_t ch = 0; ch < q->channels; ch++, o16 += taps, xn += plane)
                if (inside)
                    for (int64_t t = 0; t < taps; t++)
                        o16[t] = xn[offset[t]];
                else
                    for (int64_t t = 0; t < taps; t++)
                        o16[t] = offset[t] >= 0 ? xn[offset[t]] : (int16_t)pad;
        }
    }
    memset((char *)out + (size_t)(n * width) * int_code_bytes(kind), 0, INT_CODES_PAD * int_code_bytes(kind));
}

int64_t int_codes_padded_numel(const Im2colParams *q)
{
    int64_t numel = q->batch * q->channels;
    for (int j = 0; j < q->spatial; j++)
        numel *= q->in[j] + q->pads[j] + q->pads[q->spatial + j];
    return numel;
}

void int_codes_padded_geometry(const Im2colParams *q, Im2colParams *padded)
{
    *padded = *q;
    for (int j = 0; j < q->spatial; j++) {
        padded->in[j] = q->in[j] + q->pads[j] + q->pads[q->spatial + j];
        padded->pads[j] = padded->pads[q->spatial + j] = 0;
    }
}

bool int_codes_convert_padded(const Im2colParams *q, const IntWeights *iw, const float *x, const CodeQuant *quant,
                              float bottom, float top, int pad, void *out, int part, int parts)
{
    /* the axes padded to 3-D in front, as in int_patches_gather */
    int64_t in[3] = {1, 1, 1}, grown[3] = {1, 1, 1}, begin[3] = {0, 0, 0};
    for (int j = 0, lead = 3 - q->spatial; j < q->spatial; j++) {
        in[lead + j] = q->in[j];
        begin[lead + j] = q->pads[j];
        grown[lead + j] = q->in[j] + q->pads[j] + q->pads[q->spatial + j];
    }
    int64_t planes = q->batch * q->channels, bytes = (int64_t)int_code_bytes(iw->kind);
    int64_t plane = in[0] * in[1] * in[2], grown_plane = grown[0] * grown[1] * grown[2];
    int64_t lines = grown[0] * grown[1], first = lines * part / parts, last = lines * (part + 1) / parts;
    char *o = out;
    bool whole = true;
    for (int64_t c = 0; c < planes; c++) {
        /* the share's lines all pad, then the input's lines over them, one
         * run of lines of one depth at a time */
        int64_t at = c * grown_plane + first * grown[2], count = (last - first) * grown[2];
        if (iw->kind == INT_CODES_U8)
            memset(o + at, pad, (size_t)count);
        else
            for (int64_t e = 0; e < count; e++)
                ((int16_t *)out)[at + e] = (int16_t)pad;
        for (int64_t line = first, run; line < last; line += run) {
            int64_t d = line / grown[1] - begin[0], h = line % grown[1] - begin[1];
            run = grown[1] - line % grown[1];           /* to the end of this depth's lines */
            run = last - line < run ? last - line : run;
            if (d < 0 || d >= in[0] || h >= in[1])
                continue;
            int64_t skip = h < 0 ? -h : 0, n = (in[1] - h < run ? in[1] - h : run) - skip;
            if (n > 0)
                whole &= convert_codes(iw, x + c * plane + (d * in[1] + h + skip) * in[2], in[2], (int)n, (int)in[2],
                                       bottom, top, o + (c * grown_plane + (line + skip) * grown[2] + begin[2]) * bytes,
                                       grown[2], quant);
        }
    }
    if (part == parts - 1)
        memset(o + planes * grown_plane * bytes, 0, (size_t)(INT_CODES_PAD * bytes));
    return whole;
}
