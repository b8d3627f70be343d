/* onnx_ops_math.c: the element-wise math, variadic, reduction and
 * normalization operators of ONNX -> IR ops (ops.def), with ONNX's defaults
 * made explicit as onnx_ops.c does for the rest: every attribute an op reads
 * is written out, a reduction's axes listed (ONNX's "all axes" too) sorted and
 * non-negative.  onnx_ops.c's table routes these operators here. */
#include "frontend/onnx_node.h"

#include <stdlib.h>
#include <string.h>

/* SELU's defaults, as ONNX defines them (float32). */
static const float SELU_ALPHA = 1.67326319217681884765625f, SELU_GAMMA = 1.05070102214813232421875f;

enum { FLOAT_EXACT = 1 << 24 };     /* every integer up to this is a float32 */

/* A float operand: a float value, or integer data known at import (Pow's
 * exponent, say) as a float constant of the same shape. */
static Value *float_operand(const OnnxNode *n, int i)
{
    const OnnxInput *in = i < n->n_inputs ? &n->inputs[i] : NULL;
    const OnnxConst *k = in ? in->konst : NULL;
    if (!in || in->value || !k || !k->i || !k->f || k->numel == 0)
        return onnx_data_input(n, i);
    for (int64_t j = 0; j < k->numel; j++)
        if (k->i[j] < -FLOAT_EXACT || k->i[j] > FLOAT_EXACT)
            return onnx_fail(n, "'%s' holds %lld, beyond float32's exact integers (2^24): not supported", in->name,
                             (long long)k->i[j]);
    Type t = type_make(k->rank, k->dims);
    return ir_add_const(n->g, onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.f32", in->name)), t, k->f);
}

static Value *lower_alpha(const OnnxNode *n, OpKind kind, float alpha0)
{
    Value *x = onnx_data_input(n, 0);
    float alpha;
    if (!x || !onnx_get_float(n, "alpha", alpha0, &alpha))
        return NULL;
    if (kind == OP_CELU && alpha == 0.0f)
        return onnx_fail(n, "attribute 'alpha' must not be 0 (Celu divides by it)");
    Op *op = onnx_emit(n, kind, &x, 1, n->output);
    ir_set_float(n->g, op, "alpha", alpha);
    return onnx_typed(n, op);
}

static Value *lower_shrink(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    float lambd, bias;
    if (!x || !onnx_get_float(n, "lambd", 0.5f, &lambd) || !onnx_get_float(n, "bias", 0.0f, &bias))
        return NULL;
    Op *op = onnx_emit(n, OP_SHRINK, &x, 1, n->output);
    ir_set_float(n->g, op, "bias", bias);
    ir_set_float(n->g, op, "lambd", lambd);
    return onnx_typed(n, op);
}

static Value *lower_lrn(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    float alpha, beta, bias;
    int64_t size;
    if (!x || !onnx_get_float(n, "alpha", 1e-4f, &alpha) || !onnx_get_float(n, "beta", 0.75f, &beta) ||
        !onnx_get_float(n, "bias", 1.0f, &bias) || !onnx_get_int(n, "size", 0, &size))
        return NULL;
    if (!onnx_attr(n, "size"))
        return onnx_fail(n, "missing attribute 'size'");
    Op *op = onnx_emit(n, OP_LRN, &x, 1, n->output);
    ir_set_float(n->g, op, "alpha", alpha);
    ir_set_float(n->g, op, "beta", beta);
    ir_set_float(n->g, op, "bias", bias);
    ir_set_int(n->g, op, "size", size);
    return onnx_typed(n, op);
}

static Value *lower_selu(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    float alpha, gamma;
    if (!x || !onnx_get_float(n, "alpha", SELU_ALPHA, &alpha) || !onnx_get_float(n, "gamma", SELU_GAMMA, &gamma))
        return NULL;
    Op *op = onnx_emit(n, OP_SELU, &x, 1, n->output);
    ir_set_float(n->g, op, "alpha", alpha);
    ir_set_float(n->g, op, "gamma", gamma);
    return onnx_typed(n, op);
}

static Value *lower_two(const OnnxNode *n, OpKind kind)
{
    Value *in[2] = {onnx_data_input(n, 0), NULL};
    if (!in[0] || !(in[1] = float_operand(n, 1)))
        return NULL;
    return onnx_typed(n, onnx_emit(n, kind, in, 2, n->output));
}

/* Max, Min, Mean, Sum of 1 to 64 inputs. */
static Value *lower_variadic(const OnnxNode *n, OpKind kind)
{
    if (n->n_inputs < 1 || n->n_inputs > 64)
        return onnx_fail(n, "%d inputs are not supported (1 to 64)", n->n_inputs);
    Value *in[64];
    for (int i = 0; i < n->n_inputs; i++)
        if (!(in[i] = onnx_data_input(n, i)))
            return NULL;
    return onnx_typed(n, onnx_emit(n, kind, in, n->n_inputs, n->output));
}

static int compare_axes(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A reduction's axes: an attribute, or ReduceSum's input since opset 13.
 * None given reduces all axes, unless noop_with_empty_axes (ReduceSum-13),
 * which makes the node an identity. */
static Value *lower_reduce(const OnnxNode *n, OpKind kind, const char *op_type)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axes[2 * IR_MAX_RANK], keepdims, noop;
    int count = 0;
    if (!x || !onnx_get_int(n, "keepdims", 1, &keepdims) || !onnx_get_int(n, "noop_with_empty_axes", 0, &noop))
        return NULL;
    bool axes_input = kind == OP_REDUCESUM && n->opset >= 13;
    if (axes_input ? onnx_attr(n, "axes") != NULL : n->n_inputs > 1)
        return onnx_fail(n, "%s-%d takes its axes as %s", op_type, n->opset,
                         axes_input ? "an input, not an attribute" : "an attribute, not an input");
    if (axes_input ? onnx_has_input(n, 1) && !onnx_ints_input(n, 1, "axes", axes, &count)
                   : !onnx_get_ints(n, "axes", -1, 0, axes, &count))
        return NULL;
    int rank = x->type.rank;
    if (count == 0 && noop)
        return onnx_typed(n, onnx_emit(n, OP_IDENTITY, &x, 1, n->output));
    if (count == 0)
        for (int i = 0; i < rank; i++)
            axes[count++] = i;
    if (!onnx_normalize_axes(n, "axis", axes, count, rank))
        return NULL;
    qsort(axes, (size_t)count, sizeof *axes, compare_axes);
    for (int i = 1; i < count; i++)
        if (axes[i] == axes[i - 1])
            return onnx_fail(n, "axes list axis %lld twice", (long long)axes[i]);
    Op *op = onnx_emit(n, kind, &x, 1, n->output);
    ir_set_ints(n->g, op, "axes", axes, count);
    ir_set_int(n->g, op, "keepdims", keepdims != 0);
    return onnx_typed(n, op);
}

/* An intermediate op of a lowering into several: result named after the
 * node's output with `suffix`, typed. */
static Value *emit_step(const OnnxNode *n, OpKind kind, Value *const *in, int count, const char *suffix)
{
    const char *name = onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.%s", n->output, suffix));
    return onnx_typed(n, onnx_emit(n, kind, in, count, name));
}

/* The mean over axes, keeping them, named `name` (an output of the node), or
 * when NULL afresh after the first output with `suffix`. */
static Value *emit_mean(const OnnxNode *n, Value *x, const int64_t *axes, int count, const char *name,
                        const char *suffix)
{
    if (!name)
        name = onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.%s", n->output, suffix));
    Op *op = onnx_emit(n, OP_REDUCEMEAN, &x, 1, name);
    ir_set_ints(n->g, op, "axes", axes, count);
    ir_set_int(n->g, op, "keepdims", 1);
    return onnx_typed(n, op);
}

/* A scalar constant named after the output with `suffix`. */
static Value *scalar_const(const OnnxNode *n, float v, const char *suffix)
{
    const char *name = onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.%s", n->output, suffix));
    return ir_add_const(n->g, name, type_make(0, NULL), &v);
}

/* LayerNormalization's Mean and InvStdDev outputs (when used), as ONNX's
 * reference computes them: mean over axis.., 1 / sqrt(mean((x - mean)^2) +
 * epsilon), both keeping the reduced axes. */
static bool lower_layernorm_stats(const OnnxNode *n, Value *x, int64_t axis, float epsilon)
{
    bool want_mean = n->n_outputs > 1 && n->outputs[1][0], want_inv = n->n_outputs > 2 && n->outputs[2][0];
    if (!want_mean && !want_inv)
        return true;
    int64_t axes[IR_MAX_RANK];
    int count = 0;
    for (int i = (int)axis; i < x->type.rank; i++)
        axes[count++] = i;
    Value *mean = emit_mean(n, x, axes, count, n->outputs[1][0] ? n->outputs[1] : NULL, "mean");
    if (!mean)
        return false;
    n->results[1] = want_mean ? mean : NULL;
    if (!want_inv)
        return true;
    Value *in[2] = {x, mean};
    Value *centred = emit_step(n, OP_SUB, in, 2, "centred");
    in[0] = in[1] = centred;
    Value *square = centred ? emit_step(n, OP_MUL, in, 2, "square") : NULL;
    if (!square)
        return false;
    in[0] = emit_mean(n, square, axes, count, NULL, "var");
    in[1] = scalar_const(n, epsilon, "epsilon");
    Value *var_eps = in[0] ? emit_step(n, OP_ADD, in, 2, "var_eps") : NULL;
    Value *std = var_eps ? emit_step(n, OP_SQRT, &var_eps, 1, "std") : NULL;
    if (!std)
        return false;
    Op *inv = onnx_emit(n, OP_RECIPROCAL, &std, 1, n->outputs[2]);
    return (n->results[2] = onnx_typed(n, inv)) != NULL;
}

/* LayerNormalization-17: Y as one op; Mean and InvStdDev, when used, from
 * reductions.  stash_type, the type of the statistics, is float or double:
 * the kernels accumulate in double either way. */
static Value *lower_layernorm(const OnnxNode *n)
{
    Value *in[3] = {onnx_data_input(n, 0), onnx_data_input(n, 1), NULL};
    int64_t axis, stash_type;
    float epsilon;
    if (!in[0] || !in[1] || (onnx_has_input(n, 2) && !(in[2] = onnx_data_input(n, 2))))
        return NULL;
    if (!onnx_get_int(n, "axis", -1, &axis) || !onnx_get_float(n, "epsilon", 1e-5f, &epsilon) ||
        !onnx_get_int(n, "stash_type", 1, &stash_type) ||
        !onnx_normalize_axes(n, "axis", &axis, 1, in[0]->type.rank))
        return NULL;
    if (stash_type != ONNX_FLOAT && stash_type != ONNX_DOUBLE)
        return onnx_fail(n, "stash_type %lld is not supported (only 1, float, and 11, double)", (long long)stash_type);
    if (!lower_layernorm_stats(n, in[0], axis, epsilon))
        return NULL;
    Op *op = onnx_emit(n, OP_LAYERNORM, in, in[2] ? 3 : 2, n->output);
    ir_set_int(n->g, op, "axis", axis);
    ir_set_float(n->g, op, "epsilon", epsilon);
    return onnx_typed(n, op);
}

/* MeanVarianceNormalization as ONNX's function body computes it:
 * (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9), the means over axes. */
static Value *lower_mvn(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axes[2 * IR_MAX_RANK] = {0, 2, 3};
    int count = 3;
    if (!x || (onnx_attr(n, "axes") && !onnx_get_ints(n, "axes", -1, 0, axes, &count)))
        return NULL;
    if (count == 0 || count > x->type.rank || !onnx_normalize_axes(n, "axis", axes, count, x->type.rank))
        return count == 0 || count > x->type.rank ? onnx_fail(n, "%d axes for an input of rank %d", count,
                                                               x->type.rank) : NULL;
    qsort(axes, (size_t)count, sizeof *axes, compare_axes);
    for (int i = 1; i < count; i++)
        if (axes[i] == axes[i - 1])
            return onnx_fail(n, "axes list axis %lld twice", (long long)axes[i]);
    Value *in[2] = {x, x};
    Value *square = emit_step(n, OP_MUL, in, 2, "square");
    Value *mean_square = square ? emit_mean(n, square, axes, count, NULL, "mean_square") : NULL;
    Value *mean = mean_square ? emit_mean(n, x, axes, count, NULL, "mean") : NULL;
    in[0] = in[1] = mean;
    Value *square_mean = mean ? emit_step(n, OP_MUL, in, 2, "square_mean") : NULL;
    in[0] = mean_square, in[1] = square_mean;
    Value *var = square_mean ? emit_step(n, OP_SUB, in, 2, "var") : NULL;
    Value *std = var ? emit_step(n, OP_SQRT, &var, 1, "std") : NULL;
    in[0] = std, in[1] = scalar_const(n, 1e-9f, "epsilon");
    Value *std_eps = std ? emit_step(n, OP_ADD, in, 2, "std_eps") : NULL;
    in[0] = x, in[1] = mean;
    Value *centred = std_eps ? emit_step(n, OP_SUB, in, 2, "centred") : NULL;
    in[0] = centred, in[1] = std_eps;
    return centred ? onnx_typed(n, onnx_emit(n, OP_DIV, in, 2, n->output)) : NULL;
}

static Value *lower_instancenorm(const OnnxNode *n)
{
    Value *in[3];
    float epsilon;
    for (int i = 0; i < 3; i++)
        if (!(in[i] = onnx_data_input(n, i)))
            return NULL;
    if (!onnx_get_float(n, "epsilon", 1e-5f, &epsilon))
        return NULL;
    Op *op = onnx_emit(n, OP_INSTANCENORM, in, 3, n->output);
    ir_set_float(n->g, op, "epsilon", epsilon);
    return onnx_typed(n, op);
}

Value *onnx_lower_clip_values(const OnnxNode *n)
{
    Value *y = onnx_data_input(n, 0);
    const Type x_type = y ? y->type : (Type){0};
    for (int i = 1; y && i < 3; i++) {
        if (!onnx_has_input(n, i))
            continue;
        Value *in[2] = {y, onnx_data_input(n, i)};
        if (!in[1])
            return NULL;
        if (type_numel(&in[1]->type) != 1)
            return onnx_fail(n, "Clip %s '%s' must be a single value", i == 1 ? "min" : "max", n->inputs[i].name);
        bool last = i == 2 || !onnx_has_input(n, 2);
        const char *name = last ? n->output
                                : onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.min", n->output));
        y = onnx_typed(n, onnx_emit(n, i == 1 ? OP_MAX : OP_MIN, in, 2, name));
    }
    if (y && !type_equal(&y->type, &x_type))    /* a bound of rank above x's */
        return onnx_fail(n, "Clip bounds change the shape of x %s to %s", type_format(n->g->arena, &x_type),
                         type_format(n->g->arena, &y->type));
    return y;
}

Value *onnx_lower_math(const OnnxNode *n, const char *op_type, OpKind kind)
{
    if (strcmp(op_type, "MeanVarianceNormalization") == 0)     /* several ops, none its own */
        return lower_mvn(n);
    switch (kind) {
    case OP_ELU:
    case OP_CELU:
    case OP_THRESHOLDEDRELU: return lower_alpha(n, kind, 1.0f);
    case OP_SHRINK: return lower_shrink(n);
    case OP_LRN: return lower_lrn(n);
    case OP_SELU: return lower_selu(n);
    case OP_PRELU:
    case OP_POW: return lower_two(n, kind);
    case OP_MAX:
    case OP_MIN:
    case OP_MEAN:
    case OP_SUM: return lower_variadic(n, kind);
    case OP_REDUCEMEAN: case OP_REDUCESUM: case OP_REDUCEMAX: case OP_REDUCEMIN: case OP_REDUCEPROD:
    case OP_REDUCEL1: case OP_REDUCEL2: case OP_REDUCESUMSQUARE: case OP_REDUCELOGSUM: case OP_REDUCELOGSUMEXP:
        return lower_reduce(n, kind, op_type);
    case OP_LAYERNORM: return lower_layernorm(n);
    case OP_INSTANCENORM: return lower_instancenorm(n);
    default: return onnx_unary(n, kind);
    }
}

/* ---- comparisons, logic and Where on values computed at run time ----
 * Operands of any dtype (infer_dtype.c checks that they agree); the result of
 * a comparison or logic op is bool, Where's that of its branches. */

Value *onnx_lower_logic(const OnnxNode *n, const char *op_type, bool *handled)
{
    static const struct { const char *name; OpKind kind; int inputs; } table[] = {
        {"Equal", OP_EQUAL, 2}, {"Less", OP_LESS, 2}, {"Greater", OP_GREATER, 2},
        {"LessOrEqual", OP_LESSOREQUAL, 2}, {"GreaterOrEqual", OP_GREATEROREQUAL, 2}, {"Not", OP_NOT, 1},
        {"And", OP_AND, 2}, {"Or", OP_OR, 2}, {"Xor", OP_XOR, 2}, {"Where", OP_WHERE, 3},
    };
    int t = -1;
    for (int i = 0; i < (int)(sizeof table / sizeof table[0]); i++)
        if (strcmp(table[i].name, op_type) == 0)
            t = i;
    *handled = t >= 0;
    if (t < 0)
        return NULL;
    if (n->n_inputs != table[t].inputs)
        return onnx_fail(n, "%s takes %d inputs, not %d", op_type, table[t].inputs, n->n_inputs);
    Value *in[3];
    for (int i = 0; i < table[t].inputs; i++)
        if (!(in[i] = onnx_data_input(n, i)))
            return NULL;
    OpKind kind = table[t].kind;
    return onnx_typed(n, onnx_emit(n, kind, in, table[t].inputs, n->output));
}
