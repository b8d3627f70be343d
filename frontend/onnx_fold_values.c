/* onnx_fold_values.c: the folding operators (onnx_fold.c) on a value
 * computed at run time, where an exact IR form exists: Slice is the slice op
 * (onnx_ops_layout.c), Gather the gather op, ScatterND and ScatterElements
 * (Scatter) the scatternd and scatterelements ops, Expand a product with
 * ones (NaN and -0 kept), Cast the cast op, comparisons, logic and Where
 * their IR ops (onnx_ops_math.c).  The others are reported as not supported on
 * such values. */
#include "frontend/onnx_fold.h"

#include <string.h>


static bool is(const char *op_type, const char *name)
{
    return strcmp(op_type, name) == 0;
}

static const char *fresh(const OnnxNode *n, const char *suffix)
{
    return onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.%s", n->output, suffix));
}

/* Expand: x times ones of the expanded dimensions (exact, NaN and -0 kept). */
static Value *expand_value(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t shape[2 * IR_MAX_RANK], dims[IR_MAX_RANK], ones[IR_MAX_RANK];
    int count, rank;
    if (!x || !onnx_has_input(n, 1) || !onnx_ints_input(n, 1, "Expand shape", shape, &count))
        return x && !onnx_has_input(n, 1) ? onnx_fail(n, "Expand needs a shape input") : NULL;
    if (count > IR_MAX_RANK)
        return onnx_fail(n, "Expand to rank %d is not supported (at most %d)", count, IR_MAX_RANK);
    const Type *xt = &x->type;
    if (!onnx_fold_broadcast(n, xt->rank, xt->dims, count, shape, &rank, dims))
        return NULL;
    OnnxConst size;
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        int ix = d - (rank - xt->rank);
        ones[d] = ix >= 0 && xt->dims[ix] == dims[d] ? 1 : dims[d];
        numel *= ones[d];
    }
    if (!onnx_check_dims(n->diags, &n->loc, "result", n->output, (size_t)rank, dims, &size))
        return NULL;
    if (numel == 1 && rank == xt->rank)
        return onnx_typed(n, onnx_emit(n, OP_IDENTITY, &x, 1, n->output));
    if (!memory_check((uint64_t)numel, sizeof(float), "Expand's ones", &n->loc, n->diags))
        return NULL;
    Value *in[2] = {x, ir_add_const(n->g, fresh(n, "ones"), type_make_dtype(xt->dtype, rank, ones), NULL)};
    for (int64_t j = 0; j < numel; j++)
        in[1]->data[j] = 1.0f;
    return onnx_typed(n, onnx_emit(n, OP_MUL, in, 2, n->output));
}

static Value *cast_value(const OnnxNode *n, bool like)
{
    Value *x = onnx_data_input(n, 0);
    int to;
    DType dtype;
    if (!x || !onnx_fold_cast_target(n, like, &to))
        return NULL;
    if (!onnx_dtype(to, &dtype))
        return onnx_fail(n, "%s of a value computed at run time to %s is not supported", n->loc.node_op,
                         onnx_elem_type_name(to));
    Op *op = onnx_emit(n, OP_CAST, &x, 1, n->output);
    ir_set_string(n->g, op, "to", dtype_name(dtype));
    return onnx_typed(n, op);
}

/* Gather with run-time data or indices (an embedding: a constant table and
 * token ids from a graph input): the gather op, a lookup. */
static Value *gather_value(const OnnxNode *n)
{
    Value *in[2] = {onnx_data_input(n, 0), NULL};
    int64_t axis;
    if (!in[0] || !(in[1] = onnx_data_input(n, 1)) || !onnx_get_int(n, "axis", 0, &axis) ||
        !onnx_normalize_axes(n, "axis", &axis, 1, in[0]->type.rank))
        return NULL;
    Op *op = onnx_emit(n, OP_GATHER, in, 2, n->output);
    ir_set_int(n->g, op, "axis", axis);
    return onnx_typed(n, op);
}

/* ScatterND, ScatterElements and Scatter with a run-time operand (an
 * activation written into, say): the scatternd and scatterelements ops. */
static Value *scatter_value(const OnnxNode *n, bool nd)
{
    Value *in[3] = {onnx_data_input(n, 0), NULL, NULL};
    ScatterReduction reduction;
    int64_t axis = 0;
    if (!in[0] || !(in[1] = onnx_data_input(n, 1)) || !(in[2] = onnx_data_input(n, 2)) ||
        !onnx_scatter_reduction(n, &reduction) ||
        (!nd && (!onnx_get_int(n, "axis", 0, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, in[0]->type.rank))))
        return NULL;
    Op *op = onnx_emit(n, nd ? OP_SCATTERND : OP_SCATTERELEMENTS, in, 3, n->output);
    if (!nd)
        ir_set_int(n->g, op, "axis", axis);
    if (reduction != SCATTER_NONE) {
        const char *name;
        onnx_get_string(n, "reduction", "none", &name);
        ir_set_string(n->g, op, "reduction", name);
    }
    return onnx_typed(n, op);
}

Value *onnx_lower_value_form(const OnnxNode *n, const char *op_type)
{
    if (is(op_type, "ScatterND") || is(op_type, "ScatterElements") || is(op_type, "Scatter"))
        return scatter_value(n, is(op_type, "ScatterND"));
    if (is(op_type, "Slice"))
        return onnx_lower_slice(n);     /* onnx_ops_layout.c: the slice op */
    if (is(op_type, "Expand"))
        return expand_value(n);
    if (is(op_type, "Cast") || is(op_type, "CastLike"))
        return cast_value(n, is(op_type, "CastLike"));
    if (is(op_type, "Gather"))
        return gather_value(n);
    bool handled;
    Value *v = onnx_lower_logic(n, op_type, &handled);
    if (handled)
        return v;
    for (int i = 0; i < n->n_inputs; i++)
        if (onnx_has_input(n, i) && !n->inputs[i].konst)
            return onnx_fail(n, "%s of '%s', a value computed at run time, is not supported (only of values known "
                             "at import)", op_type, n->inputs[i].name);
    return onnx_fail(n, "%s is not supported here", op_type);
}
