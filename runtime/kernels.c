/* kernels.c: elementwise ops, broadcasting arithmetic, data movement, softmax.
 *
 * Broadcasting is done once per call, not per element: both operands get a
 * stride per output axis (0 where they repeat), axes of extent 1 are dropped
 * and neighbouring axes that step both operands alike are merged.  Equal
 * shapes thus collapse to one axis, a scalar to stride 0, and a per-channel
 * bias over N x C x H x W to an inner run of H*W; the innermost axis is one
 * tight loop chosen by a switch outside it.  Layout ops (transpose, pad)
 * walk the output with an odometer over all axes but the last. */
#include "kernels.h"

#include <math.h>
#include <string.h>

void kernel_batchnorm(int64_t batch, int64_t channels, int64_t size, const float *x,
                      const float *scale, const float *bias, const float *mean,
                      const float *var, float epsilon, float *y)
{
    for (int64_t c = 0; c < channels; c++) {
        float s = scale[c] / sqrtf(var[c] + epsilon), mu = mean[c], b = bias[c];
        for (int64_t n = 0; n < batch; n++) {
            const float *xp = x + (n * channels + c) * size;
            float *yp = y + (n * channels + c) * size;
            for (int64_t i = 0; i < size; i++)
                yp[i] = (xp[i] - mu) * s + b;
        }
    }
}

