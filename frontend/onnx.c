/* onnx.c: ONNX model (protobuf) -> graph IR.
 *
 * The import runs in fixed steps, each reporting every problem it finds before
 * the next one starts: read and unpack the file; check the IR version and the
 * opset; list every unsupported operator in one message; define the known
 * tensors (bindings, initializers) and the graph inputs; lower the nodes one by
 * one (onnx_ops.c, after onnx_legacy.c has rewritten the nodes of opsets 1 to
 * 6), typing every result with ir_infer_type(); bind the graph
 * outputs and check declared shapes; compact and verify.  A symbol table maps
 * each ONNX value name to its IR value and/or its import-time data (OnnxConst:
 * integer tensors such as Reshape's shape never become IR values; nodes whose
 * inputs are all known, Shape of a static value too, are computed at import by
 * onnx_fold.c).  A node that
 * fails poisons its outputs so that its users are skipped instead of piling up
 * follow-on errors.  The model is unpacked into the arena (its weights become
 * the constants without a copy); tensors are decoded by onnx_tensor.c. */
#include "frontend/frontend.h"
#include "frontend/onnx_tensor.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { MIN_IR_VERSION = 3, MAX_IR_VERSION = 9, MIN_OPSET = 1, MAX_OPSET = 17 };

/* ---- a string-keyed hash table in the arena ---- */

typedef struct {
    const char **keys;
    void **vals;
    size_t cap, count;
} Table;

static size_t hash(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void *table_get(const Table *t, const char *key)
{
    if (!t->cap)
        return NULL;
    for (size_t i = hash(key) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (!t->keys[i])
            return NULL;
        if (strcmp(t->keys[i], key) == 0)
            return t->vals[i];
    }
}

static void table_put(Arena *arena, Table *t, const char *key, void *val)
{
    if (2 * (t->count + 1) > t->cap) {
        Table bigger = {arena_array(arena, t->cap ? 2 * t->cap : 64, sizeof(char *)),
                        arena_array(arena, t->cap ? 2 * t->cap : 64, sizeof(void *)),
                        t->cap ? 2 * t->cap : 64, 0};
        for (size_t i = 0; i < t->cap; i++)
            if (t->keys[i])
                table_put(arena, &bigger, t->keys[i], t->vals[i]);
        *t = bigger;
    }
    size_t i = hash(key) & (t->cap - 1);
    while (t->keys[i] && strcmp(t->keys[i], key) != 0)
        i = (i + 1) & (t->cap - 1);
    if (!t->keys[i]) {
        t->keys[i] = arena_strdup(arena, key);
        t->count++;
    }
    t->vals[i] = val;
}

/* ---- the importer ---- */

typedef struct {
    Value *value;               /* float data flowing through the graph, or NULL */
    const OnnxConst *konst;     /* data known at import, or NULL */
    bool failed;                /* from a node or input that failed: users are skipped */
} Symbol;

struct OnnxImporter {
    Arena *arena;
    Diags *diags;
    const char *path;
    Loc file_loc;
    Graph *g;
    int opset;
    Table symbols;              /* value name -> Symbol */
    Table consumed;             /* names read by nodes or graph outputs */
    Table all_names;            /* every name in the model, and fresh ones */
};

const char *onnx_fresh_name(OnnxImporter *imp, const char *stem)
{
    const char *name = stem;
    for (int i = 1; table_get(&imp->all_names, name); i++)
        name = arena_printf(imp->arena, "%s.%d", stem, i);
    table_put(imp->arena, &imp->all_names, name, (void *)1);
    return arena_strdup(imp->arena, name);
}

static Symbol *define(OnnxImporter *imp, const char *name, const Loc *loc)
{
    if (table_get(&imp->symbols, name)) {
        diag_error(imp->diags, loc, "value '%s' is defined twice", name);
        return NULL;
    }
    Symbol *s = arena_alloc(imp->arena, sizeof *s);
    table_put(imp->arena, &imp->symbols, name, s);
    return s;
}

static void poison(OnnxImporter *imp, const char *name)
{
    if (*name && !table_get(&imp->symbols, name)) {
        Symbol *s = arena_alloc(imp->arena, sizeof *s);
        s->failed = true;
        table_put(imp->arena, &imp->symbols, name, s);
    }
}

/* Defines `name` as known data; float data (float16 and double converted to
 * float32) also becomes an IR constant, its data decoded straight into the
 * constant when `t` is given.  The model is
 * unpacked into the graph's arena, so raw float data (every weight of an
 * exported model) becomes the constant as it is, without a copy. */
static bool define_const(OnnxImporter *imp, const char *name, const Loc *loc,
                         const Onnx__TensorProto *t, OnnxConst *k)
{
    Symbol *s = define(imp, name, loc);
    if (!s)
        return false;
    float *raw = t ? onnx_tensor_raw_floats(t, k) : NULL;
    float *dest = NULL;
    if (onnx_elem_is_float(k->elem_type) && k->numel > 0) {
        Type type = type_make(k->rank, k->dims);
        s->value = raw ? ir_add_const_taking(imp->g, name, type, raw)
                       : ir_add_const(imp->g, name, type, t ? NULL : k->f);
        dest = s->value->data;
    }
    if (raw)
        k->f = raw;
    else if (t && !onnx_tensor_data(imp->arena, imp->diags, loc, name, t, k, dest))
        return false;
    s->konst = k;
    return true;
}

/* ---- declared types (graph inputs, outputs, value_info) ---- */

typedef struct {
    bool is_tensor;
    int elem_type;              /* 0 when not given */
    bool has_shape;
    int rank;
    int64_t dims[IR_MAX_RANK];  /* -1 where symbolic or unknown */
    const char *param[IR_MAX_RANK];
} Declared;

static bool declared_type(const Onnx__TypeProto *tp, Declared *d)
{
    memset(d, 0, sizeof *d);
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return false;
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    d->is_tensor = true;
    d->elem_type = tt->has_elem_type ? tt->elem_type : 0;
    if (!tt->shape || tt->shape->n_dim > IR_MAX_RANK)
        return true;
    d->has_shape = true;
    d->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < d->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[i];
        d->dims[i] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            d->dims[i] = dim->dim_value;
        else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
            d->param[i] = dim->dim_param;
    }
    return true;
}

