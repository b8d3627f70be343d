/* kernels_math.c: element-wise math, broadcasting of many inputs, reductions
 * and normalizations.
 *
 * The element-wise functions follow ONNX's definitions with the numerically
 * careful form where one exists (softplus and ELU through log1p and expm1).
 * Reductions and normalizations accumulate in double, so that their result is
 * the float nearest the exact one for any realistic count, in any order. */
#include "kernels.h"

#include <math.h>

/* ---- element-wise ---- */

/* Halves to even, without depending on the floating-point rounding mode.
 * v - floor(v) is exact; inf and NaN come through unchanged. */
static float round_half_even(float v)
{
    float r = floorf(v), frac = v - r;
    if (frac > 0.5f || (frac == 0.5f && fmodf(r, 2.0f) != 0.0f))
        r += 1.0f;
    return r == 0.0f ? copysignf(0.0f, v) : r;     /* -0.4 rounds to -0 */
}

/* log(1 + exp(v)) without overflow for large v. */
static float softplus(float v)
{
    return v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v));
}

#define UNARY_LOOP(EXPR)                            \
    do {                                            \
        for (int64_t i = 0; i < n; i++) {           \
            float v = x[i];                         \
            y[i] = EXPR;                            \
        }                                           \
    } while (0)

void kernel_unary(UnaryOp op, int64_t n, float alpha, float gamma, const float *x, float *y)
{
    switch (op) {
    case UNARY_SQRT: UNARY_LOOP(sqrtf(v)); break;
    case UNARY_EXP: UNARY_LOOP(expf(v)); break;
    case UNARY_LOG: UNARY_LOOP(logf(v)); break;
    case UNARY_ERF: UNARY_LOOP(erff(v)); break;
    case UNARY_NEG: UNARY_LOOP(-v); break;
    case UNARY_RECIPROCAL: UNARY_LOOP(1.0f / v); break;
    case UNARY_ABS: UNARY_LOOP(fabsf(v)); break;
    case UNARY_FLOOR: UNARY_LOOP(floorf(v)); break;
    case UNARY_CEIL: UNARY_LOOP(ceilf(v)); break;
    case UNARY_ROUND: UNARY_LOOP(round_half_even(v)); break;
    case UNARY_SOFTPLUS: UNARY_LOOP(softplus(v)); break;
    case UNARY_SOFTSIGN: UNARY_LOOP(v / (1.0f + fabsf(v))); break;
    case UNARY_HARDSWISH: UNARY_LOOP(v * fmaxf(0.0f, fminf(1.0f, v / 6.0f + 0.5f))); break;
    case UNARY_ELU: UNARY_LOOP(v > 0.0f ? v : alpha * expm1f(v)); break;
    case UNARY_SELU: UNARY_LOOP(v > 0.0f ? gamma * v : gamma * alpha * expm1f(v)); break;
    case UNARY_CELU: UNARY_LOOP(fmaxf(0.0f, v) + fminf(0.0f, alpha * expm1f(v / alpha))); break;
    case UNARY_NOT: UNARY_LOOP(v == 0.0f ? 1.0f : 0.0f); break;
    case UNARY_SIN: UNARY_LOOP(sinf(v)); break;
    case UNARY_COS: UNARY_LOOP(cosf(v)); break;
    case UNARY_TAN: UNARY_LOOP(tanf(v)); break;
    case UNARY_ASIN: UNARY_LOOP(asinf(v)); break;
    case UNARY_ACOS: UNARY_LOOP(acosf(v)); break;
    case UNARY_ATAN: UNARY_LOOP(atanf(v)); break;
    case UNARY_SINH: UNARY_LOOP(sinhf(v)); break;
    case UNARY_COSH: UNARY_LOOP(coshf(v)); break;
    case UNARY_ASINH: UNARY_LOOP(asinhf(v)); break;
    case UNARY_ACOSH: UNARY_LOOP(acoshf(v)); break;
    case UNARY_ATANH: UNARY_LOOP(atanhf(v)); break;
    case UNARY_SIGN: UNARY_LOOP(v > 0.0f ? 1.0f : v < 0.0f ? -1.0f : v); break;   /* 0, -0 and NaN stay */
    case UNARY_THRESHOLDED_RELU: UNARY_LOOP(v > alpha ? v : 0.0f); break;
    case UNARY_SHRINK: UNARY_LOOP(v < -alpha ? v + gamma : v > alpha ? v - gamma : 0.0f); break;
    }
}

/* ---- broadcasting many inputs ---- */

