/* kernels.h: float32 kernels over plain arrays.
 *
 * Every kernel takes row-major float arrays and explicit sizes, and knows
 * nothing of the graph IR: the reference interpreter (runtime/interp.c) and
 * the crossbar simulator both call them.  Results go to a separate output
 * array (never in place unless a kernel says so); nothing here allocates.
 * Sizes are assumed consistent: the callers derive them from verified types.
 *
 * Spatial ops (conv, pools) take N x C x D1 [x D2 [x D3]] tensors and describe
 * their geometry with one struct; arrays in it are indexed by spatial axis and
 * `pads` lists all begins then all ends, as ONNX does. */
#ifndef XBARC_KERNELS_H
#define XBARC_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

enum { KERNEL_MAX_RANK = 8, KERNEL_MAX_SPATIAL = 3 };

/* ---- convolution and pooling (runtime/kernels_conv.c) ---- */

/* One spatial axis of a conv or pool, 1-D and 2-D problems padded to 3-D in
 * front (extent 1, stride 1, no padding). */
typedef struct {
    int64_t in, kernel, out, stride, dilation, pad_begin, pad_end;
} KernelAxis;

/* The `spatial` axes given as ONNX lists (pads: all begins, then all ends;
 * dilations NULL for 1) as three KernelAxis. */
void kernel_axes(int spatial, const int64_t *in, const int64_t *kernel, const int64_t *out, const int64_t *strides,
                 const int64_t *dilations, const int64_t *pads, KernelAxis ax[3]);

typedef struct {
    int spatial;                            /* spatial rank, 1..3 */
    int64_t batch;                          /* N */
    int64_t in_channels, out_channels;      /* C and M */
    int64_t group;                          /* C and M are multiples of it */
    int64_t in[KERNEL_MAX_SPATIAL];         /* input extents D1.. */
    int64_t kernel[KERNEL_MAX_SPATIAL];
    int64_t out[KERNEL_MAX_SPATIAL];
    int64_t strides[KERNEL_MAX_SPATIAL];
    int64_t dilations[KERNEL_MAX_SPATIAL];
    int64_t pads[2 * KERNEL_MAX_SPATIAL];   /* begins then ends */
} ConvParams;

/* y[N,M,out..] = conv(x[N,C,in..], w[M,C/group,kernel..]) + bias[M] (bias may be NULL). */
void kernel_conv(const ConvParams *p, const float *x, const float *w, const float *bias, float *y);

/* The patches a conv reads, one row per output position:
 * cols[P, group * K] with P = batch * output pixels (row n * pixels + pixel,
 * pixels row-major) and K = in_channels / group * kernel taps; column
 * g * K + (c, kd, kh, kw) holds input channel g * (in_channels / group) + c
 * at that tap, and 0 where the tap falls in the padding.  out_channels is
 * not used.  conv(x, w) = cols * w[g] per group (docs/crossbar.md 2). */
void kernel_im2col(const ConvParams *p, const float *x, float *cols);

typedef struct {
    int spatial;                            /* 1..3 */
    int64_t planes;                         /* N * C: pooling never mixes planes */
    int64_t in[KERNEL_MAX_SPATIAL];
    int64_t kernel[KERNEL_MAX_SPATIAL];
    int64_t out[KERNEL_MAX_SPATIAL];
    int64_t strides[KERNEL_MAX_SPATIAL];
    int64_t dilations[KERNEL_MAX_SPATIAL];  /* max pooling only */
    int64_t pads[2 * KERNEL_MAX_SPATIAL];
    bool count_include_pad;                 /* average pooling only */
} PoolParams;

/* Windows may reach past the padded input (ceil_mode): such positions are
 * ignored.  An average counts the window's elements inside the input, or with
 * count_include_pad those inside the input plus its pads. */
void kernel_maxpool(const PoolParams *p, const float *x, float *y);
void kernel_avgpool(const PoolParams *p, const float *x, float *y);
/* y[plane] = mean / max of x[plane, 0..size). */
void kernel_global_avgpool(int64_t planes, int64_t size, const float *x, float *y);
void kernel_global_maxpool(int64_t planes, int64_t size, const float *x, float *y);

