/* fold_constants.c: evaluate ops whose inputs are all constants.
 *
 * The reference interpreter is the one definition of what an op computes, so
 * folding reuses it rather than a second set of kernels: the op is copied into
 * a one-op graph in a scratch arena, with its constant inputs, and run there.
 * The result becomes a constant under the op's result name, so users and graph
 * outputs see no change.  Walking the ops in order folds whole chains: a folded
 * result is a constant by the time its users are reached.
 *
 * Folding must not blow up the model: a broadcast can expand a scalar into a
 * huge tensor that costs far more to store than to compute.  A result is folded
 * only when it has no more elements than its largest input, or is small anyway
 * (FOLD_SMALL_NUMEL).  There is deliberately no absolute cap: a transposed or
 * rescaled 4096 x 4096 weight must become a constant, or the backend cannot put
 * it on crossbars, and such a fold at most doubles that one weight until dce
 * drops the original. */
#include "passes/passes.h"
#include "runtime/runtime.h"

#include <string.h>

enum { FOLD_SMALL_NUMEL = 1024 };

static bool is_constant(const Value *v)
{
    return v->data && !v->def && !v->is_input;
}

static bool worth_folding(const Op *op)
{
    int64_t largest_input = 0;
    for (int i = 0; i < op->n_inputs; i++) {
        if (!is_constant(op->inputs[i]))
            return false;
        int64_t n = type_numel(&op->inputs[i]->type);
        if (n > largest_input)
            largest_input = n;
    }
    int64_t n = type_numel(&op->result->type);
    return n <= largest_input || n <= FOLD_SMALL_NUMEL;
}

/* Runs `op` alone on its constant inputs; the result goes to `out`. */
static void evaluate(const Op *op, float *out)
{
    Arena *scratch = arena_new();
    Graph *one = ir_graph_new(scratch, "fold");
    Value **inputs = arena_array(scratch, (size_t)op->n_inputs, sizeof(Value *));
    for (int i = 0; i < op->n_inputs; i++) {
        const Value *in = op->inputs[i];
        inputs[i] = NULL;
        for (int j = 0; j < i; j++)      /* add(%c, %c) needs one constant */
            if (op->inputs[j] == in)
                inputs[i] = inputs[j];
        if (!inputs[i])
            inputs[i] = ir_add_const(one, in->name, in->type, in->data);
    }
    Op *copy = ir_add_op(one, op->kind, inputs, op->n_inputs, op->result->name,
                         op->result->type, op->loc);
    copy->n_attrs = op->n_attrs;         /* read only, and outlived by `op` */
    copy->attrs = op->attrs;
    ir_add_output(one, copy->result);

    Interp *interp = interp_new(one);
    interp_run(interp);
    memcpy(out, interp_output(interp, 0), (size_t)type_numel(&op->result->type) * sizeof(float));
    interp_free(interp);
    arena_free(scratch);
}

bool pass_fold_constants(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    (void)diags;
    bool changed = false;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->dead || !worth_folding(op))
            continue;
        Value *old = op->result;
        /* The constant takes the result's name; the dead result gets another. */
        const char *name = old->name;
        old->name = ir_fresh_name(g, "folded");
        Value *c = ir_add_const(g, name, old->type, NULL);
        evaluate(op, c->data);
        ir_replace_uses(g, old, c);
        op->dead = true;
        changed = true;
    }
    if (changed)
        ir_compact(g);
    return true;
}
