/* onnx_legacy.c: nodes of default-domain opsets 1 to 6, rewritten in the form
 * onnx_ops.c lowers.
 *
 * Before opset 7 several supported operators had other attributes: the
 * `consumed_inputs` in-place hint of the version-1 schemas (meaningless here),
 * `is_test` on BatchNormalization and Dropout, the limited broadcasting of
 * Add/Sub/Mul/Div and Gemm switched on by `broadcast` (and placed by `axis`),
 * Reshape-1's shape and Pad-1's `paddings` as attributes, Concat-1's default
 * axis 1, Pow-1's `broadcast` as Add's, PRelu-6's slope per channel.  Like
 * ONNX's version converter, this file rewrites such a node into the form of a
 * later version with the same meaning, and onnx_ops.c lowers that.  The version in force is looked up in the table of schemas below
 * (the attributes each version defines, from ONNX's operator changelog); an
 * attribute the version does not define is refused, and so is every case
 * whose old meaning the rewrite cannot keep exactly (training mode, a
 * broadcast the old rules do not define, Pad-1's ambiguous `paddings`).  Each
 * such message says "not supported" and names the version, "Add-6". */
#include "frontend/onnx_node.h"

#include <string.h>

/* The schemas of the supported operators before opset 7: a version applies
 * from opset `since` until the next row of the same operator (or opset 7). */
static const struct {
    const char *op_type;
    int since;
    const char *attrs;          /* the attributes it defines, each followed by a space */
} schemas[] = {
    {"Conv", 1, "auto_pad dilations group kernel_shape pads strides "},
    {"ConvTranspose", 1, "auto_pad dilations group kernel_shape output_padding output_shape pads strides "},
    {"Split", 2, "axis split "},
    {"Tile", 6, ""},
    {"Gemm", 1, "alpha beta broadcast transA transB "},
    {"Gemm", 6, "alpha beta broadcast transA transB "},
    {"MatMul", 1, ""},
    {"BatchNormalization", 1, "consumed_inputs epsilon is_test momentum spatial "},
    {"BatchNormalization", 6, "epsilon is_test momentum spatial "},
    {"Relu", 1, "consumed_inputs "},
    {"Relu", 6, ""},
    {"Sigmoid", 1, "consumed_inputs "},
    {"Sigmoid", 6, ""},
    {"Tanh", 1, "consumed_inputs "},
    {"Tanh", 6, ""},
    {"LeakyRelu", 1, "alpha consumed_inputs "},
    {"LeakyRelu", 6, "alpha "},
    {"HardSigmoid", 1, "alpha beta consumed_inputs "},
    {"HardSigmoid", 6, "alpha beta "},
    {"Clip", 1, "consumed_inputs max min "},
    {"Clip", 6, "max min "},
    {"MaxPool", 1, "auto_pad kernel_shape pads strides "},
    {"AveragePool", 1, "auto_pad kernel_shape pads strides "},
    {"GlobalAveragePool", 1, ""},
    {"GlobalMaxPool", 1, ""},
    {"Add", 1, "axis broadcast consumed_inputs "},
    {"Add", 6, "axis broadcast "},
    {"Sub", 1, "axis broadcast consumed_inputs "},
    {"Sub", 6, "axis broadcast "},
    {"Mul", 1, "axis broadcast consumed_inputs "},
    {"Mul", 6, "axis broadcast "},
    {"Div", 1, "axis broadcast consumed_inputs "},
    {"Div", 6, "axis broadcast "},
    {"Concat", 1, "axis "},
    {"Concat", 4, "axis "},
    {"Flatten", 1, "axis "},
    {"Reshape", 1, "consumed_inputs shape "},
    {"Reshape", 5, ""},
    {"Transpose", 1, "perm "},
    {"Squeeze", 1, "axes "},
    {"Unsqueeze", 1, "axes "},
    {"Pad", 1, "mode paddings value "},
    {"Pad", 2, "mode pads value "},
    {"Identity", 1, ""},
    {"Dropout", 1, "consumed_inputs is_test ratio "},
    {"Dropout", 6, "is_test ratio "},
    {"Softmax", 1, "axis "},
    {"LogSoftmax", 1, "axis "},
    /* onnx_ops_math.c */
    {"Sqrt", 1, "consumed_inputs "},
    {"Sqrt", 6, ""},
    {"Exp", 1, "consumed_inputs "},
    {"Exp", 6, ""},
    {"Log", 1, "consumed_inputs "},
    {"Log", 6, ""},
    {"Neg", 1, "consumed_inputs "},
    {"Neg", 6, ""},
    {"Reciprocal", 1, "consumed_inputs "},
    {"Reciprocal", 6, ""},
    {"Abs", 1, "consumed_inputs "},
    {"Abs", 6, ""},
    {"Floor", 1, "consumed_inputs "},
    {"Floor", 6, ""},
    {"Ceil", 1, "consumed_inputs "},
    {"Ceil", 6, ""},
    {"PRelu", 1, "consumed_inputs "},
    {"PRelu", 6, ""},
    {"Max", 1, "consumed_inputs "},
    {"Max", 6, ""},
    {"Min", 1, "consumed_inputs "},
    {"Min", 6, ""},
    {"Mean", 1, "consumed_inputs "},
    {"Mean", 6, ""},
    {"Sum", 1, "consumed_inputs "},
    {"Sum", 6, ""},
    {"Elu", 1, "alpha consumed_inputs "},
    {"Elu", 6, "alpha "},
    {"Selu", 1, "alpha consumed_inputs gamma "},
    {"Selu", 6, "alpha gamma "},
    {"Softplus", 1, ""},
    {"Softsign", 1, ""},
    {"Pow", 1, "axis broadcast "},
    {"InstanceNormalization", 1, "consumed_inputs epsilon "},
    {"InstanceNormalization", 6, "epsilon "},
    {"ReduceMean", 1, "axes keepdims "},
    {"ReduceSum", 1, "axes keepdims "},
    {"ReduceMax", 1, "axes keepdims "},
    {"ReduceMin", 1, "axes keepdims "},
    {"ReduceProd", 1, "axes keepdims "},
    {"ReduceL1", 1, "axes keepdims "},
    {"ReduceL2", 1, "axes keepdims "},
    {"ReduceSumSquare", 1, "axes keepdims "},
    {"ReduceLogSum", 1, "axes keepdims "},
    {"ReduceLogSumExp", 1, "axes keepdims "},
    /* computed at import (onnx_fold.c reads the old attributes) */
    {"Shape", 1, ""},
    {"Size", 1, ""},
    {"Gather", 1, "axis "},
    {"Slice", 1, "axes ends starts "},
    {"Cast", 6, "to "},
    {"Not", 1, ""},
};

