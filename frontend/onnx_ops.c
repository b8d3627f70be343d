/* onnx_ops.c: one ONNX node -> IR ops, with ONNX's defaults made explicit.
 *
 * Each supported operator has a lowering function that reads the node the way
 * the ONNX operator documentation describes it (attribute defaults, opset
 * differences, optional inputs) and emits ops whose attributes are normalized
 * as ops.def says: every attribute an op reads is written out, auto_pad is
 * resolved to explicit pads, axes are non-negative, and parameters that ONNX
 * passes as tensors (Reshape's shape, Clip's bounds, Pad's pads, Squeeze's
 * axes) become attributes, which is why those tensors must be known at import.
 * The result types come from ir_infer_type(), so shape errors are reported at
 * the node with the same rules the verifier applies later.  The table at the
 * end routes the math operators (element-wise math, reductions,
 * normalizations) to onnx_ops_math.c. */
#include "frontend/onnx_node.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* ---- reading the node (declared in onnx_node.h: onnx_ops_math.c reads nodes alike) ---- */

Value *onnx_fail(const OnnxNode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(n->diags, &n->loc, fmt, ap);
    va_end(ap);
    return NULL;
}

const OnnxAttr *onnx_attr(const OnnxNode *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0)
            return &n->attrs[i];
    return NULL;
}

/* The attribute readers report a wrong kind and return false. */
bool onnx_get_int(const OnnxNode *n, const char *name, int64_t dflt, int64_t *out)
{
    const OnnxAttr *a = onnx_attr(n, name);
    *out = dflt;
    if (a && a->kind != OA_INT)
        return onnx_fail(n, "attribute '%s' must be an int", name), false;
    if (a)
        *out = a->i;
    return true;
}

bool onnx_get_float(const OnnxNode *n, const char *name, float dflt, float *out)
{
    const OnnxAttr *a = onnx_attr(n, name);
    *out = dflt;
    if (a && a->kind != OA_FLOAT)
        return onnx_fail(n, "attribute '%s' must be a float", name), false;
    if (a)
        *out = a->f;
    return true;
}

bool onnx_get_string(const OnnxNode *n, const char *name, const char *dflt, const char **out)
{
    const OnnxAttr *a = onnx_attr(n, name);
    *out = dflt;
    if (a && a->kind != OA_STRING)
        return onnx_fail(n, "attribute '%s' must be a string", name), false;
    if (a)
        *out = a->s;
    return true;
}

/* An ints attribute of `count` values (count < 0: any number up to IR_MAX_RANK
 * * 2), or `dflt` repeated when absent; *got gets the number read. */
bool onnx_get_ints(const OnnxNode *n, const char *name, int count, int64_t dflt, int64_t *out, int *got)
{
    const OnnxAttr *a = onnx_attr(n, name);
    if (!a) {
        for (int i = 0; i < count; i++)
            out[i] = dflt;
        *got = count < 0 ? 0 : count;
        return true;
    }
    if (a->kind != OA_INTS)
        return onnx_fail(n, "attribute '%s' must be a list of ints", name), false;
    if (count >= 0 && a->count != count)
        return onnx_fail(n, "attribute '%s' has %d values, expected %d", name, a->count, count), false;
    if (a->count > 2 * IR_MAX_RANK)
        return onnx_fail(n, "attribute '%s' has %d values, too many", name, a->count), false;
    for (int i = 0; i < a->count; i++)
        out[i] = a->ints[i];
    *got = a->count;
    return true;
}

bool onnx_has_input(const OnnxNode *n, int i)
{
    return i < n->n_inputs && n->inputs[i].name[0];
}

/* Integer or bool data known at import as an IR constant of its dtype, made
 * once per name (float data has its constant from the start: onnx.c). */
static Value *onnx_int_const(const OnnxNode *n, const OnnxInput *in)
{
    const OnnxConst *k = in->konst;
    DType dtype;
    if (!onnx_dtype(k->elem_type, &dtype))
        return onnx_fail(n, "unsupported element type %s for '%s'", onnx_elem_type_name(k->elem_type), in->name);
    const char *name = arena_printf(n->g->arena, "%s.%s", in->name, dtype_name(dtype));
    Value *v = ir_find_value(n->g, name);
    if (v && v->data && v->type.dtype == dtype)
        return v;
    for (int64_t j = 0; j < k->numel; j++)
        if (k->i[j] < -DTYPE_EXACT_INT || k->i[j] > DTYPE_EXACT_INT)
            return onnx_fail(n, "'%s' holds %lld, beyond float32's exact integers (2^24): not supported", in->name,
                             (long long)k->i[j]);
    return ir_add_const(n->g, v ? onnx_fresh_name(n->imp, name) : name, type_make_dtype(dtype, k->rank, k->dims),
                        k->f);
}

/* A tensor flowing into input i, which must be present. */
Value *onnx_data_input(const OnnxNode *n, int i)
{
    if (!onnx_has_input(n, i))
        return onnx_fail(n, "input %d is missing", i);
    const OnnxInput *in = &n->inputs[i];
    if (!in->value && in->konst && in->konst->elem_type == ONNX_FLOAT && in->konst->numel == 0)
        return onnx_fail(n, "'%s' is an empty tensor, which is not supported", in->name);
    if (!in->value && in->konst && in->konst->i && in->konst->f && in->konst->numel > 0)
        return onnx_int_const(n, in);
    if (!in->value) {
        int et = in->konst ? in->konst->elem_type : 0;
        return onnx_fail(n, "unsupported element type %s for '%s'", onnx_elem_type_name(et), in->name);
    }
    return in->value;
}