/* Whether dims fit the declared shape: the same rank, and every fixed
 * dimension equal (a symbolic one matches anything).  No shape matches all. */
static bool declared_matches(const Declared *d, int rank, const int64_t *dims)
{
    if (!d->has_shape)
        return true;
    if (d->rank != rank)
        return false;
    for (int i = 0; i < rank; i++)
        if (d->dims[i] >= 0 && d->dims[i] != dims[i])
            return false;
    return true;
}

/* "f32[batch,3,32,32]": the declared shape with its symbols. */
static const char *declared_format(Arena *arena, const Declared *d)
{
    const char *text = "f32[";
    for (int i = 0; i < d->rank; i++)
        text = d->dims[i] >= 0 ? arena_printf(arena, "%s%s%lld", text, i ? "," : "", (long long)d->dims[i])
                               : arena_printf(arena, "%s%s%s", text, i ? "," : "", d->param[i] ? d->param[i] : "?");
    return arena_printf(arena, "%s]", text);
}

/* "1x3x32x32", as --input-shape spells a shape. */
static const char *dims_text(Arena *arena, int rank, const int64_t *dims)
{
    const char *text = "";
    for (int i = 0; i < rank; i++)
        text = arena_printf(arena, "%s%s%lld", text, i ? "x" : "", (long long)dims[i]);
    return text;
}

/* ---- steps ---- */

static bool check_model(OnnxImporter *imp, const Onnx__ModelProto *m)
{
    if (!m->graph) {
        diag_error(imp->diags, &imp->file_loc, "not an ONNX model (it has no graph)");
        return false;
    }
    if (!m->has_ir_version || m->ir_version < MIN_IR_VERSION || m->ir_version > MAX_IR_VERSION) {
        diag_error(imp->diags, &imp->file_loc, "unsupported ONNX IR version %lld (supported: %d to %d)",
                   (long long)m->ir_version, MIN_IR_VERSION, MAX_IR_VERSION);
        return false;
    }
    imp->opset = -1;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const char *domain = m->opset_import[i]->domain;
        if (!domain || !*domain || strcmp(domain, "ai.onnx") == 0)
            imp->opset = (int)m->opset_import[i]->version;
    }
    if (imp->opset < 0) {
        diag_error(imp->diags, &imp->file_loc,
                   "the model imports no opset of the default ONNX domain (other domains alone are not supported)");
        return false;
    }
    if (imp->opset < MIN_OPSET || imp->opset > MAX_OPSET) {
        diag_error(imp->diags, &imp->file_loc,
                   "unsupported opset version %d of the default ONNX domain (supported: %d to %d)",
                   imp->opset, MIN_OPSET, MAX_OPSET);
        return false;
    }
    return true;
}