enum { N_SCHEMAS = sizeof schemas / sizeof schemas[0] };

/* The row of op_type in force at `opset`, or -1. */
static int find_schema(const char *op_type, int opset)
{
    int found = -1;
    for (int i = 0; i < N_SCHEMAS; i++)
        if (strcmp(schemas[i].op_type, op_type) == 0 && schemas[i].since <= opset)
            found = i;
    return found;
}

static bool schema_has(int schema, const char *attr)
{
    size_t n = strlen(attr);
    for (const char *p = schemas[schema].attrs; *p; p = strchr(p, ' ') + 1)
        if (strncmp(p, attr, n) == 0 && p[n] == ' ')
            return true;
    return false;
}

/* The node being rewritten: copies of its inputs and attributes that the
 * rewrite edits, and the version for messages. */
typedef struct {
    const OnnxNode *n;
    const char *op;             /* "Add-6" */
    OnnxInput *inputs;          /* room for two at least */
    int n_inputs;
    OnnxAttr *attrs;            /* room for one more than the node had */
    int n_attrs;
} Rewrite;

static bool refuse(const Rewrite *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool refuse(const Rewrite *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(r->n->diags, &r->n->loc, fmt, ap);
    va_end(ap);
    return false;
}

static const OnnxAttr *find_attr(const Rewrite *r, const char *name)
{
    for (int i = 0; i < r->n_attrs; i++)
        if (strcmp(r->attrs[i].name, name) == 0)
            return &r->attrs[i];
    return NULL;
}

/* An int attribute, or dflt when it is absent or not an int (the lowering
 * reports a wrong kind when it reads the attribute itself). */
static int64_t int_attr(const Rewrite *r, const char *name, int64_t dflt)
{
    const OnnxAttr *a = find_attr(r, name);
    return a && a->kind == OA_INT ? a->i : dflt;
}

static void drop_attr(Rewrite *r, const char *name)
{
    for (int i = 0; i < r->n_attrs; i++) {
        if (strcmp(r->attrs[i].name, name) == 0) {
            memmove(&r->attrs[i], &r->attrs[i + 1], (size_t)(r->n_attrs - i - 1) * sizeof *r->attrs);
            r->n_attrs--;
            return;
        }
    }
}

/* Appends an attribute (one at most: that is the room r->attrs has). */
static OnnxAttr *add_attr(Rewrite *r, const char *name, OnnxAttrKind kind)
{
    OnnxAttr *a = &r->attrs[r->n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = name;
    a->kind = kind;
    return a;
}

static const char *type_text(const Rewrite *r, const Type *t)
{
    return type_format(r->n->g->arena, t);
}

/* is_test: BatchNormalization and Dropout before opset 7 run in training mode
 * unless it is set, with batch statistics or a random mask. */
static bool require_test_mode(Rewrite *r, const char *training)
{
    if (!int_attr(r, "is_test", 0))
        return refuse(r, "%s with is_test = 0 (training mode: %s) is not supported; only is_test = 1 is",
                      r->op, training);
    drop_attr(r, "is_test");
    return true;
}

/* Add/Sub/Mul/Div-1 and -6: without `broadcast` both inputs have one shape;
 * with it, B is either a single element of rank <= rank(A), or its shape is
 * a contiguous run of A's dims starting at `axis` (default: the trailing
 * ones), never with size-1 expansion.  Numpy broadcasting computes the same
 * once B is reshaped to rank(A) - axis dims by appending 1s, so B gets that
 * reshape and the op lowers as in opset 7. */
static bool legacy_broadcast(Rewrite *r)
{
    const OnnxNode *n = r->n;
    int64_t broadcast = int_attr(r, "broadcast", 0);
    const OnnxAttr *axis_attr = find_attr(r, "axis");
    int64_t axis = axis_attr && axis_attr->kind == OA_INT ? axis_attr->i : -1;
    if (axis_attr && axis_attr->kind != OA_INT)
        return refuse(r, "attribute 'axis' must be an int");
    drop_attr(r, "broadcast");
    drop_attr(r, "axis");
    Value *a = r->inputs[0].value, *b = n->n_inputs > 1 ? r->inputs[1].value : NULL;
    if (!a || !b)
        return true;            /* the lowering reports missing or non-float inputs */
    const Type *at = &a->type, *bt = &b->type;
    if (!broadcast) {
        if (!type_equal(at, bt))
            return refuse(r, "%s without broadcast = 1 needs inputs of one shape, got %s and %s", r->op,
                          type_text(r, at), type_text(r, bt));
        return true;
    }
    if (type_numel(bt) == 1 && bt->rank <= at->rank)
        return true;
    int64_t start = axis_attr ? axis : at->rank - bt->rank;
    bool fits = start >= 0 && start <= at->rank - bt->rank;
    for (int i = 0; fits && i < bt->rank; i++)
        fits = at->dims[start + i] == bt->dims[i];
    if (!fits)
        return refuse(r,
                      "%s broadcast of B %s onto A %s at axis %lld is not supported: the old rules need B's "
                      "dims to equal a run of A's dims (no size-1 expansion)",
                      r->op, type_text(r, bt), type_text(r, at), (long long)start);
    int trailing = at->rank - (int)start - bt->rank;
    if (trailing == 0)
        return true;
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < bt->rank + trailing; i++)
        dims[i] = i < bt->rank ? bt->dims[i] : 1;
    const char *name = onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.b", n->output));
    Type untyped = {.dtype = DT_F32};
    Op *op = ir_add_op(n->g, OP_RESHAPE, &b, 1, name, untyped, n->loc);
    ir_set_ints(n->g, op, "shape", dims, bt->rank + trailing);
    if (!ir_infer_type(op, &op->result->type, n->diags))
        return false;
    r->inputs[1].value = op->result;
    r->inputs[1].konst = NULL;
    return true;
}

/* PRelu-1 and -6: a slope of C values (not one) is per channel, axis 1 of
 * x, so it gets the shape [C, 1, ...] that numpy broadcasting reads so. */
static bool legacy_prelu(Rewrite *r)
{
    const OnnxNode *n = r->n;
    Value *x = r->inputs[0].value, *slope = n->n_inputs > 1 ? r->inputs[1].value : NULL;
    if (!x || !slope || slope->type.rank != 1 || slope->type.dims[0] == 1 || x->type.rank < 2)
        return true;            /* the lowering reports what is missing or does not broadcast */
    if (slope->type.dims[0] != x->type.dims[1])
        return refuse(r, "%s slope %s is neither one value nor one per channel of x %s", r->op,
                      type_text(r, &slope->type), type_text(r, &x->type));
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank - 1; i++)
        dims[i] = i == 0 ? slope->type.dims[0] : 1;
    const char *name = onnx_fresh_name(n->imp, arena_printf(n->g->arena, "%s.slope", n->output));
    Type untyped = {.dtype = DT_F32};
    Op *op = ir_add_op(n->g, OP_RESHAPE, &slope, 1, name, untyped, n->loc);
    ir_set_ints(n->g, op, "shape", dims, x->type.rank - 1);
    if (!ir_infer_type(op, &op->result->type, n->diags))
        return false;
    r->inputs[1].value = op->result;
    r->inputs[1].konst = NULL;
    return true;
}

