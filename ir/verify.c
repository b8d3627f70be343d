/* verify.c: the graph invariants every pass must keep.
 *
 * The verifier runs after parsing and after every pass, so it reports every
 * problem it finds (not the first) at the op's location, and it never trusts the
 * graph: a pointer that leads outside the graph is reported, not followed.  The
 * checks go from structure to meaning: values (ids, unique names, sane types,
 * constants with data), then each op in order (not dead, arity, operands defined
 * earlier, attributes sorted and of the right kind), and only for an op whose
 * structure is sound, its result type against ir_infer_type(), so that one
 * mistake gives one message. */
#include "ir.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

/* The kind each known attribute must have (ops.def lists who reads what);
 * attributes not named here are left alone. */
static const struct {
    const char *name;
    AttrKind kind;
} attr_kinds[] = {
    {"alpha", ATTR_FLOAT},    {"axes", ATTR_INTS},      {"axis", ATTR_INT},
    {"beta", ATTR_FLOAT},     {"ceil_mode", ATTR_INT},  {"count_include_pad", ATTR_INT},
    {"dilations", ATTR_INTS}, {"epsilon", ATTR_FLOAT},  {"gamma", ATTR_FLOAT},
    {"group", ATTR_INT},      {"keepdims", ATTR_INT},
    {"kernel", ATTR_INTS},    {"max", ATTR_FLOAT},      {"min", ATTR_FLOAT},
    {"pads", ATTR_INTS},      {"perm", ATTR_INTS},      {"shape", ATTR_INTS},
    {"strides", ATTR_INTS},   {"transA", ATTR_INT},     {"transB", ATTR_INT},
    {"value", ATTR_FLOAT},
    {"output_padding", ATTR_INTS}, {"mode", ATTR_STRING}, {"coordinate_transformation_mode", ATTR_STRING},
    {"nearest_mode", ATTR_STRING}, {"scales", ATTR_FLOATS}, {"sizes", ATTR_INTS},
    {"cubic_coeff_a", ATTR_FLOAT}, {"exclude_outside", ATTR_INT}, {"roi", ATTR_FLOATS},
    {"extrapolation_value", ATTR_FLOAT}, {"padding_mode", ATTR_STRING}, {"align_corners", ATTR_INT}, {"lambd", ATTR_FLOAT},    {"bias", ATTR_FLOAT},     {"size", ATTR_INT},
    {"starts", ATTR_INTS},    {"ends", ATTR_INTS},      {"steps", ATTR_INTS},     {"repeats", ATTR_INTS},
};

/* Attributes an op cannot do without. */
static const struct {
    OpKind kind;
    const char *name;
} required_attrs[] = {
    {OP_MAXPOOL, "kernel"}, {OP_AVGPOOL, "kernel"},    {OP_CONCAT, "axis"},
    {OP_RESHAPE, "shape"},  {OP_UNSQUEEZE, "axes"},    {OP_PAD, "pads"},
    {OP_SOFTMAX, "axis"},   {OP_LOGSOFTMAX, "axis"},
    {OP_REDUCEMEAN, "axes"}, {OP_REDUCESUM, "axes"}, {OP_REDUCEMAX, "axes"}, {OP_REDUCEMIN, "axes"},
    {OP_REDUCEPROD, "axes"}, {OP_REDUCEL1, "axes"},  {OP_REDUCEL2, "axes"},  {OP_REDUCESUMSQUARE, "axes"},
    {OP_REDUCELOGSUM, "axes"}, {OP_REDUCELOGSUMEXP, "axes"}, {OP_LAYERNORM, "axis"},
    {OP_DILATE, "strides"}, {OP_RESIZE, "sizes"}, {OP_RESIZE, "scales"}, {OP_SLICE, "starts"}, {OP_SLICE, "ends"},
    {OP_SLICE, "steps"}, {OP_TILE, "repeats"}, {OP_HARDMAX, "axis"}, {OP_LRN, "size"},
};

static const char *const kind_names[] = {
    [ATTR_INT] = "an int", [ATTR_FLOAT] = "a float", [ATTR_INTS] = "a list of ints",
    [ATTR_FLOATS] = "a list of floats", [ATTR_STRING] = "a string",
};

typedef struct {
    const Graph *g;
    Diags *diags;
    bool *defined;          /* by value id: defined so far in op order */
} Verifier;

static const Loc no_loc;

/* A value's name as the printer spells it (quoted when it must be). */
static const char *vname(const Verifier *vf, const char *name)
{
    return ir_name_text(vf->diags->arena, name);
}

/* True when v is a value of this graph (and not a stray pointer). */
static bool owned(const Verifier *vf, const Value *v)
{
    return v && v->id >= 0 && v->id < vf->g->n_values && vf->g->values[v->id] == v;
}