static bool in_default_domain(const Onnx__NodeProto *np)
{
    return !np->domain || !*np->domain || strcmp(np->domain, "ai.onnx") == 0;
}

/* Lists every unsupported operator in one message: "LSTM (node 'l1' #4),
 * Resize (2 nodes, first 'r1' #5)". */
static bool check_supported(OnnxImporter *imp, const Onnx__GraphProto *gp)
{
    Table seen = {0};           /* op name -> first node index + 1 */
    int *count = arena_array(imp->arena, gp->n_node + 1, sizeof(int));
    const char **order = arena_array(imp->arena, gp->n_node + 1, sizeof(char *));
    int n_kinds = 0;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        const char *op = np->op_type ? np->op_type : "";
        if (in_default_domain(np) && (strcmp(op, "Constant") == 0 || onnx_op_supported(op)))
            continue;
        if (!in_default_domain(np))
            op = arena_printf(imp->arena, "%s.%s", np->domain, op);
        intptr_t first = (intptr_t)table_get(&seen, op);
        if (!first) {
            table_put(imp->arena, &seen, op, (void *)(intptr_t)(i + 1));
            order[n_kinds++] = arena_strdup(imp->arena, op);
            first = (intptr_t)i + 1;
        }
        count[first - 1]++;
    }
    if (!n_kinds)
        return true;
    const char *text = "";
    for (int k = 0; k < n_kinds; k++) {
        int first = (int)(intptr_t)table_get(&seen, order[k]) - 1;
        const char *node = gp->node[first]->name ? gp->node[first]->name : "";
        text = count[first] == 1
                   ? arena_printf(imp->arena, "%s%s%s (node '%s' #%d)", text, k ? ", " : "", order[k], node, first)
                   : arena_printf(imp->arena, "%s%s%s (%d nodes, first '%s' #%d)", text, k ? ", " : "", order[k],
                                  count[first], node, first);
    }
    diag_error(imp->diags, &imp->file_loc, "unsupported ONNX operator%s: %s", n_kinds > 1 ? "s" : "", text);
    return false;
}

static void note_names(OnnxImporter *imp, const Onnx__GraphProto *gp)
{
    void *yes = (void *)1;
    for (size_t i = 0; i < gp->n_input; i++)
        table_put(imp->arena, &imp->all_names, gp->input[i]->name ? gp->input[i]->name : "", yes);
    for (size_t i = 0; i < gp->n_initializer; i++)
        table_put(imp->arena, &imp->all_names, gp->initializer[i]->name ? gp->initializer[i]->name : "", yes);
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        for (size_t k = 0; k < np->n_input; k++) {
            table_put(imp->arena, &imp->all_names, np->input[k], yes);
            table_put(imp->arena, &imp->consumed, np->input[k], yes);
        }
        for (size_t k = 0; k < np->n_output; k++)
            table_put(imp->arena, &imp->all_names, np->output[k], yes);
    }
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        table_put(imp->arena, &imp->all_names, name, yes);
        table_put(imp->arena, &imp->consumed, name, yes);
    }
}

static const Onnx__ValueInfoProto *find_graph_input(const Onnx__GraphProto *gp, const char *name)
{
    for (size_t i = 0; i < gp->n_input; i++)
        if (gp->input[i]->name && strcmp(gp->input[i]->name, name) == 0)
            return gp->input[i];
    return NULL;
}

static void import_bindings(OnnxImporter *imp, const Onnx__GraphProto *gp, const OnnxBinding *bindings,
                            int n_bindings)
{
    for (int b = 0; b < n_bindings; b++) {
        const char *name = bindings[b].input_name;
        if (!bindings[b].path)
            continue;           /* a shape: import_inputs */
        const Onnx__ValueInfoProto *vi = find_graph_input(gp, name);
        if (!vi) {
            diag_error(imp->diags, &imp->file_loc, "binding '%s=%s': the model has no graph input '%s'",
                       name, bindings[b].path, name);
            continue;
        }
        Declared d;
        bool typed = declared_type(vi->type, &d);
        if (!typed && vi->type && vi->type->value_case != ONNX__TYPE_PROTO__VALUE__NOT_SET) {
            diag_error(imp->diags, &imp->file_loc,
                       "graph input '%s' is not a tensor (sequences, maps and optionals are not supported)", name);
            poison(imp, name);
            continue;
        }
        if (typed && d.elem_type && !onnx_elem_is_float(d.elem_type) && !onnx_elem_is_integer(d.elem_type)) {
            diag_error(imp->diags, &imp->file_loc, "unsupported element type %s for '%s'",
                       onnx_elem_type_name(d.elem_type), name);
            poison(imp, name);
            continue;
        }
        OnnxConst *k = arena_alloc(imp->arena, sizeof *k);
        const char *proto_name;
        if (!onnx_read_tensor_file(imp->arena, bindings[b].path, &proto_name, k, imp->diags)) {
            poison(imp, name);
            continue;
        }
        if (typed) {
            Type got = type_make(k->rank, k->dims);
            if (!declared_matches(&d, k->rank, k->dims) || (d.elem_type && d.elem_type != k->elem_type)) {
                diag_error(imp->diags, &imp->file_loc,
                           "binding '%s=%s': the file holds %s %s, but the input is declared %s %s", name,
                           bindings[b].path, onnx_elem_type_name(k->elem_type),
                           type_format(imp->arena, &got), onnx_elem_type_name(d.elem_type),
                           declared_format(imp->arena, &d));
                poison(imp, name);
                continue;
            }
        }
        define_const(imp, name, &imp->file_loc, NULL, k);
    }
}

