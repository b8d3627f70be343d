/* ir.c: building and editing graphs; types and attributes.
 *
 * Arrays grow by doubling inside the arena (the old copy is simply left there:
 * graphs are built once and edited a little, so the waste is small). */
#include "ir.h"

#include <string.h>

const OpInfo op_info[OP_COUNT] = {
#define OP(id, name, min_in, max_in) [OP_##id] = {name, min_in, max_in},
#include "ops.def"
#undef OP
};

bool op_kind_from_name(const char *name, OpKind *kind)
{
    for (int k = 0; k < OP_COUNT; k++) {
        if (strcmp(op_info[k].name, name) == 0) {
            *kind = (OpKind)k;
            return true;
        }
    }
    return false;
}

/* ---- types ---- */

int64_t type_numel(const Type *type)
{
    int64_t n = 1;
    for (int i = 0; i < type->rank; i++)
        n *= type->dims[i];
    return n;
}

bool type_equal(const Type *a, const Type *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return false;
    return true;
}

static const char *const dtype_names[DT_COUNT] = {
    "f32", "f64", "f16", "i8", "i16", "i32", "i64", "u8", "u16", "u32", "u64", "bool",
};

const char *dtype_name(DType dtype)
{
    return (unsigned)dtype < DT_COUNT ? dtype_names[dtype] : "?";
}

bool scatter_reduction_from_name(const char *name, ScatterReduction *reduction)
{
    static const char *const names[SCATTER_REDUCTIONS] = {"none", "add", "mul", "max", "min"};
    for (int i = 0; i < SCATTER_REDUCTIONS; i++)
        if (strcmp(name, names[i]) == 0) {
            *reduction = (ScatterReduction)i;
            return true;
        }
    return false;
}

bool dtype_from_name(const char *name, DType *dtype)
{
    for (int d = 0; d < DT_COUNT; d++)
        if (strcmp(name, dtype_names[d]) == 0) {
            *dtype = (DType)d;
            return true;
        }
    return false;
}

void dtype_int_range(DType dtype, double *lo, double *hi)
{
    double exact = (double)DTYPE_EXACT_INT;
    switch (dtype) {
    case DT_I8: *lo = -128, *hi = 127; return;
    case DT_I16: *lo = -32768, *hi = 32767; return;
    case DT_U8: *lo = 0, *hi = 255; return;
    case DT_U16: *lo = 0, *hi = 65535; return;
    case DT_U32: case DT_U64: *lo = 0, *hi = exact; return;
    case DT_BOOL: *lo = 0, *hi = 1; return;
    default: *lo = -exact, *hi = exact; return;
    }
}

