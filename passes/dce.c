/* dce.c: dead code elimination.
 *
 * Ops have no side effects, so an op is live exactly when its result is a graph
 * output or an input of a live op.  One walk from the last op to the first
 * settles that, since every user comes after the op it uses (topological
 * order).  ir_compact() then drops the dead ops and every constant that only
 * dead ops used.  Graph inputs stay even when unused: they are the signature. */
#include "passes/passes.h"

bool pass_dce(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    (void)diags;
    bool *live = arena_array(g->arena, (size_t)g->n_values + 1, sizeof(bool));
    for (int i = 0; i < g->n_outputs; i++)
        live[g->outputs[i]->id] = true;
    for (int i = g->n_ops - 1; i >= 0; i--) {
        Op *op = g->ops[i];
        if (op->dead || !live[op->result->id]) {
            op->dead = true;
            continue;
        }
        for (int j = 0; j < op->n_inputs; j++)
            live[op->inputs[j]->id] = true;
    }
    ir_compact(g);
    return true;
}