static void import_initializers(OnnxImporter *imp, const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *t = gp->initializer[i];
        const char *name = t->name ? t->name : "";
        Symbol *bound = table_get(&imp->symbols, name);
        if (bound && find_graph_input(gp, name))
            continue;           /* a binding overrides the default value of an input */
        OnnxConst *k = arena_alloc(imp->arena, sizeof *k);
        if (!onnx_tensor_shape(imp->diags, &imp->file_loc, name, t, k) ||
            !define_const(imp, name, &imp->file_loc, t, k))
            poison(imp, name);
    }
}

static const OnnxBinding *find_shape_binding(const OnnxBinding *bindings, int n_bindings, const char *name)
{
    for (int b = 0; b < n_bindings; b++)
        if (!bindings[b].path && strcmp(bindings[b].input_name, name) == 0)
            return &bindings[b];
    return NULL;
}

/* The static shape of free graph input `name` (into d->rank, d->dims): the
 * declared one, its symbolic dimensions bound by `shape` (which must agree
 * with the fixed ones) or, without it, a symbolic batch dimension (axis 0)
 * taken as 1, said in a note.  Any other symbolic dimension is an error. */
static bool bind_input_shape(OnnxImporter *imp, const char *name, Declared *d, const OnnxBinding *shape)
{
    const Loc *loc = &imp->file_loc;
    if (shape) {
        const char *given = dims_text(imp->arena, shape->rank, shape->dims);
        if (d->has_shape && d->rank != shape->rank) {
            diag_error(imp->diags, loc, "--input-shape %s=%s: input '%s' has rank %d (declared %s), not %d", name,
                       given, name, d->rank, declared_format(imp->arena, d), shape->rank);
            return false;
        }
        for (int k = 0; d->has_shape && k < d->rank; k++)
            if (d->dims[k] >= 0 && d->dims[k] != shape->dims[k]) {
                diag_error(imp->diags, loc, "--input-shape %s=%s: axis %d of input '%s' is fixed to %lld (declared %s)",
                           name, given, k, name, (long long)d->dims[k], declared_format(imp->arena, d));
                return false;
            }
        d->has_shape = true;
        d->rank = shape->rank;
        memcpy(d->dims, shape->dims, sizeof d->dims);
        return true;
    }
    if (!d->has_shape) {
        diag_error(imp->diags, loc, "graph input '%s' has no shape: give it with --input-shape %s=...", name, name);
        return false;
    }
    for (int k = 0; k < d->rank; k++) {
        if (d->dims[k] >= 0)
            continue;
        const char *symbol = d->param[k] ? arena_printf(imp->arena, " '%s'", d->param[k]) : "";
        if (k > 0) {
            diag_error(imp->diags, loc,
                       "graph input '%s' has a symbolic dimension%s (axis %d, declared %s): give its size with "
                       "--input-shape %s=...", name, symbol, k, declared_format(imp->arena, d), name);
            return false;
        }
        diag_note(imp->diags, loc, "input '%s' has a symbolic batch dimension%s: taken as 1 (--input-shape to choose)",
                  name, symbol);
        d->dims[k] = 1;
    }
    return true;
}

/* Graph inputs that are neither initializers nor bound: float tensors, whose
 * shapes become static (bind_input_shape). */
