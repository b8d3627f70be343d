/* interp.c: the float32 reference interpreter.
 *
 * interp_new() gives every value of a verified graph a buffer, indexed by
 * value id: a constant's buffer is its data, the result of a pure copy
 * (reshape, flatten, squeeze, unsqueeze, identity, dropout) is its input's
 * buffer, and everything else gets memory of its own, malloc'd here (the
 * Interp lives apart from the graph's arena so that it can be freed alone).
 * interp_run() then walks the ops in order with one switch, reading each op's
 * attributes (defaults as in ir/ops.def) and calling a kernel; it allocates
 * nothing (xbar ops use one scratch buffer planned here).  A quantized xbar op
 * runs as the integer reference of docs/crossbar.md section 3: codes through
 * runtime/quant.h, an exact int64 accumulation, one dequantization; a float
 * one as an im2col times kernel_product (each output summed in k order,
 * without fused multiply-adds: the same bits on every CPU).  Buffers are never reused
 * between values, so every intermediate is still there for interp_value()
 * after a run.  The graph must outlive the Interp. */
#include "runtime.h"
#include "kernels.h"
#include "quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct Interp {
    const Graph *graph;
    float **buffers;        /* by value id */
    float **owned;          /* the ones malloc'd here */
    int n_owned;
    void *scratch;          /* for xbar ops: the largest interp_xbar_scratch() */
};

static bool is_copy(OpKind kind)
{
    switch (kind) {
    case OP_FLATTEN: case OP_RESHAPE: case OP_SQUEEZE: case OP_UNSQUEEZE:
    case OP_IDENTITY: case OP_DROPOUT:
        return true;
    default:
        return false;
    }
}

static float *own_buffer(Interp *in, const Value *v)
{
    int64_t n = type_numel(&v->type);
    float *buf = calloc((size_t)(n > 0 ? n : 1), sizeof *buf);
    if (!buf) {
        fprintf(stderr, "xbarc: out of memory for the buffer of %%%s\n", v->name);
        abort();
    }
    in->owned[in->n_owned++] = buf;
    return buf;
}

/* Whether v gets memory of its own in interp_new (else: its data, or its
 * copy-op input's buffer). */
static bool owns_buffer(const Value *v)
{
    return !v->data && (!v->def || !is_copy(v->def->kind) || v->def->dead);
}

bool interp_fits(const Graph *g, int copies, Diags *diags)
{
    uint64_t floats = 0, scratch = 0;
    for (int i = 0; i < g->n_values; i++)
        if (owns_buffer(g->values[i]))
            floats += (uint64_t)type_numel(&g->values[i]->type);
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i]->kind == OP_XBAR && interp_xbar_scratch(g->ops[i]) > scratch)
            scratch = interp_xbar_scratch(g->ops[i]);
    /* at most 2^31 values of at most 2^32 floats each: no overflow */
    uint64_t bytes = floats * sizeof(float) + scratch;
    const char *what = arena_printf(diags->arena, "running @%s in the float interpreter%s",
                                    ir_name_text(diags->arena, g->name),
                                    copies > 1 ? arena_printf(diags->arena, " (%d copies)", copies) : "");
    Loc file = {.file = g->n_ops ? g->ops[0]->loc.file : NULL};     /* the model's */
    return memory_check(bytes, copies > 1 ? (uint64_t)copies : 1, what, &file, diags);
}

Interp *interp_new(const Graph *g)
{
    int n = g->n_values > 0 ? g->n_values : 1;
    Interp *in = calloc(1, sizeof *in);
    float **buffers = calloc((size_t)n, sizeof *buffers);
    float **owned = calloc((size_t)n, sizeof *owned);
    if (!in || !buffers || !owned) {
        fprintf(stderr, "xbarc: out of memory for the interpreter\n");
        abort();
    }
    in->graph = g;
    in->buffers = buffers;
    in->owned = owned;
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (v->data)
            in->buffers[v->id] = v->data;
        else if (!v->def)
            in->buffers[v->id] = own_buffer(in, v);     /* an input */
    }
    /* Ops in topological order, so a copy's input has its buffer already. */
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        const Value *r = op->result;
        if (in->buffers[r->id])
            continue;
        in->buffers[r->id] = owns_buffer(r) ? own_buffer(in, r) : in->buffers[op->inputs[0]->id];
    }
    size_t scratch = 0;
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i]->kind == OP_XBAR && interp_xbar_scratch(g->ops[i]) > scratch)
            scratch = interp_xbar_scratch(g->ops[i]);
    if (scratch && !(in->scratch = aligned_alloc(16, scratch))) {
        fprintf(stderr, "xbarc: out of memory for the interpreter's scratch\n");
        abort();
    }
    return in;
}

