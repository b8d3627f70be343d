/* sim_read.c: the common noisy read of the per-read path in one pass
 * (runtime/sim_mvm.c's execute_reads; docs/benchmarks.md "Per-read path").
 *
 * The general path stores every kept read's table sums (sim_table.c), then
 * every read's normals (sim_noise.c), then converts and shifts-and-adds
 * them (convert_kept).  For the common noisy read (1-bit DACs through a
 * subset table, read noise, no ADC errors, a power-of-two step: the rram
 * chip with uniform ADCs) this file does the four at once, 16 columns at a
 * time in AVX-512 registers: the sums and variances of the picked table
 * rows, the read's hashes and their normals (a gather from the table of
 * quantiles), sum + sqrt(var) z, the ADC and the shift-and-add into the
 * double accumulator.  Nothing per read is stored but the accumulator.
 * Every operation is the general path's, lane for lane and in the same
 * order (adds from 0 in group order, no FMA), so the bits are the same;
 * XBARC_SIM_VECTOR=scalar or avx2 takes the general path, which
 * tests/lit/noise/vector-variants.test compares against this one. */
#include "runtime/sim_mvm.h"

#include <stdlib.h>
#include <string.h>

#include <math.h>

/* A block's ADC in float (convert_row_float's constants). */
typedef struct {
    float step, inverse, lo, hi, below, above;
    bool float_acc;             /* the shift-and-add in float: every partial sum below 2^24 steps (exact) */
} MvmFused;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* noise_mix on 8 lanes (AVX-512DQ's 64-bit multiplies). */
__attribute__((target("avx512f,avx512dq,avx512bw"))) static inline __m512i mix8(__m512i x)
{
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 30));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0xbf58476d1ce4e5b9u));
    x = _mm512_xor_si512(x, _mm512_srli_epi64(x, 27));
    x = _mm512_mullo_epi64(x, _mm512_set1_epi64((long long)0x94d049bb133111ebu));
    return _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
}

/* Columns j0 .. j0 + 15 (lanes `valid`) of one read, from its sums and
 * variances (of the picked table rows) and its normals' 16-bit indices idx:
 * the read noise, the conversion and the shift-and-add; returns the
 * clipped conversions. */
__attribute__((target("avx512f,avx512dq,avx512bw"))) static inline int
convert_span(__m512 sum, __m512 var, int j0, __mmask16 valid, __m512i idx, const float *normal, const MvmFused *f,
             __m512d weight, void *acc)
{
    __m512 z = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, idx, normal, 4);
    __m512 q = _mm512_mul_ps(_mm512_add_ps(sum, _mm512_mul_ps(_mm512_sqrt_ps(var), z)), _mm512_set1_ps(f->inverse));
    q = _mm512_min_ps(q, _mm512_set1_ps(f->above));    /* q < above ? q : above: a NaN lands on above */
    q = _mm512_max_ps(q, _mm512_set1_ps(f->below));
    __m512 code = _mm512_sub_ps(_mm512_add_ps(q, _mm512_set1_ps(0x1.8p23f)), _mm512_set1_ps(0x1.8p23f));
    __m512 hi = _mm512_set1_ps(f->hi), lo = _mm512_set1_ps(f->lo);
    __mmask16 clipped = _mm512_mask_cmp_ps_mask(valid, code, hi, _CMP_GT_OQ) |
                        _mm512_mask_cmp_ps_mask(valid, code, lo, _CMP_LT_OQ);
    code = _mm512_max_ps(_mm512_min_ps(code, hi), lo);
    __m512 value = _mm512_mul_ps(code, _mm512_set1_ps(f->step));
    if (f->float_acc) {     /* every partial sum a whole number of steps below 2^24 of them: exact */
        float *a = (float *)acc + j0;
        _mm512_mask_storeu_ps(a, valid,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(valid, a),
                                            _mm512_mul_ps(_mm512_set1_ps((float)_mm512_cvtsd_f64(weight)), value)));
        return __builtin_popcount(clipped);
    }
    __m512d low = _mm512_cvtps_pd(_mm512_castps512_ps256(value));
    __m512d high = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(value), 1)));
    __mmask8 valid_low = (__mmask8)valid, valid_high = (__mmask8)(valid >> 8);
    double *a = (double *)acc + j0;
    _mm512_mask_storeu_pd(a, valid_low,
                          _mm512_add_pd(_mm512_maskz_loadu_pd(valid_low, a), _mm512_mul_pd(weight, low)));
    _mm512_mask_storeu_pd(a + 8, valid_high,
                          _mm512_add_pd(_mm512_maskz_loadu_pd(valid_high, a + 8), _mm512_mul_pd(weight, high)));
    return __builtin_popcount(clipped);
}