/* ---- matrix products (runtime/kernels_linear.c) ---- */

typedef struct {
    int64_t m, n, k;            /* y is m x n; op(a) is m x k, op(b) is k x n */
    bool trans_a, trans_b;      /* a is stored k x m / b is stored n x k */
    float alpha, beta;
    int64_t c_rows, c_cols;     /* C's extents, each 1 (broadcast) or m / n */
} GemmParams;

/* y = alpha * op(a) * op(b) + beta * c; c may be NULL. */
void kernel_gemm(const GemmParams *p, const float *a, const float *b, const float *c, float *y);
/* y[i * ldy + j] = sum over k of a[i * a_row + k * a_col] * b[k * ldb + j] for
 * i < I, j < J: each sum from +0, term by term in k order, no fused
 * multiply-add (the plain triple loop's bits), vectorized over j at run time
 * (AVX-512, AVX2, baseline: all the same bits; runtime/kernels_product.c). */
void kernel_product(int64_t I, int64_t J, int64_t K, const float *a, int64_t a_row, int64_t a_col,
                    const float *b, int64_t ldb, float *y, int64_t ldy);
enum { KERNEL_PRODUCT_AVX512 = 1, KERNEL_PRODUCT_AVX2, KERNEL_PRODUCT_BASELINE, KERNEL_PRODUCT_SCALAR };
/* The variant kernel_product runs; tests force one (0: the CPU's best). */
int kernel_product_variant(void);
void kernel_product_force(int variant);
/* y[m,n] = a[m,k] * b[k,n], all row-major and contiguous. */
void kernel_matmul2d(int64_t m, int64_t k, int64_t n, const float *a, const float *b, float *y);
/* numpy.matmul: 1-D operands are promoted (and the added axis dropped from y),
 * batch dims broadcast.  Ranks are 1..KERNEL_MAX_RANK. */
void kernel_matmul(const float *a, int a_rank, const int64_t *a_dims,
                   const float *b, int b_rank, const int64_t *b_dims, float *y);

/* ---- elementwise (runtime/kernels.c) ---- */

/* y = (x - mean[c]) / sqrt(var[c] + epsilon) * scale[c] + bias[c] on x[N,C,size]. */
void kernel_batchnorm(int64_t batch, int64_t channels, int64_t size, const float *x,
                      const float *scale, const float *bias, const float *mean,
                      const float *var, float epsilon, float *y);
void kernel_relu(int64_t n, const float *x, float *y);
void kernel_leakyrelu(int64_t n, float alpha, const float *x, float *y);
void kernel_clip(int64_t n, float lo, float hi, const float *x, float *y);
void kernel_sigmoid(int64_t n, const float *x, float *y);
void kernel_tanh(int64_t n, const float *x, float *y);
/* y = max(0, min(1, alpha * x + beta)) */
void kernel_hardsigmoid(int64_t n, float alpha, float beta, const float *x, float *y);
void kernel_copy(int64_t n, const float *x, float *y);

/* PRELU: a < 0 ? a * b : a.  MAX and MIN return a NaN operand (as numpy).
 * The comparisons and logic give 1.0 or 0.0; logic reads nonzero as true. */
typedef enum {
    BINARY_ADD, BINARY_SUB, BINARY_MUL, BINARY_DIV, BINARY_POW, BINARY_MAX, BINARY_MIN, BINARY_PRELU,
    BINARY_EQUAL, BINARY_LESS, BINARY_GREATER, BINARY_LESS_EQUAL, BINARY_GREATER_EQUAL,
    BINARY_AND, BINARY_OR, BINARY_XOR,
    BINARY_MOD, BINARY_FMOD,    /* remainder with the divisor's sign (python %), with the dividend's (C fmod) */
} BinaryOp;

/* y = a OP b with numpy broadcasting: shapes align at the right, a dim of 1
 * stretches.  y has the broadcast shape.  Ranks are 0..KERNEL_MAX_RANK.  y may
 * be a when a already has the broadcast shape (each y[i] reads a[i] only). */
void kernel_binary(BinaryOp op, const float *a, int a_rank, const int64_t *a_dims,
                   const float *b, int b_rank, const int64_t *b_dims, float *y);

