/* interp_math.c: the element-wise math ops, reductions and normalizations of
 * ops.def, for interp_exec_op (so the simulator's digital units run them too):
 * each op's attributes read (defaults as ops.def names them) and its kernel
 * of runtime/kernels_math.c called. */
#include "runtime.h"
#include "kernels.h"

#include <string.h>

static const UnaryOp unary_ops[OP_COUNT] = {
    [OP_SQRT] = UNARY_SQRT, [OP_EXP] = UNARY_EXP, [OP_LOG] = UNARY_LOG, [OP_ERF] = UNARY_ERF,
    [OP_NEG] = UNARY_NEG, [OP_RECIPROCAL] = UNARY_RECIPROCAL, [OP_ABS] = UNARY_ABS,
    [OP_FLOOR] = UNARY_FLOOR, [OP_CEIL] = UNARY_CEIL, [OP_ROUND] = UNARY_ROUND,
    [OP_SOFTPLUS] = UNARY_SOFTPLUS, [OP_SOFTSIGN] = UNARY_SOFTSIGN, [OP_HARDSWISH] = UNARY_HARDSWISH,
    [OP_ELU] = UNARY_ELU, [OP_SELU] = UNARY_SELU, [OP_CELU] = UNARY_CELU, [OP_NOT] = UNARY_NOT,
    [OP_SIN] = UNARY_SIN, [OP_COS] = UNARY_COS, [OP_TAN] = UNARY_TAN, [OP_ASIN] = UNARY_ASIN,
    [OP_ACOS] = UNARY_ACOS, [OP_ATAN] = UNARY_ATAN, [OP_SINH] = UNARY_SINH, [OP_COSH] = UNARY_COSH,
    [OP_ASINH] = UNARY_ASINH, [OP_ACOSH] = UNARY_ACOSH, [OP_ATANH] = UNARY_ATANH, [OP_SIGN] = UNARY_SIGN,
};

static const BinaryOp binary_ops[OP_COUNT] = {
    [OP_PRELU] = BINARY_PRELU, [OP_POW] = BINARY_POW, [OP_EQUAL] = BINARY_EQUAL, [OP_LESS] = BINARY_LESS,
    [OP_GREATER] = BINARY_GREATER, [OP_LESSOREQUAL] = BINARY_LESS_EQUAL, [OP_GREATEROREQUAL] = BINARY_GREATER_EQUAL,
    [OP_AND] = BINARY_AND, [OP_OR] = BINARY_OR, [OP_XOR] = BINARY_XOR,
};

static const ReduceOp reduce_ops[OP_COUNT] = {
    [OP_REDUCEMEAN] = REDUCE_MEAN, [OP_REDUCESUM] = REDUCE_SUM, [OP_REDUCEMAX] = REDUCE_MAX,
    [OP_REDUCEMIN] = REDUCE_MIN, [OP_REDUCEPROD] = REDUCE_PROD, [OP_REDUCEL1] = REDUCE_L1,
    [OP_REDUCEL2] = REDUCE_L2, [OP_REDUCESUMSQUARE] = REDUCE_SUM_SQUARE, [OP_REDUCELOGSUM] = REDUCE_LOG_SUM,
    [OP_REDUCELOGSUMEXP] = REDUCE_LOG_SUM_EXP,
};

/* SELU's constants as ONNX defines them (float32). */
static const float SELU_ALPHA = 1.67326319217681884765625f, SELU_GAMMA = 1.05070102214813232421875f;

static void exec_reduce(const Op *op, const float *x, float *y)
{
    const Type *xt = &op->inputs[0]->type;
    bool reduced[IR_MAX_RANK] = {false};
    const int64_t *axes;
    int n = ir_attr_ints(op, "axes", &axes);
    for (int i = 0; i < n; i++)
        reduced[axes[i]] = true;
    kernel_reduce(reduce_ops[op->kind], x, xt->rank, xt->dims, reduced, y);
}

/* Rows of the dims from `axis` on, normalized; then times scale, plus bias,
 * both broadcast to x's shape (in place: y has it). */
static void exec_layernorm(const Op *op, const float *const *in, float *y)
{
    const Type *xt = &op->inputs[0]->type;
    int axis = (int)ir_attr_int(op, "axis", 0);
    int64_t size = 1, numel = type_numel(xt);
    for (int i = axis; i < xt->rank; i++)
        size *= xt->dims[i];
    kernel_normalize_rows(numel / size, size, ir_attr_float(op, "epsilon", 1e-5f), in[0], y);
    for (int k = 1; k < op->n_inputs; k++) {
        const Type *pt = &op->inputs[k]->type;
        kernel_binary(k == 1 ? BINARY_MUL : BINARY_ADD, y, xt->rank, xt->dims, in[k], pt->rank, pt->dims, y);
    }
}