static void import_inputs(OnnxImporter *imp, const Onnx__GraphProto *gp, const OnnxBinding *bindings,
                          int n_bindings)
{
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *name = gp->input[i]->name ? gp->input[i]->name : "";
        if (table_get(&imp->symbols, name))
            continue;
        Declared d;
        bool ok = false;
        OnnxConst dims;
        DType dtype = DT_F32;
        if (!declared_type(gp->input[i]->type, &d))
            diag_error(imp->diags, &imp->file_loc,
                       "graph input '%s' is not a tensor (sequences, maps and optionals are not supported)", name);
        else if (!onnx_dtype(d.elem_type, &dtype))
            diag_error(imp->diags, &imp->file_loc, "unsupported element type %s for '%s'",
                       onnx_elem_type_name(d.elem_type), name);
        else if (bind_input_shape(imp, name, &d, find_shape_binding(bindings, n_bindings, name))) {
            ok = true;
            for (int k = 0; ok && k < d.rank; k++)
                if (d.dims[k] == 0) {
                    diag_error(imp->diags, &imp->file_loc,
                               "graph input '%s' has an empty dimension (axis %d); empty tensors are not supported",
                               name, k);
                    ok = false;
                }
            ok = ok && onnx_check_dims(imp->diags, &imp->file_loc, "graph input", name, (size_t)d.rank, d.dims,
                                       &dims);
        }
        Symbol *s = ok ? define(imp, name, &imp->file_loc) : NULL;
        if (!s) {
            poison(imp, name);
            continue;
        }
        s->value = ir_add_input(imp->g, name, type_make_dtype(dtype, d.rank, d.dims));
    }
    /* A shape for anything but a free float input is a mistake. */
    for (int b = 0; b < n_bindings; b++) {
        const OnnxBinding *shape = &bindings[b];
        if (shape->path)
            continue;
        const char *given = dims_text(imp->arena, shape->rank, shape->dims);
        Symbol *s = table_get(&imp->symbols, shape->input_name);
        if (!find_graph_input(gp, shape->input_name))
            diag_error(imp->diags, &imp->file_loc, "--input-shape %s=%s: the model has no graph input '%s'",
                       shape->input_name, given, shape->input_name);
        else if (s && s->konst)
            diag_error(imp->diags, &imp->file_loc,
                       "--input-shape %s=%s: input '%s' has an initializer, whose shape is fixed", shape->input_name,
                       given, shape->input_name);
    }
}