void interp_free(Interp *interp)
{
    if (!interp)
        return;
    for (int i = 0; i < interp->n_owned; i++)
        free(interp->owned[i]);
    free(interp->owned);
    free(interp->buffers);
    free(interp->scratch);
    free(interp);
}

float *interp_input(Interp *interp, int index)
{
    return interp->buffers[interp->graph->inputs[index]->id];
}

const float *interp_output(const Interp *interp, int index)
{
    return interp->buffers[interp->graph->outputs[index]->id];
}

const float *interp_value(const Interp *interp, const Value *value)
{
    return interp->buffers[value->id];
}

/* ---- attributes ---- */

/* Copies `count` ints of attribute `name` into out, or fills it with dflt. */
static void ints_or(const Op *op, const char *name, int count, int64_t dflt, int64_t *out)
{
    const int64_t *v;
    int n = ir_attr_ints(op, name, &v);
    for (int i = 0; i < count; i++)
        out[i] = n == count ? v[i] : dflt;
}

static void conv_params(const Op *op, ConvParams *p)
{
    const Type *x = &op->inputs[0]->type, *w = &op->inputs[1]->type, *y = &op->result->type;
    int s = x->rank - 2;
    memset(p, 0, sizeof *p);
    p->spatial = s;
    p->batch = x->dims[0];
    p->in_channels = x->dims[1];
    p->out_channels = w->dims[0];
    p->group = ir_attr_int(op, "group", 1);
    for (int i = 0; i < s; i++) {
        p->in[i] = x->dims[2 + i];
        p->kernel[i] = w->dims[2 + i];
        p->out[i] = y->dims[2 + i];
    }
    ints_or(op, "strides", s, 1, p->strides);
    ints_or(op, "dilations", s, 1, p->dilations);
    ints_or(op, "pads", 2 * s, 0, p->pads);
}

static void pool_params(const Op *op, PoolParams *p)
{
    const Type *x = &op->inputs[0]->type, *y = &op->result->type;
    int s = x->rank - 2;
    memset(p, 0, sizeof *p);
    p->spatial = s;
    p->planes = x->dims[0] * x->dims[1];
    for (int i = 0; i < s; i++) {
        p->in[i] = x->dims[2 + i];
        p->out[i] = y->dims[2 + i];
    }
    ints_or(op, "kernel", s, 1, p->kernel);
    ints_or(op, "strides", s, 1, p->strides);
    ints_or(op, "dilations", s, 1, p->dilations);
    ints_or(op, "pads", 2 * s, 0, p->pads);
    p->count_include_pad = ir_attr_int(op, "count_include_pad", 0) != 0;
}

static void gemm_params(const Op *op, GemmParams *p)
{
    const Type *a = &op->inputs[0]->type, *y = &op->result->type;
    p->trans_a = ir_attr_int(op, "transA", 0) != 0;
    p->trans_b = ir_attr_int(op, "transB", 0) != 0;
    p->alpha = ir_attr_float(op, "alpha", 1.0f);
    p->beta = ir_attr_float(op, "beta", 1.0f);
    p->m = y->dims[0];
    p->n = y->dims[1];
    p->k = p->trans_a ? a->dims[0] : a->dims[1];
    p->c_rows = p->c_cols = 1;
    if (op->n_inputs > 2) {
        const Type *c = &op->inputs[2]->type;
        if (c->rank >= 1)
            p->c_cols = c->dims[c->rank - 1];
        if (c->rank == 2)
            p->c_rows = c->dims[0];
    }
}

/* Product of dims[from..to). */
static int64_t extent(const Type *t, int from, int to)
{
    int64_t n = 1;
    for (int i = from; i < to; i++)
        n *= t->dims[i];
    return n;
}