/* Strides of an operand broadcast to y's dims (0 along a stretched axis). */
static void broadcast_strides(int rank, const int64_t *dims, int y_rank, int64_t *stride)
{
    int64_t step = 1;
    for (int i = y_rank - 1; i >= 0; i--) {
        int xi = i - (y_rank - rank);
        int64_t d = xi >= 0 ? dims[xi] : 1;
        stride[i] = d == 1 ? 0 : step;
        step *= d;
    }
}

void kernel_where(const float *cond, int c_rank, const int64_t *c_dims, const float *x, int x_rank,
                  const int64_t *x_dims, const float *e, int e_rank, const int64_t *e_dims, int y_rank,
                  const int64_t *y_dims, float *y)
{
    int64_t sc[KERNEL_MAX_RANK] = {0}, sx[KERNEL_MAX_RANK] = {0}, se[KERNEL_MAX_RANK] = {0};
    int64_t idx[KERNEL_MAX_RANK] = {0}, n = 1, oc = 0, ox = 0, oe = 0;
    broadcast_strides(c_rank, c_dims, y_rank, sc);
    broadcast_strides(x_rank, x_dims, y_rank, sx);
    broadcast_strides(e_rank, e_dims, y_rank, se);
    for (int i = 0; i < y_rank; i++)
        n *= y_dims[i];
    for (int64_t t = 0; t < n; t++) {
        y[t] = cond[oc] != 0.0f ? x[ox] : e[oe];
        for (int i = y_rank - 1; i >= 0; i--) {     /* the next index, last axis fastest */
            oc += sc[i], ox += sx[i], oe += se[i];
            if (++idx[i] < y_dims[i])
                break;
            oc -= sc[i] * y_dims[i], ox -= sx[i] * y_dims[i], oe -= se[i] * y_dims[i];
            idx[i] = 0;
        }
    }
}

void kernel_expand(const float *x, int rank, const int64_t *dims, int y_rank, const int64_t *y_dims, float *y)
{
    if (y_rank == 0) {
        y[0] = x[0];
        return;
    }
    int64_t stride[KERNEL_MAX_RANK] = {0}, step = 1;
    for (int i = y_rank - 1; i >= 0; i--) {
        int xi = i - (y_rank - rank);
        int64_t d = xi >= 0 ? dims[xi] : 1;
        stride[i] = d == 1 ? 0 : step;
        step *= d;
    }
    int64_t inner = y_dims[y_rank - 1], outer = 1, s = stride[y_rank - 1];
    for (int i = 0; i < y_rank - 1; i++)
        outer *= y_dims[i];
    int64_t idx[KERNEL_MAX_RANK] = {0}, off = 0;
    for (int64_t t = 0; t < outer; t++, y += inner) {
        for (int64_t i = 0; i < inner; i++)
            y[i] = x[off + i * s];
        for (int i = y_rank - 2; i >= 0; i--) {     /* the odometer over the outer axes */
            off += stride[i];
            if (++idx[i] < y_dims[i])
                break;
            off -= stride[i] * y_dims[i];
            idx[i] = 0;
        }
    }
}

void kernel_variadic(BinaryOp op, bool mean, int n_inputs, const float *const *xs, const int *ranks,
                     const int64_t *const *dims, int y_rank, const int64_t *y_dims, float *y)
{
    kernel_expand(xs[0], ranks[0], dims[0], y_rank, y_dims, y);
    for (int k = 1; k < n_inputs; k++)
        kernel_binary(op, y, y_rank, y_dims, xs[k], ranks[k], dims[k], y);     /* in place: y has its shape */
    if (mean) {
        int64_t n = 1;
        for (int i = 0; i < y_rank; i++)
            n *= y_dims[i];
        for (int64_t i = 0; i < n; i++)
            y[i] /= (float)n_inputs;
    }
}

/* ---- reductions ---- */

/* Axes of x merged where they can be: neighbours of the same kind (kept or
 * reduced) are one axis, extents of 1 are dropped. */
typedef struct {
    int n;
    int64_t ext[KERNEL_MAX_RANK], stride[KERNEL_MAX_RANK];
} Axes;

/* Appends an axis, or merges it into the last one (row-major: that one steps
 * over all of this one). */
static void axes_add(Axes *a, bool merge, int64_t ext, int64_t stride)
{
    if (merge) {
        a->ext[a->n - 1] *= ext;
        a->stride[a->n - 1] = stride;
    } else {
        a->ext[a->n] = ext;
        a->stride[a->n] = stride;
        a->n++;
    }
}