static bool convert_attr(OnnxImporter *imp, const Loc *loc, const Onnx__AttributeProto *a, OnnxAttr *out)
{
    memset(out, 0, sizeof *out);
    out->name = arena_strdup(imp->arena, a->name ? a->name : "");
    int type = a->has_type ? (int)a->type : 0;
    if (!type)      /* very old models leave the type out */
        type = a->has_f ? 1 : a->has_i ? 2 : a->has_s ? 3 : a->t ? 4 : a->n_floats ? 6 : a->n_ints ? 7 : 0;
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT: out->kind = OA_FLOAT; out->f = a->f; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT: out->kind = OA_INT; out->i = a->i; break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING: {
        char *s = arena_alloc(imp->arena, a->s.len + 1);
        if (a->s.len)
            memcpy(s, a->s.data, a->s.len);
        out->kind = OA_STRING;
        out->s = s;
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS: {
        /* The lists stay where protobuf-c unpacked them (in the arena): no
         * copy, and an empty list is a count of 0 with no data. */
        bool floats = type == ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
        size_t count = floats ? a->n_floats : a->n_ints;
        if (count > INT_MAX) {
            diag_error(imp->diags, loc, "attribute '%s' has %zu values, too many", out->name, count);
            return false;
        }
        out->kind = floats ? OA_FLOATS : OA_INTS;
        out->count = (int)count;
        out->floats = floats ? a->floats : NULL;
        out->ints = floats ? NULL : a->ints;
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR: {
        OnnxConst *k = arena_alloc(imp->arena, sizeof *k);
        const char *what = arena_printf(imp->arena, "attribute %s", out->name);
        if (!a->t) {
            diag_error(imp->diags, loc, "attribute '%s' is a tensor attribute without a tensor", out->name);
            return false;
        }
        if (!onnx_tensor_shape(imp->diags, loc, what, a->t, k) ||
            !onnx_tensor_data(imp->arena, imp->diags, loc, what, a->t, k, NULL))
            return false;
        out->kind = OA_TENSOR;
        out->t = k;
        break;
    }
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS: {     /* LSTM's activations, say */
        if (a->n_strings > INT_MAX) {
            diag_error(imp->diags, loc, "attribute '%s' has %zu values, too many", out->name, a->n_strings);
            return false;
        }
        char **list = arena_array(imp->arena, a->n_strings + 1, sizeof(char *));
        for (size_t j = 0; j < a->n_strings; j++) {
            list[j] = arena_alloc(imp->arena, a->strings[j].len + 1);
            if (a->strings[j].len)
                memcpy(list[j], a->strings[j].data, a->strings[j].len);
        }
        out->kind = OA_STRINGS;
        out->count = (int)a->n_strings;
        out->strings = (const char *const *)list;
        break;
    }
    default: out->kind = OA_OTHER; break;
    }
    return true;
}

/* A Constant node: its value is known data, like an initializer's. */
static bool import_constant(OnnxImporter *imp, const Loc *loc, const char *output, const OnnxAttr *attrs,
                            int n_attrs)
{
    OnnxConst *k = arena_alloc(imp->arena, sizeof *k);
    if (n_attrs != 1) {
        diag_error(imp->diags, loc, "Constant needs exactly one value attribute, it has %d attributes", n_attrs);
        return false;
    }
    const OnnxAttr *a = &attrs[0];
    bool scalar = strcmp(a->name, "value_float") == 0 || strcmp(a->name, "value_int") == 0;
    bool list = strcmp(a->name, "value_floats") == 0 || strcmp(a->name, "value_ints") == 0;
    if (strcmp(a->name, "value") == 0 && a->kind == OA_TENSOR) {
        *k = *a->t;
    } else if ((scalar && (a->kind == OA_FLOAT || a->kind == OA_INT)) ||
               (list && (a->kind == OA_FLOATS || a->kind == OA_INTS))) {
        bool ints = a->kind == OA_INT || a->kind == OA_INTS;
        k->elem_type = ints ? ONNX_INT64 : ONNX_FLOAT;
        k->numel = scalar ? 1 : a->count;
        k->rank = scalar ? 0 : 1;
        k->dims[0] = k->numel;
        k->f = arena_array(imp->arena, (size_t)k->numel + 1, sizeof(float));
        k->i = ints ? arena_array(imp->arena, (size_t)k->numel + 1, sizeof(int64_t)) : NULL;
        for (int64_t j = 0; j < k->numel; j++) {
            if (ints)
                k->i[j] = scalar ? a->i : a->ints[j];
            k->f[j] = ints ? (float)k->i[j] : scalar ? a->f : a->floats[j];
        }
    } else {
        diag_error(imp->diags, loc, "Constant with attribute '%s' is not supported (use 'value')", a->name);
        return false;
    }
    return define_const(imp, output, loc, NULL, k);
}

static void import_node(OnnxImporter *imp, const Onnx__NodeProto *np, int index)
{
    Loc loc = {.file = imp->path, .node = arena_strdup(imp->arena, np->name ? np->name : ""),
               .node_index = index, .node_op = arena_strdup(imp->arena, np->op_type)};
    /* The first output may be left out when a later one is used (LSTM's Y_h
     * without Y): the lowering then names it afresh and it is not defined. */
    bool ok = false;
    for (size_t k = 0; k < np->n_output; k++)
        ok = ok || *np->output[k];
    if (!ok)
        diag_error(imp->diags, &loc, "the node has no output");
    OnnxInput *inputs = arena_array(imp->arena, np->n_input + 1, sizeof(OnnxInput));
    for (size_t k = 0; ok && k < np->n_input; k++) {
        inputs[k].name = arena_strdup(imp->arena, np->input[k]);
        if (!*np->input[k])
            continue;
        Symbol *s = table_get(&imp->symbols, np->input[k]);
        if (!s)
            diag_error(imp->diags, &loc,
                       "input '%s' is not defined by any graph input, initializer or earlier node", np->input[k]);
        if (!s || s->failed) {
            ok = false;
            break;
        }
        inputs[k].value = s->value;
        inputs[k].konst = s->konst;
    }
    OnnxAttr *attrs = arena_array(imp->arena, np->n_attribute + 1, sizeof(OnnxAttr));
    for (size_t k = 0; ok && k < np->n_attribute; k++)
        ok = convert_attr(imp, &loc, np->attribute[k], &attrs[k]);
    const char *output = ok ? np->output[0] : "";
    bool unnamed = ok && !*output;
    if (unnamed)
        output = onnx_fresh_name(imp, arena_printf(imp->arena, "%s.out", *loc.node ? loc.node : np->op_type));
    if (ok && table_get(&imp->symbols, output)) {
        diag_error(imp->diags, &loc, "value '%s' is defined twice", output);
        ok = false;
    }
    if (ok && strcmp(np->op_type, "Constant") == 0) {
        ok = import_constant(imp, &loc, output, attrs, (int)np->n_attribute);
    } else if (ok) {
        Value **results = arena_array(imp->arena, np->n_output + 1, sizeof(Value *));
        OnnxNode node = {imp, imp->g, imp->diags, loc, imp->opset, (int)np->n_input, inputs,
                         arena_strdup(imp->arena, output), (int)np->n_attribute, attrs,
                         (int)np->n_output, (const char *const *)np->output, results};
        const OnnxConst *folded = NULL;
        Value *v = onnx_lower_node(&node, np->op_type, &folded);
        if (folded)     /* computed at import: known data, as if a Constant */
            ok = define_const(imp, output, &loc, NULL, (OnnxConst *)folded);
        else if ((ok = v != NULL) && !unnamed) {
            Symbol *s = define(imp, output, &loc);
            if (s)
                s->value = v;
            ok = s != NULL;
        }
        for (size_t k = 1; ok && k < np->n_output; k++) {     /* the further outputs a lowering computed */
            Symbol *more = results[k] && *np->output[k] ? define(imp, np->output[k], &loc) : NULL;
            if (more)
                more->value = results[k];
        }
    }
    for (size_t k = ok ? 1 : 0; k < np->n_output; k++) {
        if (ok && table_get(&imp->symbols, np->output[k]))
            continue;
        if (ok && *np->output[k] && table_get(&imp->consumed, np->output[k]))
            diag_error(imp->diags, &loc,
                       "output %zu ('%s') of %s is used, which is not supported (only the first output is)",
                       k, np->output[k], np->op_type);
        poison(imp, np->output[k]);
    }
}

/* Compares a declared shape with the computed one; a symbolic dimension
 * matches any size. */
static void check_declared(OnnxImporter *imp, const char *what, const char *name, const Declared *d,
                           const Value *v)
{
    if (!declared_matches(d, v->type.rank, v->type.dims))
        diag_error(imp->diags, v->def ? &v->def->loc : &imp->file_loc, "%s '%s' is declared %s but computes %s",
                   what, name, declared_format(imp->arena, d), type_format(imp->arena, &v->type));
}

/* The value of graph output `name` in its declared element type (0: not
 * declared): data known at import becomes a constant; a float value declared
 * another float type (double, float16) is cast to it, so that it is written
 * in that type.  NULL after reporting. */
static Value *output_value(OnnxImporter *imp, const char *name, const Symbol *s, int declared)
{
    Value *v = s->value;
    int et = declared ? declared : v ? onnx_elem_of_dtype(v->type.dtype) : s->konst ? s->konst->elem_type : 0;
    DType want;
    if (!onnx_dtype(et, &want)) {
        diag_error(imp->diags, &imp->file_loc, "unsupported element type %s for '%s'", onnx_elem_type_name(et), name);
        return NULL;
    }
    if (!v && s->konst && s->konst->f && s->konst->i && s->konst->numel > 0 && s->konst->elem_type == et) {
        const OnnxConst *k = s->konst;
        for (int64_t j = 0; j < k->numel; j++)
            if (k->i[j] < -DTYPE_EXACT_INT || k->i[j] > DTYPE_EXACT_INT) {
                diag_error(imp->diags, &imp->file_loc,
                           "graph output '%s' holds %lld, beyond float32's exact integers (2^24): not supported", name,
                           (long long)k->i[j]);
                return NULL;
            }
        return ir_add_const(imp->g, onnx_fresh_name(imp, name), type_make_dtype(want, k->rank, k->dims), k->f);
    }
    if (!v) {
        diag_error(imp->diags, &imp->file_loc, "unsupported element type %s for '%s'",
                   onnx_elem_type_name(s->konst ? s->konst->elem_type : et), name);
        return NULL;
    }
    if (v->type.dtype == want)
        return v;
    if (!dtype_is_float(v->type.dtype) || !dtype_is_float(want)) {
        diag_error(imp->diags, v->def ? &v->def->loc : &imp->file_loc, "graph output '%s' is declared %s but computes %s",
                   name, onnx_elem_type_name(et), type_format(imp->arena, &v->type));
        return NULL;
    }
    Type t = v->type;
    t.dtype = want;
    if (v->is_input || v->data) {     /* keeps its name: a cast of it gets a new one */
        name = onnx_fresh_name(imp, arena_printf(imp->arena, "%s.%s", name, dtype_name(want)));
    } else {                          /* the output keeps its name: the computed value takes a new one */
        v->name = onnx_fresh_name(imp, arena_printf(imp->arena, "%s.%s", name, dtype_name(v->type.dtype)));
    }
    Op *op = ir_add_op(imp->g, OP_CAST, &v, 1, name, t, v->def ? v->def->loc : imp->file_loc);
    ir_set_string(imp->g, op, "to", dtype_name(want));
    return op->result;
}

static void import_outputs(OnnxImporter *imp, const Onnx__GraphProto *gp)
{
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *name = gp->output[i]->name ? gp->output[i]->name : "";
        Symbol *s = table_get(&imp->symbols, name);
        Declared d;
        bool typed = declared_type(gp->output[i]->type, &d);
        if (!s) {
            diag_error(imp->diags, &imp->file_loc, "graph output '%s' is not computed by any node", name);
        } else if (s->failed) {
            continue;
        } else {
            Value *v = output_value(imp, name, s, typed ? d.elem_type : 0);
            if (v && typed)
                check_declared(imp, "graph output", name, &d, v);
            if (v)
                ir_add_output(imp->g, v);
        }
    }
    for (size_t i = 0; i < gp->n_value_info; i++) {
        const char *name = gp->value_info[i]->name ? gp->value_info[i]->name : "";
        Symbol *s = table_get(&imp->symbols, name);
        Declared d;
        if (s && s->value && declared_type(gp->value_info[i]->type, &d))
            check_declared(imp, "value", name, &d, s->value);
    }
}

