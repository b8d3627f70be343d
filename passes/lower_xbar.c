/* lower_xbar.c: conv, gemm and matmul with constant weights become xbar ops.
 *
 * docs/crossbar.md section 2.  Each layer becomes one xbar(x, w, bias?) whose
 * w is a new constant [G, K, N]: row k of group g is what one input vector
 * element meets, column n one output channel of the group.  A conv weight
 * [M, C/G, kernel...] already holds, for output channel m = g*N + n, its K =
 * C/G * prod(kernel) taps contiguously in (c, ky, kx) order, which is the
 * im2col order: the new w is that matrix transposed per group.  A gemm folds
 * transB and alpha into w and beta * C into a bias (C must be a constant that
 * broadcasts to [N], i.e. the same for every row); a matmul takes its constant
 * right operand [K, N] as it is.  Anything else (non-constant weights, gemm
 * with transA, a row-dependent or non-constant C, batched or 1-D right
 * operands) stays digital.
 *
 * The op is rewritten in place, so its result keeps its name, type, location
 * and position; the old weights, now unused, go with ir_compact().  Weights
 * that only this op reads are rearranged in their own memory (through one
 * scratch matrix) rather than copied to new memory: the big layers' weights
 * are most of what a compilation touches.  A graph without an architecture
 * gets the default one: a lowered graph always has one. */
#include "passes/passes.h"

#include <string.h>

/* One scratch matrix for the whole pass, grown to the biggest weights, from
 * an arena of the pass's own (huge pages: the biggest layers are 100s of MB). */
typedef struct {
    Arena *arena;
    float *data;
    size_t cap;             /* floats */
} Scratch;

static float *scratch_for(Scratch *s, size_t n)
{
    if (n > s->cap) {
        if (!s->arena)
            s->arena = arena_new();
        s->data = arena_array(s->arena, n, sizeof(float));
        s->cap = n;
    }
    return s->data;
}

static bool is_const(const Value *v)
{
    return v && v->data && !v->def && !v->is_input;
}

/* The new weights w.xbar of shape dims, for the caller to fill: in w's own
 * memory when no other op reads w (*in_place set), else zero-filled. */
static Value *new_weights(Graph *g, const Value *w, int rank, const int64_t *dims, bool *in_place)
{
    const char *name = ir_fresh_name(g, arena_printf(g->arena, "%s.xbar", w->name));
    *in_place = ir_count_uses(g, w) == 1;
    if (*in_place)
        return ir_add_const_taking(g, name, type_make(rank, dims), w->data);
    return ir_add_const(g, name, type_make(rank, dims), NULL);
}

/* Turns op into xbar(x, w, bias?) with no attributes yet. */
static void become_xbar(Graph *g, Op *op, Value *x, Value *w, Value *bias)
{
    Value **inputs = arena_array(g->arena, 3, sizeof *inputs);
    inputs[0] = x;
    inputs[1] = w;
    inputs[2] = bias;
    op->kind = OP_XBAR;
    op->inputs = inputs;
    op->n_inputs = bias ? 3 : 2;
    op->n_attrs = 0;
    op->attrs = NULL;
}

/* `count` ints of attribute `name`, or dflt repeated. */
static void ints_or(const Op *op, const char *name, int count, int64_t dflt, int64_t *out)
{
    const int64_t *v;
    int n = ir_attr_ints(op, name, &v);
    for (int i = 0; i < count; i++)
        out[i] = n == count ? v[i] : dflt;
}

/* dst[c][r] = scale * src[r][c] for a rows x cols src, in 32 x 32 tiles so that
 * reads and writes both stay in cache (big layers have thousands of each). */
static void transpose_scaled(float *dst, const float *src, int64_t rows, int64_t cols, float scale)
{
    for (int64_t r0 = 0; r0 < rows; r0 += 32)
        for (int64_t c0 = 0; c0 < cols; c0 += 32)
            for (int64_t r = r0; r < r0 + 32 && r < rows; r++)
                for (int64_t c = c0; c < c0 + 32 && c < cols; c++)
                    dst[c * rows + r] = scale * src[r * cols + c];
}

