/* onnx_fold_values.c: the folding operators (onnx_fold.c) on a float value
 * computed at run time, where an exact IR form exists: Slice is the slice op
 * (onnx_ops_layout.c), Gather with known indices a crop per index (joined by
 * a Concat and a Reshape), Expand a product with ones (NaN and -0 kept), Cast
 * to a float type an identity, comparisons, logic and Where their IR ops
 * (onnx_ops_math.c).  The others are reported as not supported on
 * such values. */
#include "frontend/onnx_fold.h"

#include <string.h>

#define MAX_INDEXED_CROPS 64    /* Gather of a run-time value: one crop per index, at most (Concat's limit) */

static bool is(const char *op_type, const char *name)
{
    return strcmp(op_type, name) == 0;
}

/* A Pad with negative pads: of every axis d, the elements [first[d], first[d] + count[d]). */
static Value *crop(const OnnxNode *n, Value *x, const int64_t *first, const int64_t *count, const char *name)
{
    int rank = x->type.rank;
    int64_t pads[2 * IR_MAX_RANK];
    for (int d = 0; d < rank; d++) {
        pads[d] = -first[d];
        pads[rank + d] = -(x->type.dims[d] - first[d] - count[d]);
    }
    Op *op = onnx_emit(n, OP_PAD, &x, 1, name);
    ir_set_ints(n->g, op, "pads", pads, 2 * rank);
    ir_set_float(n->g, op, "value", 0.0f);
    return onnx_typed(n, op);
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
    Value *in[2] = {x, ir_add_const(n->g, fresh(n, "ones"), type_make(rank, ones), NULL)};
    for (int64_t j = 0; j < numel; j++)
        in[1]->data[j] = 1.0f;
    return onnx_typed(n, onnx_emit(n, OP_MUL, in, 2, n->output));
}

static Value *cast_value(const OnnxNode *n, bool like)
{
    Value *x = onnx_data_input(n, 0);
    int to;
    if (!x || !onnx_fold_cast_target(n, like, &to))
        return NULL;
    if (!onnx_elem_is_float(to))
        return onnx_fail(n, "%s of a value computed at run time to %s is not supported (such values are float32)",
                         n->loc.node_op, onnx_elem_type_name(to));
    return onnx_typed(n, onnx_emit(n, OP_IDENTITY, &x, 1, n->output));
}

/* Gather with known indices: one crop per index, concatenated along the
 * axis, reshaped to the indices' dimensions. */
static Value *gather_value(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    const OnnxConst *ind = x ? onnx_fold_int_input(n, 1, "Gather indices") : NULL;
    int64_t axis;
    if (!ind || !onnx_get_int(n, "axis", 0, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, x->type.rank))
        return NULL;
    const Type *xt = &x->type;
    int rank = xt->rank - 1 + ind->rank;
    if (ind->numel < 1 || ind->numel > MAX_INDEXED_CROPS || rank > IR_MAX_RANK)
        return onnx_fail(n, "Gather of a value computed at run time with %lld indices (or to rank %d) is not "
                         "supported (1 to %d indices)", (long long)ind->numel, rank, MAX_INDEXED_CROPS);
    int64_t dims[IR_MAX_RANK], first[IR_MAX_RANK] = {0}, count[IR_MAX_RANK];
    for (int d = 0, o = 0; d < xt->rank; d++) {
        if (d == axis)
            for (int q = 0; q < ind->rank; q++)
                dims[o++] = ind->dims[q];
        else
            dims[o++] = xt->dims[d];
    }
    bool reshape = ind->rank != 1, concat = ind->numel > 1;
    Value *pieces[MAX_INDEXED_CROPS];
    memcpy(count, xt->dims, sizeof count);
    count[axis] = 1;
    for (int64_t j = 0; j < ind->numel; j++) {
        int64_t index = ind->i[j], extent = xt->dims[axis];
        if (index < -extent || index >= extent)
            return onnx_fail(n, "index %lld is out of range for axis %lld of size %lld", (long long)index,
                             (long long)axis, (long long)extent);
        first[axis] = index < 0 ? index + extent : index;
        if (!(pieces[j] = crop(n, x, first, count, reshape || concat ? fresh(n, "crop") : n->output)))
            return NULL;
    }
    Value *y = pieces[0];
    if (concat) {
        Op *op = onnx_emit(n, OP_CONCAT, pieces, (int)ind->numel, reshape ? fresh(n, "cat") : n->output);
        ir_set_int(n->g, op, "axis", axis);
        if (!(y = onnx_typed(n, op)))
            return NULL;
    }
    if (!reshape)
        return y;
    Op *op = onnx_emit(n, OP_RESHAPE, &y, 1, n->output);
    ir_set_ints(n->g, op, "shape", dims, rank);
    return onnx_typed(n, op);
}

Value *onnx_lower_value_form(const OnnxNode *n, const char *op_type)
{
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