static bool check_type(Verifier *vf, const Loc *loc, const Value *v)
{
    const Type *t = &v->type;
    if ((unsigned)t->dtype >= DT_COUNT || t->rank < 0 || t->rank > IR_MAX_RANK) {
        diag_error(vf->diags, loc, "value %%%s has an invalid type (rank %d)", vname(vf, v->name),
                   t->rank);
        return false;
    }
    int64_t numel = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0 || t->dims[i] > IR_MAX_NUMEL) {
            diag_error(vf->diags, loc, "value %%%s has dimension %lld out of range", vname(vf, v->name),
                       (long long)t->dims[i]);
            return false;
        }
        if (!i64_mul(numel, t->dims[i] ? t->dims[i] : 1, &numel) || numel > IR_MAX_NUMEL) {   /* as the parser */
            diag_error(vf->diags, loc, "value %%%s has more than 2^32 elements", vname(vf, v->name));
            return false;
        }
    }
    return true;
}

/* An integer or bool constant holds integers of its dtype's range (bool: 0 or
 * 1), exact in float32 storage. */
static void check_int_data(Verifier *vf, const Value *v)
{
    double lo, hi;
    dtype_int_range(v->type.dtype, &lo, &hi);
    for (int64_t k = 0, n = type_numel(&v->type); k < n; k++) {
        float f = v->data[k];
        if (!(f >= lo && f <= hi) || f != truncf(f)) {
            diag_error(vf->diags, &no_loc, "constant %%%s (%s) holds %g at element %lld, not an integer in [%.0f, %.0f]",
                       vname(vf, v->name), dtype_name(v->type.dtype), (double)f, (long long)k, lo, hi);
            return;
        }
    }
}

static int compare_names(const void *a, const void *b)
{
    return strcmp((*(const Value *const *)a)->name, (*(const Value *const *)b)->name);
}

/* Ids, names, types; inputs and constants count as defined from the start. */
static void check_values(Verifier *vf)
{
    const Graph *g = vf->g;
    bool ids_ok = true;
    for (int i = 0; i < g->n_values; i++) {
        const Value *v = g->values[i];
        if (!v || !v->name) {
            diag_error(vf->diags, &no_loc, "value #%d is missing or has no name", i);
            ids_ok = false;
            continue;
        }
        if (v->id != i) {
            diag_error(vf->diags, &no_loc, "value %%%s has id %d but is at position %d",
                       vname(vf, v->name), v->id, i);
            ids_ok = false;
        }
        check_type(vf, v->def ? &v->def->loc : &no_loc, v);
        if (v->is_input && v->def)
            diag_error(vf->diags, &v->def->loc, "input %%%s is also the result of an op", vname(vf, v->name));
        if (!v->is_input && !v->def) {
            if (!v->data)
                diag_error(vf->diags, &no_loc, "constant %%%s has no data", vname(vf, v->name));
            else if (!dtype_is_float(v->type.dtype))
                check_int_data(vf, v);
            vf->defined[i] = true;
        }
    }
    if (!ids_ok)
        return;

    const Value **sorted = arena_array(g->arena, (size_t)g->n_values + 1, sizeof *sorted);
    for (int i = 0; i < g->n_values; i++)
        sorted[i] = g->values[i];
    qsort(sorted, (size_t)g->n_values, sizeof *sorted, compare_names);
    for (int i = 1; i < g->n_values; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0 &&
            (i < 2 || strcmp(sorted[i - 2]->name, sorted[i]->name) != 0))
            diag_error(vf->diags, &no_loc, "value name %%%s is used more than once",
                       vname(vf, sorted[i]->name));

    for (int i = 0; i < g->n_inputs; i++) {
        const Value *v = g->inputs[i];
        if (!owned(vf, v) || !v->is_input) {
            diag_error(vf->diags, &no_loc, "graph input #%d is not an input value of this graph", i);
            continue;
        }
        vf->defined[v->id] = true;
    }
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i]->is_input && !vf->defined[i])
            diag_error(vf->diags, &no_loc, "input %%%s is missing from the graph's input list",
                       vname(vf, g->values[i]->name));
}

/* Sorted, unique names of the right kinds, and the required ones present. */
static bool check_attrs(Verifier *vf, const Op *op)
{
    const char *opname = op_info[op->kind].name;
    bool ok = true;
    for (int i = 0; i < op->n_attrs; i++) {
        const Attr *a = &op->attrs[i];
        bool is_list = a->kind == ATTR_INTS || a->kind == ATTR_FLOATS;
        bool has_items = a->kind == ATTR_INTS ? a->ints != NULL : a->floats != NULL;
        if (!a->name || (a->kind == ATTR_STRING && !a->s) ||
            (is_list && (a->count < 0 || (a->count > 0 && !has_items)))) {
            diag_error(vf->diags, &op->loc, "%s has a malformed attribute #%d", opname, i);
            ok = false;
            continue;
        }
        if (i > 0 && op->attrs[i - 1].name && strcmp(op->attrs[i - 1].name, a->name) >= 0) {
            diag_error(vf->diags, &op->loc, "%s's attributes are not sorted by name or repeat ('%s')",
                       opname, a->name);
            ok = false;
        }
        for (size_t k = 0; k < sizeof attr_kinds / sizeof attr_kinds[0]; k++) {
            if (strcmp(attr_kinds[k].name, a->name) != 0)
                continue;
            AttrKind want = attr_kinds[k].kind;
            /* An int where a float is wanted is exact (ir_attr_float reads it), and
             * an empty list is an empty list of either kind. */
            bool fits = a->kind == want || (want == ATTR_FLOAT && a->kind == ATTR_INT) ||
                        (want == ATTR_INTS && a->kind == ATTR_FLOATS && a->count == 0);
            if (!fits) {
                diag_error(vf->diags, &op->loc, "%s attribute '%s' must be %s, not %s", opname, a->name,
                           kind_names[want], kind_names[a->kind]);
                ok = false;
            }
        }
    }
    for (size_t k = 0; k < sizeof required_attrs / sizeof required_attrs[0]; k++) {
        if (required_attrs[k].kind == op->kind && !ir_attr(op, required_attrs[k].name)) {
            diag_error(vf->diags, &op->loc, "%s needs the attribute '%s'", opname, required_attrs[k].name);
            ok = false;
        }
    }
    return ok;
}

