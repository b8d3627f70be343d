/* sim_table.c: reads through 1-bit DACs as sums of table rows (the `mvm`
 * instruction's per-read path, runtime/sim_mvm.c).
 *
 * With 1-bit DACs a read adds a subset of the block's rows.  Rows go in
 * groups of `group` (4 or 8); a group's table holds the sums of all 2^group
 * subsets of its rows (cells and read variances alike, the whole width ld),
 * so a read is one table row per group instead of one matrix row per driven
 * row.  Its entries are sums of at most 8 cells, exact on an ideal chip,
 * and a read adds at most R cells, exact while R * max|cell| < 2^24
 * (rows_per_sum = R).  8-row tables are 16 times bigger and halve the
 * work of a read: an mvm that makes many reads a run (WIDE_TABLE_ROWS
 * source rows or more) uses them, others 4-row ones (mvm_table_group).  The
 * simulator keeps the tables when they fit (sim_memory.c), else it builds one at
 * each run of the mvm.
 *
 * Gathering: each read's subsets come from its source row's codes by an
 * 8 x 8 bit transpose (mvm_gather_subsets), so that a cycle's subset of a
 * group is one byte; with AVX-512, by one bit test of 64 rows' codes a
 * cycle (gather_subsets_avx512). */
#include "runtime/sim_mvm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

enum { WIDE_TABLE_ROWS = 64 };

/* The floats between two table rows: ld rounded up to whole 64-byte vectors. */
int mvm_table_ld(const Block *b)
{
    return (b->ld + MVM_TABLE_PAD - 1) / MVM_TABLE_PAD * MVM_TABLE_PAD;
}

int mvm_table_groups(int rows, int group)
{
    return (rows + group - 1) / group;
}

int mvm_table_group(const MvmParams *mp)
{
    return mp->row_end - mp->row_begin >= WIDE_TABLE_ROWS ? 8 : 4;
}

size_t mvm_table_floats(const MvmParams *mp, const Block *b, int group)
{
    if (mp->float_mode || mp->dac_bits != 1 || b->rows_per_sum < b->rows || b->rows == 0)
        return 0;
    size_t ld = (size_t)(b->ld > 0 ? mvm_table_ld(b) : MVM_TABLE_PAD);
    return (size_t)mvm_table_groups(b->rows, group) * ((size_t)1 << group) * ld;
}

/* table[(g * 2^group + subset) * ld + j]: the sum over the rows group g + i
 * of the subset's bits i of matrix[row][j]; each entry is one add to a
 * smaller one (plain adds: every clone gives the same bits). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target_clones("avx512f", "avx2", "default")))     /* static: clang 14 links no extern clones */
#endif
static void build_table(const Block *b, int group, float *table)
{
    int ld = mvm_table_ld(b), groups = mvm_table_groups(b->rows, group), subsets = 1 << group;
    for (int g = 0; g < groups; g++) {
        float *t = table + (size_t)g * subsets * ld;
        memset(t, 0, (size_t)ld * sizeof *t);
        for (int subset = 1; subset < subsets; subset++) {
            int bit = 0;
            while (!(subset >> bit & 1))
                bit++;
            int row = g * group + bit;
            const float *smaller = t + (size_t)(subset & (subset - 1)) * ld;
            float *out = t + (size_t)subset * ld;
            int width = row < b->rows ? b->ld : 0;      /* rows past the block add nothing */
            const float *cells = b->cells + (size_t)row * b->ld;
            for (int j = 0; j < width; j++)
                out[j] = smaller[j] + cells[j];
            for (int j = width; j < ld; j++)
                out[j] = smaller[j];
        }
    }
}

void mvm_build_table(const Block *b, int group, float *table)
{
    build_table(b, group, table);
}

/* part[k][0..width) for each of the m kept reads: the sum over groups of
 * the table rows that read_of[k]'s subsets pick.  The rows of the subsets
 * that drive something are listed first (without branches: adding subset
 * 0, a row of zeros, would change nothing).  Table rows and part rows are
 * ld floats apart, a multiple of the widest vector, so whole vectors never
 * run past a row.  The sums live in vectors of VB bytes (a GCC and Clang
 * extension), eight or four at a time, which the compiler keeps in
 * registers; each lane adds the same floats in the same order whatever VB
 * is, so the three versions below (SSE, AVX2, AVX-512, chosen at run time)
 * give the same bits. */
/* out[j0..) = the sum of the picked rows' next N vectors, in registers. */
#define TABLE_SUM_SPAN(NAME, N)                                                                      \
    do {                                                                                             \
        NAME##_vector sum[N] = {0};                                                                  \
        for (int g = 0; g < count; g++) {                                                            \
            const float *t = picked[g] + j0;                                                         \
            for (int v = 0; v < N; v++) {                                                            \
                NAME##_vector x;                                                                     \
                memcpy(&x, t + v * V, sizeof x);                                                     \
                sum[v] += x;                                                                         \
            }                                                                                        \
        }                                                                                            \
        memcpy(out + j0, sum, sizeof sum);                                                           \
    } while (0)