static Graph *import_graph(OnnxImporter *imp, const Onnx__GraphProto *gp, const OnnxBinding *bindings,
                           int n_bindings)
{
    int errors = imp->diags->n_errors;
    note_names(imp, gp);
    if (!check_supported(imp, gp))
        return NULL;
    imp->g = ir_graph_new(imp->arena, gp->name && *gp->name ? gp->name : "main");
    import_bindings(imp, gp, bindings, n_bindings);
    import_initializers(imp, gp);
    import_inputs(imp, gp, bindings, n_bindings);
    if (imp->diags->n_errors > errors)
        return NULL;
    for (size_t i = 0; i < gp->n_node; i++)
        import_node(imp, gp->node[i], (int)i);
    if (imp->diags->n_errors > errors)
        return NULL;
    import_outputs(imp, gp);
    if (imp->diags->n_errors > errors)
        return NULL;
    if (imp->g->n_outputs == 0) {
        diag_error(imp->diags, &imp->file_loc, "the graph has no outputs");
        return NULL;
    }
    ir_compact(imp->g);
    return ir_verify(imp->g, imp->diags) ? imp->g : NULL;
}

/* protobuf-c allocates from the arena: the weights' raw data then outlive the
 * import as the IR constants' data, and the rest goes with the arena. */