/* One op, in order: structure first, then its type against shape inference. */
static void check_op(Verifier *vf, const Op *op, int index)
{
    if (!op) {
        diag_error(vf->diags, &no_loc, "op #%d is missing", index);
        return;
    }
    if ((unsigned)op->kind >= OP_COUNT) {
        diag_error(vf->diags, &op->loc, "op #%d has an invalid kind %d", index, (int)op->kind);
        return;
    }
    const OpInfo *info = &op_info[op->kind];
    bool ok = true;
    if (op->dead) {
        diag_error(vf->diags, &op->loc, "dead %s op left in the graph (a pass forgot ir_compact)",
                   info->name);
        ok = false;
    }
    if (!owned(vf, op->result) || op->result->def != op) {
        diag_error(vf->diags, &op->loc, "%s's result is not a value of this graph defined by it", info->name);
        return;
    }
    const char *name = op->result->name;
    if (vf->defined[op->result->id]) {
        diag_error(vf->diags, &op->loc, "%%%s is defined more than once", vname(vf, name));
        ok = false;
    }
    if (op->n_inputs < info->min_inputs || op->n_inputs > info->max_inputs) {
        if (info->min_inputs == info->max_inputs)
            diag_error(vf->diags, &op->loc, "%s takes %d operand%s, not %d", info->name, info->min_inputs,
                       info->min_inputs == 1 ? "" : "s", op->n_inputs);
        else
            diag_error(vf->diags, &op->loc, "%s takes %d to %d operands, not %d", info->name,
                       info->min_inputs, info->max_inputs, op->n_inputs);
        ok = false;
    }
    for (int i = 0; i < op->n_inputs; i++) {
        const Value *in = op->inputs ? op->inputs[i] : NULL;
        if (!owned(vf, in)) {
            diag_error(vf->diags, &op->loc, "operand %d of %%%s is not a value of this graph", i,
                       vname(vf, name));
            ok = false;
        } else if (!vf->defined[in->id]) {
            diag_error(vf->diags, &op->loc, "operand %%%s of %%%s is used before it is defined",
                       vname(vf, in->name), vname(vf, name));
            ok = false;
        }
    }
    ok &= check_attrs(vf, op);
    if (ok && op->kind == OP_XBAR)
        ok &= xbar_verify_attrs(op, vf->diags);
    ok &= check_type(vf, &op->loc, op->result);
    vf->defined[op->result->id] = true;
    if (!ok)
        return;

    Type inferred;
    if (ir_infer_type(op, &inferred, vf->diags) && !type_equal(&inferred, &op->result->type)) {
        Arena *arena = vf->diags->arena;
        diag_error(vf->diags, &op->loc, "%%%s is declared %s but %s gives %s", vname(vf, name),
                   type_format(arena, &op->result->type), info->name, type_format(arena, &inferred));
    }
}

bool ir_verify(const Graph *g, Diags *diags)
{
    int errors_before = diags->n_errors;
    Verifier vf = {.g = g, .diags = diags};
    vf.defined = arena_array(g->arena, (size_t)g->n_values + 1, sizeof(bool));
    check_values(&vf);
    for (int i = 0; i < g->n_ops; i++)
        check_op(&vf, g->ops[i], i);
    for (int i = 0; i < g->n_values; i++)
        if (g->values[i] && g->values[i]->def && !vf.defined[i])
            diag_error(diags, &no_loc, "%%%s comes from an op that is not in the graph",
                       vname(&vf, g->values[i]->name));
    for (int i = 0; i < g->n_outputs; i++) {
        const Value *v = g->outputs[i];
        if (!owned(&vf, v))
            diag_error(diags, &no_loc, "graph output #%d is not a value of this graph", i);
    }
    if (g->n_outputs == 0)          /* nothing to compute: no program, no evaluation */
        diag_error(diags, &no_loc, "graph @%s has no outputs", ir_name_text(diags->arena, g->name));
    return diags->n_errors == errors_before;
}
