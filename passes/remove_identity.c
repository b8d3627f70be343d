/* remove_identity.c: drop ops that compute their input unchanged.
 *
 * identity and dropout (inference) are such ops, and so are reshape, flatten,
 * squeeze and unsqueeze when the result type equals the input type.  Their
 * users read the input instead.  Graph outputs keep their names: when the
 * removed op's result is an output, the input value takes the output's name,
 * which is only possible when the input is neither a graph input (whose name is
 * the model's interface) nor another output; then the op stays, as an identity
 * (a dropout becomes one, so that no dropout survives the pass). */
#include "passes/passes.h"

static bool is_identity(const Op *op)
{
    switch (op->kind) {
    case OP_IDENTITY:
    case OP_DROPOUT:
        return true;
    case OP_RESHAPE:
    case OP_FLATTEN:
    case OP_SQUEEZE:
    case OP_UNSQUEEZE:
        return type_equal(&op->result->type, &op->inputs[0]->type);
    default:
        return false;
    }
}

static bool is_output(const Graph *g, const Value *v)
{
    for (int i = 0; i < g->n_outputs; i++)
        if (g->outputs[i] == v)
            return true;
    return false;
}

bool pass_remove_identity(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    (void)diags;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->dead || !is_identity(op))
            continue;
        Value *in = op->inputs[0], *out = op->result;
        if (is_output(g, out)) {
            if (in->is_input || is_output(g, in)) {
                op->kind = OP_IDENTITY;
                op->n_attrs = 0;
                continue;
            }
            /* Swap names so both stay unique until the old result is dropped. */
            const char *name = in->name;
            in->name = out->name;
            out->name = name;
        }
        ir_replace_uses(g, out, in);
        op->dead = true;
    }
    ir_compact(g);
    return true;
}