/* y = cond != 0 ? x : y_else, the three broadcast to y's shape (runtime/kernels_math.c). */
void kernel_where(const float *cond, int c_rank, const int64_t *c_dims, const float *x, int x_rank,
                  const int64_t *x_dims, const float *e, int e_rank, const int64_t *e_dims, int y_rank,
                  const int64_t *y_dims, float *y);

/* ---- data movement and softmax (runtime/kernels.c) ---- */

/* Inputs viewed as [outer, axis_sizes[i], inner] are joined along the middle axis. */
void kernel_concat(int n_inputs, const float *const *xs, const int64_t *axis_sizes,
                   int64_t outer, int64_t inner, float *y);
/* y's axis i is x's axis perm[i]. */
void kernel_transpose(const float *x, int rank, const int64_t *dims, const int64_t *perm, float *y);
/* Constant padding: pads (rank begins then rank ends) may be negative, cropping. */
void kernel_pad(const float *x, int rank, const int64_t *dims, const int64_t *pads,
                float value, float *y);
/* Softmax (or log-softmax) of x viewed as [outer, axis, inner] over the middle axis. */
void kernel_softmax(int64_t outer, int64_t axis, int64_t inner, bool log_softmax,
                    const float *x, float *y);

/* ---- math, reductions, normalizations (runtime/kernels_math.c) ---- */

typedef enum {
    UNARY_SQRT, UNARY_EXP, UNARY_LOG, UNARY_ERF, UNARY_NEG, UNARY_RECIPROCAL, UNARY_ABS, UNARY_FLOOR,
    UNARY_CEIL, UNARY_ROUND, UNARY_SOFTPLUS, UNARY_SOFTSIGN, UNARY_HARDSWISH, UNARY_ELU, UNARY_SELU,
    UNARY_CELU, UNARY_NOT, UNARY_SIN, UNARY_COS, UNARY_TAN, UNARY_ASIN, UNARY_ACOS, UNARY_ATAN, UNARY_SINH,
    UNARY_COSH, UNARY_ASINH, UNARY_ACOSH, UNARY_ATANH, UNARY_SIGN, UNARY_THRESHOLDED_RELU, UNARY_SHRINK,
} UnaryOp;

/* y = f(x) as ONNX defines it (ops.def); alpha for ELU, SELU, CELU and
 * THRESHOLDED_RELU, gamma for SELU; SHRINK's lambd is alpha, its bias gamma.
 * ROUND takes halves to even whatever the rounding mode.  y may be x. */
void kernel_unary(UnaryOp op, int64_t n, float alpha, float gamma, const float *x, float *y);

/* x (rank, dims) broadcast to y's shape (y_rank >= rank, numpy rules). */
void kernel_expand(const float *x, int rank, const int64_t *dims, int y_rank, const int64_t *y_dims, float *y);

/* y = xs[0] OP xs[1] OP ... left to right, all broadcast to y's shape; with
 * `mean`, the sum divided by n_inputs.  For max, min and sum (BINARY_ADD). */
void kernel_variadic(BinaryOp op, bool mean, int n_inputs, const float *const *xs, const int *ranks,
                     const int64_t *const *dims, int y_rank, const int64_t *y_dims, float *y);

typedef enum {
    REDUCE_MEAN, REDUCE_SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, REDUCE_L1, REDUCE_L2, REDUCE_SUM_SQUARE,
    REDUCE_LOG_SUM, REDUCE_LOG_SUM_EXP,
} ReduceOp;

/* y = the reduction of x over the axes i with reduced[i] (none: each element
 * alone), in double; y holds the kept axes in order (keepdims does not move
 * data).  MAX, MIN and LOG_SUM_EXP propagate NaN; LOG_SUM_EXP subtracts the
 * maximum first, so that large inputs do not overflow. */
void kernel_reduce(ReduceOp op, const float *x, int rank, const int64_t *dims, const bool *reduced, float *y);

/* Each of `rows` rows of `size`: y = (x - mean) / sqrt(var + epsilon), the
 * biased variance, in double.  y may be x. */