void kernel_relu(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void kernel_leakyrelu(int64_t n, float alpha, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
}

void kernel_clip(int64_t n, float lo, float hi, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

void kernel_sigmoid(int64_t n, const float *x, float *y)
{
    /* exp() of a non-positive number only, so neither branch overflows. */
    for (int64_t i = 0; i < n; i++) {
        if (x[i] >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        } else {
            float e = expf(x[i]);
            y[i] = e / (1.0f + e);
        }
    }
}

void kernel_tanh(int64_t n, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = tanhf(x[i]);
}

void kernel_hardsigmoid(int64_t n, float alpha, float beta, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) {
        float v = alpha * x[i] + beta;
        v = v < 0.0f ? 0.0f : v;
        y[i] = v > 1.0f ? 1.0f : v;
    }
}

void kernel_copy(int64_t n, const float *x, float *y)
{
    if (n > 0 && x != y)
        memcpy(y, x, (size_t)n * sizeof *y);
}

/* ---- broadcasting binary ops ---- */

/* y[i] = a[i * sa] OP b[i * sb] for i < n; the common stride patterns get
 * their own loops so that they vectorize. */
/* ONNX Mod with fmod 0: the remainder takes the divisor's sign (0 for a zero divisor). */
static float mod_floor(float u, float v)
{
    if (v == 0.0f)
        return 0.0f;
    float r = fmodf(u, v);
    return r != 0.0f && (r < 0.0f) != (v < 0.0f) ? r + v : r;
}

#define BINARY_ROW(EXPR)                                                        \
    do {                                                                        \
        if (sa == 1 && sb == 1) {                                               \
            for (int64_t i = 0; i < n; i++) { float u = a[i], v = b[i]; y[i] = EXPR; } \
        } else if (sa == 1 && sb == 0) {                                        \
            float v = b[0];                                                     \
            for (int64_t i = 0; i < n; i++) { float u = a[i]; y[i] = EXPR; }    \
        } else if (sa == 0 && sb == 1) {                                        \
            float u = a[0];                                                     \
            for (int64_t i = 0; i < n; i++) { float v = b[i]; y[i] = EXPR; }    \
        } else {                                                                \
            for (int64_t i = 0; i < n; i++) {                                   \
                float u = a[i * sa], v = b[i * sb];                             \
                y[i] = EXPR;                                                    \
            }                                                                   \
        }                                                                       \
    } while (0)

static void binary_row(BinaryOp op, int64_t n, const float *a, int64_t sa,
                       const float *b, int64_t sb, float *y)
{
    switch (op) {
    case BINARY_ADD: BINARY_ROW(u + v); break;
    case BINARY_SUB: BINARY_ROW(u - v); break;
    case BINARY_MUL: BINARY_ROW(u * v); break;
    case BINARY_DIV: BINARY_ROW(u / v); break;
    case BINARY_POW: BINARY_ROW(powf(u, v)); break;
    case BINARY_MAX: BINARY_ROW(u > v || isnan(u) ? u : v); break;
    case BINARY_MIN: BINARY_ROW(u < v || isnan(u) ? u : v); break;
    case BINARY_PRELU: BINARY_ROW(u < 0.0f ? u * v : u); break;
    case BINARY_EQUAL: BINARY_ROW(u == v ? 1.0f : 0.0f); break;
    case BINARY_LESS: BINARY_ROW(u < v ? 1.0f : 0.0f); break;
    case BINARY_GREATER: BINARY_ROW(u > v ? 1.0f : 0.0f); break;
    case BINARY_LESS_EQUAL: BINARY_ROW(u <= v ? 1.0f : 0.0f); break;
    case BINARY_GREATER_EQUAL: BINARY_ROW(u >= v ? 1.0f : 0.0f); break;
    case BINARY_AND: BINARY_ROW(u != 0.0f && v != 0.0f ? 1.0f : 0.0f); break;
    case BINARY_OR: BINARY_ROW(u != 0.0f || v != 0.0f ? 1.0f : 0.0f); break;
    case BINARY_XOR: BINARY_ROW((u != 0.0f) != (v != 0.0f) ? 1.0f : 0.0f); break;
    case BINARY_MOD: BINARY_ROW(mod_floor(u, v)); break;
    case BINARY_FMOD: BINARY_ROW(fmodf(u, v)); break;
    }
}

void kernel_binary(BinaryOp op, const float *a, int a_rank, const int64_t *a_dims,
                   const float *b, int b_rank, const int64_t *b_dims, float *y)
{
    int rank = a_rank > b_rank ? a_rank : b_rank;
    int64_t full[KERNEL_MAX_RANK], full_sa[KERNEL_MAX_RANK], full_sb[KERNEL_MAX_RANK];
    int64_t a_step = 1, b_step = 1;
    for (int i = rank - 1; i >= 0; i--) {
        int ai = i - (rank - a_rank), bi = i - (rank - b_rank);
        int64_t ad = ai >= 0 ? a_dims[ai] : 1, bd = bi >= 0 ? b_dims[bi] : 1;
        full[i] = ad == 1 ? bd : ad;
        if (full[i] == 0)
            return;
        full_sa[i] = ad == 1 ? 0 : a_step;
        full_sb[i] = bd == 1 ? 0 : b_step;
        a_step *= ad;
        b_step *= bd;
    }

    /* Drop unit axes; merge an axis into the one before it when stepping the
     * outer axis is the same as running through the whole inner one. */
    int r = 0;
    int64_t dims[KERNEL_MAX_RANK], sa[KERNEL_MAX_RANK], sb[KERNEL_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        if (full[i] == 1)
            continue;
        if (r > 0 && sa[r - 1] == full_sa[i] * full[i] && sb[r - 1] == full_sb[i] * full[i]) {
            dims[r - 1] *= full[i];
        } else {
            dims[r] = full[i];
            r++;
        }
        sa[r - 1] = full_sa[i];
        sb[r - 1] = full_sb[i];
    }
    if (r == 0) {   /* every axis has extent 1: one element */
        dims[0] = 1;
        sa[0] = sb[0] = 0;
        r = 1;
    }

    int64_t inner = dims[r - 1], outer = 1;
    for (int i = 0; i < r - 1; i++)
        outer *= dims[i];
    int64_t idx[KERNEL_MAX_RANK] = {0};
    int64_t a_off = 0, b_off = 0;
    for (int64_t t = 0; t < outer; t++) {
        binary_row(op, inner, a + a_off, sa[r - 1], b + b_off, sb[r - 1], y + t * inner);
        for (int i = r - 2; i >= 0; i--) {
            a_off += sa[i];
            b_off += sb[i];
            if (++idx[i] < dims[i])
                break;
            a_off -= sa[i] * dims[i];
            b_off -= sb[i] * dims[i];
            idx[i] = 0;
        }
    }
}

/* ---- data movement ---- */

void kernel_concat(int n_inputs, const float *const *xs, const int64_t *axis_sizes,
                   int64_t outer, int64_t inner, float *y)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int i = 0; i < n_inputs; i++) {
            int64_t chunk = axis_sizes[i] * inner;
            kernel_copy(chunk, xs[i] + o * chunk, y);
            y += chunk;
        }
    }
}