static void exec_variadic(const Op *op, const float *const *in, float *y)
{
    int ranks[64];
    const int64_t *dims[64];
    for (int i = 0; i < op->n_inputs && i < 64; i++) {
        ranks[i] = op->inputs[i]->type.rank;
        dims[i] = op->inputs[i]->type.dims;
    }
    BinaryOp bop = op->kind == OP_MAX ? BINARY_MAX : op->kind == OP_MIN ? BINARY_MIN : BINARY_ADD;
    const Type *yt = &op->result->type;
    kernel_variadic(bop, op->kind == OP_MEAN, op->n_inputs, in, ranks, dims, yt->rank, yt->dims, y);
}

void interp_exec_math(const Op *op, const float *const *in, float *y)
{
    const Type *xt = &op->inputs[0]->type;
    int64_t n = type_numel(&op->result->type);
    switch (op->kind) {
    case OP_ELU:
    case OP_CELU:
        kernel_unary(unary_ops[op->kind], n, ir_attr_float(op, "alpha", 1.0f), 0.0f, in[0], y);
        break;
    case OP_THRESHOLDEDRELU:
        kernel_unary(UNARY_THRESHOLDED_RELU, n, ir_attr_float(op, "alpha", 1.0f), 0.0f, in[0], y);
        break;
    case OP_SHRINK:
        kernel_unary(UNARY_SHRINK, n, ir_attr_float(op, "lambd", 0.5f), ir_attr_float(op, "bias", 0.0f), in[0], y);
        break;
    case OP_HARDMAX: {
        int64_t axis = ir_attr_int(op, "axis", 0), outer = 1, inner = 1;
        for (int i = 0; i < axis; i++)
            outer *= xt->dims[i];
        for (int i = (int)axis + 1; i < xt->rank; i++)
            inner *= xt->dims[i];
        kernel_hardmax(outer, xt->dims[axis], inner, in[0], y);
        break;
    }
    case OP_DET: {
        int64_t m = xt->dims[xt->rank - 1];
        kernel_det(type_numel(xt) / (m * m), m, in[0], y);
        break;
    }
    case OP_LRN: {
        int64_t size = 1;
        for (int i = 2; i < xt->rank; i++)
            size *= xt->dims[i];
        kernel_lrn(xt->dims[0], xt->dims[1], size, ir_attr_int(op, "size", 1), ir_attr_float(op, "alpha", 1e-4f),
                   ir_attr_float(op, "beta", 0.75f), ir_attr_float(op, "bias", 1.0f), in[0], y);
        break;
    }
    case OP_SELU:
        kernel_unary(UNARY_SELU, n, ir_attr_float(op, "alpha", SELU_ALPHA), ir_attr_float(op, "gamma", SELU_GAMMA),
                     in[0], y);
        break;
    case OP_PRELU: case OP_POW: case OP_EQUAL: case OP_LESS: case OP_GREATER: case OP_LESSOREQUAL:
    case OP_GREATEROREQUAL: case OP_AND: case OP_OR: case OP_XOR: {
        const Type *bt = &op->inputs[1]->type;
        kernel_binary(binary_ops[op->kind], in[0], xt->rank, xt->dims, in[1], bt->rank, bt->dims, y);
        break;
    }
    case OP_WHERE: {
        const Type *at = &op->inputs[1]->type, *bt = &op->inputs[2]->type, *yt = &op->result->type;
        kernel_where(in[0], xt->rank, xt->dims, in[1], at->rank, at->dims, in[2], bt->rank, bt->dims, yt->rank,
                     yt->dims, y);
        break;
    }
    case OP_MAX:
    case OP_MIN:
    case OP_MEAN:
    case OP_SUM:
        exec_variadic(op, in, y);
        break;
    case OP_REDUCEMEAN: case OP_REDUCESUM: case OP_REDUCEMAX: case OP_REDUCEMIN: case OP_REDUCEPROD:
    case OP_REDUCEL1: case OP_REDUCEL2: case OP_REDUCESUMSQUARE: case OP_REDUCELOGSUM: case OP_REDUCELOGSUMEXP:
        exec_reduce(op, in[0], y);
        break;
    case OP_LAYERNORM:
        exec_layernorm(op, in, y);
        break;
    case OP_INSTANCENORM: {
        int64_t size = 1;
        for (int i = 2; i < xt->rank; i++)
            size *= xt->dims[i];
        kernel_instancenorm(xt->dims[0], xt->dims[1], size, ir_attr_float(op, "epsilon", 1e-5f), in[0], in[1],
                            in[2], y);
        break;
    }
    default:        /* the element-wise ops without attributes */
        kernel_unary(unary_ops[op->kind], n, 0.0f, 0.0f, in[0], y);
        break;
    }
}
