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
 * runtime/quant.h, an exact int64 accumulation, one dequantization.  Buffers are never reused between values, so every intermediate is
 * still there for interp_value() after a run.  The graph must outlive the
 * Interp. */
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
            in->buffers[v->id] = own_buffer(in, v);
    }
    /* Ops in topological order, so a copy's input has its buffer already. */
    for (int i = 0; i < g->n_ops; i++) {
        const Op *op = g->ops[i];
        const Value *r = op->result;
        if (in->buffers[r->id])
            continue;
        if (is_copy(op->kind) && !op->dead)
            in->buffers[r->id] = in->buffers[op->inputs[0]->id];
        else
            in->buffers[r->id] = own_buffer(in, r);
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

/* One row of the conv form's im2col: the K inputs (c, window position) that
 * row p (batch b, output pixel) of group g reads, 0 in the padding. */
static void gather_window(const XbarGeom *geo, const float *x, int64_t p, int64_t g, float *row)
{
    int s = geo->spatial;
    int64_t b = p / geo->pixels, rest = p % geo->pixels;
    int64_t opos[IR_MAX_RANK], plane = 1;
    for (int i = s - 1; i >= 0; i--) {
        opos[i] = rest % geo->out[i];
        rest /= geo->out[i];
        plane *= geo->in[i];
    }
    int64_t window = geo->k / geo->channels, k = 0;
    for (int64_t c = 0; c < geo->channels; c++) {
        const float *xc = x + ((b * geo->groups + g) * geo->channels + c) * plane;
        for (int64_t t = 0; t < window; t++, k++) {
            int64_t tap = t, offset = 0, stride = 1;
            bool inside = true;
            for (int i = s - 1; i >= 0; i--) {      /* the last axis varies fastest */
                int64_t pos = opos[i] * geo->strides[i] - geo->pads[i] + (tap % geo->kernel[i]) * geo->dilations[i];
                tap /= geo->kernel[i];
                inside &= pos >= 0 && pos < geo->in[i];
                offset += pos * stride;
                stride *= geo->in[i];
            }
            row[k] = inside ? xc[offset] : 0.0f;
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
    /* a row of K floats, its K codes, N accumulators */
    return 2 * align16((size_t)geo.k * 4) + align16((size_t)geo.n * 8);
}

void interp_exec_xbar(const Op *op, const float *const *in, float *y, void *scratch)
{
    XbarGeom geo;
    if (!xbar_geom(op, &geo))
        return;
    const float *x = in[0], *w = in[1], *bias = op->n_inputs > 2 ? in[2] : NULL;
    int64_t K = geo.k, N = geo.n, G = geo.groups;
    float *row_buf = scratch;
    int32_t *codes = (int32_t *)((char *)scratch + align16((size_t)K * 4));
    void *acc = (char *)scratch + 2 * align16((size_t)K * 4);
    int64_t *iacc = acc;
    float *facc = acc;

    const Attr *w_scale = ir_attr(op, "w_scale");
    bool quantized = ir_attr(op, "in_scale") != NULL;
    float in_scale = ir_attr_float(op, "in_scale", 1.0f);
    bool is_signed = ir_attr_int(op, "in_signed", 0) != 0;
    int32_t qmax = quant_qmax((int)ir_attr_int(op, "in_bits", 8), is_signed);
    int32_t lo = is_signed ? -qmax : 0;

    for (int64_t p = 0; p < geo.rows; p++) {
        for (int64_t g = 0; g < G; g++) {
            const float *row = x + p * K;
            if (geo.conv) {
                gather_window(&geo, x, p, g, row_buf);
                row = row_buf;
            }
            const float *wg = w + g * K * N;
            if (quantized) {
                memset(iacc, 0, (size_t)N * sizeof *iacc);
                for (int64_t k = 0; k < K; k++)
                    codes[k] = quant_code(row[k], in_scale, lo, qmax);
                for (int64_t k = 0; k < K; k++) {
                    int64_t c = codes[k];
                    const float *wk = wg + k * N;
                    for (int64_t n = 0; c && n < N; n++)
                        iacc[n] += c * (int64_t)wk[n];
                }
            } else {
                memset(facc, 0, (size_t)N * sizeof *facc);
                for (int64_t k = 0; k < K; k++) {
                    float v = row[k];
                    const float *wk = wg + k * N;
                    for (int64_t n = 0; v != 0.0f && n < N; n++)
                        facc[n] += v * wk[n];
                }
            }
            for (int64_t n = 0; n < N; n++) {
                int64_t col = g * N + n;
                float b = bias ? bias[col] : 0.0f;
                float v = quantized ? quant_dequant(iacc[n], quant_out_scale(in_scale, w_scale->floats[col]), b)
                                    : facc[n] + b;
                if (geo.conv)
                    y[((p / geo.pixels) * G * N + col) * geo.pixels + p % geo.pixels] = v;
                else
                    y[p * N + n] = v;
            }
        }
    }
}

/* ---- execution ---- */

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