void kernel_transpose(const float *x, int rank, const int64_t *dims, const int64_t *perm, float *y)
{
    if (rank == 0) {
        y[0] = x[0];
        return;
    }
    int64_t x_stride[KERNEL_MAX_RANK], out[KERNEL_MAX_RANK], step[KERNEL_MAX_RANK];
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        x_stride[i] = s;
        s *= dims[i];
    }
    if (s == 0)
        return;
    for (int i = 0; i < rank; i++) {
        out[i] = dims[perm[i]];
        step[i] = x_stride[perm[i]];
    }

    int64_t inner = out[rank - 1], inner_step = step[rank - 1];
    int64_t idx[KERNEL_MAX_RANK] = {0};
    int64_t off = 0;
    for (int64_t t = 0; t < s / inner; t++) {
        for (int64_t i = 0; i < inner; i++)
            y[i] = x[off + i * inner_step];
        y += inner;
        for (int i = rank - 2; i >= 0; i--) {
            off += step[i];
            if (++idx[i] < out[i])
                break;
            off -= step[i] * out[i];
            idx[i] = 0;
        }
    }
}

static void fill(int64_t n, float value, float *y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = value;
}

void kernel_pad(const float *x, int rank, const int64_t *dims, const int64_t *pads,
                float value, float *y)
{
    if (rank == 0) {
        y[0] = x[0];
        return;
    }
    int64_t out[KERNEL_MAX_RANK], x_stride[KERNEL_MAX_RANK];
    int64_t rows = 1, s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        out[i] = dims[i] + pads[i] + pads[rank + i];
        x_stride[i] = s;
        s *= dims[i];
    }
    for (int i = 0; i < rank - 1; i++)
        rows *= out[i];
    int last = rank - 1;
    int64_t width = out[last];
    /* The output columns [lo, hi) come from x; the rest is padding. */
    int64_t lo = pads[last] > 0 ? pads[last] : 0;
    int64_t hi = pads[last] + dims[last];
    if (hi > width)
        hi = width;
    if (hi < lo)
        hi = lo;

    int64_t idx[KERNEL_MAX_RANK] = {0};
    for (int64_t t = 0; t < rows && width > 0; t++, y += width) {
        /* Is this output row inside x, and where does it start there? */
        bool inside = true;
        int64_t off = 0;
        for (int i = 0; i < last; i++) {
            int64_t xi = idx[i] - pads[i];
            inside = inside && xi >= 0 && xi < dims[i];
            off += xi * x_stride[i];
        }
        if (inside && hi > lo) {
            fill(lo, value, y);
            kernel_copy(hi - lo, x + off + (lo - pads[last]), y + lo);
            fill(width - hi, value, y + hi);
        } else {
            fill(width, value, y);
        }
        for (int i = last - 1; i >= 0; i--) {
            if (++idx[i] < out[i])
                break;
            idx[i] = 0;
        }
    }
}

/* ---- softmax ---- */

void kernel_softmax(int64_t outer, int64_t axis, int64_t inner, bool log_softmax,
                    const float *x, float *y)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t j = 0; j < inner; j++) {
            const float *xp = x + o * axis * inner + j;
            float *yp = y + o * axis * inner + j;
            /* Subtracting the maximum keeps exp() from overflowing. */
            float max = -INFINITY;
            for (int64_t i = 0; i < axis; i++)
                max = xp[i * inner] > max ? xp[i * inner] : max;
            float sum = 0.0f;
            for (int64_t i = 0; i < axis; i++) {
                float e = expf(xp[i * inner] - max);
                sum += e;
                if (!log_softmax)
                    yp[i * inner] = e;
            }
            if (log_softmax) {
                float log_sum = logf(sum);
                for (int64_t i = 0; i < axis; i++)
                    yp[i * inner] = xp[i * inner] - max - log_sum;
            } else {
                float scale = 1.0f / sum;
                for (int64_t i = 0; i < axis; i++)
                    yp[i * inner] *= scale;
            }
        }
    }
}