/* Input i as data known at import (a parameter such as a shape), with a
 * decodable element type. */
const OnnxConst *onnx_const_input(const OnnxNode *n, int i, const char *what)
{
    const OnnxInput *in = &n->inputs[i];
    if (!in->konst) {
        onnx_fail(n, "%s '%s' must be a constant (initializer or Constant node) at import", what, in->name);
        return NULL;
    }
    if (!in->konst->f) {
        onnx_fail(n, "%s '%s' has element type %s, which cannot be read", what, in->name,
                  onnx_elem_type_name(in->konst->elem_type));
        return NULL;
    }
    return in->konst;
}

/* An integer list parameter (axes, pads, shape) given as input i. */
bool onnx_ints_input(const OnnxNode *n, int i, const char *what, int64_t *out, int *count)
{
    const OnnxConst *k = onnx_const_input(n, i, what);
    if (!k)
        return false;
    if (!k->i)
        return onnx_fail(n, "%s '%s' must be an integer tensor, not %s", what, n->inputs[i].name,
                         onnx_elem_type_name(k->elem_type)), false;
    if (k->rank > 1 || k->numel > 2 * IR_MAX_RANK)
        return onnx_fail(n, "%s '%s' must be a short 1-D tensor", what, n->inputs[i].name), false;
    for (int64_t j = 0; j < k->numel; j++)
        out[j] = k->i[j];
    *count = (int)k->numel;
    return true;
}

/* A scalar float parameter given as input i. */
bool onnx_float_input(const OnnxNode *n, int i, const char *what, float *out)
{
    const OnnxConst *k = onnx_const_input(n, i, what);
    if (!k)
        return false;
    if (k->numel != 1)
        return onnx_fail(n, "%s '%s' must hold one value, it holds %lld", what, n->inputs[i].name,
                         (long long)k->numel), false;
    *out = k->f[0];
    return true;
}

/* Maps axes in [-rank, rank) to [0, rank). */
bool onnx_normalize_axes(const OnnxNode *n, const char *what, int64_t *axes, int count, int rank)
{
    for (int i = 0; i < count; i++) {
        if (axes[i] < -rank || axes[i] >= rank)
            return onnx_fail(n, "%s %lld is out of range for rank %d", what, (long long)axes[i], rank), false;
        if (axes[i] < 0)
            axes[i] += rank;
    }
    return true;
}

/* ---- emitting ops ---- */

Op *onnx_emit(const OnnxNode *n, OpKind kind, Value *const *inputs, int count, const char *name)
{
    Type untyped = {.dtype = DT_F32};       /* set by onnx_typed() once the attributes are in */
    return ir_add_op(n->g, kind, inputs, count, name, untyped, n->loc);
}

/* Types the op; returns its result or NULL (errors are at the node). */
Value *onnx_typed(const OnnxNode *n, Op *op)
{
    Type t;
    if (!ir_infer_type(op, &t, n->diags))
        return NULL;
    op->result->type = t;
    return op->result;
}

Value *onnx_unary(const OnnxNode *n, OpKind kind)
{
    Value *x = onnx_data_input(n, 0);
    return x ? onnx_typed(n, onnx_emit(n, kind, &x, 1, n->output)) : NULL;
}

/* ---- convolution and pooling ---- */

typedef struct {
    int sp;                     /* spatial rank */
    int64_t kernel[IR_MAX_RANK], strides[IR_MAX_RANK], dilations[IR_MAX_RANK];
    int64_t pads[2 * IR_MAX_RANK];
} Window;

/* Reads strides, dilations and pads, resolving auto_pad against the input's
 * spatial dims (kernel already set).  SAME_* pads so that out = ceil(in /
 * stride), the odd unit at the end (UPPER) or the beginning (LOWER). */
static bool read_window(const OnnxNode *n, const Type *x, Window *w, bool *auto_padded)
{
    int sp = w->sp, got;
    const char *auto_pad;
    if (!onnx_get_ints(n, "strides", sp, 1, w->strides, &got) ||
        !onnx_get_ints(n, "dilations", sp, 1, w->dilations, &got) ||
        !onnx_get_string(n, "auto_pad", "NOTSET", &auto_pad))
        return false;
    /* Bounded here, before the SAME_* arithmetic below; infer.c checks the pads. */
    for (int i = 0; i < sp; i++) {
        const char *bad = w->kernel[i] < 1 || w->kernel[i] > IR_MAX_NUMEL ? "kernel_shape"
                          : w->strides[i] < 1 || w->strides[i] > IR_MAX_NUMEL ? "strides"
                          : w->dilations[i] < 1 || w->dilations[i] > IR_MAX_NUMEL ? "dilations" : NULL;
        if (bad)
            return onnx_fail(n, "attribute '%s' must hold values from 1 to %lld", bad, (long long)IR_MAX_NUMEL), false;
    }
    *auto_padded = strcmp(auto_pad, "NOTSET") != 0;
    if (strcmp(auto_pad, "NOTSET") == 0)
        return onnx_get_ints(n, "pads", 2 * sp, 0, w->pads, &got);
    for (int i = 0; i < 2 * sp; i++)
        w->pads[i] = 0;
    if (strcmp(auto_pad, "VALID") == 0)
        return true;
    bool upper = strcmp(auto_pad, "SAME_UPPER") == 0;
    if (!upper && strcmp(auto_pad, "SAME_LOWER") != 0)
        return onnx_fail(n, "unknown auto_pad '%s'", auto_pad), false;
    for (int i = 0; i < sp; i++) {
        int64_t in = x->dims[2 + i], s = w->strides[i];
        int64_t out = (in + s - 1) / s, extent, total;
        if (!i64_mul(w->kernel[i] - 1, w->dilations[i], &extent) || extent > IR_MAX_NUMEL)
            return onnx_fail(n, "the window of %lld with dilation %lld is too large", (long long)w->kernel[i],
                             (long long)w->dilations[i]), false;
        total = (out - 1) * s + extent + 1 - in;    /* each term at most 2^32 */
        if (total < 0)
            total = 0;
        w->pads[i] = upper ? total / 2 : total - total / 2;
        w->pads[sp + i] = total - w->pads[i];
    }
    return true;
}

