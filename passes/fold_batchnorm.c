/* fold_batchnorm.c: fold an inference batchnorm into the conv or gemm before it.
 *
 * batchnorm computes y = s[c] * (x - mean[c]) + bias[c] with
 * s = scale / sqrt(var + epsilon), per channel c (axis 1).  When x is the
 * result of a conv or gemm with constant weights, used by nothing else, the
 * product can be pushed into the layer: output channel c of the layer gets its
 * weights times s[c] and the bias s[c] * (b[c] - mean[c]) + bias[c].  This is
 * what lets a crossbar hold one matrix per layer (docs/background.md 3).
 *
 * conv: w is [Cout, Cin/group, k...], so output channel c is w's row c.
 * gemm: y = alpha * A' * B' + beta * C with B' = transB ? B^T : B; channel j is
 * column j of B' (B[:, j] when transB = 0, B[j, :] when transB = 1); scaling
 * it scales alpha * A' * B' alike, so alpha stays.  The new C absorbs beta
 * (C' = beta * s * C + s * -mean + bias, then beta = 1): it is [N], or [M, N]
 * when the old C varied along rows.
 *
 * The folded weights and bias are new constants with fresh names (the old ones
 * may be shared with another layer; dce drops them when they are not).  The
 * layer's result takes the batchnorm result's name, so graph outputs and later
 * ops keep the names they had.  A batchnorm that cannot be folded stays. */
#include "passes/passes.h"

#include <math.h>
#include <string.h>

static bool is_constant(const Value *v)
{
    return v->data && !v->def && !v->is_input;
}

/* The batchnorm's per-channel factor s and offset t: y = s * x + t. */
static void bn_affine(const Op *bn, int64_t channels, double *s, double *t)
{
    const float *scale = bn->inputs[1]->data, *bias = bn->inputs[2]->data;
    const float *mean = bn->inputs[3]->data, *var = bn->inputs[4]->data;
    double eps = ir_attr_float(bn, "epsilon", 1e-5f);
    for (int64_t c = 0; c < channels; c++) {
        s[c] = scale[c] / sqrt((double)var[c] + eps);
        t[c] = bias[c] - s[c] * mean[c];
    }
}

static bool foldable(const Graph *g, const Op *bn)
{
    const Value *x = bn->inputs[0];
    Op *layer = x->def;
    if (!layer || layer->dead || (layer->kind != OP_CONV && layer->kind != OP_GEMM))
        return false;
    if (ir_count_uses(g, x) != 1 || x->type.rank < 2)
        return false;
    for (int i = 1; i < 5; i++)
        if (!is_constant(bn->inputs[i]) || type_numel(&bn->inputs[i]->type) != x->type.dims[1])
            return false;
    for (int i = 1; i < layer->n_inputs; i++)
        if (!is_constant(layer->inputs[i]))
            return false;
    return true;
}

static Value *new_const(Graph *g, const Value *old, const char *stem, Type type)
{
    const char *base = old ? arena_printf(g->arena, "%s.bn", old->name) : stem;
    return ir_add_const(g, ir_fresh_name(g, base), type, NULL);
}

static void fold_into_conv(Graph *g, Op *conv, const double *s, const double *t)
{
    Value *w = conv->inputs[1];
    Value *b = conv->n_inputs > 2 ? conv->inputs[2] : NULL;
    int64_t cout = w->type.dims[0], per_channel = type_numel(&w->type) / cout;

    Value *nw = new_const(g, w, NULL, w->type);
    for (int64_t c = 0; c < cout; c++)
        for (int64_t k = 0; k < per_channel; k++)
            nw->data[c * per_channel + k] = (float)(w->data[c * per_channel + k] * s[c]);

    Value *nb = new_const(g, b, arena_printf(g->arena, "%s.bias", conv->result->name),
                          type_make(1, &cout));
    for (int64_t c = 0; c < cout; c++)
        nb->data[c] = (float)((b ? b->data[c] : 0.0) * s[c] + t[c]);

    Value **inputs = arena_array(g->arena, 3, sizeof(Value *));
    inputs[0] = conv->inputs[0];
    inputs[1] = nw;
    inputs[2] = nb;
    conv->inputs = inputs;
    conv->n_inputs = 3;
}

/* Element (i, j) of C broadcast to [M, N]. */
static double c_at(const Value *c, int64_t i, int64_t j)
{
    const Type *ty = &c->type;
    if (ty->rank == 0)
        return c->data[0];
    if (ty->rank == 1)
        return c->data[ty->dims[0] == 1 ? 0 : j];
    int64_t row = ty->dims[0] == 1 ? 0 : i, col = ty->dims[1] == 1 ? 0 : j;
    return c->data[row * ty->dims[1] + col];
}

static void fold_into_gemm(Graph *g, Op *gemm, const double *s, const double *t)
{
    Value *b = gemm->inputs[1];
    Value *c = gemm->n_inputs > 2 ? gemm->inputs[2] : NULL;
    int64_t m = gemm->result->type.dims[0], n = gemm->result->type.dims[1];
    bool trans_b = ir_attr_int(gemm, "transB", 0) != 0;
    double beta = ir_attr_float(gemm, "beta", 1.0f);

    /* B is [K, N], or [N, K] when transposed. */
    Value *nb = new_const(g, b, NULL, b->type);
    int64_t rows = b->type.dims[0], cols = b->type.dims[1];
    for (int64_t r = 0; r < rows; r++)
        for (int64_t k = 0; k < cols; k++)
            nb->data[r * cols + k] = (float)(b->data[r * cols + k] * s[trans_b ? r : k]);

    bool per_row = c && c->type.rank == 2 && c->type.dims[0] != 1;
    int64_t dims[2] = {m, n};
    Type ctype = per_row ? type_make(2, dims) : type_make(1, &n);
    Value *nc = new_const(g, c, arena_printf(g->arena, "%s.bias", gemm->result->name), ctype);
    for (int64_t i = 0; i < (per_row ? m : 1); i++)
        for (int64_t j = 0; j < n; j++)
            nc->data[i * n + j] = (float)((c ? beta * c_at(c, i, j) : 0.0) * s[j] + t[j]);

    Value **inputs = arena_array(g->arena, 3, sizeof(Value *));
    inputs[0] = gemm->inputs[0];
    inputs[1] = nb;
    inputs[2] = nc;
    gemm->inputs = inputs;
    gemm->n_inputs = 3;
    ir_set_float(g, gemm, "beta", 1.0f);
}

bool pass_fold_batchnorm(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    (void)diags;
    bool changed = false;
    for (int i = 0; i < g->n_ops; i++) {
        Op *bn = g->ops[i];
        if (bn->dead || bn->kind != OP_BATCHNORM || !foldable(g, bn))
            continue;
        Value *x = bn->inputs[0], *y = bn->result;
        Op *layer = x->def;
        int64_t channels = x->type.dims[1];
        double *s = arena_array(g->arena, (size_t)channels, sizeof(double));
        double *t = arena_array(g->arena, (size_t)channels, sizeof(double));
        bn_affine(bn, channels, s, t);
        if (layer->kind == OP_CONV)
            fold_into_conv(g, layer, s, t);
        else
            fold_into_gemm(g, layer, s, t);

        /* The layer now computes y: it takes y's name, y's users read it. */
        const char *name = y->name;
        y->name = x->name;
        x->name = name;
        ir_replace_uses(g, y, x);
        bn->dead = true;
        changed = true;
    }
    if (changed)
        ir_compact(g);
    return true;
}
