/* quant.h: the float operations of quantization (docs/crossbar.md section 3).
 *
 * The quantize pass, the integer reference (runtime/interp.c) and the crossbar
 * simulator must do exactly the same float operations in the same order for
 * their outputs to agree bit for bit, so they all call these.  Each function is
 * one rounding step at a time, in separate statements: C lets a compiler fuse
 * a * b + c within one expression into an FMA (clang's -ffp-contract=on),
 * which would change the last bit; across statements it may not. */
#ifndef XBARC_QUANT_H
#define XBARC_QUANT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

/* Largest code magnitude of `bits` bits: signed 2^(bits-1) - 1, unsigned 2^bits - 1. */
static inline int32_t quant_qmax(int bits, bool is_signed)
{
    return is_signed ? (int32_t)((1u << (bits - 1)) - 1) : (int32_t)((1u << bits) - 1);
}

/* The code of one value: clamp(round_half_even(x / scale), lo, hi), with NaN
 * becoming 0.  The float quotient is clamped first (an integer range, so the
 * order does not matter) and then rounded to nearest, ties to even, by adding
 * and subtracting 1.5 * 2^23 (in the default rounding mode): exact for |q| < 2^22, which codes (at most 16
 * bits) always are, and free of libm calls in hot loops. */
static inline int32_t quant_code(float x, float scale, int32_t lo, int32_t hi)
{
    float q = x / scale;
    if (!(q >= (float)lo))
        return q != q ? 0 : lo;
    if (q > (float)hi)
        return hi;
    float r = q + 0x1.8p23f;    /* IEEE arithmetic: compilers may not fold this */
    r = r - 0x1.8p23f;
    return (int32_t)r;
}

/* (float)quant_code(x, scale, bottom, top) without branches, so that
 * loops of it vectorize (the Quant instruction, sim.c; a conversion that
 * quantizes on the way, sim_codes.c): the same operations on the same floats
 * (a division, clamps to integers, the rounding by 1.5 * 2^23), NaN to 0 at
 * the end; vdivps and divss round alike, so every version gives
 * quant_code's bits. */
static inline float quant_code_float(float x, float scale, float bottom, float top)
{
    float q = x / scale;
    float c = q >= bottom ? q : bottom;
    c = c > top ? top : c;
    c = c + 0x1.8p23f;
    c = c - 0x1.8p23f;
    return q != q ? 0.0f : c;
}

/* A layer's output scale for weight column n: the float product in_scale * w_scale[n]. */
static inline float quant_out_scale(float in_scale, float w_scale)
{
    float s = in_scale * w_scale;
    return s;
}

/* y = (float)acc * out_scale + bias: the conversion, the product and the sum
 * each rounded to float, in this order. */
static inline float quant_dequant(int64_t acc, float out_scale, float bias)
{
    float a = (float)acc;
    float y = a * out_scale;
    y = y + bias;
    return y;
}

#endif