static Value *lower_conv(const OnnxNode *n)
{
    Value *in[3] = {onnx_data_input(n, 0), onnx_data_input(n, 1), NULL};
    if (!in[0] || !in[1] || (onnx_has_input(n, 2) && !(in[2] = onnx_data_input(n, 2))))
        return NULL;
    const Type *x = &in[0]->type, *wt = &in[1]->type;
    if (x->rank < 3 || wt->rank != x->rank)
        return onnx_fail(n, "Conv needs an N x C x D... input and a weight of the same rank, got %s and %s",
                         type_format(n->g->arena, x), type_format(n->g->arena, wt));
    Window w = {.sp = x->rank - 2};
    int64_t kshape[IR_MAX_RANK], group;
    int got;
    if (!onnx_get_ints(n, "kernel_shape", -1, 0, kshape, &got) || !onnx_get_int(n, "group", 1, &group))
        return NULL;
    for (int i = 0; i < w.sp; i++)
        w.kernel[i] = wt->dims[2 + i];
    if (onnx_attr(n, "kernel_shape") && (got != w.sp || memcmp(kshape, w.kernel, (size_t)got * sizeof *kshape) != 0))
        return onnx_fail(n, "kernel_shape does not match the weight %s", type_format(n->g->arena, wt));
    bool auto_padded;
    if (!read_window(n, x, &w, &auto_padded))
        return NULL;
    Op *op = onnx_emit(n, OP_CONV, in, in[2] ? 3 : 2, n->output);
    ir_set_ints(n->g, op, "dilations", w.dilations, w.sp);
    ir_set_int(n->g, op, "group", group);
    ir_set_ints(n->g, op, "pads", w.pads, 2 * w.sp);
    ir_set_ints(n->g, op, "strides", w.strides, w.sp);
    return onnx_typed(n, op);
}

static Value *lower_pool(const OnnxNode *n, OpKind kind)
{
    Value *xv = onnx_data_input(n, 0);
    if (!xv)
        return NULL;
    const Type *x = &xv->type;
    if (x->rank < 3)
        return onnx_fail(n, "the input must be N x C x D..., got %s", type_format(n->g->arena, x));
    Window w = {.sp = x->rank - 2};
    int64_t ceil_mode, count_include_pad, storage_order;
    int got;
    if (!onnx_attr(n, "kernel_shape"))
        return onnx_fail(n, "missing attribute 'kernel_shape'");
    bool auto_padded;
    if (!onnx_get_ints(n, "kernel_shape", w.sp, 1, w.kernel, &got) || !read_window(n, x, &w, &auto_padded) ||
        !onnx_get_int(n, "ceil_mode", 0, &ceil_mode) || !onnx_get_int(n, "count_include_pad", 0, &count_include_pad) ||
        !onnx_get_int(n, "storage_order", 0, &storage_order))
        return NULL;
    if (storage_order != 0)
        return onnx_fail(n, "storage_order %lld is not supported (only 0)", (long long)storage_order);
    if (auto_padded)            /* ONNX: with auto_pad the output size is fixed; ceil_mode plays no part */
        ceil_mode = 0;
    Op *op = onnx_emit(n, kind, &xv, 1, n->output);
    ir_set_int(n->g, op, "ceil_mode", ceil_mode);
    ir_set_ints(n->g, op, "kernel", w.kernel, w.sp);
    ir_set_ints(n->g, op, "pads", w.pads, 2 * w.sp);
    ir_set_ints(n->g, op, "strides", w.strides, w.sp);
    if (kind == OP_MAXPOOL) {
        ir_set_ints(n->g, op, "dilations", w.dilations, w.sp);
    } else {
        for (int i = 0; i < w.sp; i++)
            if (w.dilations[i] != 1)
                return onnx_fail(n, "AveragePool with dilations is not supported");
        ir_set_int(n->g, op, "count_include_pad", count_include_pad);
    }
    return onnx_typed(n, op);
}

/* ---- matrix products and normalization ---- */