/* ---- the crossbar op: float, or the integer reference (docs/crossbar.md 3) ---- */

/* The conv form works on blocks of up to BLOCK_FLOATS / K (at most
 * BLOCK_PIXELS) output pixels of one image and group: their im2col matrix,
 * transposed (K rows of R pixels), is gathered into the scratch, and the float
 * path multiplies it by the group's weights with kernel_product straight into y,
 * whose layout [batch, G*N, pixels] is that product's.  The matmul form needs
 * no gather: x is the matrix. */
enum { BLOCK_FLOATS = 1 << 20, BLOCK_PIXELS = 4096 };

/* Output pixels per block of the conv form. */
static int64_t block_pixels(const XbarGeom *geo)
{
    int64_t r = BLOCK_FLOATS / geo->k;
    r = r < 1 ? 1 : r > BLOCK_PIXELS ? BLOCK_PIXELS : r;
    return r < geo->pixels ? r : geo->pixels;
}

/* The gather goes by runs: pixels in a row along the last axis (the same
 * position on the others), whose taps are a strided stretch of one input row
 * between zeros, so that bounds are worked out once per run, not per tap.
 * Run j of pixels p0..p0+R is runs[j * (spatial + 1) ...]: its length, then
 * where its first window starts on the last axis, then on axes 0..spatial-2. */
static int64_t block_runs(const XbarGeom *geo, int64_t p0, int64_t R, int64_t *runs)
{
    int s = geo->spatial;
    int64_t last = geo->out[s - 1], n = 0;
    for (int64_t r = 0; r < R; n++) {
        int64_t p = p0 + r, pos = p % last, rest = p / last;
        int64_t *run = runs + n * (s + 1);
        run[0] = last - pos < R - r ? last - pos : R - r;
        run[1] = pos * geo->strides[s - 1] - geo->pads[s - 1];
        for (int i = s - 2; i >= 0; i--) {
            run[2 + i] = (rest % geo->out[i]) * geo->strides[i] - geo->pads[i];
            rest /= geo->out[i];
        }
        r += run[0];
    }
    return n;
}

/* The transposed im2col of pixels p0..p0+R of image b, group g: col[k * R + r]
 * is tap k (channel c, window position: the last axis fastest) of pixel p0+r,
 * 0 in the padding.  `runs` is scratch for block_runs (R * (spatial + 1)). */
static void gather_block(const XbarGeom *geo, const float *x, int64_t b, int64_t g, int64_t p0, int64_t R,
                         int64_t *runs, float *col)
{
    int s = geo->spatial;
    int64_t plane = 1, in_stride[IR_MAX_RANK];
    for (int i = s - 1; i >= 0; i--) {
        in_stride[i] = plane;
        plane *= geo->in[i];
    }
    int64_t n_runs = block_runs(geo, p0, R, runs);
    int64_t window = geo->k / geo->channels, width = geo->in[s - 1], step = geo->strides[s - 1];
    for (int64_t c = 0; c < geo->channels; c++) {
        const float *xc = x + ((b * geo->groups + g) * geo->channels + c) * plane;
        for (int64_t t = 0; t < window; t++) {
            int64_t reach[IR_MAX_RANK], tap = t;    /* the tap's offset from the window's start, per axis */
            for (int i = s - 1; i >= 0; i--) {
                reach[i] = (tap % geo->kernel[i]) * geo->dilations[i];
                tap /= geo->kernel[i];
            }
            float *dst = col + (c * window + t) * R;
            for (int64_t j = 0; j < n_runs; j++) {
                const int64_t *run = runs + j * (s + 1);
                int64_t len = run[0], start = run[1] + reach[s - 1], offset = 0;
                bool inside = true;
                for (int i = 0; i < s - 1; i++) {
                    int64_t pos = run[2 + i] + reach[i];
                    inside &= pos >= 0 && pos < geo->in[i];
                    offset += pos * in_stride[i];
                }
                /* pixel m of the run reads start + m * step: inside for m in [lo, hi) */
                int64_t lo = start >= 0 ? 0 : (-start + step - 1) / step;
                int64_t hi = start >= width ? 0 : (width - 1 - start) / step + 1;
                lo = inside ? (lo < len ? lo : len) : len;
                hi = hi < lo ? lo : hi > len ? len : hi;
                int64_t from = offset + start;     /* where pixel 0 would read: maybe outside */
                for (int64_t m = 0; m < lo; m++)
                    dst[m] = 0.0f;
                if (step == 1 && lo < hi)
                    memcpy(dst + lo, xc + from + lo, (size_t)(hi - lo) * sizeof(float));
                else
                    for (int64_t m = lo; m < hi; m++)
                        dst[m] = xc[from + m * step];
                for (int64_t m = hi; m < len; m++)
                    dst[m] = 0.0f;
                dst += len;
            }
        }
    }
}