/* Gemm-1 and -6: C is required and has the shape M x N of the product unless
 * `broadcast` is set; then it may also be one element or an N vector (the
 * legacy broadcasting of Add-6 onto M x N).  All of these broadcast the same
 * way in the opset-7 lowering. */
static bool legacy_gemm(Rewrite *r)
{
    const OnnxNode *n = r->n;
    int64_t broadcast = int_attr(r, "broadcast", 0);
    drop_attr(r, "broadcast");
    if (n->n_inputs < 3 || !n->inputs[2].name[0])
        return refuse(r, "%s needs input C", r->op);
    Value *a = r->inputs[0].value, *b = r->inputs[1].value, *c = r->inputs[2].value;
    if (!a || !b || !c || a->type.rank != 2 || b->type.rank != 2)
        return true;            /* the lowering reports these */
    int64_t mn[2] = {a->type.dims[int_attr(r, "transA", 0) ? 1 : 0],
                     b->type.dims[int_attr(r, "transB", 0) ? 0 : 1]};
    Type want = type_make(2, mn);
    const Type *ct = &c->type;
    if (type_equal(ct, &want))
        return true;
    if (!broadcast)
        return refuse(r, "%s without broadcast = 1 needs C of shape %s, got %s", r->op, type_text(r, &want),
                      type_text(r, ct));
    if ((type_numel(ct) == 1 && ct->rank <= 2) || (ct->rank == 1 && ct->dims[0] == mn[1]))
        return true;
    return refuse(r,
                  "%s broadcast of C %s onto %s is not supported: the old rules need C to be one element, "
                  "an N vector or M x N",
                  r->op, type_text(r, ct), type_text(r, &want));
}