static Value *lower_gemm(const OnnxNode *n)
{
    Value *in[3] = {onnx_data_input(n, 0), onnx_data_input(n, 1), NULL};
    if (!in[0] || !in[1] || (onnx_has_input(n, 2) && !(in[2] = onnx_data_input(n, 2))))
        return NULL;
    float alpha, beta;
    int64_t ta, tb;
    if (!onnx_get_float(n, "alpha", 1.0f, &alpha) || !onnx_get_float(n, "beta", 1.0f, &beta) ||
        !onnx_get_int(n, "transA", 0, &ta) || !onnx_get_int(n, "transB", 0, &tb))
        return NULL;
    Op *op = onnx_emit(n, OP_GEMM, in, in[2] ? 3 : 2, n->output);
    ir_set_float(n->g, op, "alpha", alpha);
    ir_set_float(n->g, op, "beta", beta);
    ir_set_int(n->g, op, "transA", ta != 0);
    ir_set_int(n->g, op, "transB", tb != 0);
    return onnx_typed(n, op);
}

static Value *lower_batchnorm(const OnnxNode *n)
{
    Value *in[5];
    for (int i = 0; i < 5; i++)
        if (!(in[i] = onnx_data_input(n, i)))
            return NULL;
    float epsilon;
    int64_t spatial, training;
    if (!onnx_get_float(n, "epsilon", 1e-5f, &epsilon) || !onnx_get_int(n, "spatial", 1, &spatial) ||
        !onnx_get_int(n, "training_mode", 0, &training))
        return NULL;
    if (spatial != 1)
        return onnx_fail(n, "BatchNormalization with spatial = 0 is not supported");
    if (training)
        return onnx_fail(n, "BatchNormalization in training mode is not supported (inference only)");
    Op *op = onnx_emit(n, OP_BATCHNORM, in, 5, n->output);
    ir_set_float(n->g, op, "epsilon", epsilon);
    return onnx_typed(n, op);
}

/* ---- elementwise ---- */

static Value *lower_binary(const OnnxNode *n, OpKind kind)
{
    if (onnx_attr(n, "broadcast") || onnx_attr(n, "axis"))
        return onnx_fail(n, "the old 'broadcast'/'axis' attributes (opset < 7) are not supported");
    Value *in[2] = {onnx_data_input(n, 0), onnx_data_input(n, 1)};
    return in[0] && in[1] ? onnx_typed(n, onnx_emit(n, kind, in, 2, n->output)) : NULL;
}

static Value *lower_alpha_beta(const OnnxNode *n, OpKind kind, float alpha0, float beta0)
{
    Value *x = onnx_data_input(n, 0);
    float alpha, beta;
    if (!x || !onnx_get_float(n, "alpha", alpha0, &alpha) || !onnx_get_float(n, "beta", beta0, &beta))
        return NULL;
    Op *op = onnx_emit(n, kind, &x, 1, n->output);
    ir_set_float(n->g, op, "alpha", alpha);
    if (kind == OP_HARDSIGMOID)
        ir_set_float(n->g, op, "beta", beta);
    return onnx_typed(n, op);
}

/* Clip's bounds: attributes before opset 11, optional constant inputs since
 * (a bound that is a graph value makes max and min ops instead:
 * onnx_lower_clip_values).  Clip-1 and -6 default them to the float range
 * (+-FLT_MAX, so an infinite input is clipped to it); a missing input is no
 * bound. */
static Value *lower_clip(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    float lo = -INFINITY, hi = INFINITY;
    if (!x)
        return NULL;
    if (n->opset < 11) {
        if (!onnx_get_float(n, "min", -FLT_MAX, &lo) || !onnx_get_float(n, "max", FLT_MAX, &hi))
            return NULL;
    } else if ((onnx_has_input(n, 1) && !n->inputs[1].konst) || (onnx_has_input(n, 2) && !n->inputs[2].konst)) {
        return onnx_lower_clip_values(n);
    } else if ((onnx_has_input(n, 1) && !onnx_float_input(n, 1, "Clip min", &lo)) ||
               (onnx_has_input(n, 2) && !onnx_float_input(n, 2, "Clip max", &hi))) {
        return NULL;
    }
    Op *op = onnx_emit(n, OP_CLIP, &x, 1, n->output);
    ir_set_float(n->g, op, "max", hi);
    ir_set_float(n->g, op, "min", lo);
    return onnx_typed(n, op);
}

static Value *lower_dropout(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    if (!x)
        return NULL;
    const OnnxConst *ratio = NULL;
    if (onnx_has_input(n, 1) && !(ratio = onnx_const_input(n, 1, "Dropout ratio")))
        return NULL;
    if (onnx_has_input(n, 2)) {
        const OnnxConst *mode = onnx_const_input(n, 2, "Dropout training_mode");
        if (!mode)
            return NULL;
        /* a ratio of 0 keeps every element, scaled by 1 / (1 - 0): the identity
         * even in training mode (torchvision 0.14's Swin exports its attention
         * dropout so) */
        bool identity = ratio && ratio->numel == 1 && ratio->f[0] == 0;
        if (mode->numel > 0 && mode->f[0] != 0 && !identity)
            return onnx_fail(n, "Dropout in training mode is not supported (inference only; with a ratio of 0 it "
                                "would be the identity)");
    }
    return onnx_typed(n, onnx_emit(n, OP_DROPOUT, &x, 1, n->output));
}

/* ---- shapes ---- */