static size_t align16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

size_t interp_xbar_scratch(const Op *op)
{
    XbarGeom geo;
    if (!xbar_geom(op, &geo))
        return 0;
    /* conv: a block's im2col and its runs; quantized: a row's K codes and N accumulators */
    size_t block = 0;
    if (geo.conv) {
        int64_t R = block_pixels(&geo);
        block = align16((size_t)(R * geo.k) * 4) + align16((size_t)(R * (geo.spatial + 1)) * 8);
    }
    return block + align16((size_t)geo.k * 4) + align16((size_t)geo.n * 8);
}

/* The float path of R rows (a block of one image's pixels for the conv form,
 * whose `a` is the transposed im2col): the product and the bias, in float. */
static void xbar_float(const XbarGeom *geo, const float *a, const float *wg, const float *bias, int64_t R,
                       float *y, int64_t ldy)
{
    int64_t K = geo->k, N = geo->n;
    if (geo->conv) {    /* y[n, r] (row stride ldy) = sum_k w[k, n] col[k, r] */
        kernel_product(N, R, K, wg, 1, N, a, R, y, ldy);
        for (int64_t n = 0; bias && n < N; n++)
            for (int64_t r = 0; r < R; r++)
                y[n * ldy + r] += bias[n];
    } else {            /* y[r, n] = sum_k x[r, k] w[k, n] */
        kernel_product(R, N, K, a, K, 1, wg, N, y, ldy);
        for (int64_t r = 0; bias && r < R; r++)
            for (int64_t n = 0; n < N; n++)
                y[r * ldy + n] += bias[n];
    }
}

typedef struct {
    float in_scale;
    int32_t lo, hi;             /* input code range */
    int32_t *codes;             /* K */
    int64_t *acc;               /* N */
} IntRef;

/* The integer reference of rows [0, R): codes, an exact int64 sum, one
 * dequantization.  Row r's K inputs are a[r * row_step + k * k_step]. */
static void xbar_integer(const XbarGeom *geo, const IntRef *q, const float *a, int64_t row_step, int64_t k_step,
                         const float *wg, const float *bias, const float *w_scale, int64_t R, float *y,
                         int64_t r_step, int64_t n_step)
{
    int64_t K = geo->k, N = geo->n;
    for (int64_t r = 0; r < R; r++) {
        memset(q->acc, 0, (size_t)N * sizeof *q->acc);
        for (int64_t k = 0; k < K; k++)
            q->codes[k] = quant_code(a[r * row_step + k * k_step], q->in_scale, q->lo, q->hi);
        for (int64_t k = 0; k < K; k++) {
            int64_t c = q->codes[k];
            const float *wk = wg + k * N;
            for (int64_t n = 0; c && n < N; n++)
                q->acc[n] += c * (int64_t)wk[n];
        }
        for (int64_t n = 0; n < N; n++) {
            float b = bias ? bias[n] : 0.0f;
            y[r * r_step + n * n_step] = quant_dequant(q->acc[n], quant_out_scale(q->in_scale, w_scale[n]), b);
        }
    }
}

