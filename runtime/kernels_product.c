/* kernels_product.c: the float interpreter's matrix product, vectorized and
 * with the bits of the plain triple loop.
 *
 * y[i, j] = sum over k = 0, 1, .. K-1 of a(i, k) * b[k, j], each sum started
 * at +0 and each term rounded to float, then added in k order: exactly the
 * loop `y = 0; for k: y += a * b` with no fused multiply-add.  Every version
 * below (AVX-512, AVX2, baseline) computes each output that way, so all give
 * the same bits, and so does any blocking: the blocking only chooses which
 * outputs are in registers together, never the order of one output's terms.
 * -ffp-contract=off (CMakeLists.txt) keeps the compilers from fusing the
 * multiply and the add.  AMD's Zen 4/5 and Intel's cores since Skylake issue
 * a multiply and an add per cycle each on separate pipes (or on the two FMA
 * pipes), so the unfused product loses little against FMA.
 *
 * The tile: ROWS rows of a (broadcast scalars) times two vectors of b's row k
 * (2 * 16 floats with AVX-512), 2 * ROWS accumulators in registers over a
 * chunk of k (8 rows with AVX-512's 32 registers, else 4: fewer loads per
 * multiply-add).  b's panel (K x 32 floats) is reused by every row tile and
 * stays in L2.  Why not OpenBLAS's sgemm: Debian's OpenBLAS 0.3.21 does not
 * know recent CPUs and runs its SSE3 kernels there (docs/benchmarks.md
 * "Simulation speed"), and its order of summation is its own. */
#include "kernels.h"

#include <stdbool.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PRODUCT_X86 1
#endif

/* PANELS panels of b packed at once: a run of PANELS * 2 vectors of each row */
enum { MAX_TILE_ROWS = 8, CHUNK_K = 128, PANELS = 4 };

/* Columns [j0, J) one output at a time, in the same order (the scalar variant). */
static void product_columns(int64_t I, int64_t j0, int64_t J, int64_t K, const float *a, int64_t a_row,
                            int64_t a_col, const float *b, int64_t ldb, float *y, int64_t ldy)
{
    for (int64_t i = 0; i < I; i++)
        for (int64_t j = j0; j < J; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++)
                s += a[i * a_row + k * a_col] * b[k * ldb + j];
            y[i * ldy + j] = s;
        }
}

/* The k loop goes by chunks of CHUNK_K, each output's partial sum kept in y
 * between chunks (a float stored and loaded back is the same float, so the
 * order and the roundings are the plain loop's): a chunk of b's panel, packed
 * contiguous and zero-padded past J, stays in L1 for every row tile.  Lanes
 * past J compute on zeros and are never stored. */