static Value *lower_concat(const OnnxNode *n)
{
    if (n->n_inputs < 1 || n->n_inputs > 64)
        return onnx_fail(n, "Concat takes 1 to 64 inputs, it has %d", n->n_inputs);
    Value *in[64];
    for (int i = 0; i < n->n_inputs; i++)
        if (!(in[i] = onnx_data_input(n, i)))
            return NULL;
    int64_t axis;
    if (!onnx_attr(n, "axis"))
        return onnx_fail(n, "missing attribute 'axis'");
    if (!onnx_get_int(n, "axis", 0, &axis) || !onnx_normalize_axes(n, "axis", &axis, 1, in[0]->type.rank))
        return NULL;
    Op *op = onnx_emit(n, OP_CONCAT, in, n->n_inputs, n->output);
    ir_set_int(n->g, op, "axis", axis);
    return onnx_typed(n, op);
}

static Value *lower_flatten(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axis;
    if (!x || !onnx_get_int(n, "axis", 1, &axis))
        return NULL;
    int rank = x->type.rank;
    if (axis < -rank || axis > rank)
        return onnx_fail(n, "axis %lld is out of range for rank %d", (long long)axis, rank);
    Op *op = onnx_emit(n, OP_FLATTEN, &x, 1, n->output);
    ir_set_int(n->g, op, "axis", axis < 0 ? axis + rank : axis);
    return onnx_typed(n, op);
}

/* Reshape's shape against the input type xt: 0 copies the input's dimension
 * (unless allowzero), one -1 takes what is left.  Resolved in place. */
bool onnx_reshape_resolve(const OnnxNode *n, const Type *xt, int64_t *shape, int count, bool allowzero)
{
    if (count > IR_MAX_RANK)
        return onnx_fail(n, "Reshape to rank %d is not supported (at most %d)", count, IR_MAX_RANK), false;
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < count; i++) {
        if (shape[i] == 0 && !allowzero) {
            if (i >= xt->rank)
                return onnx_fail(n, "shape[%d] = 0 copies a dimension the input %s does not have", i,
                                 type_format(n->g->arena, xt)), false;
            shape[i] = xt->dims[i];
        }
        if (shape[i] == -1) {
            if (infer_at >= 0)
                return onnx_fail(n, "Reshape shape has more than one -1"), false;
            infer_at = i;
        } else if (shape[i] < 0) {
            return onnx_fail(n, "Reshape shape[%d] is %lld", i, (long long)shape[i]), false;
        } else if (!i64_mul(known, shape[i] ? shape[i] : 1, &known) || known > IR_MAX_NUMEL) {
            return onnx_fail(n, "Reshape shape has more than %lld elements (shape[%d] is %lld)",
                             (long long)IR_MAX_NUMEL, i, (long long)shape[i]), false;
        }
    }
    if (infer_at >= 0) {
        int64_t numel = type_numel(xt);
        if (known == 0 || numel % known != 0)
            return onnx_fail(n, "cannot reshape %s: %lld elements are not a multiple of %lld",
                             type_format(n->g->arena, xt), (long long)numel, (long long)known), false;
        shape[infer_at] = numel / known;
    }
    return true;
}

static Value *lower_reshape(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t shape[2 * IR_MAX_RANK], allowzero;
    int count;
    if (!x || !onnx_has_input(n, 1))
        return x ? onnx_fail(n, "Reshape needs a shape input") : NULL;
    if (!onnx_ints_input(n, 1, "Reshape shape", shape, &count) || !onnx_get_int(n, "allowzero", 0, &allowzero) ||
        !onnx_reshape_resolve(n, &x->type, shape, count, allowzero != 0))
        return NULL;
    Op *op = onnx_emit(n, OP_RESHAPE, &x, 1, n->output);
    ir_set_ints(n->g, op, "shape", shape, count);
    return onnx_typed(n, op);
}

static Value *lower_transpose(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t perm[2 * IR_MAX_RANK];
    int count;
    if (!x || !onnx_get_ints(n, "perm", -1, 0, perm, &count))
        return NULL;
    if (!onnx_attr(n, "perm")) {
        count = x->type.rank;
        for (int i = 0; i < count; i++)
            perm[i] = count - 1 - i;
    }
    Op *op = onnx_emit(n, OP_TRANSPOSE, &x, 1, n->output);
    ir_set_ints(n->g, op, "perm", perm, count);
    return onnx_typed(n, op);
}

/* Squeeze/Unsqueeze axes: an attribute before opset 13, an input since. */
bool onnx_read_axes(const OnnxNode *n, int64_t *axes, int *count, bool *present)
{
    *count = 0;
    if (n->opset < 13) {
        *present = onnx_attr(n, "axes") != NULL;
        return onnx_get_ints(n, "axes", -1, 0, axes, count);
    }
    *present = onnx_has_input(n, 1);
    return !*present || onnx_ints_input(n, 1, "axes", axes, count);
}

static Value *lower_squeeze(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axes[2 * IR_MAX_RANK];
    int count;
    bool present;
    if (!x || !onnx_read_axes(n, axes, &count, &present))
        return NULL;
    if (!present)
        for (int i = 0; i < x->type.rank; i++)
            if (x->type.dims[i] == 1)
                axes[count++] = i;
    if (!onnx_normalize_axes(n, "axis", axes, count, x->type.rank))
        return NULL;
    Op *op = onnx_emit(n, OP_SQUEEZE, &x, 1, n->output);
    ir_set_ints(n->g, op, "axes", axes, count);
    return onnx_typed(n, op);
}