/* The element-wise part of a reduction, folded over one set of x: sum of x,
 * |x|, x^2 or exp(x - shift); product; maximum; minimum. */
typedef enum { FOLD_SUM, FOLD_ABS, FOLD_SQUARE, FOLD_EXP, FOLD_PROD, FOLD_MAX, FOLD_MIN } Fold;

static double fold_row(Fold f, const float *x, int64_t n, int64_t s, double acc, double shift)
{
    switch (f) {
    case FOLD_SUM: for (int64_t i = 0; i < n; i++) acc += x[i * s]; break;
    case FOLD_ABS: for (int64_t i = 0; i < n; i++) acc += fabs((double)x[i * s]); break;
    case FOLD_SQUARE: for (int64_t i = 0; i < n; i++) acc += (double)x[i * s] * x[i * s]; break;
    case FOLD_EXP: for (int64_t i = 0; i < n; i++) acc += exp(x[i * s] - shift); break;
    case FOLD_PROD: for (int64_t i = 0; i < n; i++) acc *= x[i * s]; break;
    case FOLD_MAX:
        for (int64_t i = 0; i < n; i++)
            acc = x[i * s] > acc || isnan(x[i * s]) ? x[i * s] : acc;
        break;
    case FOLD_MIN:
        for (int64_t i = 0; i < n; i++)
            acc = x[i * s] < acc || isnan(x[i * s]) ? x[i * s] : acc;
        break;
    }
    return acc;
}

/* Folds the set of x spanned by the reduced axes r (none: x[0] alone). */
static double fold_set(Fold f, const float *x, const Axes *r, double init, double shift)
{
    if (r->n == 0)
        return fold_row(f, x, 1, 0, init, shift);
    int last = r->n - 1;
    int64_t outer = 1, idx[KERNEL_MAX_RANK] = {0}, off = 0;
    for (int i = 0; i < last; i++)
        outer *= r->ext[i];
    double acc = init;
    for (int64_t t = 0; t < outer; t++) {
        acc = fold_row(f, x + off, r->ext[last], r->stride[last], acc, shift);
        for (int i = last - 1; i >= 0; i--) {
            off += r->stride[i];
            if (++idx[i] < r->ext[i])
                break;
            off -= r->stride[i] * r->ext[i];
            idx[i] = 0;
        }
    }
    return acc;
}

static double reduce_set(ReduceOp op, const float *x, const Axes *r, double count)
{
    switch (op) {
    case REDUCE_MEAN: return fold_set(FOLD_SUM, x, r, 0, 0) / count;
    case REDUCE_SUM: return fold_set(FOLD_SUM, x, r, 0, 0);
    case REDUCE_MAX: return fold_set(FOLD_MAX, x, r, -INFINITY, 0);
    case REDUCE_MIN: return fold_set(FOLD_MIN, x, r, INFINITY, 0);
    case REDUCE_PROD: return fold_set(FOLD_PROD, x, r, 1, 0);
    case REDUCE_L1: return fold_set(FOLD_ABS, x, r, 0, 0);
    case REDUCE_L2: return sqrt(fold_set(FOLD_SQUARE, x, r, 0, 0));
    case REDUCE_SUM_SQUARE: return fold_set(FOLD_SQUARE, x, r, 0, 0);
    case REDUCE_LOG_SUM: return log(fold_set(FOLD_SUM, x, r, 0, 0));
    case REDUCE_LOG_SUM_EXP: {
        double top = fold_set(FOLD_MAX, x, r, -INFINITY, 0);
        if (!isfinite(top))     /* NaN; +inf; every element -inf */
            return top;
        return top + log(fold_set(FOLD_EXP, x, r, 0, top));
    }
    }
    return 0;
}

void kernel_reduce(ReduceOp op, const float *x, int rank, const int64_t *dims, const bool *reduced, float *y)
{
    Axes kept = {0}, red = {0};
    int64_t stride = 1, count = 1, strides[KERNEL_MAX_RANK];
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = stride;
        stride *= dims[i];
    }
    int prev = -1;      /* the kind of the last axis of extent > 1: 0 kept, 1 reduced */
    for (int i = 0; i < rank; i++) {
        if (dims[i] == 1)
            continue;
        int kind = reduced[i] ? 1 : 0;
        axes_add(kind ? &red : &kept, prev == kind, dims[i], strides[i]);
        prev = kind;
        if (kind)
            count *= dims[i];
    }
    int64_t idx[KERNEL_MAX_RANK] = {0}, off = 0, n_out = 1;
    for (int i = 0; i < kept.n; i++)
        n_out *= kept.ext[i];
    for (int64_t o = 0; o < n_out; o++) {
        y[o] = (float)reduce_set(op, x + off, &red, (double)count);
        for (int i = kept.n - 1; i >= 0; i--) {
            off += kept.stride[i];
            if (++idx[i] < kept.ext[i])
                break;
            off -= kept.stride[i] * kept.ext[i];
            idx[i] = 0;
        }
    }
}

