/* infer_dtype.c: the element type of every op's result (ir.h's DType), after
 * infer.c has its shape.  Storage is float32 for every dtype, so the rules
 * only decide what a value means: comparisons and logic give bool, argmax,
 * argmin and topk i64, cast its `to`, an index operand must be an integer, and the ops
 * that compute in floats (products, crossbar ops, transcendental functions,
 * normalizations) take float operands only.  Everything else (layout, data
 * movement, arithmetic) keeps its data operand's dtype, with the operands of
 * arithmetic agreeing.  Messages as infer.c's: "OPNAME: what is wrong". */
#include "ir.h"

static const char *dt(const Value *v)
{
    return dtype_name(v->type.dtype);
}

/* Operands `from`.. of op must all be floats (any float dtype: f64 and f16
 * values compute as float32 like the rest). */
static bool all_float(const Op *op, int from, int to, Diags *diags)
{
    for (int i = from; i < to && i < op->n_inputs; i++)
        if (!dtype_is_float(op->inputs[i]->type.dtype))
            return ir_op_error(op, diags, "operand %d is %s: not supported, this op takes floats only", i,
                               dt(op->inputs[i]));
    return true;
}

/* Operands `from`.. agree: all floats, or all of one integer or bool dtype. */
static bool same_kind(const Op *op, int from, int to, Diags *diags)
{
    DType first = op->inputs[from]->type.dtype;
    for (int i = from + 1; i < to && i < op->n_inputs; i++) {
        DType d = op->inputs[i]->type.dtype;
        if (d != first && !(dtype_is_float(d) && dtype_is_float(first)))
            return ir_op_error(op, diags, "operands %d and %d have different element types (%s and %s)", from, i,
                               dtype_name(first), dtype_name(d));
    }
    return true;
}

static bool is_index(const Op *op, int i, Diags *diags)
{
    if (!dtype_is_int(op->inputs[i]->type.dtype))
        return ir_op_error(op, diags, "indices must be an integer tensor, not %s", dt(op->inputs[i]));
    return true;
}

bool infer_dtype(const Op *op, DType *out, Diags *diags)
{
    const int n = op->n_inputs;
    DType first = op->inputs[0]->type.dtype;
    *out = first;
    switch (op->kind) {
    /* products and crossbar layers: floats only (the crossbar path is float32 and quantized) */
    case OP_CONV: case OP_GEMM: case OP_MATMUL: case OP_BATCHNORM: case OP_XBAR: case OP_CONVTRANSPOSE:
    case OP_AVGPOOL: case OP_GLOBALAVGPOOL:
    case OP_SIGMOID: case OP_TANH: case OP_HARDSIGMOID: case OP_LEAKYRELU: case OP_SOFTMAX: case OP_LOGSOFTMAX:
    case OP_SQRT: case OP_EXP: case OP_LOG: case OP_ERF: case OP_RECIPROCAL: case OP_SOFTPLUS: case OP_SOFTSIGN:
    case OP_HARDSWISH: case OP_ELU: case OP_SELU: case OP_CELU: case OP_PRELU: case OP_MEAN:
    case OP_REDUCEMEAN: case OP_REDUCEL2: case OP_REDUCELOGSUM: case OP_REDUCELOGSUMEXP:
    case OP_LAYERNORM: case OP_INSTANCENORM: case OP_RESIZE: case OP_DILATE:
    case OP_SIN: case OP_COS: case OP_TAN: case OP_ASIN: case OP_ACOS: case OP_ATAN: case OP_SINH: case OP_COSH:
    case OP_ASINH: case OP_ACOSH: case OP_ATANH: case OP_THRESHOLDEDRELU: case OP_SHRINK: case OP_HARDMAX:
    case OP_LRN: case OP_DET: case OP_GRIDSAMPLE:
        return all_float(op, 0, n, diags);
    case OP_FLOOR: case OP_CEIL: case OP_ROUND:
        return all_float(op, 0, 1, diags);
    case OP_EQUAL: case OP_LESS: case OP_GREATER: case OP_LESSOREQUAL: case OP_GREATEROREQUAL:
        *out = DT_BOOL;
        return same_kind(op, 0, n, diags);
    case OP_NOT: case OP_AND: case OP_OR: case OP_XOR:
        *out = DT_BOOL;     /* an operand is true when nonzero */
        return true;
    case OP_WHERE:
        *out = op->inputs[1]->type.dtype;
        return same_kind(op, 1, 3, diags);
    case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: case OP_MOD: case OP_MAX: case OP_MIN: case OP_SUM:
    case OP_CONCAT:
        if (first == DT_BOOL && op->kind != OP_CONCAT && op->kind != OP_MAX && op->kind != OP_MIN)
            return ir_op_error(op, diags, "takes numbers, not bool");
        return same_kind(op, 0, n, diags);
    case OP_POW:            /* the exponent may have a type of its own */
        if (first == DT_BOOL)
            return ir_op_error(op, diags, "takes numbers, not bool");
        return true;
    case OP_CAST: {
        const Attr *to = ir_attr(op, "to");
        if (!to || to->kind != ATTR_STRING || !dtype_from_name(to->s, out))
            return ir_op_error(op, diags, "missing or unknown attribute 'to' (a dtype name such as \"i64\")");
        return true;
    }
    case OP_ARGMAX: case OP_ARGMIN: case OP_TOPK:
        *out = DT_I64;
        return first != DT_BOOL || ir_op_error(op, diags, "takes numbers, not bool");
    case OP_GATHER: case OP_GATHERELEMENTS:
        return is_index(op, 1, diags);
    case OP_SCATTERND: case OP_SCATTERELEMENTS: {     /* updates of data's kind */
        DType updates = op->inputs[2]->type.dtype;
        if (updates != first && !(dtype_is_float(first) && dtype_is_float(updates)))
            return ir_op_error(op, diags, "updates are %s, data %s", dt(op->inputs[2]), dt(op->inputs[0]));
        return is_index(op, 1, diags);
    }
    case OP_CUMSUM:
        return first != DT_BOOL || ir_op_error(op, diags, "takes numbers, not bool");
    default:                /* layout, data movement, max pools, clip, relu, abs, neg */
        return true;
    }
}