static Value *lower_unsqueeze(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axes[2 * IR_MAX_RANK];
    int count;
    bool present;
    if (!x || !onnx_read_axes(n, axes, &count, &present))
        return NULL;
    if (!present)
        return onnx_fail(n, "Unsqueeze needs axes");
    if (!onnx_normalize_axes(n, "axis", axes, count, x->type.rank + count))
        return NULL;
    Op *op = onnx_emit(n, OP_UNSQUEEZE, &x, 1, n->output);
    ir_set_ints(n->g, op, "axes", axes, count);
    return onnx_typed(n, op);
}

/* Pad: pads and value as attributes before opset 11, as inputs since. */
static Value *lower_pad(const OnnxNode *n)
{
    Value *x = onnx_data_input(n, 0);
    const char *mode;
    int64_t pads[2 * IR_MAX_RANK];
    int count;
    float value = 0.0f;
    if (!x || !onnx_get_string(n, "mode", "constant", &mode))
        return NULL;
    if (strcmp(mode, "constant") != 0 && strcmp(mode, "reflect") != 0 && strcmp(mode, "edge") != 0)
        return onnx_fail(n, "Pad mode '%s' is not supported (constant, reflect and edge are)", mode);
    if (n->opset < 11) {
        if (!onnx_attr(n, "pads"))
            return onnx_fail(n, "missing attribute 'pads'");
        if (!onnx_get_ints(n, "pads", -1, 0, pads, &count) || !onnx_get_float(n, "value", 0.0f, &value))
            return NULL;
    } else {
        if (!onnx_has_input(n, 1))
            return onnx_fail(n, "Pad needs a pads input");
        if (!onnx_ints_input(n, 1, "pads", pads, &count) ||
            (onnx_has_input(n, 2) && !onnx_float_input(n, 2, "constant_value", &value)))
            return NULL;
        if (onnx_has_input(n, 3))
            return onnx_fail(n, "Pad with an axes input is not supported");
    }
    Op *op = onnx_emit(n, OP_PAD, &x, 1, n->output);
    if (strcmp(mode, "constant") != 0)
        ir_set_string(n->g, op, "mode", mode);
    ir_set_ints(n->g, op, "pads", pads, count);
    ir_set_float(n->g, op, "value", value);
    return onnx_typed(n, op);
}

/* Softmax over one axis since opset 13.  Before, the input is coerced to 2-D
 * at `axis` and normalized over the second part: reshape -> softmax(axis 1) ->
 * reshape back.  When axis is the last one the coercion changes nothing and a
 * single op does. */
