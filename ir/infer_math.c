/* infer_math.c: result types of the element-wise math ops, the reductions and
 * the normalizations (the ops.def sections of the same names); ir_infer_type()
 * dispatches here and checks the result's size.  Messages as infer.c's:
 * "OPNAME: what is wrong" at op->loc. */
#include "ir.h"

#include <string.h>

static const char *fmt_type(Diags *diags, const Type *t)
{
    return type_format(diags->arena, t);
}

/* All inputs broadcast together (max, min, mean, sum, pow, comparisons, logic, where). */
static bool infer_broadcast_all(const Op *op, Type *out, Diags *diags)
{
    Type t = op->inputs[0]->type;
    for (int i = 1; i < op->n_inputs; i++) {
        Type both;
        if (!ir_broadcast_types(op, &t, &op->inputs[i]->type, &both, diags))
            return false;
        t = both;
    }
    *out = t;
    return true;
}

/* PRelu's slope broadcasts to x without changing it. */
static bool infer_prelu(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type, *slope = &op->inputs[1]->type;
    Type both;
    if (!ir_broadcast_types(op, x, slope, &both, diags))
        return false;
    if (!type_equal(&both, x))
        return ir_op_error(op, diags, "slope %s does not broadcast to x %s", fmt_type(diags, slope), fmt_type(diags, x));
    *out = *x;
    return true;
}

static bool infer_reduce(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    const int64_t *axes;
    int n = ir_attr_ints(op, "axes", &axes);
    if (n < 0)
        return ir_op_error(op, diags, "missing attribute 'axes' (a list of ints)");
    const Attr *keep = ir_attr(op, "keepdims");
    if (keep && (keep->kind != ATTR_INT || (keep->i != 0 && keep->i != 1)))
        return ir_op_error(op, diags, "keepdims must be 0 or 1");
    bool keepdims = !keep || keep->i;
    bool reduced[IR_MAX_RANK] = {false};
    for (int i = 0; i < n; i++) {
        if (axes[i] < 0 || axes[i] >= x->rank)
            return ir_op_error(op, diags, "axis %lld is out of range [0, %d)", (long long)axes[i], x->rank);
        if (i > 0 && axes[i] <= axes[i - 1])
            return ir_op_error(op, diags, "axes must be ascending and distinct (%lld after %lld)", (long long)axes[i],
                        (long long)axes[i - 1]);
        reduced[axes[i]] = true;
    }
    *out = *x;
    out->rank = 0;
    for (int i = 0; i < x->rank; i++)
        if (!reduced[i] || keepdims)
            out->dims[out->rank++] = reduced[i] ? 1 : x->dims[i];
    return true;
}

/* LayerNormalization's scale and bias broadcast (one way) to x.dims[axis:]. */
static bool infer_layernorm(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    int64_t axis;
    if (!ir_axis_attr(op, x->rank, diags, &axis))
        return false;
    int norm_rank = x->rank - (int)axis;
    for (int k = 1; k < op->n_inputs; k++) {
        const Type *p = &op->inputs[k]->type;
        bool ok = p->rank <= norm_rank;
        for (int i = 0; ok && i < p->rank; i++) {
            int64_t want = x->dims[x->rank - p->rank + i];
            ok = p->dims[i] == 1 || p->dims[i] == want;
        }
        if (!ok)
            return ir_op_error(op, diags, "%s %s does not broadcast to the normalized dimensions of %s (from axis %lld)",
                        k == 1 ? "scale" : "bias", fmt_type(diags, p), fmt_type(diags, x), (long long)axis);
    }
    *out = *x;
    return true;
}

static bool infer_instancenorm(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    if (x->rank < 2)
        return ir_op_error(op, diags, "input %s must be N x C x ... (rank 2 or more)", fmt_type(diags, x));
    for (int k = 1; k < 3; k++) {
        const Type *p = &op->inputs[k]->type;
        if (p->rank != 1 || p->dims[0] != x->dims[1])
            return ir_op_error(op, diags, "%s %s must be f32[%lld] (input has %lld channels)", k == 1 ? "scale" : "bias",
                        fmt_type(diags, p), (long long)x->dims[1], (long long)x->dims[1]);
    }
    *out = *x;
    return true;
}

static bool infer_hardmax(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    int64_t axis;
    if (!ir_axis_attr(op, x->rank, diags, &axis))
        return false;
    *out = *x;
    return true;
}

static bool infer_lrn(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    const Attr *size = ir_attr(op, "size");
    if (x->rank < 2)
        return ir_op_error(op, diags, "input %s must be N x C x ... (rank 2 or more)", fmt_type(diags, x));
    if (!size || size->kind != ATTR_INT)
        return ir_op_error(op, diags, "missing attribute 'size' (an int)");
    if (size->i < 1 || size->i > IR_MAX_NUMEL)
        return ir_op_error(op, diags, "size %lld must be at least 1", (long long)size->i);
    *out = *x;
    return true;
}

static bool infer_det(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2])
        return ir_op_error(op, diags, "input %s must be [..., M, M]", fmt_type(diags, x));
    if (x->dims[x->rank - 1] > IR_DET_MAX)
        return ir_op_error(op, diags, "matrices of %lld x %lld are not supported (at most %d x %d)",
                           (long long)x->dims[x->rank - 1], (long long)x->dims[x->rank - 1], IR_DET_MAX, IR_DET_MAX);
    *out = type_make(x->rank - 2, x->dims);
    return true;
}

bool infer_math_type(const Op *op, Type *out, Diags *diags)
{
    switch (op->kind) {
    case OP_PRELU: return infer_prelu(op, out, diags);
    case OP_POW:
    case OP_EQUAL: case OP_LESS: case OP_GREATER: case OP_LESSOREQUAL: case OP_GREATEROREQUAL:
    case OP_AND: case OP_OR: case OP_XOR: case OP_WHERE:
    case OP_MAX:
    case OP_MIN:
    case OP_MEAN:
    case OP_SUM: return infer_broadcast_all(op, out, diags);
    case OP_REDUCEMEAN:
    case OP_REDUCESUM:
    case OP_REDUCEMAX:
    case OP_REDUCEMIN:
    case OP_REDUCEPROD:
    case OP_REDUCEL1:
    case OP_REDUCEL2:
    case OP_REDUCESUMSQUARE:
    case OP_REDUCELOGSUM:
    case OP_REDUCELOGSUMEXP: return infer_reduce(op, out, diags);
    case OP_LAYERNORM: return infer_layernorm(op, out, diags);
    case OP_INSTANCENORM: return infer_instancenorm(op, out, diags);
    case OP_HARDMAX: return infer_hardmax(op, out, diags);
    case OP_LRN: return infer_lrn(op, out, diags);
    case OP_DET: return infer_det(op, out, diags);
    default:                /* the element-wise ops of one input */
        *out = op->inputs[0]->type;
        return true;
    }
}