/* The table rows a read picks, recomputed from the block's cells as
 * mvm_build_table adds them: each group's driven rows from 0, highest row
 * first, then the group's sum added to the read's; columns j0 .. j0 + 15
 * (lanes `valid`) into sum0/var0 and, when `valid` is whole, the next 16
 * into sum1/var1. */
__attribute__((target("avx512f,avx512dq,avx512bw"))) static inline void
group_sums(const Block *b, const uint8_t *subset, int groups, int group, int j0, __mmask16 valid, __m512 *sum0,
           __m512 *var0, __m512 *sum1, __m512 *var1)
{
    int cols = b->cols;
    bool both = valid == 0xffff && sum1 != var1;
    __mmask16 valid1 = 0;
    if (both) {
        int rest = cols - j0 - 16;
        valid1 = rest >= 16 ? 0xffff : rest > 0 ? (__mmask16)((1u << rest) - 1) : 0;
    }
    for (int g = 0; g < groups; g++) {
        unsigned bits = subset[g];
        if (!bits)
            continue;
        __m512 s0 = _mm512_setzero_ps(), v0 = s0, s1 = s0, v1 = s0;
        while (bits) {
            int bit = 31 - __builtin_clz(bits);
            bits &= ~(1u << bit);
            const float *row = b->cells + (size_t)(g * group + bit) * b->ld + j0;
            s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(valid, row));
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(valid, row + cols));
            if (both) {
                s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(valid1, row + 16));
                v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(valid1, row + cols + 16));
            }
        }
        *sum0 = _mm512_add_ps(*sum0, s0);
        *var0 = _mm512_add_ps(*var0, v0);
        if (both) {
            *sum1 = _mm512_add_ps(*sum1, s1);
            *var1 = _mm512_add_ps(*var1, v1);
        }
    }
}