static bool lower_conv(Graph *g, Op *op, Scratch *scratch)
{
    Value *x = op->inputs[0], *w = op->inputs[1], *bias = op->n_inputs > 2 ? op->inputs[2] : NULL;
    if (!is_const(w))
        return false;
    const Type *wt = &w->type;
    int s = wt->rank - 2;
    int64_t groups = ir_attr_int(op, "group", 1);
    int64_t n = wt->dims[0] / groups, k = type_numel(wt) / wt->dims[0];
    int64_t kernel[IR_MAX_RANK], strides[IR_MAX_RANK], dilations[IR_MAX_RANK], pads[2 * IR_MAX_RANK];
    for (int i = 0; i < s; i++)
        kernel[i] = wt->dims[2 + i];
    ints_or(op, "strides", s, 1, strides);
    ints_or(op, "dilations", s, 1, dilations);
    ints_or(op, "pads", 2 * s, 0, pads);

    int64_t dims[3] = {groups, k, n};
    bool in_place;
    const float *src = w->data;
    Value *wx = new_weights(g, w, 3, dims, &in_place);
    if (in_place) {
        size_t numel = (size_t)type_numel(wt);
        src = memcpy(scratch_for(scratch, numel), w->data, numel * sizeof(float));
    }
    for (int64_t gi = 0; gi < groups; gi++)     /* [n, k] of each group to [k, n] */
        transpose_scaled(wx->data + gi * k * n, src + gi * n * k, n, k, 1.0f);

    become_xbar(g, op, x, wx, bias);
    ir_set_string(g, op, "form", "conv");
    ir_set_ints(g, op, "kernel", kernel, s);
    ir_set_ints(g, op, "strides", strides, s);
    ir_set_ints(g, op, "dilations", dilations, s);
    ir_set_ints(g, op, "pads", pads, 2 * s);
    return true;
}

/* C broadcasts to [N] (the same bias on every row): [], [1], [N], [1, 1], [1, N]. */
static bool is_row_bias(const Type *c, int64_t n)
{
    if (c->rank > 2 || (c->rank == 2 && c->dims[0] != 1))
        return false;
    return c->rank == 0 || c->dims[c->rank - 1] == 1 || c->dims[c->rank - 1] == n;
}

static bool lower_gemm(Graph *g, Op *op, Scratch *scratch)
{
    Value *a = op->inputs[0], *b = op->inputs[1], *c = op->n_inputs > 2 ? op->inputs[2] : NULL;
    bool trans_b = ir_attr_int(op, "transB", 0) != 0;
    float alpha = ir_attr_float(op, "alpha", 1.0f), beta = ir_attr_float(op, "beta", 1.0f);
    if (ir_attr_int(op, "transA", 0) != 0 || !is_const(b))
        return false;
    int64_t k = trans_b ? b->type.dims[1] : b->type.dims[0];
    int64_t n = trans_b ? b->type.dims[0] : b->type.dims[1];
    if (c && beta != 0.0f && (!is_const(c) || !is_row_bias(&c->type, n)))
        return false;

    int64_t dims[3] = {1, k, n};
    bool in_place;
    const float *src = b->data;
    Value *wx = new_weights(g, b, 3, dims, &in_place);
    if (trans_b) {
        if (in_place)
            src = memcpy(scratch_for(scratch, (size_t)(k * n)), b->data, (size_t)(k * n) * sizeof(float));
        transpose_scaled(wx->data, src, n, k, alpha);
    } else {
        for (int64_t i = 0; i < k * n; i++)
            wx->data[i] = alpha * src[i];
    }
    Value *bias = NULL;
    if (c && beta != 0.0f) {
        bool one = c->type.rank == 0 || c->type.dims[c->type.rank - 1] == 1;
        bias = ir_add_const(g, ir_fresh_name(g, arena_printf(g->arena, "%s.xbar", c->name)), type_make(1, &n),
                            NULL);
        for (int64_t ni = 0; ni < n; ni++)
            bias->data[ni] = beta * c->data[one ? 0 : ni];
    }
    become_xbar(g, op, a, wx, bias);
    ir_set_string(g, op, "form", "matmul");
    return true;
}

static bool lower_matmul(Graph *g, Op *op)
{
    Value *x = op->inputs[0], *w = op->inputs[1];
    if (!is_const(w) || w->type.rank != 2)
        return false;
    int64_t dims[3] = {1, w->type.dims[0], w->type.dims[1]};
    bool in_place;
    Value *wx = new_weights(g, w, 3, dims, &in_place);
    if (!in_place)      /* the same layout: in place, nothing to do */
        memcpy(wx->data, w->data, (size_t)type_numel(&w->type) * sizeof(float));
    become_xbar(g, op, x, wx, NULL);
    ir_set_string(g, op, "form", "matmul");
    return true;
}

bool pass_lower_xbar(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    (void)diags;
    if (!g->arch) {
        g->arch = arena_alloc(g->arena, sizeof *g->arch);
        *g->arch = arch_default();
    }
    bool changed = false;
    Scratch scratch = {0};
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->dead)
            continue;
        switch (op->kind) {
        case OP_CONV: changed |= lower_conv(g, op, &scratch); break;
        case OP_GEMM: changed |= lower_gemm(g, op, &scratch); break;
        case OP_MATMUL: changed |= lower_matmul(g, op); break;
        default: break;
        }
    }
    arena_free(scratch.arena);
    if (changed)
        ir_compact(g);
    return true;
}
