/* sim_int.h: exact integer products of the ideal chip's fast path
 * (runtime/sim_int.c; the codes they take: runtime/sim_codes.c;
 * docs/crossbar.md 8), private to runtime/sim*.c.
 *
 * A block's folded weights (sim_fast.c) are integers, and so are the codes
 * its DACs drive: the product is done in integers, 8-bit codes times 8-bit
 * weights (u8 x s8, `vpdpbusd`) when both fit, else 16 x 16 bits
 * (`vpdpwssd`, or `vpmaddwd`), summed in 32 bits over at most rows_per_sum
 * rows, a bound under which every partial sum is exact. */
#ifndef XBARC_SIM_INT_H
#define XBARC_SIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"
#include "runtime/program.h"

typedef enum {
    INT_CODES_U8,               /* codes (+ code_offset) as u8, weights as s8: 4 rows a group */
    INT_CODES_S16,              /* codes and weights as s16: 2 rows a group */
} IntCodeKind;

/* The product's versions, picked at run time (int_kernel); every one gives
 * the same bits: its sums are exact. */
typedef enum {
    INT_KERNEL_SCALAR,
    INT_KERNEL_AVX2,            /* vpmaddwd; u8 x s8 through vpmaddubsw on 7-bit halves (no saturation) */
    INT_KERNEL_AVX_VNNI,        /* vpdpbusd / vpdpwssd on 256 bits */
    INT_KERNEL_AVX512_VNNI,     /* vpdpbusd / vpdpwssd on 512 bits */
    INT_KERNEL_COUNT
} IntKernel;

/* A block's weights packed for the product: row r, column j at
 * packed[((r / group) * ld + j) * group + r % group], rows padded with zeros
 * to a whole group. */
typedef struct IntWeights {
    IntCodeKind kind;
    int group;                  /* rows packed together: 4 (u8) or 2 (s16) */
    int rows, cols, ld;         /* ld: cols padded to 16 */
    void *packed;               /* int8_t or int16_t */
    int code_offset;            /* added to every code before the product (signed codes as u8), else 0 */
    int64_t *column_sum;        /* [cols]: sum over rows of each column, for the offset; NULL when 0 */
    int rows_per_sum;           /* 32-bit sums over this many rows are exact (a multiple of group) */
    int64_t max_product;        /* the largest |(code + code_offset) * weight|: a sum over R rows is
                                 * exact in 32 bits when R * max_product <= 2^31 - 1 */
} IntWeights;

/* The integer weights of a block from its folded weights w [rows x ld_w]
 * (integers), for codes of in_bits (signed: symmetric); NULL when they do not
 * fit 16 bits or the bound leaves too few rows a sum. */
IntWeights *int_weights_build(Arena *arena, const float *w, int rows, int cols, int ld_w, int in_bits,
                              bool in_signed);

/* Bytes of one code of the kind. */
static inline size_t int_code_bytes(IntCodeKind kind)
{
    return kind == INT_CODES_U8 ? 1 : 2;
}

/* The codes of one source buffer as the integer products take them, made
 * by the first block that reads them and shared by the layer's other blocks
 * until the buffer is written (id = -1 forgets them). */
typedef struct {
    void *data;                 /* [numel + INT_CODES_PAD] of max_bytes; NULL: no block takes them */
    size_t max_bytes;
    int id;                     /* the buffer; -1: none */
    IntCodeKind kind;
    int offset;
    float bottom, top;
    bool whole;                 /* every code an integer */
} IntCodesCache;

/* Buffer id's codes x [numel] converted for iw (int_codes_convert), from the
 * cache when it holds them; NULL when some code is not an integer. */
const void *int_codes_cached(IntCodesCache *cache, int id, const float *x, int64_t numel, const IntWeights *iw,
                             float bottom, float top);

/* n rows of `rows` codes from x (row stride ldx floats) into out [n x rows]
 * (u8 or s16 as iw->kind, code_offset added), each clamped to the DACs'
 * range [bottom, top] (NaN to bottom) as the float path drives them; out
 * has room for int_codes_pad more codes after the last.  False when some
 * code is not an integer (the caller then keeps the float product). */
enum { INT_CODES_PAD = 4 };
bool int_codes_convert(const IntWeights *iw, const float *x, int64_t ldx, int n, int rows, float bottom, float top,
                       void *out);