static void *proto_alloc(void *arena, size_t size)
{
    return arena_alloc(arena, size);
}

static void proto_free(void *arena, void *pointer)
{
    (void)arena, (void)pointer;
}

Graph *onnx_import_memory(Arena *arena, const char *path, const uint8_t *bytes, size_t size,
                          const OnnxBinding *bindings, int n_bindings, Diags *diags)
{
    OnnxImporter imp = {.arena = arena, .diags = diags, .path = arena_strdup(arena, path)};
    imp.file_loc.file = imp.path;
    if (size == 0) {
        diag_error(diags, &imp.file_loc, "file is empty");
        return NULL;
    }
    ProtobufCAllocator allocator = {.alloc = proto_alloc, .free = proto_free, .allocator_data = arena};
    Onnx__ModelProto *model = onnx__model_proto__unpack(&allocator, size, bytes);
    if (!model) {
        diag_error(diags, &imp.file_loc, "not an ONNX model (protobuf parse failed)");
        return NULL;
    }
    return check_model(&imp, model) ? import_graph(&imp, model->graph, bindings, n_bindings) : NULL;
}

Graph *onnx_import(Arena *arena, const char *path, const OnnxBinding *bindings, int n_bindings,
                   Diags *diags)
{
    Loc loc = {.file = arena_strdup(arena, path)};
    FileBytes bytes;
    if (!file_read(path, 0, &loc, diags, &bytes))
        return NULL;
    /* Unpacked into the arena, so the bytes can go right after. */
    Graph *g = onnx_import_memory(arena, path, bytes.data, bytes.size, bindings, n_bindings, diags);
    file_release(&bytes);
    return g;
}
