/* place.c: pass `place`, the baseline placement: every block on its own tile.
 *
 * docs/crossbar.md section 6.  Blocks are numbered per op g-major, then row
 * block, then column block; block b of an op gets `place` = [tile, 0, 0] with
 * tiles numbered consecutively across the whole graph in op order, so the next
 * layer starts on the tile after the last one of the previous layer.  No
 * packing (issue 4 does that): the point of the baseline is to be obviously
 * right.  The pass checks that each block fits a crossbar, which split
 * guarantees but a hand-written .xir may not, and that the graph stays within
 * the architecture's tile budget when it has one. */
#include "passes/mapping.h"
#include "passes/passes.h"

/* Checks every block of `op` against the crossbar; false after an error. */
static bool blocks_fit(const Op *op, const Arch *arch, const Attr *rows, const Attr *cols, SignMapping sign,
                       int S, Diags *diags)
{
    for (int rb = 0; rb + 1 < rows->count; rb++) {
        for (int cb = 0; cb + 1 < cols->count; cb++) {
            int64_t r = rows->ints[rb + 1] - rows->ints[rb];
            int64_t c = (cols->ints[cb + 1] - cols->ints[cb]) * S * mapping_polarities(sign) +
                        mapping_ref_cols(sign, S);
            if (r > arch->rows || c > arch->cols) {
                diag_error(diags, &op->loc, "place: xbar %%%s: row block %d x column block %d is %lld rows x "
                           "%lld physical columns, larger than the %d x %d crossbar (rerun split)",
                           ir_name_text(diags->arena, op->result->name), rb, cb, (long long)r, (long long)c,
                           arch->rows, arch->cols);
                return false;
            }
        }
    }
    return true;
}

static bool place_op(Graph *g, Op *op, const Arch *arch, int64_t *next_tile, Diags *diags)
{
    SignMapping sign;
    if (!mapping_sign(op, "place", &sign, diags))
        return false;
    const Attr *slices = mapping_need(op, "place", "slices", ATTR_INT, diags);
    const Attr *rows = mapping_need(op, "place", "row_splits", ATTR_INTS, diags);
    const Attr *cols = mapping_need(op, "place", "col_splits", ATTR_INTS, diags);
    if (!slices || !rows || !cols || !blocks_fit(op, arch, rows, cols, sign, (int)slices->i, diags))
        return false;
    int64_t blocks = op->inputs[1]->type.dims[0] * (rows->count - 1) * (cols->count - 1);
    int64_t *place = arena_array(g->arena, (size_t)(3 * blocks), sizeof(int64_t));
    for (int64_t b = 0; b < blocks; b++)
        place[3 * b] = (*next_tile)++;      /* row and column offsets stay 0 */
    mapping_set_ints(g, op, "place", place, (int)(3 * blocks));
    return true;
}

bool pass_place(Graph *g, const PassArgs *args, Diags *diags)
{
    (void)args;
    const Arch *arch = mapping_arch(g, "place", diags);
    if (!arch)
        return false;
    int64_t tiles = 0;
    bool ok = true;
    for (int i = 0; i < g->n_ops; i++) {
        Op *op = g->ops[i];
        if (!op->dead && op->kind == OP_XBAR)
            ok &= place_op(g, op, arch, &tiles, diags);
    }
    if (ok && arch->tiles > 0 && tiles > arch->tiles) {
        diag_error(diags, NULL, "place: graph @%s needs %lld tiles (one per block), more than the "
                   "architecture's budget of %d", ir_name_text(diags->arena, g->name), (long long)tiles,
                   arch->tiles);
        return false;
    }
    return ok;
}