#define DEFINE_PRODUCT(NAME, ATTR, VBYTES, ROWS)                                                               \
    typedef float NAME##_vector __attribute__((vector_size(VBYTES)));                                    \
    enum { NAME##_width = VBYTES / 4 };                                                                  \
    ATTR static inline __attribute__((always_inline)) void NAME##_tile(                                  \
        int rows, bool first, int64_t kn, const float *a, int64_t a_row, int64_t a_col, const float *panel, \
        float *y, int64_t ldy, int64_t cols)                                                             \
    {                                                                                                    \
        NAME##_vector sum[MAX_TILE_ROWS][2];                                                             \
        for (int q = 0; q < rows; q++) {                                                                 \
            float start[2 * NAME##_width] = {0};                                                         \
            if (!first)                                                                                  \
                memcpy(start, y + q * ldy, (size_t)cols * sizeof(float));                                \
            memcpy(&sum[q][0], start, sizeof sum[q][0]);                                                 \
            memcpy(&sum[q][1], start + NAME##_width, sizeof sum[q][1]);                                  \
        }                                                                                                \
        for (int64_t k = 0; k < kn; k++) {                                                               \
            NAME##_vector b0, b1;                                                                        \
            memcpy(&b0, panel + k * 2 * NAME##_width, sizeof b0);                                        \
            memcpy(&b1, panel + k * 2 * NAME##_width + NAME##_width, sizeof b1);                         \
            for (int q = 0; q < rows; q++) {                                                             \
                float s = a[q * a_row + k * a_col];                                                      \
                sum[q][0] += s * b0;                                                                     \
                sum[q][1] += s * b1;                                                                     \
            }                                                                                            \
        }                                                                                                \
        for (int q = 0; q < rows; q++) {                                                                 \
            float out[2 * NAME##_width];                                                                 \
            memcpy(out, &sum[q][0], sizeof sum[q][0]);                                                   \
            memcpy(out + NAME##_width, &sum[q][1], sizeof sum[q][1]);                                    \
            memcpy(y + q * ldy, out, (size_t)cols * sizeof(float));                                      \
        }                                                                                                \
    }                                                                                                    \
    ATTR static void NAME(int64_t I, int64_t J, int64_t K, const float *a, int64_t a_row, int64_t a_col,  \
                          const float *b, int64_t ldb, float *y, int64_t ldy)                            \
    {                                                                                                    \
        enum { W = 2 * NAME##_width };                                                                   \
        float panel[PANELS * CHUNK_K * W];                                                               \
        for (int64_t jb = 0; jb < J; jb += PANELS * W) {                                                 \
            int64_t span = J - jb < PANELS * W ? J - jb : PANELS * W;                                    \
            for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += CHUNK_K) {                                     \
                int64_t kn = K - k0 < CHUNK_K ? K - k0 : CHUNK_K;                                        \
                /* a row's span of b is read in one run (prefetch-friendly); panel p holds its       */  \
                /* columns [p W, p W + W) for the chunk's kn rows, zeros past J                      */  \
                for (int64_t k = 0; k < kn; k++) {                                                       \
                    const float *row = b + (k0 + k) * ldb + jb;                                          \
                    for (int64_t p = 0; p * W < span; p++) {                                             \
                        float *to = panel + (p * CHUNK_K + k) * W;                                       \
                        if (span - p * W >= W) {                                                         \
                            memcpy(to, row + p * W, sizeof(NAME##_vector));                              \
                            memcpy(to + NAME##_width, row + p * W + NAME##_width, sizeof(NAME##_vector));\
                        } else {                                                                         \
                            memcpy(to, row + p * W, (size_t)(span - p * W) * sizeof(float));             \
                            memset(to + (span - p * W), 0, (size_t)(W - (span - p * W)) * sizeof(float));\
                        }                                                                                \
                    }                                                                                    \
                }                                                                                        \
                const float *ak = a + k0 * a_col;                                                        \
                for (int64_t p = 0; p * W < span; p++) {                                                 \
                    int64_t j0 = jb + p * W, cols = J - j0 < W ? J - j0 : W;                             \
                    const float *pp = panel + p * CHUNK_K * W;                                           \
                    int64_t i0 = 0;                                                                      \
                    for (; i0 + ROWS <= I; i0 += ROWS)                                                   \
                        NAME##_tile(ROWS, k0 == 0, kn, ak + i0 * a_row, a_row, a_col, pp,                \
                                    y + i0 * ldy + j0, ldy, cols);                                       \
                    for (; i0 < I; i0++)                                                                 \
                        NAME##_tile(1, k0 == 0, kn, ak + i0 * a_row, a_row, a_col, pp,                   \
                                    y + i0 * ldy + j0, ldy, cols);                                       \
                }                                                                                        \
            }                                                                                            \
        }                                                                                                \
    }

DEFINE_PRODUCT(product_sse, , 16, 4)
#ifdef PRODUCT_X86
DEFINE_PRODUCT(product_avx2, __attribute__((target("avx2"))), 32, 4)
DEFINE_PRODUCT(product_avx512, __attribute__((target("avx512f"))), 64, 8)
#endif
#undef DEFINE_PRODUCT

/* 0: the best the CPU has; else forced by kernel_product_force (tests). */
static int forced_variant;

void kernel_product_force(int variant)
{
    forced_variant = variant;
}

int kernel_product_variant(void)
{
    if (forced_variant)
        return forced_variant;
#ifdef PRODUCT_X86
    if (__builtin_cpu_supports("avx512f"))
        return KERNEL_PRODUCT_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return KERNEL_PRODUCT_AVX2;
#endif
    return KERNEL_PRODUCT_BASELINE;
}

void kernel_product(int64_t I, int64_t J, int64_t K, const float *a, int64_t a_row, int64_t a_col,
                    const float *b, int64_t ldb, float *y, int64_t ldy)
{
    switch (kernel_product_variant()) {
#ifdef PRODUCT_X86
    case KERNEL_PRODUCT_AVX512:
        product_avx512(I, J, K, a, a_row, a_col, b, ldb, y, ldy);
        return;
    case KERNEL_PRODUCT_AVX2:
        product_avx2(I, J, K, a, a_row, a_col, b, ldb, y, ldy);
        return;
#endif
    case KERNEL_PRODUCT_SCALAR:
        product_columns(I, 0, J, K, a, a_row, a_col, b, ldb, y, ldy);
        return;
    default:
        product_sse(I, J, K, a, a_row, a_col, b, ldb, y, ldy);
    }
}