__attribute__((target("avx512f,avx512dq,avx512bw"))) static uint64_t
fused_reads_avx512(const Block *b, const MvmFused *f, int m, const int *read_of, int n, int groups, int group,
                   const uint8_t *subsets, const float *table, int ld, const double *weight, MvmScratch *s)
{
    int cols = b->cols, quads = (cols + 3) / 4;
    size_t subsets_per_group = (size_t)1 << group;
    const float *normal = b->noise->normal;
    const float **picked = s->picked;
    uint64_t clipped = 0;
    if (f->float_acc)
        memset(s->part, 0, (size_t)n * cols * sizeof *s->part);
    for (int k = 0; k < m; k++) {
        int t = read_of[k];
        const uint8_t *subset = subsets + (size_t)t * groups;
        int count = 0;
        if (table)
            for (int g = 0; g < groups; g++) {
                picked[count] = table + ((size_t)g * subsets_per_group + subset[g]) * ld;
                count += subset[g] != 0;
            }
        /* mvm_read_normals' key: noise_hash(row key, read number) */
        __m512i key = _mm512_set1_epi64((long long)noise_hash(s->row_key[t % n], (uint64_t)(t / n)));
        __m512d w = _mm512_set1_pd(weight[t / n]);
        void *acc = f->float_acc ? (void *)((float *)s->part + (size_t)(t % n) * cols)
                                 : (void *)(s->acc + (size_t)(t % n) * cols);
        for (int q0 = 0; q0 < quads; q0 += 8) {     /* 8 hashes: 32 columns */
            int left = quads - q0;
            __mmask8 hashes = left >= 8 ? 0xff : (__mmask8)((1u << left) - 1);
            __m512i h = mix8(_mm512_xor_si512(key, _mm512_maskz_loadu_epi64(hashes, s->column_key + q0)));
            /* hash q's 16-bit quarter i indexes column 4 q + i's normal by its top 14 bits */
            __m512i index = _mm512_srli_epi16(h, 16 - NOISE_TABLE_BITS);
            __m512i idx0 = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(index));
            __m512i idx1 = _mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(index, 1));
            int j0 = 4 * q0, rest = cols - j0;
            if (rest >= 32) {   /* both halves whole: their 4 sums at once, the rows' lines side by side */
                __m512 sum0 = _mm512_setzero_ps(), var0 = sum0, sum1 = sum0, var1 = sum0;
                if (!table)
                    group_sums(b, subset, groups, group, j0, 0xffff, &sum0, &var0, &sum1, &var1);
                for (int g = 0; g < count; g++) {
                    const float *row = picked[g] + j0;
                    sum0 = _mm512_add_ps(sum0, _mm512_loadu_ps(row));
                    sum1 = _mm512_add_ps(sum1, _mm512_loadu_ps(row + 16));
                    var0 = _mm512_add_ps(var0, _mm512_loadu_ps(row + cols));
                    var1 = _mm512_add_ps(var1, _mm512_loadu_ps(row + cols + 16));
                }
                clipped += (uint64_t)convert_span(sum0, var0, j0, 0xffff, idx0, normal, f, w, acc);
                clipped += (uint64_t)convert_span(sum1, var1, j0 + 16, 0xffff, idx1, normal, f, w, acc);
                continue;
            }
            for (int half = 0; half < 2 && rest > 16 * half; half++) {
                int r = rest - 16 * half;
                __mmask16 valid = r >= 16 ? 0xffff : (__mmask16)((1u << r) - 1);
                __m512 sum = _mm512_setzero_ps(), var = sum, unused = sum;
                if (!table)
                    group_sums(b, subset, groups, group, j0 + 16 * half, valid, &sum, &var, &unused, &unused);
                for (int g = 0; g < count; g++) {
                    sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(valid, picked[g] + j0 + 16 * half));
                    var = _mm512_add_ps(var, _mm512_maskz_loadu_ps(valid, picked[g] + cols + j0 + 16 * half));
                }
                clipped += (uint64_t)convert_span(sum, var, j0 + 16 * half, valid, half ? idx1 : idx0, normal, f, w,
                                                  acc);
            }
        }
    }
    if (f->float_acc)
        for (size_t x = 0; x < (size_t)n * cols; x++)
            s->acc[x] = (double)s->part[x];
    return clipped;
}
#endif

bool mvm_converts_in_float(const Block *b)
{
    int exponent;
    return frexp(b->adc.step, &exponent) == 0.5 && b->adc.code_max < 0x1p21 && b->adc.step >= 0x1p-60 &&
           b->adc.step <= 0x1p60;
}

bool mvm_reads_in_one_pass(const Block *b, bool recording)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    return b->read_var && !b->adc_gain && b->adc.inl == 0 && b->out_var == 0 && !recording &&
           mvm_converts_in_float(b) && mvm_vector() == MVM_VECTOR_AVX512;
#else
    (void)b, (void)recording;
    return false;
#endif
}

uint64_t mvm_fused_reads(const Block *b, int m, const int *read_of, int n, int reads_per_row, int group,
                         const float *table, const double *weight, MvmScratch *s)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    MvmFused f = {.step = (float)b->adc.step, .lo = (float)b->adc.code_min, .hi = (float)b->adc.code_max};
    f.inverse = 1 / f.step;
    f.below = f.lo - 1;
    f.above = f.hi + 1;
    double steps = 0;           /* the largest |shift-and-add| in steps */
    for (int r = 0; r < reads_per_row && r < 64; r++)
        steps += fabs(weight[r]) * fmax(fabs(b->adc.code_min), b->adc.code_max);
    f.float_acc = steps < 0x1p24;
    return fused_reads_avx512(b, &f, m, read_of, n, mvm_table_groups(b->rows, group), group, s->subset, table,
                              mvm_table_ld(b), weight, s);
#else
    (void)b, (void)m, (void)read_of, (void)n, (void)reads_per_row, (void)group, (void)table, (void)weight, (void)s;
    abort();
#endif
}