void interp_exec_xbar(const Op *op, const float *const *in, float *y, void *scratch)
{
    XbarGeom geo;
    if (!xbar_geom(op, &geo))
        return;
    const float *x = in[0], *w = in[1], *bias = op->n_inputs > 2 ? in[2] : NULL;
    int64_t K = geo.k, N = geo.n, G = geo.groups;
    bool quantized = ir_attr(op, "in_scale") != NULL;
    IntRef q = {0};
    const float *w_scale = NULL;
    if (quantized) {
        bool is_signed = ir_attr_int(op, "in_signed", 0) != 0;
        q.in_scale = ir_attr_float(op, "in_scale", 1.0f);
        q.hi = quant_qmax((int)ir_attr_int(op, "in_bits", 8), is_signed);
        q.lo = is_signed ? -q.hi : 0;
        w_scale = ir_attr(op, "w_scale")->floats;
    }
    char *at = scratch;
    float *col = NULL;
    int64_t *runs = NULL, R = 0;
    if (geo.conv) {
        R = block_pixels(&geo);
        col = (float *)at;
        at += align16((size_t)(R * K) * 4);
        runs = (int64_t *)at;
        at += align16((size_t)(R * (geo.spatial + 1)) * 8);
    }
    q.codes = (int32_t *)at;
    q.acc = (int64_t *)(at + align16((size_t)K * 4));

    if (!geo.conv) {    /* one group: x is [rows, K], y [rows, N]; blocks keep BLAS's ints small */
        for (int64_t p0 = 0; p0 < geo.rows; p0 += BLOCK_FLOATS) {
            int64_t rows = geo.rows - p0 < BLOCK_FLOATS ? geo.rows - p0 : BLOCK_FLOATS;
            if (quantized)
                xbar_integer(&geo, &q, x + p0 * K, K, 1, w, bias, w_scale, rows, y + p0 * N, N, 1);
            else
                xbar_float(&geo, x + p0 * K, w, bias, rows, y + p0 * N, N);
        }
        return;
    }
    for (int64_t b = 0; b < geo.batch; b++) {
        for (int64_t g = 0; g < G; g++) {
            const float *wg = w + g * K * N, *bg = bias ? bias + g * N : NULL;
            float *yg = y + (b * G + g) * N * geo.pixels;   /* [N, pixels] */
            for (int64_t p0 = 0; p0 < geo.pixels; p0 += R) {
                int64_t rows = geo.pixels - p0 < R ? geo.pixels - p0 : R;
                gather_block(&geo, x, b, g, p0, rows, runs, col);
                if (quantized)
                    xbar_integer(&geo, &q, col, 1, rows, wg, bg, w_scale + g * N, rows, yg + p0, 1, geo.pixels);
                else
                    xbar_float(&geo, col, wg, bg, rows, yg + p0, geo.pixels);
            }
        }
    }
}

/* ---- execution ---- */

bool interp_op_splits(const Op *op)
{
    const Type *yt = &op->result->type;
    switch (op->kind) {
    case OP_RELU:
    case OP_MAXPOOL:
    case OP_AVGPOOL:
        return true;
    case OP_ADD:
        return !dtype_is_int(yt->dtype) && type_numel(&op->inputs[0]->type) == type_numel(yt) &&
               type_numel(&op->inputs[1]->type) == type_numel(yt);
    default:
        return false;
    }
}

void interp_exec_op_part(const Op *op, const float *const *in, float *y, int part, int parts)
{
    if (op->kind == OP_MAXPOOL || op->kind == OP_AVGPOOL) {     /* planes [lo, hi): pooling never mixes them */
        PoolParams p;
        pool_params(op, &p);
        int64_t in_plane = 1, out_plane = 1, lo = p.planes * part / parts, hi = p.planes * (part + 1) / parts;
        for (int j = 0; j < p.spatial; j++) {
            in_plane *= p.in[j];
            out_plane *= p.out[j];
        }
        p.planes = hi - lo;
        (op->kind == OP_MAXPOOL ? kernel_maxpool : kernel_avgpool)(&p, in[0] + lo * in_plane, y + lo * out_plane);
        return;
    }
    int64_t n = type_numel(&op->result->type), lo = n * part / parts, hi = n * (part + 1) / parts, count = hi - lo;
    if (op->kind == OP_RELU)
        kernel_relu(count, in[0] + lo, y + lo);
    else
        kernel_binary(BINARY_ADD, in[0] + lo, 1, &count, in[1] + lo, 1, &count, y + lo);
}