char *type_format(Arena *arena, const Type *type)
{
    char buf[IR_MAX_RANK * 24 + 16];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s[", dtype_name(type->dtype));
    for (int i = 0; i < type->rank; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld", i ? "," : "", (long long)type->dims[i]);
    snprintf(buf + n, sizeof buf - n, "]");
    return arena_strdup(arena, buf);
}

Type type_make(int rank, const int64_t *dims)
{
    return type_make_dtype(DT_F32, rank, dims);
}

Type type_make_dtype(DType dtype, int rank, const int64_t *dims)
{
    Type t = {.dtype = dtype, .rank = rank};
    for (int i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    return t;
}

/* ---- graphs ---- */

Graph *ir_graph_new(Arena *arena, const char *name)
{
    Graph *g = arena_alloc(arena, sizeof *g);
    g->arena = arena;
    g->name = arena_strdup(arena, name ? name : "main");
    return g;
}

static Value *new_value(Graph *g, const char *name, Type type)
{
    Value *v = arena_alloc(g->arena, sizeof *v);
    v->name = arena_strdup(g->arena, name ? name : ir_fresh_name(g, "t"));
    v->type = type;
    ARENA_GROW(g->arena, g->values, g->n_values, g->cap_values);
    v->id = g->n_values;
    g->values[g->n_values++] = v;
    return v;
}

Value *ir_add_input(Graph *g, const char *name, Type type)
{
    Value *v = new_value(g, name, type);
    v->is_input = true;
    ARENA_GROW(g->arena, g->inputs, g->n_inputs, g->cap_inputs);
    g->inputs[g->n_inputs++] = v;
    return v;
}

Value *ir_add_const(Graph *g, const char *name, Type type, const float *data)
{
    Value *v = new_value(g, name, type);
    size_t n = (size_t)type_numel(&type);
    v->data = arena_array(g->arena, n ? n : 1, sizeof(float));
    if (data && n)
        memcpy(v->data, data, n * sizeof(float));
    return v;
}

Value *ir_add_const_taking(Graph *g, const char *name, Type type, float *data)
{
    Value *v = new_value(g, name, type);
    v->data = data;
    return v;
}

Op *ir_add_op(Graph *g, OpKind kind, Value *const *inputs, int n_inputs,
              const char *result_name, Type result_type, Loc loc)
{
    Op *op = arena_alloc(g->arena, sizeof *op);
    op->kind = kind;
    op->n_inputs = n_inputs;
    op->inputs = arena_array(g->arena, (size_t)(n_inputs ? n_inputs : 1), sizeof(Value *));
    for (int i = 0; i < n_inputs; i++)
        op->inputs[i] = inputs[i];
    op->loc = loc;
    op->result = new_value(g, result_name, result_type);
    op->result->def = op;
    ARENA_GROW(g->arena, g->ops, g->n_ops, g->cap_ops);
    g->ops[g->n_ops++] = op;
    return op;
}

void ir_add_output(Graph *g, Value *value)
{
    ARENA_GROW(g->arena, g->outputs, g->n_outputs, g->cap_outputs);
    g->outputs[g->n_outputs++] = value;
}

Value *ir_find_value(const Graph *g, const char *name)
{
    for (int i = 0; i < g->n_values; i++)
        if (strcmp(g->values[i]->name, name) == 0)
            return g->values[i];
    return NULL;
}

const char *ir_fresh_name(Graph *g, const char *stem)
{
    if (!ir_find_value(g, stem))
        return arena_strdup(g->arena, stem);
    for (int i = 1;; i++) {
        char *name = arena_printf(g->arena, "%s.%d", stem, i);
        if (!ir_find_value(g, name))
            return name;
    }
}

/* ---- attributes ---- */

/* Finds or inserts attribute `name`, keeping the list sorted. */
static Attr *attr_slot(Graph *g, Op *op, const char *name)
{
    int pos = 0;
    while (pos < op->n_attrs && strcmp(op->attrs[pos].name, name) < 0)
        pos++;
    if (pos < op->n_attrs && strcmp(op->attrs[pos].name, name) == 0) {
        Attr *a = &op->attrs[pos];
        memset(a, 0, sizeof *a);
        a->name = arena_strdup(g->arena, name);
        return a;
    }
    Attr *attrs = arena_array(g->arena, (size_t)op->n_attrs + 1, sizeof(Attr));
    if (op->n_attrs) {
        memcpy(attrs, op->attrs, (size_t)pos * sizeof(Attr));
        memcpy(attrs + pos + 1, op->attrs + pos, (size_t)(op->n_attrs - pos) * sizeof(Attr));
    }
    op->attrs = attrs;
    op->n_attrs++;
    attrs[pos].name = arena_strdup(g->arena, name);
    return &attrs[pos];
}

void ir_set_int(Graph *g, Op *op, const char *name, int64_t v)
{
    Attr *a = attr_slot(g, op, name);
    a->kind = ATTR_INT;
    a->i = v;
}

void ir_set_float(Graph *g, Op *op, const char *name, float v)
{
    Attr *a = attr_slot(g, op, name);
    a->kind = ATTR_FLOAT;
    a->f = v;
}

void ir_set_ints(Graph *g, Op *op, const char *name, const int64_t *v, int count)
{
    Attr *a = attr_slot(g, op, name);
    a->kind = ATTR_INTS;
    a->count = count;
    a->ints = arena_array(g->arena, (size_t)(count ? count : 1), sizeof(int64_t));
    if (count)
        memcpy(a->ints, v, (size_t)count * sizeof(int64_t));
}

void ir_set_floats(Graph *g, Op *op, const char *name, const float *v, int count)
{
    Attr *a = attr_slot(g, op, name);
    a->kind = ATTR_FLOATS;
    a->count = count;
    a->floats = arena_array(g->arena, (size_t)(count ? count : 1), sizeof(float));
    if (count)
        memcpy(a->floats, v, (size_t)count * sizeof(float));
}

void ir_set_string(Graph *g, Op *op, const char *name, const char *v)
{
    Attr *a = attr_slot(g, op, name);
    a->kind = ATTR_STRING;
    a->s = arena_strdup(g->arena, v);
}

const Attr *ir_attr(const Op *op, const char *name)
{
    for (int i = 0; i < op->n_attrs; i++)
        if (strcmp(op->attrs[i].name, name) == 0)
            return &op->attrs[i];
    return NULL;
}

int64_t ir_attr_int(const Op *op, const char *name, int64_t dflt)
{
    const Attr *a = ir_attr(op, name);
    return a && a->kind == ATTR_INT ? a->i : dflt;
}

float ir_attr_float(const Op *op, const char *name, float dflt)
{
    const Attr *a = ir_attr(op, name);
    if (!a)
        return dflt;
    if (a->kind == ATTR_FLOAT)
        return a->f;
    return a->kind == ATTR_INT ? (float)a->i : dflt;
}

int ir_attr_ints(const Op *op, const char *name, const int64_t **v)
{
    const Attr *a = ir_attr(op, name);
    if (!a || a->kind != ATTR_INTS)
        return -1;
    *v = a->ints;
    return a->count;
}

/* ---- editing ---- */

void ir_replace_uses(Graph *g, Value *from, Value *to)
{
    for (int i = 0; i < g->n_ops; i++)
        for (int j = 0; j < g->ops[i]->n_inputs; j++)
            if (g->ops[i]->inputs[j] == from)
                g->ops[i]->inputs[j] = to;
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == from)
            g->outputs[i] = to;
}

int ir_count_uses(const Graph *g, const Value *value)
{
    int n = 0;
    for (int i = 0; i < g->n_ops; i++) {
        if (g->ops[i]->dead)
            continue;
        for (int j = 0; j < g->ops[i]->n_inputs; j++)
            n += g->ops[i]->inputs[j] == value;
    }
    for (int i = 0; i < g->n_outputs; i++)
        n += g->outputs[i] == value;
    return n;
}

void ir_compact(Graph *g)
{
    int n = 0;
    for (int i = 0; i < g->n_ops; i++)
        if (!g->ops[i]->dead)
            g->ops[n++] = g->ops[i];
    g->n_ops = n;

    /* Mark what is still referenced, then keep inputs and referenced values. */
    bool *used = arena_array(g->arena, (size_t)g->n_values + 1, sizeof(bool));
    for (int i = 0; i < g->n_ops; i++) {
        used[g->ops[i]->result->id] = true;
        for (int j = 0; j < g->ops[i]->n_inputs; j++)
            used[g->ops[i]->inputs[j]->id] = true;
    }
    for (int i = 0; i < g->n_outputs; i++)
        used[g->outputs[i]->id] = true;
    n = 0;
    for (int i = 0; i < g->n_values; i++) {
        Value *v = g->values[i];
        if (v->is_input || used[i]) {
            v->id = n;
            g->values[n++] = v;
        }
    }
    g->n_values = n;
}

/* ---- layer names ---- */

const char *ir_layer_name(const Graph *g, const Op *op)
{
    const char *node = op->loc.node;
    if (!node || !*node)
        return op->result->name;
    for (int i = 0; i < g->n_ops; i++)
        if (g->ops[i] != op && !g->ops[i]->dead && g->ops[i]->loc.node && strcmp(g->ops[i]->loc.node, node) == 0)
            return op->result->name;
    return node;
}

const char *ir_name_fit(Arena *arena, const char *name, int width)
{
    int n = (int)strlen(name);
    if (n <= width || width < 5)
        return name;
    int tail = (width - 2) / 2, head = width - 2 - tail;
    return arena_printf(arena, "%.*s..%s", head, name, name + n - tail);
}

/* ---- multiply-accumulates ---- */

static int64_t last_dim(const Type *t)
{
    return t->rank ? t->dims[t->rank - 1] : 1;
}

double ir_op_macs(const Op *op)
{
    if (op->dead || op->n_inputs < 2)
        return 0;
    double out = (double)type_numel(&op->result->type);
    const Type *a = &op->inputs[0]->type, *w = &op->inputs[1]->type;
    XbarGeom geom;
    switch (op->kind) {
    case OP_XBAR:
        return xbar_geom(op, &geom) ? (double)geom.rows * (double)(geom.groups * geom.k * geom.n) : 0;
    case OP_CONV:                           /* each output: C/group x kernel products */
        return w->dims[0] ? out * (double)type_numel(w) / (double)w->dims[0] : 0;
    case OP_CONVTRANSPOSE:                  /* every input pixel times its group's kernel */
        return w->dims[0] ? (double)type_numel(a) * (double)type_numel(w) / (double)w->dims[0] : 0;
    case OP_GEMM:                           /* K is A's last axis, or its first when transA */
        return out * (double)(ir_attr_int(op, "transA", 0) && a->rank == 2 ? a->dims[0] : last_dim(a));
    case OP_MATMUL:                         /* a 1-D first operand is its own K */
        return out * (double)last_dim(a);
    default:
        return 0;
    }
}