/* ---- normalizations ---- */

void kernel_normalize_rows(int64_t rows, int64_t size, float epsilon, const float *x, float *y)
{
    for (int64_t r = 0; r < rows; r++, x += size, y += size) {
        double sum = 0, squares = 0;
        for (int64_t i = 0; i < size; i++)
            sum += x[i];
        double mean = sum / (double)size;
        for (int64_t i = 0; i < size; i++)
            squares += (x[i] - mean) * (x[i] - mean);
        double inv = 1.0 / sqrt(squares / (double)size + epsilon);
        for (int64_t i = 0; i < size; i++)
            y[i] = (float)((x[i] - mean) * inv);
    }
}

void kernel_instancenorm(int64_t batch, int64_t channels, int64_t size, float epsilon, const float *x,
                         const float *scale, const float *bias, float *y)
{
    kernel_normalize_rows(batch * channels, size, epsilon, x, y);
    for (int64_t r = 0; r < batch * channels; r++) {
        float s = scale[r % channels], b = bias[r % channels];
        for (int64_t i = 0; i < size; i++)
            y[r * size + i] = y[r * size + i] * s + b;
    }
}

/* ---- hardmax and local response normalization ---- */

void kernel_hardmax(int64_t outer, int64_t axis, int64_t inner, const float *x, float *y)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            const float *xs = x + o * axis * inner + i;
            float *ys = y + o * axis * inner + i;
            int64_t best = 0;
            for (int64_t a = 1; a < axis; a++)
                if (!isnan(xs[best * inner]) && (xs[a * inner] > xs[best * inner] || isnan(xs[a * inner])))
                    best = a;
            for (int64_t a = 0; a < axis; a++)
                ys[a * inner] = a == best ? 1.0f : 0.0f;
        }
}

void kernel_lrn(int64_t batch, int64_t channels, int64_t size, int64_t window, float alpha, float beta,
                float bias, const float *x, float *y)
{
    int64_t below = (window - 1) / 2, above = window / 2;   /* floor and ceil of (window - 1) / 2 */
    for (int64_t n = 0; n < batch; n++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t lo = c - below < 0 ? 0 : c - below, hi = c + above >= channels ? channels - 1 : c + above;
            const float *xn = x + n * channels * size;
            float *yc = y + (n * channels + c) * size;
            for (int64_t i = 0; i < size; i++) {
                double square_sum = 0.0;
                for (int64_t k = lo; k <= hi; k++)
                    square_sum += (double)xn[k * size + i] * xn[k * size + i];
                double scale = pow((double)bias + (double)alpha / (double)window * square_sum, (double)beta);
                yc[i] = (float)(xn[c * size + i] / scale);
            }
        }
}

/* ---- determinants ---- */

void kernel_det(int64_t count, int64_t m, const float *x, float *y)
{
    double a[KERNEL_DET_MAX * KERNEL_DET_MAX];     /* the matrix eliminated, row-major m x m */
    for (int64_t k = 0; k < count; k++) {
        for (int64_t i = 0; i < m * m; i++)
            a[i] = x[k * m * m + i];
        double det = 1.0;
        for (int64_t c = 0; c < m && det != 0.0; c++) {
            int64_t pivot = c;
            for (int64_t r = c + 1; r < m; r++)
                if (fabs(a[r * m + c]) > fabs(a[pivot * m + c]))
                    pivot = r;
            if (pivot != c) {
                for (int64_t j = 0; j < m; j++) {
                    double t = a[c * m + j];
                    a[c * m + j] = a[pivot * m + j];
                    a[pivot * m + j] = t;
                }
                det = -det;
            }
            det *= a[c * m + c];
            for (int64_t r = c + 1; r < m && a[c * m + c] != 0.0; r++) {
                double f = a[r * m + c] / a[c * m + c];
                for (int64_t j = c; j < m; j++)
                    a[r * m + j] -= f * a[c * m + j];
            }
        }
        y[k] = (float)det;
    }
}
