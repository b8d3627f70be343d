/* split.c: pass `split{mode=balanced|full}`, a layer's matrix cut into
 * tile-sized blocks.
 *
 * docs/crossbar.md section 6, docs/mapping.md.  Each group's K x N matrix is
 * cut the same way: rows into ceil(K / rows) row blocks, columns on
 * weight-column boundaries so that the S slices (times 2 for a pair) of one
 * weight column stay in one block and recombine locally.  A block of c weight
 * columns takes c * S * P physical columns (P = 2 for pairs, 1 for offset)
 * plus S reference columns for offset, so floor((cols - refs) / (S * P))
 * weight columns fit a tile.  Both cuts use the fewest blocks; then
 *
 * - balanced (the default) evens them out (87+87+86 rows rather than
 *   128+128+4): with one block per tile the tile count is the same, and every
 *   block's column sums, and so its ADC range, are as small as they can be;
 * - full keeps every block but the last at the full crossbar size
 *   (128+128+4): the full blocks fill their tiles and the remainders are
 *   small, so that dense packing can put the remainders of many layers
 *   together and reach the lower bound on tiles.
 *
 * Groups (grouped and depthwise convolutions) share one set of splits; their
 * small blocks do not waste a tile each once packed (place, pack.c).  New
 * splits change the block count, so they drop the per-block attributes of
 * place and the ADC passes. */
#include "passes/mapping.h"
#include "passes/passes.h"

#include <string.h>

static const char *const derived[] = {"place", "adc_bits", "adc_max", NULL};

static bool split_op(Graph *g, Op *op, const Arch *arch, bool full, Diags *diags)
{
    SignMapping sign;
    if (!mapping_sign(op, "split", &sign, diags))
        return false;
    const Attr *slices = mapping_need(op, "split", "slices", ATTR_INT, diags);
    if (!slices)
        return false;
    int S = (int)slices->i;
    const Type *w = &op->inputs[1]->type;
    int64_t K = w->dims[1], N = w->dims[2];

    int64_t per_column = (int64_t)S * cell_polarities(sign);
    int64_t columns_per_block = (arch->cols - cell_ref_cols(sign, S)) / per_column;
    if (columns_per_block < 1) {
        diag_error(diags, &op->loc, "split: xbar %%%s: one weight column takes %lld physical columns "
                   "(%d slices, %s%s), more than the %d columns of a crossbar",
                   ir_name_text(diags->arena, op->result->name),
                   (long long)(per_column + cell_ref_cols(sign, S)), S, sign_mapping_name(sign),
                   sign == SIGN_OFFSET ? ", with its reference columns" : "", arch->cols);
        return false;
    }
    int (*cut)(Arena *, int64_t, int64_t, int64_t **) = full ? mapping_full_splits : mapping_balanced_splits;
    int64_t *row_splits, *col_splits;
    int row_blocks = cut(g->arena, K, arch->rows, &row_splits);
    int col_blocks = cut(g->arena, N, columns_per_block, &col_splits);
    bool changed = mapping_set_ints(g, op, "row_splits", row_splits, row_blocks + 1);
    changed |= mapping_set_ints(g, op, "col_splits", col_splits, col_blocks + 1);
    if (changed)
        mapping_drop(op, derived);
    return true;
}

bool pass_split(Graph *g, const PassArgs *args, Diags *diags)
{
    const char *mode = pass_arg(args, "mode");
    if (mode && strcmp(mode, "balanced") != 0 && strcmp(mode, "full") != 0) {
        diag_error(diags, NULL, "split: mode must be balanced or full, not '%s'", mode);
        return false;
    }
    const Arch *arch = mapping_arch(g, "split", diags);
    if (!arch)
        return false;
    bool full = mode && strcmp(mode, "full") == 0, ok = true;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (!op->dead && op->kind == OP_XBAR)
            ok &= split_op(g, op, arch, full, diags);
    }
    return ok;
}
