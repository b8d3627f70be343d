/* infer_index.c: result shapes of the element-type and indexing ops (the
 * ops.def section of that name: cast, mod, argmax/argmin, gather,
 * gatherelements, trilu, cumsum, topk); their dtypes are infer_dtype.c's.
 * ir_infer_type() dispatches here and checks the result's size. */
#include "ir.h"

static bool flag_of(const Op *op, const char *name, Diags *diags)
{
    const Attr *a = ir_attr(op, name);
    if (a && (a->kind != ATTR_INT || (a->i != 0 && a->i != 1)))
        return ir_op_error(op, diags, "%s must be 0 or 1", name);
    return true;
}

static bool infer_arg(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    int64_t axis = 0;
    if (x->rank < 1)
        return ir_op_error(op, diags, "input must not be a scalar");
    if (!ir_axis_attr(op, x->rank, diags, &axis) || !flag_of(op, "keepdims", diags) ||
        !flag_of(op, "select_last_index", diags))
        return false;
    *out = *x;
    if (ir_attr_int(op, "keepdims", 1)) {
        out->dims[axis] = 1;
    } else {
        out->rank--;
        for (int i = (int)axis; i < out->rank; i++)
            out->dims[i] = x->dims[i + 1];
    }
    return true;
}

/* The axis of a gather from input 0, which must not be a scalar. */
static bool data_axis(const Op *op, Diags *diags, int64_t *axis)
{
    int rank = op->inputs[0]->type.rank;
    if (rank < 1)
        return ir_op_error(op, diags, "data must not be a scalar");
    return ir_axis_attr(op, rank, diags, axis);
}

static bool infer_gather(const Op *op, Type *out, Diags *diags)
{
    const Type *data = &op->inputs[0]->type, *idx = &op->inputs[1]->type;
    int64_t axis = 0;
    if (!data_axis(op, diags, &axis))
        return false;
    if (data->rank - 1 + idx->rank > IR_MAX_RANK)
        return ir_op_error(op, diags, "the result would have rank %d, more than %d", data->rank - 1 + idx->rank,
                           IR_MAX_RANK);
    *out = *data;
    out->rank = 0;
    for (int i = 0; i < axis; i++)
        out->dims[out->rank++] = data->dims[i];
    for (int i = 0; i < idx->rank; i++)
        out->dims[out->rank++] = idx->dims[i];
    for (int i = (int)axis + 1; i < data->rank; i++)
        out->dims[out->rank++] = data->dims[i];
    return true;
}

static bool infer_gather_elements(const Op *op, Type *out, Diags *diags)
{
    const Type *data = &op->inputs[0]->type, *idx = &op->inputs[1]->type;
    int64_t axis = 0;
    if (!data_axis(op, diags, &axis))
        return false;
    if (idx->rank != data->rank)
        return ir_op_error(op, diags, "indices have rank %d, data %d", idx->rank, data->rank);
    for (int i = 0; i < data->rank; i++)
        if (i != axis && idx->dims[i] > data->dims[i])
            return ir_op_error(op, diags, "indices' axis %d is %lld long, data's only %lld", i,
                               (long long)idx->dims[i], (long long)data->dims[i]);
    *out = *idx;
    out->dtype = data->dtype;
    return true;
}

static bool reduction_of(const Op *op, Diags *diags)
{
    const Attr *r = ir_attr(op, "reduction");
    ScatterReduction ignored;
    if (!r || (r->kind == ATTR_STRING && scatter_reduction_from_name(r->s, &ignored)))
        return true;
    return ir_op_error(op, diags, "reduction must be \"none\", \"add\", \"mul\", \"max\" or \"min\"");
}