#define DEFINE_TABLE_SUMS(NAME, ATTR, VB)                                                            \
    typedef float NAME##_vector __attribute__((vector_size(VB)));                                    \
    ATTR static void NAME(int m, const int *read_of, int groups, int group, const uint8_t *subsets,  \
                          const float *table, int ld, int width, float *part, const float **picked)  \
    {                                                                                                \
        enum { V = VB / 4 };                                                                         \
        size_t subsets_per_group = (size_t)1 << group;                                               \
        for (int k = 0; k < m; k++) {                                                                \
            const uint8_t *subset = subsets + (size_t)read_of[k] * groups;                           \
            int count = 0;                                                                           \
            for (int g = 0; g < groups; g++) {                                                       \
                picked[count] = table + ((size_t)g * subsets_per_group + subset[g]) * ld;            \
                count += subset[g] != 0;                                                             \
            }                                                                                        \
            float *out = part + (size_t)k * ld;                                                      \
            int j0 = 0;                                                                              \
            for (; j0 + 8 * V <= width; j0 += 8 * V)   /* 8 vectors at once where they fit */        \
                TABLE_SUM_SPAN(NAME, 8);                                                             \
            for (; j0 + 4 * V <= width || (j0 < width && j0 + 4 * V <= ld); j0 += 4 * V)             \
                TABLE_SUM_SPAN(NAME, 4);                                                             \
            for (; j0 < width; j0 += V)                                                              \
                TABLE_SUM_SPAN(NAME, 1);                                                             \
        }                                                                                            \
    }

DEFINE_TABLE_SUMS(table_sums_sse, , 16)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DEFINE_TABLE_SUMS(table_sums_avx2, __attribute__((target("avx2"))), 32)
DEFINE_TABLE_SUMS(table_sums_avx512, __attribute__((target("avx512f"))), 64)
#endif
#undef DEFINE_TABLE_SUMS

static MvmVector vector_of_cpu(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    const char *force = getenv("XBARC_SIM_VECTOR");
    bool scalar = force && strcmp(force, "scalar") == 0, avx2 = force && strcmp(force, "avx2") == 0;
    if (!scalar && !avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw"))
        return MVM_VECTOR_AVX512;
    if (!scalar && __builtin_cpu_supports("avx2"))
        return MVM_VECTOR_AVX2;
#endif
    return MVM_VECTOR_SCALAR;
}

/* Asked per mvm and pass: the environment is read once (threads racing
 * here store the same value). */
MvmVector mvm_vector(void)
{
    static int known = -1;
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) {
        v = (int)vector_of_cpu();
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return (MvmVector)v;
}

void mvm_table_sums(int m, const int *read_of, int groups, int group, const uint8_t *subsets, const float *table,
                    int ld, int width, float *part, const float **picked)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    MvmVector vector = mvm_vector();
    if (vector == MVM_VECTOR_AVX512) {
        table_sums_avx512(m, read_of, groups, group, subsets, table, ld, width, part, picked);
        return;
    }
    if (vector == MVM_VECTOR_AVX2) {
        table_sums_avx2(m, read_of, groups, group, subsets, table, ld, width, part, picked);
        return;
    }
#endif
    table_sums_sse(m, read_of, groups, group, subsets, table, ld, width, part, picked);
}

/* Transposes the 8 x 8 bit matrix whose row i is byte i of x (Hacker's
 * Delight 7-3): byte i of the result holds bit i of each byte of x.  With
 * byte b = the code of row b of a group, byte c of the result is the subset
 * of the group's rows that cycle c drives. */
