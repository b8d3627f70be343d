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

/* The code of one value: clamp(round_half_even(x / scale), lo, hi), computed as
 * the float quotient x / scale rounded by nearbyintf (the default rounding mode
 * is to nearest, ties to even).  The clamp happens in float so that a huge
 * quotient never overflows the conversion; NaN becomes 0. */
static inline int32_t quant_code(float x, float scale, int32_t lo, int32_t hi)
{
    float q = x / scale;
    q = nearbyintf(q);
    if (q != q)
        return 0;
    if (q < (float)lo)
        return lo;
    if (q > (float)hi)
        return hi;
    return (int32_t)q;
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