static bool infer_scatter_nd(const Op *op, Type *out, Diags *diags)
{
    const Type *data = &op->inputs[0]->type, *idx = &op->inputs[1]->type, *upd = &op->inputs[2]->type;
    if (!reduction_of(op, diags))
        return false;
    if (data->rank < 1 || idx->rank < 1)
        return ir_op_error(op, diags, "data and indices must not be scalars");
    int64_t k = idx->dims[idx->rank - 1];
    if (k < 1 || k > data->rank)
        return ir_op_error(op, diags, "indices' last axis is %lld long: it must be 1 to %d, data's rank", (long long)k,
                           data->rank);
    bool fits = upd->rank == idx->rank - 1 + data->rank - (int)k;
    for (int i = 0; fits && i < idx->rank - 1; i++)
        fits = upd->dims[i] == idx->dims[i];
    for (int i = (int)k; fits && i < data->rank; i++)
        fits = upd->dims[idx->rank - 1 + i - k] == data->dims[i];
    if (!fits)
        return ir_op_error(op, diags, "updates must have the dims of indices but its last, then data's from axis %lld",
                           (long long)k);
    *out = *data;
    return true;
}

static bool infer_scatter_elements(const Op *op, Type *out, Diags *diags)
{
    const Type *data = &op->inputs[0]->type, *idx = &op->inputs[1]->type, *upd = &op->inputs[2]->type;
    int64_t axis = 0;
    if (!data_axis(op, diags, &axis) || !reduction_of(op, diags))
        return false;
    bool fits = idx->rank == data->rank && upd->rank == data->rank;
    for (int i = 0; fits && i < data->rank; i++)
        fits = idx->dims[i] == upd->dims[i] && idx->dims[i] <= data->dims[i];
    if (!fits)
        return ir_op_error(op, diags, "indices and updates must have one shape, of data's rank and within its dims");
    *out = *data;
    return true;
}

static bool infer_topk(const Op *op, Type *out, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    int64_t axis = 0;
    if (x->rank < 1)
        return ir_op_error(op, diags, "input must not be a scalar");
    if (!ir_axis_attr(op, x->rank, diags, &axis) || !flag_of(op, "largest", diags))
        return false;
    const Attr *k = ir_attr(op, "k");
    if (!k || k->kind != ATTR_INT || k->i < 1 || k->i > x->dims[axis])
        return ir_op_error(op, diags, "k must be an int in [1, %lld]", (long long)x->dims[axis]);
    *out = *x;
    out->dims[axis] = k->i;
    return true;
}

bool infer_index_type(const Op *op, Type *result, Diags *diags)
{
    const Type *x = &op->inputs[0]->type;
    switch (op->kind) {
    case OP_ARGMAX: case OP_ARGMIN: return infer_arg(op, result, diags);
    case OP_GATHER: return infer_gather(op, result, diags);
    case OP_GATHERELEMENTS: return infer_gather_elements(op, result, diags);
    case OP_TOPK: return infer_topk(op, result, diags);
    case OP_SCATTERND: return infer_scatter_nd(op, result, diags);
    case OP_SCATTERELEMENTS: return infer_scatter_elements(op, result, diags);
    case OP_MOD: {
        const Attr *f = ir_attr(op, "fmod");
        if (f && (f->kind != ATTR_INT || (f->i != 0 && f->i != 1)))
            return ir_op_error(op, diags, "fmod must be 0 or 1");
        return ir_broadcast_types(op, x, &op->inputs[1]->type, result, diags);
    }
    case OP_TRILU:
        if (x->rank < 2)
            return ir_op_error(op, diags, "input must have at least 2 dimensions");
        *result = *x;
        return flag_of(op, "upper", diags);
    case OP_CUMSUM: {
        int64_t axis = 0;
        *result = *x;
        if (x->rank < 1)
            return ir_op_error(op, diags, "input must not be a scalar");
        return ir_axis_attr(op, x->rank, diags, &axis) && flag_of(op, "exclusive", diags) &&
               flag_of(op, "reverse", diags);
    }
    default:                /* cast */
        *result = *x;
        return true;
    }
}
