/* onnx_ops_index.c: ArgMax, ArgMin, GatherElements, Mod, Trilu and CumSum ->
 * the element-type and indexing ops of ops.def, their ONNX defaults written
 * out and axes made non-negative; OneHot as comparisons with a range and a
 * where; TopK as the topk op (indices) and a gatherelements (values).  (Gather and Cast of run-time values are
 * onnx_fold_values.c's, as they fold when their inputs are known.) */
#include "frontend/onnx_node.h"

#include <string.h>

/* Attribute `name`, an int, in [-rank, rank) normalized. */
static bool get_axis(const OnnxNode *n, const char *name, int64_t dflt, int rank, int64_t *axis)
{
    return onnx_get_int(n, name, dflt, axis) && onnx_normalize_axes(n, name, axis, 1, rank);
}

static bool get_flag(const OnnxNode *n, const char *name, int64_t dflt, int64_t *out)
{
    if (!onnx_get_int(n, name, dflt, out))
        return false;
    if (*out != 0 && *out != 1)
        return onnx_fail(n, "%s must be 0 or 1, not %lld", name, (long long)*out), false;
    return true;
}

static Value *lower_arg(const OnnxNode *n, OpKind kind)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axis, keepdims, last;
    if (!x || !get_axis(n, "axis", 0, x->type.rank, &axis) || !get_flag(n, "keepdims", 1, &keepdims) ||
        !get_flag(n, "select_last_index", 0, &last))
        return NULL;
    Op *op = onnx_emit(n, kind, &x, 1, n->output);
    ir_set_int(n->g, op, "axis", axis);
    ir_set_int(n->g, op, "keepdims", keepdims);
    ir_set_int(n->g, op, "select_last_index", last);
    return onnx_typed(n, op);
}

static Value *lower_gather_elements(const OnnxNode *n)
{
    Value *in[2] = {onnx_data_input(n, 0), NULL};
    int64_t axis;
    if (!in[0] || !(in[1] = onnx_data_input(n, 1)) || !get_axis(n, "axis", 0, in[0]->type.rank, &axis))
        return NULL;
    Op *op = onnx_emit(n, OP_GATHERELEMENTS, in, 2, n->output);
    ir_set_int(n->g, op, "axis", axis);
    return onnx_typed(n, op);
}

static Value *lower_mod(const OnnxNode *n)
{
    Value *in[2] = {onnx_data_input(n, 0), NULL};
    int64_t fmod;
    if (!in[0] || !(in[1] = onnx_data_input(n, 1)) || !get_flag(n, "fmod", 0, &fmod))
        return NULL;
    if (!fmod && dtype_is_float(in[0]->type.dtype))
        return onnx_fail(n, "Mod of floats needs fmod = 1 (ONNX)");
    Op *op = onnx_emit(n, OP_MOD, in, 2, n->output);
    ir_set_int(n->g, op, "fmod", fmod);
    return onnx_typed(n, op);
}

/* An optional scalar integer input known at import (Trilu's k, CumSum's axis). */
static bool scalar_int_input(const OnnxNode *n, int i, const char *what, int64_t dflt, int64_t *out)
{
    int64_t v[2 * IR_MAX_RANK];
    int count;
    *out = dflt;
    if (!onnx_has_input(n, i))
        return true;
    if (!onnx_ints_input(n, i, what, v, &count))
        return false;
    if (count != 1)
        return onnx_fail(n, "%s '%s' must hold one value, it holds %d", what, n->inputs[i].name, count), false;
    *out = v[0];
    return true;
}

static Value *lower_trilu(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t upper, k;
    if (!x || !get_flag(n, "upper", 1, &upper) || !scalar_int_input(n, 1, "Trilu k", 0, &k))
        return NULL;
    /* Beyond the matrix, every k keeps all or nothing: bounded, the kernel's j - i >= k cannot overflow. */
    int64_t limit = IR_MAX_NUMEL;
    k = k < -limit ? -limit : k > limit ? limit : k;
    Op *op = onnx_emit(n, OP_TRILU, &x, 1, n->output);
    ir_set_int(n->g, op, "upper", upper);
    ir_set_int(n->g, op, "k", k);
    return onnx_typed(n, op);
}

static Value *lower_cumsum(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axis, exclusive, reverse;
    if (!x || !get_flag(n, "exclusive", 0, &exclusive) || !get_flag(n, "reverse", 0, &reverse))
        return NULL;
    if (!onnx_has_input(n, 1))
        return onnx_fail(n, "CumSum needs its axis input");
    if (!scalar_int_input(n, 1, "CumSum axis", 0, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, x->type.rank))
        return NULL;
    Op *op = onnx_emit(n, OP_CUMSUM, &x, 1, n->output);
    ir_set_int(n->g, op, "axis", axis);
    ir_set_int(n->g, op, "exclusive", exclusive);
    ir_set_int(n->g, op, "reverse", reverse);
    return onnx_typed(n, op);
}

static const char *fresh(const OnnxNode *n, const char *suffix)
{
    return onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.%s", n->output, suffix));
}

static Value *emit2(const OnnxNode *n, OpKind kind, Value *a, Value *b, const char *name)
{
    Value *in[2] = {a, b};
    return onnx_typed(n, onnx_emit(n, kind, in, 2, name));
}

/* OneHot(indices, depth, values) along `axis` of the result: an index i (or
 * i + depth when negative) is on where it equals the position; indices out of
 * [-depth, depth) give all off.  As IR: the indices unsqueezed at axis,
 * compared with the positions 0..depth-1 and with them minus depth, or'ed,
 * and a where between the on and off values (constants of values' dtype). */