void kernel_normalize_rows(int64_t rows, int64_t size, float epsilon, const float *x, float *y);
/* InstanceNormalization of x[N,C,size]: each (n, c) row normalized, then
 * times scale[c] plus bias[c]. */
void kernel_instancenorm(int64_t batch, int64_t channels, int64_t size, float epsilon, const float *x,
                         const float *scale, const float *bias, float *y);

/* Hardmax of x viewed as [outer, axis, inner] over the middle axis: 1 at the
 * first maximum, 0 elsewhere (the first NaN is the maximum, as numpy's argmax). */
void kernel_hardmax(int64_t outer, int64_t axis, int64_t inner, const float *x, float *y);
/* LRN (ONNX) of x[N,C,size]: each element over the square sum of the channels
 * c - (window-1)/2 .. c + window/2 at its position (inside 0..C-1), in double. */
void kernel_lrn(int64_t batch, int64_t channels, int64_t size, int64_t window, float alpha, float beta,
                float bias, const float *x, float *y);

/* The determinants of `count` m x m matrices (m <= KERNEL_DET_MAX = IR_DET_MAX,
 * the verifier's bound), by LU with partial pivoting in double. */
enum { KERNEL_DET_MAX = 64 };
void kernel_det(int64_t count, int64_t m, const float *x, float *y);

/* ---- resampling and data movement (runtime/kernels_layout.c) ---- */

/* y[N,M,out..] = the transposed convolution of x[N,C,in..] by w[C,M/group,kernel..]
 * (ONNX ConvTranspose: input pixel i meets output pixel i * stride + tap *
 * dilation - pad begin), plus bias[M] (may be NULL). */
void kernel_convtranspose(const ConvParams *p, const float *x, const float *w, const float *bias, float *y);
/* y[N,C,out..] = x[N,C,in..] with strides - 1 zeros between neighbours (in_channels
 * is C; out = strides (in - 1) + 1; kernel, dilations and pads unused). */
void kernel_dilate(const ConvParams *p, const float *x, float *y);

typedef enum {
    RESIZE_HALF_PIXEL, RESIZE_PYTORCH_HALF_PIXEL, RESIZE_ALIGN_CORNERS, RESIZE_ASYMMETRIC,
    RESIZE_TF_HALF_PIXEL_FOR_NN, RESIZE_TF_CROP_AND_RESIZE,
} ResizeCoord;
typedef enum { RESIZE_ROUND_PREFER_FLOOR, RESIZE_ROUND_PREFER_CEIL, RESIZE_FLOOR, RESIZE_CEIL } ResizeNearest;

typedef struct {
    int rank;
    int64_t in[KERNEL_MAX_RANK], out[KERNEL_MAX_RANK];
    double scales[KERNEL_MAX_RANK];
    bool linear;                /* else nearest, unless cubic */
    bool cubic;                 /* Keys' cubic convolution, 4 taps an axis */
    double cubic_a;             /* its coefficient a */
    bool exclude_outside;       /* cubic: taps outside the input weigh 0, the rest renormalized */
    double roi[2 * KERNEL_MAX_RANK];    /* tf_crop_and_resize: the crop, starts then ends (fractions) */
    float extrapolation;        /* tf_crop_and_resize: the value where the source lies outside the input */
    ResizeCoord coord;
    ResizeNearest nearest;
} ResizeParams;

/* ONNX Resize, nearest, (multi-)linear or cubic (separable: the product of
 * the axes' weights), indices clamped to the input. */
void kernel_resize(const ResizeParams *p, const float *x, float *y);
typedef enum { GRID_BILINEAR, GRID_NEAREST, GRID_BICUBIC } GridMode;
typedef enum { GRID_ZEROS, GRID_BORDER, GRID_REFLECTION } GridPadding;

/* ONNX GridSample: y[n,c,i,j] = x[n,c] sampled at grid[n,i,j] = (x, y) in
 * -1..1 (the corner pixels' centres with align_corners, else their outer
 * edges), as ONNX's reference: nearest rounds halves to even, bicubic is
 * Keys' with a = -0.75, taps outside read 0, the border or the reflection. */