static inline uint64_t transpose_bits(uint64_t x)
{
    uint64_t t = (x ^ (x >> 7)) & UINT64_C(0x00AA00AA00AA00AA);
    x = x ^ t ^ (t << 7);
    t = (x ^ (x >> 14)) & UINT64_C(0x0000CCCC0000CCCC);
    x = x ^ t ^ (t << 14);
    t = (x ^ (x >> 28)) & UINT64_C(0x00000000F0F0F0F0);
    return x ^ t ^ (t << 28);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The subsets of one pass of one source row with AVX-512 (codes below 2^8):
 * 64 rows' codes at a time become 64 bytes, and bit c of every byte is one
 * 64-bit mask (vptestmb), row r at bit r: byte b of it holds the subsets of
 * cycle c of the groups in rows 8b .. 8b + 7 (one group of 8, or two of
 * 4).  The same subsets as the transposes of mvm_gather_subsets. */
__attribute__((target("avx512f,avx512bw,avx512dq"))) static void
gather_subsets_avx512(const float *code, int rows, int group, int groups, int pass, float top, int cycles,
                      size_t first_read, size_t reads_apart, MvmScratch *s)
{
    __m512 zero = _mm512_setzero_ps(), ceiling = _mm512_set1_ps(top);
    for (int r0 = 0; r0 < rows; r0 += 64) {
        __m128i quarter[4];
        for (int v = 0; v < 4; v++) {
            int left = rows - r0 - 16 * v;
            __mmask16 lanes = left >= 16 ? 0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
            __m512 c = _mm512_maskz_loadu_ps(lanes, code + r0 + 16 * v);
            if (pass)
                c = _mm512_sub_ps(zero, c);
            c = _mm512_min_ps(_mm512_max_ps(c, zero), ceiling);     /* max: a NaN becomes 0 */
            quarter[v] = _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(c));
        }
        __m512i bytes = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm256_set_m128i(quarter[1], quarter[0])), _mm256_set_m128i(quarter[3], quarter[2]),
            1);
        int g0 = r0 / group, g1 = groups < g0 + 64 / group ? groups : g0 + 64 / group;
        for (int c = 0; c < cycles; c++) {
            uint64_t bits = _mm512_test_epi8_mask(bytes, _mm512_set1_epi8((char)(1 << c)));
            size_t t = first_read + (size_t)c * reads_apart;
            uint8_t *subset = s->subset + t * groups;
            if (group == 8 && g1 - g0 == 8)
                memcpy(subset + g0, &bits, 8);      /* x86: little-endian, byte b is rows 8b .. 8b + 7 */
            else
                for (int g = g0; g < g1; g++)
                    subset[g] = (uint8_t)((bits >> (group * (g - g0))) & ((1u << group) - 1));
            s->drives_any[t] |= bits != 0;
        }
    }
}
#endif

/* 1-bit reads: s->subset[t * groups + g] is the subset of group g's rows
 * that read t = (pass * cycles + cycle) * n + source row drives (the bits of
 * each group's codes, transposed 8 cycles at a time); returns the reads that
 * drive some row, in order, in s->read_of, and their count. */
int mvm_gather_subsets(const MvmParams *mp, int group, const float *src, int64_t src_width, int rows, int n,
                          MvmScratch *s)
{
    int cycles = mvm_cycles(mp), passes = mvm_passes(mp);
    int groups = mvm_table_groups(rows, group);
    double max_code = ldexp(1.0, mvm_magnitude_bits(mp)) - 1;
    memset(s->drives_any, 0, (size_t)(passes * cycles * n));
    for (int pass = 0; pass < passes; pass++) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
        if (cycles <= 8 && mvm_vector() == MVM_VECTOR_AVX512) {
            for (int i = 0; i < n; i++)
                gather_subsets_avx512(src + i * src_width + mp->src_col, rows, group, groups, pass, (float)max_code,
                                      cycles, (size_t)pass * cycles * n + i, (size_t)n, s);
            continue;
        }
#endif
        mvm_gather_magnitudes(src, src_width, mp->src_col, n, rows, pass, max_code, s->magnitude);
        for (int i = 0; i < n; i++) {
            const uint32_t *magnitude = s->magnitude + (size_t)i * rows;
            for (int g = 0; g < groups; g++) {
                int r0 = g * group, r1 = rows < r0 + group ? rows : r0 + group;
                for (int c0 = 0; c0 < cycles; c0 += 8) {
                    uint64_t x = 0;
                    const uint32_t *m = magnitude + r0;
                    if (r1 - r0 == 8 && cycles <= 8) {      /* the common case, unrolled: codes < 256 */
                        x = (uint64_t)m[0] | (uint64_t)m[1] << 8 | (uint64_t)m[2] << 16 | (uint64_t)m[3] << 24 |
                            (uint64_t)m[4] << 32 | (uint64_t)m[5] << 40 | (uint64_t)m[6] << 48 |
                            (uint64_t)m[7] << 56;
                    } else {
                        for (int r = r0; r < r1; r++)
                            x |= (uint64_t)((magnitude[r] >> c0) & 255) << (8 * (r - r0));
                    }
                    x = transpose_bits(x);
                    for (int c = c0; c < cycles && c < c0 + 8; c++, x >>= 8) {
                        size_t t = (size_t)(pass * cycles + c) * n + i;
                        s->subset[t * groups + g] = (uint8_t)x;
                        s->drives_any[t] |= (uint8_t)x;
                    }
                }
            }
        }
    }
    int m = 0, total = passes * cycles * n;
    for (int t = 0; t < total; t++) {
        s->read_of[m] = t;
        m += s->drives_any[t] != 0;
    }
    return m;
}