/* Reshape-1: the shape is an attribute; it becomes the constant second input
 * that Reshape-5 reads (0 and -1 mean the same in both). */
static bool legacy_reshape(Rewrite *r)
{
    const OnnxNode *n = r->n;
    const OnnxAttr *shape = find_attr(r, "shape");
    if (n->n_inputs != 1)
        return refuse(r, "%s takes one input (its shape is an attribute), it has %d", r->op, n->n_inputs);
    if (!shape || shape->kind != OA_INTS)
        return refuse(r, "%s without an ints attribute 'shape' is not supported", r->op);
    OnnxConst *k = arena_alloc(n->g->arena, sizeof *k);
    k->elem_type = ONNX_INT64;
    k->rank = 1;
    k->dims[0] = k->numel = shape->count;
    k->i = arena_array(n->g->arena, (size_t)shape->count + 1, sizeof *k->i);
    k->f = arena_array(n->g->arena, (size_t)shape->count + 1, sizeof *k->f);
    for (int i = 0; i < shape->count; i++) {
        k->i[i] = shape->ints[i];
        k->f[i] = (float)shape->ints[i];
    }
    r->inputs[1] = (OnnxInput){.name = "shape", .konst = k};
    r->n_inputs = 2;
    drop_attr(r, "shape");
    return true;
}