/* Rows [p0, p0 + n) of the im2col of an im2col instruction q (kernel_im2col's
 * layout: column (channel, tap) of row (image, output pixel)) gathered from
 * the codes x of its source (N x C x D.., converted by int_codes_convert),
 * `pad` where a window leaves the input, into out [n x C*taps] with
 * INT_CODES_PAD codes after the last: a chunk of a convolution's patches that
 * stays in cache instead of the whole float im2col (docs/crossbar.md 10).
 * Windows of at most INT_PATCH_TAPS taps. */
enum { INT_PATCH_TAPS = 1024 };

/* A Quant instruction done on the way to codes: x holds its source's
 * activations, each made quant_code_float(x, scale, bottom, top)
 * (runtime/quant.h) before the DACs' clamp, so the codes are the bits the
 * Quant then the conversion would give, without the float codes between. */
typedef struct {
    float scale, bottom, top;
} CodeQuant;

/* Codes of q's source x (floats, converted as int_codes_convert does, or
 * activations quantized first when quant is not NULL) with
 * its padding made explicit: the source grown by q's pads, `pad` in them,
 * into out (int_codes_padded_numel codes, and INT_CODES_PAD more written by
 * the last part); int_codes_padded_geometry gives q over it, with no pads.
 * Every window of that is inside its input, so the gather copies runs of
 * taps with no checks (docs/crossbar.md 10).  Part `part` of `parts`
 * writes the same share of the lines of every plane (runtime/sim_threads.c);
 * false when some code of its share is not an integer. */
int64_t int_codes_padded_numel(const Im2colParams *q);
void int_codes_padded_geometry(const Im2colParams *q, Im2colParams *padded);
bool int_codes_convert_padded(const Im2colParams *q, const IntWeights *iw, const float *x, const CodeQuant *quant,
                              float bottom, float top, int pad, void *out, int part, int parts);
void int_patches_gather(const Im2colParams *q, IntCodeKind kind, const void *x, int pad, int64_t p0, int64_t n,
                        void *out);

/* out[i][j] (+)= sum_r (codes[i][r] + code_offset) w[r0 + r][j], exactly,
 * for i < n, j < width (a multiple of 16 <= iw->ld), r < k <= iw->rows_per_sum;
 * r0 a multiple of iw->group; codes rows ldc codes apart, readable up to
 * group - 1 codes past each row's k; out rows iw->ld apart.  accumulate adds
 * to out: the caller keeps the total within 32 bits (max_product). */
void int_product(IntKernel kernel, const IntWeights *iw, int n, int r0, int k, const void *codes, int64_t ldc,
                 int width, bool accumulate, int32_t *out);

/* Whether int_chain_product_wide runs for this kernel and kind: AVX2's u8
 * product, which otherwise widens each block's codes to 16 bits itself, once
 * for every 4 rows, every block and every column block of a layer. */
bool int_wide_chains(IntKernel kernel, IntCodeKind kind);
/* wide[i] = codes[i], i < count. */
void int_codes_widen(const uint8_t *codes, int64_t count, uint16_t *wide);
/* The product of a chain of blocks (sim_threads.c) from codes already
 * widened: out[i][j] = sum_b sum_r codes[i][src_cols[b] + r] w_b[r][j],
 * exactly, i < n, j < ld (every block's ld and kind the same, and the
 * chain's total within 32 bits, as sim_plan_chains makes them); codes rows
 * ldc apart, readable 3 codes past each block's rows; out rows ld apart.
 * The same sums as int_product over the blocks in turn. */
void int_chain_product_wide(const IntWeights *const *weights, const int *src_cols, int count, int n,
                            const uint16_t *codes, int64_t ldc, int32_t *out);

/* out[i][j] (+)= sum_r x[i][r] w[r][j] in double, j < iw->cols, the codes
 * clamped to [bottom, top] (NaN to bottom): codes that are not integers. */
void int_product_floats(const IntWeights *iw, int n, const float *x, int64_t ldx, int rows, float bottom, float top,
                        bool accumulate, double *out, int64_t out_width);

/* The best version this CPU runs, or the one XBARC_INT_KERNEL names
 * (scalar, avx2, avx-vnni, avx512-vnni) when it runs here, or the one
 * int_kernel_force set. */
IntKernel int_kernel(void);
bool int_kernel_supported(IntKernel kernel);
/* False when XBARC_INT_KERNEL=float: blocks keep the float product
 * (measurements). */
bool int_products_enabled(void);
/* Test hook: every product uses `kernel` (INT_KERNEL_COUNT: back to the default). */
void int_kernel_force(IntKernel kernel);
const char *int_kernel_name(IntKernel kernel);

#endif