static Value *lower_onehot(const OnnxNode *n)
{
    Value *idx = onnx_data_input(n, 0);
    float depth_f;
    int64_t axis;
    Value *values = idx && onnx_float_input(n, 1, "OneHot depth", &depth_f) ? onnx_data_input(n, 2) : NULL;
    if (!values || !onnx_get_int(n, "axis", -1, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, idx->type.rank + 1))
        return NULL;
    if (values->type.rank != 1 || values->type.dims[0] != 2)
        return onnx_fail(n, "OneHot values '%s' must be two numbers (off, on), not %s", n->inputs[2].name,
                         type_format(n->g->arena, &values->type));
    int64_t depth = (int64_t)depth_f;
    if (!(depth_f >= 1 && depth_f <= (float)DTYPE_EXACT_INT) || idx->type.rank + 1 > IR_MAX_RANK)
        return onnx_fail(n, "OneHot depth %g (or rank %d) is not supported (1 to 2^24)", (double)depth_f,
                         idx->type.rank + 1);
    int64_t one = axis, dims[IR_MAX_RANK];
    Op *u = onnx_emit(n, OP_UNSQUEEZE, &idx, 1, fresh(n, "indices"));
    ir_set_ints(n->g, u, "axes", &one, 1);
    Value *iu = onnx_typed(n, u);
    if (!iu || !memory_check((uint64_t)depth, 2 * sizeof(float), "OneHot's positions", &n->loc, n->diags))
        return NULL;
    for (int d = 0; d <= idx->type.rank; d++)
        dims[d] = d == axis ? depth : 1;
    Type rt = type_make_dtype(idx->type.dtype, idx->type.rank + 1, dims);
    Value *pos = ir_add_const(n->g, fresh(n, "positions"), rt, NULL);
    Value *neg = ir_add_const(n->g, fresh(n, "negative"), rt, NULL);
    for (int64_t j = 0; j < depth; j++)
        pos->data[j] = (float)j, neg->data[j] = (float)(j - depth);
    Value *pick[2];                 /* off and on: values[0:1] and values[1:2] */
    for (int64_t k = 0; k < 2; k++) {
        int64_t end = k + 1, step = 1;
        Op *sl = onnx_emit(n, OP_SLICE, &values, 1, fresh(n, k ? "on" : "off"));
        ir_set_ints(n->g, sl, "starts", &k, 1);
        ir_set_ints(n->g, sl, "ends", &end, 1);
        ir_set_ints(n->g, sl, "steps", &step, 1);
        if (!(pick[k] = onnx_typed(n, sl)))
            return NULL;
    }
    Value *off = pick[0], *on = pick[1];
    Value *eq = emit2(n, OP_EQUAL, iu, pos, fresh(n, "eq"));
    Value *eqn = eq ? emit2(n, OP_EQUAL, iu, neg, fresh(n, "eqneg")) : NULL;
    Value *hit = eqn ? emit2(n, OP_OR, eq, eqn, fresh(n, "hit")) : NULL;
    if (!hit)
        return NULL;
    Value *in[3] = {hit, on, off};
    return onnx_typed(n, onnx_emit(n, OP_WHERE, in, 3, n->output));
}

/* TopK(X, K): the topk op gives the indices (output 1), a gatherelements of X
 * by them the values (output 0).  `sorted` 0 lets any order do: best first is one. */
static Value *lower_topk(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axis, largest, sorted, k;
    if (!x || !get_axis(n, "axis", -1, x->type.rank, &axis) || !get_flag(n, "largest", 1, &largest) ||
        !get_flag(n, "sorted", 1, &sorted))
        return NULL;
    if (onnx_has_input(n, 1) ? !scalar_int_input(n, 1, "TopK K", 1, &k) : !onnx_get_int(n, "k", 1, &k))
        return NULL;        /* TopK-1 has k as an attribute */
    const char *names[2];
    for (int i = 0; i < 2; i++)
        names[i] = i < n->n_outputs && n->outputs[i][0] ? n->outputs[i] : fresh(n, i ? "indices" : "values");
    Op *op = onnx_emit(n, OP_TOPK, &x, 1, names[1]);
    ir_set_int(n->g, op, "axis", axis);
    ir_set_int(n->g, op, "k", k);
    ir_set_int(n->g, op, "largest", largest);
    Value *indices = onnx_typed(n, op);
    if (!indices)
        return NULL;
    Value *in[2] = {x, indices};
    Op *gather = onnx_emit(n, OP_GATHERELEMENTS, in, 2, names[0]);
    ir_set_int(n->g, gather, "axis", axis);
    Value *values = onnx_typed(n, gather);
    if (values && n->n_outputs > 1)
        n->results[0] = values, n->results[1] = indices;
    return values;
}

Value *onnx_lower_index(const OnnxNode *n, const char *op_type)
{
    if (strcmp(op_type, "TopK") == 0)
        return lower_topk(n);
    if (strcmp(op_type, "OneHot") == 0)
        return lower_onehot(n);
    if (strcmp(op_type, "ArgMax") == 0)
        return lower_arg(n, OP_ARGMAX);
    if (strcmp(op_type, "ArgMin") == 0)
        return lower_arg(n, OP_ARGMIN);
    if (strcmp(op_type, "GatherElements") == 0)
        return lower_gather_elements(n);
    if (strcmp(op_type, "Mod") == 0)
        return lower_mod(n);
    if (strcmp(op_type, "Trilu") == 0)
        return lower_trilu(n);
    return lower_cumsum(n);
}