/* Pad-1's `paddings`: its text says [x1_begin, x2_begin, ..., x1_end, ...] as
 * Pad-2's `pads` does, but its example reads [x1_begin, x1_end, x2_begin, ...].
 * Only lists that mean the same both ways are accepted, as Pad-2's `pads`. */
static bool legacy_paddings(Rewrite *r)
{
    const OnnxAttr *p = find_attr(r, "paddings");
    if (!p || p->kind != OA_INTS)
        return refuse(r, "%s needs an ints attribute 'paddings'", r->op);
    int half = p->count / 2;
    bool same = true;
    for (int i = 0; i < half; i++)
        same = same && p->ints[i] == p->ints[2 * i] && p->ints[half + i] == p->ints[2 * i + 1];
    if (!same) {
        const char *list = "";
        for (int i = 0; i < p->count; i++)
            list = arena_printf(r->n->g->arena, "%s%s%lld", list, i ? ", " : "", (long long)p->ints[i]);
        return refuse(r,
                      "%s paddings [%s] are not supported: the ONNX text ([x1_begin, x2_begin, ..., x1_end, "
                      "...]) and its example ([x1_begin, x1_end, ...]) read them differently",
                      r->op, list);
    }
    OnnxAttr *pads = add_attr(r, "pads", OA_INTS);
    pads->count = p->count;
    pads->ints = p->ints;
    drop_attr(r, "paddings");
    return true;
}

bool onnx_upgrade_legacy(const OnnxNode *n, const char *op_type, OnnxNode *out)
{
    int s = find_schema(op_type, n->opset);
    if (s < 0) {
        diag_error(n->diags, &n->loc, "%s in opset %d is not supported", op_type, n->opset);
        return false;
    }
    Rewrite r = {n, arena_printf(n->g->arena, "%s-%d", op_type, schemas[s].since), NULL, n->n_inputs, NULL, 0};
    for (int i = 0; i < n->n_attrs; i++)
        if (!schema_has(s, n->attrs[i].name))
            return refuse(&r, "unsupported attribute '%s': %s (opset %d) does not define it", n->attrs[i].name,
                          r.op, n->opset);
    int n_inputs = n->n_inputs > 2 ? n->n_inputs : 2;
    r.inputs = arena_array(n->g->arena, (size_t)n_inputs, sizeof *r.inputs);
    memcpy(r.inputs, n->inputs, (size_t)n->n_inputs * sizeof *r.inputs);
    for (int i = n->n_inputs; i < n_inputs; i++)
        r.inputs[i].name = "";
    r.attrs = arena_array(n->g->arena, (size_t)n->n_attrs + 1, sizeof *r.attrs);
    memcpy(r.attrs, n->attrs, (size_t)n->n_attrs * sizeof *r.attrs);
    r.n_attrs = n->n_attrs;
    drop_attr(&r, "consumed_inputs");

    bool ok = true;
    if (strcmp(op_type, "BatchNormalization") == 0)
        ok = require_test_mode(&r, "batch statistics");
    else if (strcmp(op_type, "Dropout") == 0)
        ok = require_test_mode(&r, "a random mask");
    else if (strcmp(op_type, "Add") == 0 || strcmp(op_type, "Sub") == 0 || strcmp(op_type, "Mul") == 0 ||
             strcmp(op_type, "Div") == 0 || strcmp(op_type, "Pow") == 0)
        ok = legacy_broadcast(&r);
    else if (strcmp(op_type, "PRelu") == 0)
        ok = legacy_prelu(&r);
    else if (strcmp(op_type, "Gemm") == 0)
        ok = legacy_gemm(&r);
    else if (strcmp(op_type, "Reshape") == 0 && schemas[s].since == 1)
        ok = legacy_reshape(&r);
    else if (strcmp(op_type, "Pad") == 0 && schemas[s].since == 1)
        ok = legacy_paddings(&r);
    else if (strcmp(op_type, "Concat") == 0 && schemas[s].since == 1 && !find_attr(&r, "axis"))
        add_attr(&r, "axis", OA_INT)->i = 1;
    if (!ok)
        return false;
    *out = *n;
    out->inputs = r.inputs;
    out->n_inputs = r.n_inputs;
    out->attrs = r.attrs;
    out->n_attrs = r.n_attrs;
    return true;
}