void kernel_gridsample(int64_t batch, int64_t channels, int64_t h, int64_t w, int64_t h_out, int64_t w_out,
                       GridMode mode, GridPadding padding, bool align_corners, const float *x, const float *grid,
                       float *y);
/* y[o] = x[starts + o * steps] per axis; out is y's dims. */
void kernel_slice(const float *x, int rank, const int64_t *dims, const int64_t *starts, const int64_t *steps,
                  const int64_t *out, float *y);
/* y[o] = x[o mod dims] per axis; out is y's dims. */
void kernel_tile(const float *x, int rank, const int64_t *dims, const int64_t *out, float *y);
/* Reflect (mirror without the edge; pads below dims) or edge (repeat it) padding,
 * pads non-negative, rank begins then rank ends. */
void kernel_pad_mode(const float *x, int rank, const int64_t *dims, const int64_t *pads, bool reflect, float *y);

/* ---- element types and indexing (runtime/kernels_index.c) ---- */

/* Casts of float32 storage: to an integer type truncates toward zero, to bool
 * is x != 0 (0 or 1), to a float copies. */
typedef enum { CAST_FLOAT, CAST_INT, CAST_BOOL } CastMode;
void kernel_cast(int64_t n, CastMode mode, const float *x, float *y);
/* Index of the largest (argmax) or smallest element along the middle axis of
 * x[outer, len, inner], the first of equals or (last) the last; NaN wins. */
void kernel_argextreme(int64_t outer, int64_t len, int64_t inner, bool max, bool last, const float *x, float *y);
/* y[outer, n_idx, inner] = data[outer, idx, inner] along an axis of length
 * len; a negative index counts from the end.  Returns the position in idx of
 * the first index out of [-len, len) (y then incomplete), or -1. */
int64_t kernel_gather(int64_t outer, int64_t len, int64_t inner, const float *data, int64_t n_idx,
                      const float *idx, float *y);
/* ONNX GatherElements: y[i..] = data[i.. with axis i_axis replaced by idx[i..]],
 * idx of shape idx_dims, data of data_dims (same rank).  Returns the flat
 * position of the first index out of range, or -1. */
int64_t kernel_gather_elements(int rank, const int64_t *data_dims, const float *data, const int64_t *idx_dims,
                               const float *idx, int axis, float *y);
/* ONNX ScatterND: y = data (numel elements of data_dims, rank), then each
 * of the `tuples` rows of k indices in idx addresses a slice of `slice`
 * elements of y, which takes the row's updates combined by `reduction`
 * (ir.h's ScatterReduction: 0 replace, 1 add, 2 multiply, 3 max, 4 min), in
 * order.  Returns the position in idx of the first index out of range (y
 * then incomplete), or -1. */
int64_t kernel_scatter_nd(int rank, const int64_t *data_dims, const float *data, int64_t tuples, int k,
                          const float *idx, const float *updates, int reduction, float *y);
/* ONNX ScatterElements: y = data, then updates[p] (p over idx_dims, the
 * shape of idx and updates) combined into y at p with its axis coordinate
 * replaced by idx[p].  Returns the flat position of the first index out of
 * range, or -1. */
int64_t kernel_scatter_elements(int rank, const int64_t *data_dims, const float *data, const int64_t *idx_dims,
                                const float *idx, const float *updates, int axis, int reduction, float *y);
/* The positions of the k largest (or smallest) elements along the middle
 * axis of x[outer, len, inner], best first, the lower index first among
 * equals, NaN above every number: y[outer, k, inner]. */
void kernel_topk(int64_t outer, int64_t len, int64_t inner, int64_t k, bool largest, const float *x, float *y);
/* The triangle of each [rows, cols] matrix of x[batch, rows, cols]: upper keeps
 * j - i >= k, lower j - i <= k; the rest zero. */
void kernel_trilu(int64_t batch, int64_t rows, int64_t cols, bool upper, int64_t k, const float *x, float *y);
/* Running sums along the middle axis of x[outer, len, inner] (in double), exclusive
 * (leaving the element out) and/or reverse (from the end). */
void kernel_cumsum(int64_t outer, int64_t len, int64_t inner, bool exclusive, bool reverse, const float *x,
                   float *y);

#endif