static Value *lower_softmax(const OnnxNode *n, OpKind kind)
{
    Value *x = onnx_data_input(n, 0);
    int64_t axis;
    if (!x || !onnx_get_int(n, "axis", n->opset < 13 ? 1 : -1, &axis))
        return NULL;
    int rank = x->type.rank;
    if (!onnx_normalize_axes(n, "axis", &axis, 1, rank))
        return NULL;
    if (n->opset >= 13 || axis == rank - 1) {
        Op *op = onnx_emit(n, kind, &x, 1, n->output);
        ir_set_int(n->g, op, "axis", axis);
        return onnx_typed(n, op);
    }
    int64_t flat[2] = {1, 1};
    for (int i = 0; i < rank; i++)
        flat[i >= axis] *= x->type.dims[i];
    Op *to2d = onnx_emit(n, OP_RESHAPE, &x, 1, onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.2d", n->output)));
    ir_set_ints(n->g, to2d, "shape", flat, 2);
    Value *x2 = onnx_typed(n, to2d);
    if (!x2)
        return NULL;
    Op *sm = onnx_emit(n, kind, &x2, 1, onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.flat", n->output)));
    ir_set_int(n->g, sm, "axis", 1);
    Value *y2 = onnx_typed(n, sm);
    if (!y2)
        return NULL;
    Op *back = onnx_emit(n, OP_RESHAPE, &y2, 1, n->output);
    ir_set_ints(n->g, back, "shape", x->type.dims, rank);
    return onnx_typed(n, back);
}

/* ---- the table ---- */

typedef enum {
    L_CONV, L_GEMM, L_MATMUL, L_BATCHNORM, L_UNARY, L_LEAKYRELU, L_HARDSIGMOID, L_CLIP, L_MAXPOOL,
    L_AVGPOOL, L_BINARY, L_CONCAT, L_FLATTEN, L_RESHAPE, L_TRANSPOSE, L_SQUEEZE, L_UNSQUEEZE, L_PAD,
    L_DROPOUT, L_SOFTMAX, L_MATH, L_FOLD, L_CONVTRANSPOSE, L_RESIZE, L_SPLIT, L_TILE,
    L_RNN, L_DEPTH_SPACE, L_GRIDSAMPLE, L_EINSUM, L_REVERSE_SEQUENCE, L_INDEX,
} Lowering;

static const struct {
    const char *op_type;
    Lowering how;
    OpKind kind;
} ops[] = {
    {"Conv", L_CONV, OP_CONV},
    {"Gemm", L_GEMM, OP_GEMM},
    {"MatMul", L_MATMUL, OP_MATMUL},
    {"BatchNormalization", L_BATCHNORM, OP_BATCHNORM},
    {"Relu", L_UNARY, OP_RELU},
    {"Sigmoid", L_UNARY, OP_SIGMOID},
    {"Tanh", L_UNARY, OP_TANH},
    {"Identity", L_UNARY, OP_IDENTITY},
    {"GlobalAveragePool", L_UNARY, OP_GLOBALAVGPOOL},
    {"GlobalMaxPool", L_UNARY, OP_GLOBALMAXPOOL},
    {"LeakyRelu", L_LEAKYRELU, OP_LEAKYRELU},
    {"HardSigmoid", L_HARDSIGMOID, OP_HARDSIGMOID},
    {"Clip", L_CLIP, OP_CLIP},
    {"MaxPool", L_MAXPOOL, OP_MAXPOOL},
    {"AveragePool", L_AVGPOOL, OP_AVGPOOL},
    {"Add", L_BINARY, OP_ADD},
    {"Sub", L_BINARY, OP_SUB},
    {"Mul", L_BINARY, OP_MUL},
    {"Div", L_BINARY, OP_DIV},
    {"Concat", L_CONCAT, OP_CONCAT},
    {"Flatten", L_FLATTEN, OP_FLATTEN},
    {"Reshape", L_RESHAPE, OP_RESHAPE},
    {"Transpose", L_TRANSPOSE, OP_TRANSPOSE},
    {"Squeeze", L_SQUEEZE, OP_SQUEEZE},
    {"Unsqueeze", L_UNSQUEEZE, OP_UNSQUEEZE},
    {"Pad", L_PAD, OP_PAD},
    {"Dropout", L_DROPOUT, OP_DROPOUT},
    {"Softmax", L_SOFTMAX, OP_SOFTMAX},
    {"LogSoftmax", L_SOFTMAX, OP_LOGSOFTMAX},
    /* onnx_ops_math.c */
    {"Sqrt", L_MATH, OP_SQRT},
    {"Exp", L_MATH, OP_EXP},
    {"Log", L_MATH, OP_LOG},
    {"Erf", L_MATH, OP_ERF},
    {"Neg", L_MATH, OP_NEG},
    {"Reciprocal", L_MATH, OP_RECIPROCAL},
    {"Abs", L_MATH, OP_ABS},
    {"Floor", L_MATH, OP_FLOOR},
    {"Ceil", L_MATH, OP_CEIL},
    {"Round", L_MATH, OP_ROUND},
    {"Softplus", L_MATH, OP_SOFTPLUS},
    {"Softsign", L_MATH, OP_SOFTSIGN},
    {"HardSwish", L_MATH, OP_HARDSWISH},
    {"Elu", L_MATH, OP_ELU},
    {"Selu", L_MATH, OP_SELU},
    {"Celu", L_MATH, OP_CELU},
    {"PRelu", L_MATH, OP_PRELU},
    {"Pow", L_MATH, OP_POW},
    {"Max", L_MATH, OP_MAX},
    {"Min", L_MATH, OP_MIN},
    {"Mean", L_MATH, OP_MEAN},
    {"Sum", L_MATH, OP_SUM},
    {"ReduceMean", L_MATH, OP_REDUCEMEAN},
    {"ReduceSum", L_MATH, OP_REDUCESUM},
    {"ReduceMax", L_MATH, OP_REDUCEMAX},
    {"ReduceMin", L_MATH, OP_REDUCEMIN},
    {"ReduceProd", L_MATH, OP_REDUCEPROD},
    {"ReduceL1", L_MATH, OP_REDUCEL1},
    {"ReduceL2", L_MATH, OP_REDUCEL2},
    {"ReduceSumSquare", L_MATH, OP_REDUCESUMSQUARE},
    {"ReduceLogSum", L_MATH, OP_REDUCELOGSUM},
    {"ReduceLogSumExp", L_MATH, OP_REDUCELOGSUMEXP},
    {"LayerNormalization", L_MATH, OP_LAYERNORM},
    {"InstanceNormalization", L_MATH, OP_INSTANCENORM},
    {"Sin", L_MATH, OP_SIN}, {"Cos", L_MATH, OP_COS}, {"Tan", L_MATH, OP_TAN}, {"Asin", L_MATH, OP_ASIN},
    {"Acos", L_MATH, OP_ACOS}, {"Atan", L_MATH, OP_ATAN}, {"Sinh", L_MATH, OP_SINH}, {"Cosh", L_MATH, OP_COSH},
    {"Asinh", L_MATH, OP_ASINH}, {"Acosh", L_MATH, OP_ACOSH}, {"Atanh", L_MATH, OP_ATANH},
    {"Sign", L_MATH, OP_SIGN}, {"ThresholdedRelu", L_MATH, OP_THRESHOLDEDRELU}, {"Shrink", L_MATH, OP_SHRINK},
    {"LRN", L_MATH, OP_LRN}, {"Det", L_MATH, OP_DET}, {"MeanVarianceNormalization", L_MATH, 0}, {"Hardmax", L_SOFTMAX, OP_HARDMAX},
    /* computed at import (onnx_fold.c), some with an IR form on float values */
    {"Shape", L_FOLD, 0}, {"Size", L_FOLD, 0}, {"Gather", L_FOLD, 0}, {"Slice", L_FOLD, 0},
    {"Cast", L_FOLD, 0}, {"CastLike", L_FOLD, 0}, {"ConstantOfShape", L_FOLD, 0}, {"Expand", L_FOLD, 0},
    {"Range", L_FOLD, 0}, {"Equal", L_FOLD, 0}, {"Less", L_FOLD, 0}, {"Greater", L_FOLD, 0},
    {"Not", L_FOLD, 0}, {"And", L_FOLD, 0}, {"Or", L_FOLD, 0}, {"Where", L_FOLD, 0},
    {"LessOrEqual", L_FOLD, 0}, {"GreaterOrEqual", L_FOLD, 0}, {"Xor", L_FOLD, 0}, {"EyeLike", L_FOLD, 0},
    {"HannWindow", L_FOLD, 0}, {"HammingWindow", L_FOLD, 0}, {"BlackmanWindow", L_FOLD, 0},
    {"ScatterND", L_FOLD, 0}, {"ScatterElements", L_FOLD, 0}, {"Scatter", L_FOLD, 0},
    /* onnx_ops_layout.c (Slice of a run-time value too, through L_FOLD) */
    {"ConvTranspose", L_CONVTRANSPOSE, OP_CONVTRANSPOSE},
    {"Resize", L_RESIZE, OP_RESIZE},
    {"Upsample", L_RESIZE, OP_RESIZE},
    {"Split", L_SPLIT, OP_SLICE},
    {"Tile", L_TILE, OP_TILE},
    {"DepthToSpace", L_DEPTH_SPACE, 0}, {"SpaceToDepth", L_DEPTH_SPACE, 0}, {"GridSample", L_GRIDSAMPLE, 0},
    {"Einsum", L_EINSUM, 0}, {"ReverseSequence", L_REVERSE_SEQUENCE, 0},
    /* onnx_ops_rnn.c: unrolled over the sequence */
    {"LSTM", L_RNN, 0}, {"GRU", L_RNN, 0}, {"RNN", L_RNN, 0},
    /* onnx_ops_index.c */
    {"ArgMax", L_INDEX, 0}, {"ArgMin", L_INDEX, 0}, {"GatherElements", L_INDEX, 0}, {"Mod", L_INDEX, 0},
    {"Trilu", L_INDEX, 0}, {"CumSum", L_INDEX, 0}, {"OneHot", L_INDEX, 0},
    {"TopK", L_INDEX, 0},
};

static int find_op(const char *op_type)
{
    for (int i = 0; i < (int)(sizeof ops / sizeof ops[0]); i++)
        if (strcmp(ops[i].op_type, op_type) == 0)
            return i;
    return -1;
}

bool onnx_op_supported(const char *op_type)
{
    return find_op(op_type) >= 0;
}

Value *onnx_lower_node(const OnnxNode *n, const char *op_type, const OnnxConst **folded)
{
    int i = find_op(op_type);
    *folded = NULL;
    if (i < 0)
        return onnx_fail(n, "unsupported ONNX operator %s", op_type);
    OnnxNode upgraded;
    if (n->opset < 7) {
        if (!onnx_upgrade_legacy(n, op_type, &upgraded))
            return NULL;
        n = &upgraded;
    }
    if (onnx_fold_applies(n, op_type)) {
        *folded = onnx_fold_node(n, op_type);
        return NULL;
    }
    OpKind kind = ops[i].kind;
    switch (ops[i].how) {
    case L_CONV: return lower_conv(n);
    case L_GEMM: return lower_gemm(n);
    case L_MATMUL: return lower_binary(n, kind);
    case L_BATCHNORM: return lower_batchnorm(n);
    case L_UNARY: return onnx_unary(n, kind);
    case L_LEAKYRELU: return lower_alpha_beta(n, kind, 0.01f, 0.0f);
    case L_HARDSIGMOID: return lower_alpha_beta(n, kind, 0.2f, 0.5f);
    case L_CLIP: return lower_clip(n);
    case L_MAXPOOL:
    case L_AVGPOOL: return lower_pool(n, kind);
    case L_BINARY: return lower_binary(n, kind);
    case L_CONCAT: return lower_concat(n);
    case L_FLATTEN: return lower_flatten(n);
    case L_RESHAPE: return lower_reshape(n);
    case L_TRANSPOSE: return lower_transpose(n);
    case L_SQUEEZE: return lower_squeeze(n);
    case L_UNSQUEEZE: return lower_unsqueeze(n);
    case L_PAD: return lower_pad(n);
    case L_DROPOUT: return lower_dropout(n);
    case L_SOFTMAX: return lower_softmax(n, kind);
    case L_MATH: return onnx_lower_math(n, op_type, kind);
    case L_FOLD: return onnx_lower_value_form(n, op_type);
    case L_CONVTRANSPOSE: return onnx_lower_convtranspose(n);
    case L_RESIZE: return onnx_lower_resize(n, op_type);
    case L_SPLIT: return onnx_lower_split(n);
    case L_TILE: return onnx_lower_tile(n);
    case L_RNN: return onnx_lower_rnn(n, op_type);
    case L_DEPTH_SPACE: return onnx_lower_depth_space(n, op_type);
    case L_GRIDSAMPLE: return onnx_lower_gridsample(n);
    case L_EINSUM: return onnx_lower_einsum(n);
    case L_REVERSE_SEQUENCE: return onnx_lower_reverse_sequence(n);
    case L_INDEX: return onnx_lower_index(n, op_type);
    }
    return NULL;
}
