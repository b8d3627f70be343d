/* sim_codes.c: the codes the integer products take (docs/crossbar.md 8
 * and 10): floats converted to u8 or s16 codes, a Quant done on the way, a
 * convolution's source padded and its patches gathered a chunk at a time,
 * and codes widened to 16 bits for AVX2's chains.  The products themselves
 * are in sim_int.c; sim_int.h is the header of both. */
#include "runtime/sim_int.h"
#include "runtime/kernels.h"
#include "runtime/quant.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define INT_CODES_X86 1
#endif

#ifdef INT_CODES_X86
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
#ifdef INT_CODES_X86
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

#ifdef INT_CODES_X86
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
#ifdef INT_CODES_X86
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

bool int_codes_convert(const IntWeights *iw, const float *x, int64_t ldx, int n, int rows, float bottom, float top,
                       void *out)
{
    bool whole = convert_codes(iw, x, ldx, n, rows, bottom, top, out, rows, NULL);
    memset((char *)out + (size_t)n * (size_t)rows * int_code_bytes(iw->kind), 0,
           INT_CODES_PAD * int_code_bytes(iw->kind));
    return whole;
}


#ifdef INT_CODES_X86
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
#ifdef INT_CODES_X86
    if (__builtin_cpu_supports("avx2")) {
        widen_avx2(codes, count, wide);
        return;
    }
#endif
    for (int64_t i = 0; i < count; i++)
        wide[i] = codes[i];
}

/* ---- a convolution's patches from its source's codes ---- */

/* Six pixels of a line of a 3 x 3 window, stride 1 along the line, every
 * window inside: each channel's 3 rows of 8 codes loaded once, each
 * pixel's 9 codes shuffled out of them (`pshufb`) and stored by one
 * 16-byte store, its extra bytes overwritten by the next channel's (the
 * last channel stores 9).  The copies of 8 bytes a tap row did 3 loads and
 * 3 stores a pixel and channel: ResNet-18's 3 x 3 layers spent most of
 * their gather there.  x: the first pixel's window, line codes a row. */
#ifdef INT_CODES_X86
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
    KernelAxis ax[3];
    kernel_axes(q->spatial, q->in, q->kernel, q->out, q->strides, q->dilations, q->pads, ax);
    int64_t in[3], ker[3], outs[3], stride[3], dil[3], pad_begin[3];
    for (int j = 0; j < 3; j++) {
        in[j] = ax[j].in, ker[j] = ax[j].kernel, outs[j] = ax[j].out;
        stride[j] = ax[j].stride, dil[j] = ax[j].dilation, pad_begin[j] = ax[j].pad_begin;
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
    KernelAxis ax[3];
    kernel_axes(q->spatial, q->in, q->kernel, q->out, q->strides, q->dilations, q->pads, ax);
    int64_t in[3], grown[3], begin[3];
    for (int j = 0; j < 3; j++)
        in[j] = ax[j].in, begin[j] = ax[j].pad_begin, grown[j] = ax[j].in + ax[j].pad_begin + ax[j].pad_end;
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
