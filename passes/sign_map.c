/* sign_map.c: pass `sign-map`, how signed weights sit on non-negative cells.
 *
 * Every xbar op gets `sign`, the architecture's choice (docs/crossbar.md
 * section 5): `pair-analog` and `pair-digital` give each weight a positive and
 * a negative column, `offset` shifts weights to non-negative values and
 * subtracts reference columns.  The choice is per op so that later passes (and
 * a hand-written .xir) can read it where they need it; the baseline copies the
 * architecture's for all.  Slices depend on it (a pair stores weight_bits - 1
 * magnitude bits, an offset weight_bits), so a changed sign drops everything
 * derived after it. */
#include "passes/mapping.h"
#include "passes/passes.h"

static const char *const derived[] = {
    "cell_bits", "slices", "row_splits", "col_splits", "place", "adc_bits", "adc_max", NULL,
};

bool pass_sign_map(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    const Arch *arch = mapping_arch(g, "sign-map", diags);
    if (!arch)
        return false;
    const char *sign = sign_mapping_name(arch->sign);
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (op->dead || op->kind != OP_XBAR)
            continue;
        if (mapping_set_string(g, op, "sign", sign))
            mapping_drop(op, derived);
    }
    return true;
}