void interp_exec_op(const Op *op, const float *const *in, float *y)
{
    const Type *xt = &op->inputs[0]->type, *yt = &op->result->type;
    const float *x = in[0];
    const float *x1 = op->n_inputs > 1 ? in[1] : NULL;
    const float *x2 = op->n_inputs > 2 ? in[2] : NULL;
    int64_t n = type_numel(yt);

    switch (op->kind) {
    case OP_CONV: {
        ConvParams p;
        conv_params(op, &p);
        kernel_conv(&p, x, x1, x2, y);
        break;
    }
    case OP_GEMM: {
        GemmParams p;
        gemm_params(op, &p);
        kernel_gemm(&p, x, x1, x2, y);
        break;
    }
    case OP_MATMUL: {
        const Type *bt = &op->inputs[1]->type;
        kernel_matmul(x, xt->rank, xt->dims, x1, bt->rank, bt->dims, y);
        break;
    }
    case OP_BATCHNORM:
        kernel_batchnorm(xt->dims[0], xt->dims[1], extent(xt, 2, xt->rank), x, x1, x2,
                         in[3], in[4],
                         ir_attr_float(op, "epsilon", 1e-5f), y);
        break;
    case OP_RELU:
        kernel_relu(n, x, y);
        break;
    case OP_LEAKYRELU:
        kernel_leakyrelu(n, ir_attr_float(op, "alpha", 0.01f), x, y);
        break;
    case OP_CLIP:
        kernel_clip(n, ir_attr_float(op, "min", -INFINITY), ir_attr_float(op, "max", INFINITY), x, y);
        break;
    case OP_SIGMOID:
        kernel_sigmoid(n, x, y);
        break;
    case OP_TANH:
        kernel_tanh(n, x, y);
        break;
    case OP_HARDSIGMOID:
        kernel_hardsigmoid(n, ir_attr_float(op, "alpha", 0.2f), ir_attr_float(op, "beta", 0.5f), x, y);
        break;
    case OP_MAXPOOL:
    case OP_AVGPOOL: {
        PoolParams p;
        pool_params(op, &p);
        if (op->kind == OP_MAXPOOL)
            kernel_maxpool(&p, x, y);
        else
            kernel_avgpool(&p, x, y);
        break;
    }
    case OP_GLOBALAVGPOOL:
        kernel_global_avgpool(extent(xt, 0, 2), extent(xt, 2, xt->rank), x, y);
        break;
    case OP_GLOBALMAXPOOL:
        kernel_global_maxpool(extent(xt, 0, 2), extent(xt, 2, xt->rank), x, y);
        break;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV: {
        static const BinaryOp binary[] = {
            [OP_ADD] = BINARY_ADD, [OP_SUB] = BINARY_SUB, [OP_MUL] = BINARY_MUL, [OP_DIV] = BINARY_DIV,
        };
        const Type *bt = &op->inputs[1]->type;
        kernel_binary(binary[op->kind], x, xt->rank, xt->dims, x1, bt->rank, bt->dims, y);
        if (op->kind == OP_DIV && dtype_is_int(yt->dtype))
            kernel_cast(n, CAST_INT, y, y);     /* ONNX: integer division truncates toward zero */
        break;
    }
    case OP_CONCAT: {
        const float *xs[64];
        int64_t sizes[64];
        int axis = (int)ir_attr_int(op, "axis", 0);
        for (int i = 0; i < op->n_inputs && i < 64; i++) {
            xs[i] = in[i];
            sizes[i] = op->inputs[i]->type.dims[axis];
        }
        kernel_concat(op->n_inputs, xs, sizes, extent(yt, 0, axis), extent(yt, axis + 1, yt->rank), y);
        break;
    }
    case OP_TRANSPOSE: {
        int64_t perm[IR_MAX_RANK];
        const int64_t *v;
        int count = ir_attr_ints(op, "perm", &v);
        for (int i = 0; i < xt->rank; i++)
            perm[i] = count == xt->rank ? v[i] : xt->rank - 1 - i;
        kernel_transpose(x, xt->rank, xt->dims, perm, y);
        break;
    }
    case OP_PAD: {
        int64_t pads[2 * IR_MAX_RANK];
        bool reflect;
        if (interp_pad_mode(op, &reflect)) {
            interp_exec_layout(op, in, y);
            break;
        }
        ints_or(op, "pads", 2 * xt->rank, 0, pads);
        kernel_pad(x, xt->rank, xt->dims, pads, ir_attr_float(op, "value", 0.0f), y);
        break;
    }
    case OP_SOFTMAX:
    case OP_LOGSOFTMAX: {
        int axis = (int)ir_attr_int(op, "axis", xt->rank - 1);
        kernel_softmax(extent(xt, 0, axis), xt->dims[axis], extent(xt, axis + 1, xt->rank),
                       op->kind == OP_LOGSOFTMAX, x, y);
        break;
    }
    case OP_FLATTEN:
    case OP_RESHAPE:
    case OP_SQUEEZE:
    case OP_UNSQUEEZE:
    case OP_IDENTITY:
    case OP_DROPOUT:
        kernel_copy(n, x, y);   /* nothing to do when y aliases x, as planned */
        break;
    case OP_XBAR: {     /* interp_run() passes its own scratch instead */
        void *scratch = aligned_alloc(16, interp_xbar_scratch(op) + 16);
        if (!scratch) {
            fprintf(stderr, "xbarc: out of memory for an xbar op's scratch\n");
            abort();
        }
        interp_exec_xbar(op, in, y, scratch);
        free(scratch);
        break;
    }
    case OP_SQRT: case OP_EXP: case OP_LOG: case OP_ERF: case OP_NEG: case OP_RECIPROCAL: case OP_ABS:
    case OP_FLOOR: case OP_CEIL: case OP_ROUND: case OP_SOFTPLUS: case OP_SOFTSIGN: case OP_HARDSWISH:
    case OP_ELU: case OP_SELU: case OP_CELU: case OP_PRELU: case OP_POW: case OP_MAX: case OP_MIN:
    case OP_MEAN: case OP_SUM: case OP_REDUCEMEAN: case OP_REDUCESUM: case OP_REDUCEMAX: case OP_REDUCEMIN:
    case OP_REDUCEPROD: case OP_REDUCEL1: case OP_REDUCEL2: case OP_REDUCESUMSQUARE: case OP_REDUCELOGSUM:
    case OP_EQUAL: case OP_LESS: case OP_GREATER: case OP_LESSOREQUAL: case OP_GREATEROREQUAL: case OP_NOT:
    case OP_AND: case OP_OR: case OP_XOR: case OP_WHERE:
    case OP_SIN: case OP_COS: case OP_TAN: case OP_ASIN: case OP_ACOS: case OP_ATAN: case OP_SINH: case OP_COSH:
    case OP_ASINH: case OP_ACOSH: case OP_ATANH: case OP_SIGN: case OP_THRESHOLDEDRELU: case OP_SHRINK:
    case OP_HARDMAX: case OP_LRN: case OP_DET:
    case OP_REDUCELOGSUMEXP: case OP_LAYERNORM: case OP_INSTANCENORM:
        interp_exec_math(op, in, y);
        break;
    case OP_CONVTRANSPOSE: case OP_DILATE: case OP_RESIZE: case OP_SLICE: case OP_TILE: case OP_GRIDSAMPLE:
        interp_exec_layout(op, in, y);
        break;
    case OP_CAST: case OP_MOD: case OP_ARGMAX: case OP_ARGMIN: case OP_GATHER: case OP_GATHERELEMENTS:
    case OP_TRILU: case OP_CUMSUM: case OP_TOPK: case OP_SCATTERND: case OP_SCATTERELEMENTS:
        interp_exec_index(op, in, y);
        break;
    case OP_COUNT:
        break;
    }
}

void interp_run(Interp *interp)
{
    const Graph *g = interp->graph;
    const float *inputs[64];
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        if (op->dead)
            continue;
        for (int j = 0; j < op->n_inputs && j < 64; j++)
            inputs[j] = interp->buffers[op->inputs[j]->id];
        if (op->kind == OP_XBAR)
            interp_exec_xbar(op, inputs, interp->buffers[op->result->id], interp->scratch);
        else
            interp_exec_op(op, inputs, interp->buffers[op->result->id]);
    }
}
